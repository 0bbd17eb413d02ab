"""`envkey-hook install` / `uninstall` with real git, and every stage through them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import hookrepo


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> hookrepo.Template:
    return hookrepo.template(tmp_path_factory, wheelhouse)


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", hookrepo.SCENARIOS, ids=lambda f: f.__name__)
def test_stage(
    scenario: Callable[[hookrepo.HookRepo], None], template: hookrepo.Template, tmp_path: Path
) -> None:
    scenario(hookrepo.HookRepo(template, tmp_path, "envkey-hook"))


@pytest.mark.e2e
def test_checkout_bump_then_reinstall_builds_against_new_runtime(
    template: hookrepo.Template, tmp_path: Path
) -> None:
    hookrepo.full_round(hookrepo.HookRepo(template, tmp_path, "envkey-hook"))
