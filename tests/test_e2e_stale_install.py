"""Issue 15, items 7-9: never report success while a stale binary stays installed.

Real uv, git and compiles. The oracle is always the installed extension: what it
was compiled against, after the hint (or the absence of one) has been followed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_helpers import Isolation, Project, build_dirs, content_snapshot, slot_wheels
from envkey_hook import cli, purge
from test_e2e_run import SOURCES, change, start

pytestmark = pytest.mark.e2e

INDEX = SOURCES[0]  # extpkg from an index: build/ in uv's shared source tree
HINT = "hint: run `uv sync --reinstall-package extpkg`"


@pytest.fixture
def uv_cache(isolated_env: Isolation) -> Path:
    return isolated_env.uv_cache


def stale_install(tmp_path: Path, wheelhouse: Path, uv_cache: Path) -> Project:
    """Synced at rtlib 1.0, bumped to 2.0 and synced WITHOUT the hook: stale binary."""
    project = start(INDEX, tmp_path, wheelhouse, uv_cache)
    change(project, INDEX)
    project.sync()
    assert project.built_against() == ("1.0", "2.0")
    return project


def test_after_uv_cache_clean_the_stale_install_is_still_reported(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Item 9: nothing left to delete, but the installed binary is stale: exit 1 + hint,
    on this run and the next, until the reinstall happened."""
    project = stale_install(tmp_path, wheelhouse, uv_cache)
    project.uv("cache", "clean")
    before = content_snapshot(uv_cache, project.root / "extpkg")

    first = project.run_hook()
    second = project.run_hook()

    assert first.rc == 1, first
    assert "extpkg: rtlib 1.0 -> 2.0" in first.stdout
    assert HINT in first.stdout.splitlines()
    assert second.rc == 1 and HINT in second.stdout.splitlines(), second  # state recorded now
    assert content_snapshot(uv_cache, project.root / "extpkg") == before  # nothing deleted
    project.sync()  # a plain sync keeps the stale copy: the hint stays
    assert project.built_against() == ("1.0", "2.0")
    assert project.run_hook().rc == 1
    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("2.0", "2.0")
    done = project.run_hook()
    assert done.rc == 0 and "hint" not in done.stdout, done


