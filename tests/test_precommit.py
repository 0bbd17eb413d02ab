"""The shipped pre-commit manifest, and every hook stage driven through real pre-commit."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import hookrepo

pytest.importorskip("pre_commit")


def test_manifest_validates() -> None:
    cmd = [sys.executable, "-m", "pre_commit", "validate-manifest", str(hookrepo.MANIFEST)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifest_hooks() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load(hookrepo.MANIFEST.read_text())}
    main = hooks["envkey-hook"]
    assert main["entry"] == "envkey-hook hook"  # the stage is inferred from PRE_COMMIT_*
    assert main["stages"] == ["pre-commit", "post-checkout", "post-merge", "post-rewrite"]
    assert main["always_run"] is True and main["pass_filenames"] is False
    assert main["verbose"] is True
    fix = hooks["envkey-hook-fix"]
    assert fix["entry"] == "envkey-hook fix"
    assert fix["stages"] == ["pre-commit", "manual"]  # edits files: never a post-* stage
    for hook in hooks.values():
        assert hook["minimum_pre_commit_version"] == "3.2.0"


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", hookrepo.SCENARIOS, ids=lambda f: f.__name__)
def test_stage(
    scenario: Callable[[hookrepo.HookRepo], None], template: hookrepo.Template, tmp_path: Path
) -> None:
    scenario(hookrepo.HookRepo(template, tmp_path, "pre-commit"))


@pytest.mark.e2e
def test_checkout_bump_then_reinstall_builds_against_new_runtime(
    template: hookrepo.Template, tmp_path: Path
) -> None:
    hookrepo.full_round(hookrepo.HookRepo(template, tmp_path, "pre-commit"))
