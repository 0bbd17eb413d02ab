"""Issue 6 without uv: leftovers of a killed run, locks never opened through a symlink,
unreadable and read-only caches, local builds under their entry's lock, pollution
across the revisions of a local directory, concurrent runs on one cache, and the
atomic replacement of the state file and of rewritten TOML files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envkey_hook import state
from envkey_hook.atomic import write_atomic
from envkey_hook.cache import Entry
from envkey_hook.envkey import EnvKey
from envkey_hook.errors import InputError
from envkey_hook.locks import LockBusy
from envkey_hook.purge import Target, find_polluted, plan
from envkey_hook.purgeexec import execute
from envkey_hook.remove import TRASH_PREFIX, AllowedSet, RefusedRemoval, remove_tree
from fakecache import add_slot, entry, polluted_entry, setuptools_build
from test_locks import held

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX: flock, fds, SIGKILL")

SHA = "8b5b5eba221b4d0d18fb0189a45c98ce4ca85ae6"


def _trash(parent: Path, name: str = "0011223344556677") -> Path:
    """What a run killed between rename and delete leaves: a half-deleted tree."""
    t = parent / f"{TRASH_PREFIX}{name}"
    (t / "lib.linux-x86_64-cpython-311").mkdir(parents=True)
    (t / "lib.linux-x86_64-cpython-311" / "half.so").write_bytes(b"12345")
    return t


# --- leftovers of an interrupted run --------------------------------------------------


def test_leftovers_are_planned_as_what_they_were_and_removed(tmp_path: Path) -> None:
    """The next run finishes what a killed one started, and still asks for the reinstall
    a half-removed polluted slot needs, even when nothing else is left to remove."""
    cache, repo = tmp_path / "cache", tmp_path / "repo"
    tree = polluted_entry(cache, "index")
    shutil.rmtree(tree["build"])
    os.rename(tree["new"], tree["rev"] / f"{TRASH_PREFIX}slot")
    build_trash = _trash(tree["rev"] / "src")
    slot_trash = tree["rev"] / f"{TRASH_PREFIX}slot"
    checkout = cache / "git-v2" / "checkouts" / "3e815980bd78015e" / SHA[:7]
    checkout.mkdir(parents=True)
    co_trash = _trash(checkout)
    local = repo / "vendor" / "ext"
    local.mkdir(parents=True)
    local_trash = _trash(local)
    os.symlink(tmp_path, tree["rev"] / "src" / f"{TRASH_PREFIX}link")  # never ours
    target = Target("extpkg", git_shas=frozenset({SHA}), local_dirs=frozenset({local}))

    removals, notices = plan(cache, [target], repo)

    assert notices == []
    assert sorted((r.kind, r.path) for r in removals) == sorted(
        [
            ("build-dir", build_trash),
            ("polluted-slot", slot_trash),
            ("checkout-build", co_trash),
            ("local-build", local_trash),
        ]
    )
    assert {r.detail for r in removals} == {"left behind by an interrupted run"}
    result = execute(removals, cache, AllowedSet(cache=cache, repo=repo))
    assert result.refused == [] and result.freed >= 15
    assert not any(p.exists() for p in (build_trash, slot_trash, co_trash, local_trash))
    assert (tree["rev"] / "src" / f"{TRASH_PREFIX}link").is_symlink() and tmp_path.is_dir()
    assert tree["old"].is_dir()


def test_leftover_of_a_whole_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "pypi")
    trash = tree["entry"].parent / f"{TRASH_PREFIX}entry"
    os.rename(tree["entry"], trash)
    polluted_entry(cache, "pypi")  # uv made the entry again since
    removals, _ = plan(cache, [Target("extpkg", whole_entries=True)], tmp_path)
    assert sorted((r.kind, r.path.name) for r in removals) == sorted(
        [("entry", "0.1"), ("entry", trash.name)]
    )
    execute(removals, cache, AllowedSet(cache=cache))
    assert not trash.exists() and os.listdir(tree["entry"]) == [".lock"]


@pytest.mark.parametrize(
    "rel",
    [
        ".envkey-hook-trash-x",
        "sdists-v11/.envkey-hook-trash-x",
        "sdists-v11/index/.envkey-hook-trash-x",
        "archive-v0/.envkey-hook-trash-x",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/r/src/lib/.envkey-hook-trash-x",
        "git-v2/checkouts/.envkey-hook-trash-x",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/r/.envkey-hook-trash-",
    ],
)
def test_trash_names_are_allowed_only_where_a_removal_happens(tmp_path: Path, rel: str) -> None:
    cache = tmp_path / "cache"
    (cache / rel).mkdir(parents=True)
    with pytest.raises(RefusedRemoval):
        remove_tree(cache / rel, AllowedSet(cache=cache))
    assert (cache / rel).is_dir()


def test_leftover_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "f").write_text("keep")
    link = tree["rev"] / "src" / f"{TRASH_PREFIX}0011223344556677"
    os.symlink(precious, link)
    with pytest.raises(RefusedRemoval, match="symlink"):
        remove_tree(link, AllowedSet(cache=cache))
    assert (precious / "f").read_text() == "keep"


def test_fd_based_rmtree(tmp_path: Path) -> None:
    """The removal's rmtree deletes in place and follows no symlink."""
    from envkey_hook.remove import _rmtree_fd

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "f").write_text("keep")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    os.symlink(precious, tree / "a" / "link")
    os.symlink(precious / "f", tree / "file-link")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert _rmtree_fd(fd, "tree", os.stat(tree).st_dev) == []
    finally:
        os.close(fd)
    assert not tree.exists() and (precious / "f").read_text() == "keep"


