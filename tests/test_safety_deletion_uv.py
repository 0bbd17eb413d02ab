"""Issue 15 item 1 against the real uv: never delete a local directory's in-place
build/ while `uv sync` compiles in it, also when the cache is reached through a
symlink and when uv has only just created the directory's `path/` entry.

The oracle is the one of test_safety_uv: a snapshot of the project and the cache is
unchanged while uv builds, and at the end the installed extension reports that it
was compiled against the runtime that is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import test_safety_uv
from e2e_helpers import content_snapshot
from test_safety_uv import World, build_world, slow_sync

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform != "linux", reason="flock and /proc/locks"),
]


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> World:
    """test_safety_uv's world with a local directory source (built once, shared)."""
    worlds = test_safety_uv._WORLDS
    if "directory" not in worlds:
        base = tmp_path_factory.mktemp("safety-directory")
        worlds["directory"] = build_world(base, wheelhouse, "directory")
    return worlds["directory"]


def _hook(w: World, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envkey_hook", "run", "--lock-timeout", "1.5"],
        cwd=w.project,
        env=env,
        capture_output=True,
        text=True,
    )


def _heal(w: World) -> None:
    """Once uv is done, a run purges and a reinstall compiles against what is installed."""
    again = w.hook()
    assert again.returncode in (0, 1), again
    w.uv("sync", "-q", "--reinstall-package", "extpkg")
    assert w.built_against() == ("2.0", "2.0")


def test_cache_through_a_symlink_in_place_build_is_not_deleted(world: World) -> None:
    w = world
    w.restore("bumped")
    link = w.work / "cache-link"
    if link.is_symlink():
        link.unlink()
    os.symlink(w.cache, link)
    saved = dict(w.env)
    w.env["UV_CACHE_DIR"] = str(link)
    try:
        with slow_sync(w):
            before = content_snapshot(w.cache, w.project)
            result = _hook(w, w.env)
            assert content_snapshot(w.cache, w.project) == before, "deleted under a running build"
        assert result.returncode == 1, result
        assert "nothing was deleted" in result.stderr and "hint: run `envkey-hook run`" in (
            result.stdout
        )
        _heal(w)
    finally:
        w.env.clear()
        w.env.update(saved)
        link.unlink()


def test_path_entry_uv_just_created_in_place_build_is_not_deleted(world: World) -> None:
    """No `path/` entry when the run plans (a cleaned cache, a first build): uv creates it
    and builds in place; the run takes what uv takes (the new entry's lock, uv's
    setuptools source-tree lock) and finds them held."""
    w = world
    w.restore("bumped")
    for bucket in w.cache.glob("sdists-v*"):
        for kind in ("path", "editable"):
            shutil.rmtree(bucket / kind, ignore_errors=True)
    with slow_sync(w):
        before = content_snapshot(w.cache, w.project)
        result = _hook(w, w.env)
        assert content_snapshot(w.cache, w.project) == before, "deleted under a running build"
    assert result.returncode == 1, result
    assert "nothing was deleted" in result.stderr, result
    _heal(w)
