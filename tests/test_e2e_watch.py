"""End to end: a project on the older recipe, `no-build-isolation-package` alone.

uv's build key does not change when the runtime moves, so uv reinstalls the very
same cached wheel. envkey-hook watches the runtime and removes the whole entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_helpers import Isolation, Project, offline_pyproject, slot_wheels

pytestmark = pytest.mark.e2e

WATCH = '\n[tool.envkey-hook]\nextend-watch = ["rtlib"]\n'


def start(tmp_path: Path, wheelhouse: Path, cache: Path, config: str = WATCH) -> Project:
    project = Project(tmp_path / "project", cache)
    project.create(offline_pyproject(tmp_path, wheelhouse, match_runtime=False) + config)
    project.sync()
    assert project.built_against() == ("1.0", "1.0")
    project.set_runtime("2.0")
    return project


def test_control_same_cached_wheel_is_reinstalled(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation
) -> None:
    project = start(tmp_path, wheelhouse, isolated_env.uv_cache)
    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("1.0", "2.0")
    assert len(slot_wheels(isolated_env.uv_cache)) == 1  # no new slot: uv cannot tell


def test_watched_runtime_removes_the_entry_and_hints_at_match_runtime(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation
) -> None:
    project = start(tmp_path, wheelhouse, isolated_env.uv_cache)
    project.sync()  # the stale wheel is what is installed now
    assert project.built_against() == ("1.0", "2.0")

    result = project.run_hook()

    assert result.rc == 1, result
    lines = result.stdout.splitlines()
    assert "extpkg: rtlib 1.0 -> 2.0" in lines
    assert any(line.startswith("Removed 1 cache entry of extpkg") for line in lines), lines
    assert '  extpkg = [{ requirement = "rtlib", match-runtime = true }]' in lines
    assert lines[-1] == "hint: run `uv sync --reinstall-package extpkg`"
    assert slot_wheels(isolated_env.uv_cache) == []
    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("2.0", "2.0")


def test_unwatched_runtime_is_left_alone(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation
) -> None:
    project = start(tmp_path, wheelhouse, isolated_env.uv_cache, config="")
    result = project.run_hook()
    assert (result.rc, result.stdout) == (0, "No build input changed\n")
    assert len(slot_wheels(isolated_env.uv_cache)) == 1