# --- locks ----------------------------------------------------------------------------


def test_local_build_waits_for_the_entry_uv_builds_it_under(tmp_path: Path) -> None:
    """uv builds a local directory in place holding its `path/` entry's lock."""
    cache, repo = tmp_path / "cache", tmp_path / "repo"
    path_entry = entry(cache, "path")
    add_slot(path_entry / "rev", "cace87155b165d5b")
    local = repo / "ext"
    build = setuptools_build(local)
    removals, _ = plan(cache, [Target("extpkg", local_dirs=frozenset({local}))], repo)
    (r,) = removals
    assert (r.kind, r.entry, r.extra_locks) == ("local-build", None, (path_entry,))
    with held(path_entry / ".lock"), pytest.raises(LockBusy):
        execute(removals, cache, AllowedSet(cache=cache, repo=repo), lock_timeout=0.2)
    assert build.is_dir()
    execute(removals, cache, AllowedSet(cache=cache, repo=repo), lock_timeout=0.2)
    assert not build.exists()


def test_lock_file_that_is_a_symlink_is_never_opened_through(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tree["entry"] / ".lock").unlink()
    os.symlink(victim, tree["entry"] / ".lock")
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    with pytest.raises(InputError, match="cannot open uv's lock"):
        execute(removals, cache, AllowedSet(cache=cache))
    assert victim.read_text() == "keep" and tree["build"].is_dir() and tree["new"].is_dir()


def test_no_lock_file_is_created_through_a_swapped_entry(tmp_path: Path) -> None:
    """An entry swapped for a symlink after planning: no `.lock` appears where it points."""
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    elsewhere = tmp_path / "elsewhere"
    os.rename(tree["entry"], elsewhere)
    (elsewhere / ".lock").unlink()
    os.symlink(elsewhere, tree["entry"])
    result = execute(removals, cache, AllowedSet(cache=cache))
    assert result.removed == [] and len(result.refused) == 2
    assert not (elsewhere / ".lock").exists()
    assert (elsewhere / tree["build"].relative_to(tree["entry"])).is_dir()


# --- unreadable and read-only caches (the real thing runs in test_hostile.py) -------------


def test_unreadable_bucket_is_an_error_not_an_empty_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    polluted_entry(cache, "index")
    real = os.scandir

    def scandir(path: object = ".") -> object:
        if str(path).endswith("sdists-v11"):
            raise PermissionError(13, "Permission denied")
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr("envkey_hook.purge.os.scandir", scandir)
    with pytest.raises(InputError, match=r"sdists-v11: cannot read uv's cache: Permission denied"):
        plan(cache, [Target("extpkg")], tmp_path)


def test_read_only_directory_stops_before_anything_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    real = os.access
    monkeypatch.setattr(
        "envkey_hook.purgeexec.os.access",
        lambda p, mode, **kw: Path(p) != tree["rev"] and real(p, mode, **kw),
    )
    with pytest.raises(InputError, match="read-only"):
        execute(removals, cache, AllowedSet(cache=cache))
    assert tree["build"].is_dir() and tree["new"].is_dir()


# --- pollution across the revisions of a local directory ----------------------------------


def test_local_directory_pollution_across_revisions(tmp_path: Path) -> None:
    """A touched local directory gets a new revision, but is built in the same place:
    the new configuration's slot there can hold the old configuration's binary."""
    e = entry(tmp_path, "path")
    add_slot(e / "rev-one", "cace87155b165d5b", b"built against 1.0", mtime=100)
    polluted = add_slot(e / "rev-two", "81a196cb5a99c968", b"built against 1.0", mtime=200)
    same_config = add_slot(e / "rev-two", "cace87155b165d5b", b"built against 1.0", mtime=300)
    removals, _ = find_polluted([Entry(tmp_path / "sdists-v11", "path", e, "extpkg")])
    assert [r.path for r in removals] == [polluted]
    assert same_config.is_dir()


