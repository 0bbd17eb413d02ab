"""Issue 15, item 21: an identical compiled payload is proof of pollution only when the
configurations' runtimes differ in what the compile reads (their headers).

Real uv and compiles: `rtlib` 1.0.1 ships the very header of 1.0 (a patch release), so
a correct rebuild for 1.0.1 is byte-identical to the 1.0 build; 2.0's header differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from e2e_helpers import Isolation, Project, run, slot_wheels
from envkey_hook import fixture, wheels
from test_e2e_run import SOURCES, start

pytestmark = pytest.mark.e2e


@pytest.fixture
def uv_cache(isolated_env: Isolation) -> Path:
    return isolated_env.uv_cache


def doctor(project: Project) -> tuple[int, str]:
    proc = run([sys.executable, "-m", "envkey_hook", "doctor"], project.root, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _payloads(cache: Path) -> set[object]:
    return {wheels.compiled_payload(w) for w in slot_wheels(cache)}


def patch_bump(tmp_path: Path, wheelhouse: Path, uv_cache: Path) -> Project:
    """Built against rtlib 1.0, then (hook, sync) rebuilt for 1.0.1: two identical slots."""
    project = start(SOURCES[0], tmp_path, wheelhouse, uv_cache)
    fixture.runtime_wheel(tmp_path / "links", "1.0.1", header_version="1.0")
    project.commit("rtlib 1.0")
    project.set_runtime("1.0.1")
    assert project.run_hook().rc == 0  # build/ removed before the sync
    project.sync()
    assert project.built_against() == ("1.0", "1.0.1")  # what the 1.0.1 header says
    assert len(slot_wheels(uv_cache)) == 2 and len(_payloads(uv_cache)) == 1  # identical
    return project


def test_a_byte_identical_rebuild_is_not_flagged(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    project = patch_bump(tmp_path, wheelhouse, uv_cache)
    slots = slot_wheels(uv_cache)

    again = project.run_hook()  # as the pre-commit hook would, on the same change
    rc, report = doctor(project)

    assert again.rc == 0, again
    assert "polluted" not in again.stdout + again.stderr
    assert "hint" not in again.stdout
    assert (rc, "polluted" in report) == (0, False), report
    assert slot_wheels(uv_cache) == slots  # the correct rebuild is kept


def test_an_identical_payload_across_a_changed_header_is_still_pollution(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    project = patch_bump(tmp_path, wheelhouse, uv_cache)
    dry = project.run_hook("--dry-run")  # leaves build/ (of the 1.0.1 build) in place
    assert "polluted" not in dry.stdout, dry
    oldest = min(slot_wheels(uv_cache), key=lambda w: w.stat().st_mtime)
    project.commit("rtlib 1.0.1")
    project.set_runtime("2.0")
    project.sync()  # without the hook: repackages the binary of the 1.0 header
    assert project.built_against() == ("1.0", "2.0")

    rc, report = doctor(project)
    stale = project.run_hook()

    assert rc == 1 and "polluted: extpkg" in report, report
    assert stale.rc == 1 and "hint: run `uv sync --reinstall-package extpkg`" in stale.stdout
    # The 2.0 slot went, the oldest stays. (The slots do not say which configuration they
    # are, so the 1.0.1 one, in the same group as a real pollution, goes as well.)
    assert oldest in slot_wheels(uv_cache) and len(slot_wheels(uv_cache)) <= 2
    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("2.0", "2.0")