def test_hook_before_the_sync_asks_for_no_reinstall_afterwards(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """The usual flow (run, sync, run again as pre-commit would): no false reinstall."""
    project = start(INDEX, tmp_path, wheelhouse, uv_cache)
    change(project, INDEX)
    assert project.run_hook().rc == 0
    project.sync()
    assert project.built_against() == ("2.0", "2.0")

    again = project.run_hook()

    assert again.rc == 0, again
    assert "reinstall" not in again.stdout


def _kill_after_slot_removal(project: Project) -> subprocess.CompletedProcess[str]:
    """`envkey-hook run`, SIGKILLed right after it removed a polluted slot."""
    code = (
        "import os, signal\n"
        "from envkey_hook import cli, purgeexec\n"
        "real = purgeexec.remove_tree\n"
        "def remove_tree(path, allowed, *rest):\n"
        "    freed = real(path, allowed, *rest)\n"
        "    if path.name != 'build':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return freed\n"
        "purgeexec.remove_tree = remove_tree\n"
        "cli.main(['run'])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_the_reinstall_due_survives_a_crash_after_the_slot_was_removed(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Item 8: killed right after removing the polluted slot, the next runs still hint."""
    project = stale_install(tmp_path, wheelhouse, uv_cache)
    old_slot = [min(slot_wheels(uv_cache), key=lambda p: p.stat().st_mtime)]

    killed = _kill_after_slot_removal(project)

    assert killed.returncode == -signal.SIGKILL, killed
    assert len(slot_wheels(uv_cache)) == 1  # the polluted slot is gone
    after = project.run_hook()
    assert after.rc == 1 and HINT in after.stdout.splitlines(), after
    assert project.run_hook().rc == 1  # and again, with the state recorded
    assert slot_wheels(uv_cache) == old_slot  # nothing else was purged
    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("2.0", "2.0")
    assert project.run_hook().rc == 0


def test_a_sync_that_built_between_planning_and_locking_is_seen(
    tmp_path: Path,
    wheelhouse: Path,
    uv_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Item 7: a `uv sync` builds (stale) right after the first plan; the purge, planned
    again under uv's locks, removes the polluted slot it left, so the reinstall the hint
    asks for compiles afresh."""
    project = start(INDEX, tmp_path, wheelhouse, uv_cache)
    old_slot = slot_wheels(uv_cache)
    change(project, INDEX)
    real_plan = purge.plan
    planned: list[int] = []

    def plan_then_sync(*args: object, **kwargs: object) -> object:
        found = real_plan(*args, **kwargs)  # type: ignore[arg-type]
        if not planned:
            planned.append(len(found[0]))
            project.sync()  # the interleaving: uv builds before the hook holds the locks
        return found

    monkeypatch.setattr(purge, "plan", plan_then_sync)
    monkeypatch.chdir(project.root)
    rc = cli.main(["run", "--json"])

    assert planned == [1]  # only build/ was there to plan at first
    report = json.loads(capsys.readouterr().out)["projects"][0]
    assert rc == 1
    assert sorted(r["kind"] for r in report["removals"]) == ["build-dir", "polluted-slot"]
    assert report["next_command"] == "uv sync --reinstall-package extpkg"
    assert slot_wheels(uv_cache) == old_slot and build_dirs(uv_cache) == []
    assert project.built_against() == ("1.0", "2.0")  # the sync in between was stale
    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("2.0", "2.0")


def _bumped_upstream(tmp_path: Path, wheelhouse: Path, uv_cache: Path) -> tuple[Project, str]:
    """The main checkout built rtlib 1.0 into the cache, then committed the bump to 2.0
    (not synced there): the shared source tree's build/ is 1.0's. Returns the 1.0 commit."""
    project = start(INDEX, tmp_path, wheelhouse, uv_cache)
    first = project.commit("rtlib 1.0")
    change(project, INDEX)
    project.commit("rtlib 2.0")
    assert build_dirs(uv_cache)
    return project, first


def _heals(other: Project, uv_cache: Path) -> None:
    """`envkey-hook run` in another checkout of the same commit, then `uv sync` there."""
    slots = slot_wheels(uv_cache)
    result = other.run_hook()
    assert result.rc == 0, result
    assert build_dirs(uv_cache) == []  # the 1.0 build/ of the shared tree
    assert slot_wheels(uv_cache) == slots  # nothing else
    other.sync()
    assert other.built_against() == ("2.0", "2.0")
    again = other.run_hook()  # installed from the newest slot: build/ is this one's
    assert again.rc == 0 and build_dirs(uv_cache) != [], again


def test_a_linked_worktree_sees_what_the_main_checkout_built_in_the_shared_cache(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Item 14: no change against its own HEAD and no state, yet build/ is stale for it."""
    project, _ = _bumped_upstream(tmp_path, wheelhouse, uv_cache)
    worktree = Project(tmp_path / "worktree", uv_cache)
    subprocess.run(
        ["git", "worktree", "add", "-q", "--detach", str(worktree.root), "HEAD"],
        cwd=project.root,
        check=True,
    )
    _heals(worktree, uv_cache)


def test_a_fresh_clone_reset_hard_sees_the_shared_cache(
    tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Item 14: a clone synced at 1.0 (no hook run), then `git reset --hard` to 2.0."""
    project, first = _bumped_upstream(tmp_path, wheelhouse, uv_cache)
    clone = Project(tmp_path / "clone", uv_cache)
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone.root)], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone.root, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "reset", "-q", "--hard", first], cwd=clone.root, check=True)
    clone.sync()
    assert clone.built_against() == ("1.0", "1.0")
    subprocess.run(["git", "reset", "-q", "--hard", head], cwd=clone.root, check=True)
    _heals(clone, uv_cache)