def test_archive_revisions_are_compared_apart(tmp_path: Path) -> None:
    """A local sdist's revisions each unpack a source tree of their own."""
    e = entry(tmp_path, "path")
    for rev, digest, mtime in (("rev-one", "cace87155b165d5b", 1), ("rev-two", "8" * 16, 2)):
        (e / rev / "src").mkdir(parents=True)
        add_slot(e / rev, digest, b"deterministic build", mtime=mtime)
    assert find_polluted([Entry(tmp_path / "sdists-v11", "path", e, "extpkg")]) == ([], [])


def test_vanishing_while_planning_is_not_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run (or `uv cache clean`) removing things mid-plan: no spurious notice."""
    tree = polluted_entry(tmp_path, "index")
    import envkey_hook.purge as purge
    import envkey_hook.wheels as wheels

    real_payload, real_is_build = wheels.compiled_payload, purge.is_setuptools_build_dir

    def payload(wheel: Path) -> object:
        if wheel.parent == tree["new"]:
            shutil.rmtree(tree["new"])
        return real_payload(wheel)

    def is_build(path: Path) -> bool:
        shutil.rmtree(path)
        return real_is_build(path)

    monkeypatch.setattr(wheels, "compiled_payload", payload)
    monkeypatch.setattr(purge, "is_setuptools_build_dir", is_build)
    removals, notices = plan(tmp_path, [Target("extpkg")], tmp_path)
    assert (removals, notices) == ([], [])


# --- concurrent runs on one cache ---------------------------------------------------------

_RUNNER = """
import json, sys, time
from pathlib import Path
from envkey_hook.purge import Target, plan
from envkey_hook.purgeexec import execute
from envkey_hook.remove import AllowedSet
cache, go, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
while not go.exists():
    time.sleep(0.001)
removals, notices = plan(cache, [Target(n) for n in names], cache.parent)
result = execute(removals, cache, AllowedSet(cache=cache), 20)
print(json.dumps({
    "removed": [str(r.path) for r in result.removed],
    "refused": [[str(r.path), why] for r, why in result.refused],
    "notices": [n.message for n in notices],
}))
"""


def test_concurrent_runs_share_the_work_and_corrupt_nothing(tmp_path: Path) -> None:
    """Four processes purging the same twelve packages at once, five times over."""
    names = [f"pkg{i}" for i in range(12)]
    for rnd in range(5):
        base = tmp_path / f"round{rnd}"
        cache = base / "cache"
        cache.mkdir(parents=True)
        (cache / ".lock").touch()  # uv's, as in every real cache
        expected = set()
        for n in names:
            tree = polluted_entry(cache, "index", name=n)
            expected |= {str(tree["build"]), str(tree["new"])}
        keep = {str(p) for p in cache.rglob("*")} - {
            str(p) for e in expected for p in [Path(e), *Path(e).rglob("*")]
        }
        go = base / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RUNNER, str(cache), str(go), *random.sample(names, 12)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        time.sleep(0.3)
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(json.loads(out))
        removed = [path for r in results for path in r["removed"]]
        assert len(removed) == len(set(removed)), "a tree was claimed twice"
        assert set(removed) == expected
        assert all(r["refused"] == [] and r["notices"] == [] for r in results), results
        now = {str(p) for p in cache.rglob("*")}
        assert now == keep, now ^ keep
        assert not [p for p in now if TRASH_PREFIX in p]


# --- atomic replacement -------------------------------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from envkey_hook.atomic import write_atomic
target, size = Path(sys.argv[1]), int(sys.argv[2])
contents = [b"A" * size, b"B" * (size + 7)]
print("ready", flush=True)
i = 0
while True:
    write_atomic(target, contents[i % 2])
    i += 1
"""


def test_sigkill_during_atomic_writes_leaves_old_or_new(tmp_path: Path) -> None:
    """The state file and rewritten TOML files go through atomic.write_atomic: killed at
    random moments of a write loop, the file always holds one whole version."""
    size = 256 * 1024
    target = tmp_path / "pyproject.toml"
    write_atomic(target, b"A" * size)
    rng = random.Random(6)
    for _ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(size)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.01, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert target.read_bytes() in (b"A" * size, b"B" * (size + 7))
    litter = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(n.startswith(".pyproject.toml.") and n.endswith(".tmp") for n in litter)


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "uv.toml"
    target.write_bytes(b"old")

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("envkey_hook.atomic.os.replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["uv.toml"]


def test_state_file_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    path = tmp_path / "state.json"
    old = {"extpkg": EnvKey("extpkg", (("rtlib", "1.0"),))}
    new = {"extpkg": EnvKey("extpkg", (("rtlib", "2.0"),))}
    assert state.save(path, project, old)

    def boom(*args: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr("envkey_hook.atomic.os.replace", boom)
    warnings: list[str] = []
    assert not state.save(path, project, new, warn=warnings.append)
    assert state.load(path, project) == old and len(warnings) == 1
    monkeypatch.undo()
    assert state.save(path, project, new) and state.load(path, project) == new
