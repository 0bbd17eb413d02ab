"""Issue 15, "deleted what it must not", without uv: tracked files, mounts, virtual
environments, the entry's `.lock`, half deletions, symlinked cache parts and a build/
that cannot be fully removed. Each test snapshots everything and checks that nothing
outside what may go changed (the real-uv halves are in test_safety_deletion_uv.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from e2e_helpers import content_snapshot, git, git_commit_all, git_init
from envkey_hook.purge import Target, plan
from envkey_hook.purgeexec import execute
from envkey_hook.remove import TRASH_PREFIX, AllowedSet
from envkey_hook.run import Outcome
from fakecache import entry, polluted_entry, setuptools_build

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="mounts, /proc, flock")


def _local(repo: Path, rel: str) -> tuple[Path, Path]:
    """A local directory source at repo/rel with a stale setuptools build/."""
    src = repo / rel
    src.mkdir(parents=True)
    (src / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    return src, setuptools_build(src)


def _purge(cache: Path, repo: Path, target: Target, **allowed: object) -> tuple[object, list]:
    removals, notices = plan(cache, [target], repo)
    result = execute(removals, cache, AllowedSet(cache=cache, repo=repo, **allowed))  # type: ignore[arg-type]
    return result, notices + result.notices()


def _without_uv_locks(snap: dict[str, tuple[str, bytes]]) -> dict[str, tuple[str, bytes]]:
    """uv's own empty lock files may appear (uv creates them as well)."""
    return {p: v for p, v in snap.items() if not (p.endswith("/.lock") and v[1] == _EMPTY)}


_EMPTY = __import__("hashlib").sha256(b"").digest()


def _outcome(notices: list) -> Outcome:
    o = Outcome("p", "HEAD", "worktree")
    o.changes = []
    o.notices = notices
    return o


# --- item 2: tracked files -------------------------------------------------------------


def test_a_build_dir_git_tracks_is_never_deleted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    src, build = _local(repo, "vendor/ext")
    git_init(repo)
    git(repo, "add", "-f", ".")
    git_commit_all(repo, "vendored with its build/")
    setuptools_build(src / "other")  # an untracked build elsewhere still goes
    before = content_snapshot(repo)
    result, notices = _purge(
        tmp_path / "cache", repo, Target("extpkg", local_dirs=frozenset({src}))
    )
    assert content_snapshot(repo) == before
    (n,) = [n for n in notices if n.path == build]
    assert "git tracks" in n.message and n.blocking
    assert _outcome(notices).exit_code == 1


def test_tracked_only_in_a_submodule_or_nested_repo_counts(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git_init(repo)
    (repo / "f").write_text("x")
    git_commit_all(repo, "outer")
    src, build = _local(repo, "nested/ext")
    git_init(repo / "nested")
    git(repo / "nested", "add", "-f", ".")
    git_commit_all(repo / "nested", "inner tracks build/")
    before = content_snapshot(repo)
    _, notices = _purge(tmp_path / "cache", repo, Target("extpkg", local_dirs=frozenset({src})))
    assert content_snapshot(repo) == before
    assert any("git tracks" in n.message for n in notices)


def test_tracked_in_the_index_of_a_commit_hook_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git commit -a` runs hooks with GIT_INDEX_FILE at a temporary index: files
    tracked there count, and GIT_DIR of another repository misleads nothing."""
    repo, other = tmp_path / "repo", tmp_path / "other"
    git_init(other)
    src, build = _local(repo, "ext")
    git_init(repo)
    (repo / "f").write_text("x")
    git_commit_all(repo, "first")
    index = repo / ".git" / "index-commit-a"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "-C", str(repo), "read-tree", "HEAD"], env=env, check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-f", "ext/build"], env=env, check=True)
    monkeypatch.setenv("GIT_INDEX_FILE", str(index))
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    before = content_snapshot(repo)
    _, notices = _purge(tmp_path / "cache", repo, Target("extpkg", local_dirs=frozenset({src})))
    assert content_snapshot(repo) == before
    assert any("git tracks" in n.message for n in notices)


# --- item 3: mounts ----------------------------------------------------------------------


@contextmanager
def _mounted(args: list[str], where: Path) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): see the README's Safety section")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("how", ["tmpfs", "bind"])
def test_removal_never_crosses_into_a_mount(tmp_path: Path, how: str) -> None:
    """A tmpfs (another st_dev) or a bind mount of a directory of the same file system
    (same st_dev: found in /proc/self/mountinfo) inside build/: nothing in it, and
    nothing of that build/, is deleted."""
    repo = tmp_path / "repo"
    src, build = _local(repo, "ext")
    precious = tmp_path / "precious"
    precious.mkdir()
    where = build / "temp.linux-x86_64-cpython-311" / "mnt"
    args = ["-t", "tmpfs", "none"] if how == "tmpfs" else ["--bind", str(precious)]
    with _mounted(args, where):
        (where / "data").write_text("on another file system")
        before = content_snapshot(repo, precious)
        result, notices = _purge(
            tmp_path / "cache", repo, Target("extpkg", local_dirs=frozenset({src}))
        )
        assert content_snapshot(repo, precious) == before
        (n,) = [n for n in notices if n.path == build]
        assert "mount" in n.message and n.blocking and n.fix is None
        assert (where / "data").read_text() == "on another file system"


def test_a_mount_is_judged_where_it_is_when_the_removal_happens(tmp_path: Path) -> None:
    """Between plan and removal, a build/ holding a mount is moved aside and a stale
    build/ takes its place; another build/ gains a mount. The mount that left is
    untouched and the build/ now there is removed; the one that gained a mount is not.
    (A random draw of test_safety_property found the first order of events.)"""
    repo = tmp_path / "repo"
    src_a, build_a = _local(repo, "a")
    src_b, build_b = _local(repo, "b")
    aside = tmp_path / "aside"
    with _mounted(["-t", "tmpfs", "none"], build_a / "temp.linux-x86_64-cpython-311" / "mnt"):
        (build_a / "temp.linux-x86_64-cpython-311" / "mnt" / "data").write_text("keep")
        targets = [Target("extpkg", local_dirs=frozenset({src_a, src_b}))]
        removals, _ = plan(tmp_path / "cache", targets, repo)
        assert {r.path for r in removals} == {build_a, build_b}
        os.rename(build_a, aside)  # the mount moves along
        try:
            setuptools_build(src_a)
            with _mounted(["-t", "tmpfs", "none"], build_b / "temp.linux-x86_64-cpython-311" / "m"):
                (build_b / "temp.linux-x86_64-cpython-311" / "m" / "data").write_text("keep")
                before = content_snapshot(aside, build_b)
                result = execute(removals, tmp_path / "cache", AllowedSet(repo=repo))
                assert content_snapshot(aside, build_b) == before
        finally:
            subprocess.run(["umount", "-l", str(aside / "temp.linux-x86_64-cpython-311" / "mnt")])
        assert [r.path for r in result.removed] == [build_a] and not build_a.exists()
        assert [(r.path, "mount" in why) for r, why in result.refused] == [(build_b, True)]


def test_the_rmtree_itself_does_not_enter_another_device(tmp_path: Path) -> None:
    """Belt and braces: a mount appearing after the checks is not entered either."""
    from envkey_hook.remove import _rmtree_fd

    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "f").write_text("x")
    with _mounted(["-t", "tmpfs", "none"], tree / "m"):
        (tree / "m" / "keep").write_text("keep")
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            left = _rmtree_fd(fd, "tree", os.stat(tree).st_dev)
        finally:
            os.close(fd)
        assert (tree / "m" / "keep").read_text() == "keep"
        assert left and not (tree / "a").exists()


# --- item 4: virtual environments ---------------------------------------------------------


@pytest.mark.parametrize("venv", [".venv", "envs/py311", "$UV_PROJECT_ENVIRONMENT"])
def test_nothing_inside_a_virtual_environment_is_deleted(tmp_path: Path, venv: str) -> None:
    """The project's .venv, UV_PROJECT_ENVIRONMENT (even before uv made pyvenv.cfg), or
    any directory holding pyvenv.cfg: a directory source in it keeps its build/."""
    from envkey_hook.preflight import virtualenvs

    repo = tmp_path / "repo"
    name = "custom-env" if venv.startswith("$") else venv
    src, build = _local(repo, f"{name}/src/extpkg")
    (build / "lib.linux-x86_64-cpython-311" / "canary").write_text("canary")
    if venv == "envs/py311":
        (repo / name / "pyvenv.cfg").write_text("home = /usr/bin\n")
    venvs = virtualenvs(repo, {"UV_PROJECT_ENVIRONMENT": "custom-env"})
    before = content_snapshot(repo)
    _, notices = _purge(
        tmp_path / "cache", repo, Target("extpkg", local_dirs=frozenset({src})), venvs=venvs
    )
    assert content_snapshot(repo) == before
    (n,) = [n for n in notices if n.path == build]
    assert "virtual environment" in n.message and n.blocking and n.fix and "rm -rf" in n.fix


# --- item 5: the entry's .lock -------------------------------------------------------------


_WAITER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
print(os.fstat(fd).st_ino, flush=True)
fcntl.flock(fd, fcntl.LOCK_EX)   # waits while envkey-hook holds it
print("got", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_whole_entry_purge_keeps_the_lock_file_a_waiter_holds(tmp_path: Path) -> None:
    """A process waiting on `<entry>/.lock` during a whole-entry purge gets the very
    lock file newcomers open afterwards: never two exclusive holders."""
    import fcntl

    from envkey_hook import locks

    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "pypi")
    lock = tree["entry"] / ".lock"
    removals, _ = plan(cache, [Target("extpkg", whole_entries=True)], tmp_path)
    real_hold = locks.CacheLocks._hold
    waiter: list[subprocess.Popen[str]] = []

    def hold_then_start_waiter(self, fd, path, shared, deadline):  # type: ignore[no-untyped-def]
        real_hold(self, fd, path, shared, deadline)
        if path == lock:  # we hold it now: a uv process starts waiting on it
            p = subprocess.Popen(
                [sys.executable, "-c", _WAITER, str(lock), "5"], stdout=subprocess.PIPE, text=True
            )
            assert p.stdout is not None
            p.stdout.readline()
            waiter.append(p)

    mp = pytest.MonkeyPatch()
    mp.setattr(locks.CacheLocks, "_hold", hold_then_start_waiter)
    try:
        result = execute(removals, cache, AllowedSet(cache=cache))
    finally:
        mp.undo()
    assert result.refused == []
    (p,) = waiter
    assert p.stdout is not None and p.stdout.readline().strip() == "got"
    # A newcomer (uv opening the entry now) must find the lock taken by the waiter.
    fd = os.open(lock, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
        p.kill()
        p.wait()
    assert os.listdir(tree["entry"]) == [".lock"]


# --- item 6: half a deletion ---------------------------------------------------------------

_NO_DAC = """
import sys
from pathlib import Path
from envkey_hook.errors import InputError
from envkey_hook.purge import Target, plan
from envkey_hook.purgeexec import execute
from envkey_hook.remove import AllowedSet
repo = Path(sys.argv[1])
removals, _ = plan(None, [Target("extpkg", local_dirs=frozenset({repo / "ext"}))], repo)
assert removals, "nothing planned"
try:
    execute(removals, None, AllowedSet(repo=repo))
except InputError as exc:
    print("input-error", exc)
"""


def test_read_only_directory_deep_in_build_is_found_before_any_unlink(tmp_path: Path) -> None:
    """As root without CAP_DAC_OVERRIDE (capsh), a read-only directory deep in build/
    stops the run before anything is deleted: no trash tree, nothing gone."""
    if os.geteuid() != 0 or subprocess.run(["capsh", "--help"], capture_output=True).returncode:
        pytest.skip("needs root and capsh to drop CAP_DAC_OVERRIDE")
    repo = tmp_path / "repo"
    src, build = _local(repo, "ext")
    ro = build / "temp.linux-x86_64-cpython-311" / "src"
    os.chmod(ro, 0o555)
    before = content_snapshot(repo)
    script = tmp_path / "purge.py"
    script.write_text(_NO_DAC)
    cmd = f"{sys.executable} {script} {repo}"
    drop = "--drop=cap_dac_override,cap_dac_read_search"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        proc = subprocess.run(
            ["capsh", drop, "--", "-c", cmd], capture_output=True, text=True, env=env
        )
    finally:
        os.chmod(ro, 0o755)
    assert "input-error" in proc.stdout and "read-only" in proc.stdout, proc
    assert content_snapshot(repo) == before
    assert not [p for p in os.listdir(src) if p.startswith(TRASH_PREFIX)]


# --- item 16: symlinked cache parts ---------------------------------------------------------


@pytest.mark.parametrize("part", ["bucket", "entry", "revision", "src"])
def test_a_symlinked_cache_part_is_reported_with_what_clears_it(tmp_path: Path, part: str) -> None:
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    tree = polluted_entry(cache, "pypi")
    path = {
        "bucket": cache / "sdists-v11",
        "entry": tree["entry"],
        "revision": tree["rev"],
        "src": tree["rev"] / "src",
    }[part]
    os.rename(path, elsewhere)
    os.symlink(elsewhere, path)
    before = _without_uv_locks(content_snapshot(cache, elsewhere))
    result, notices = _purge(cache, tmp_path, Target("extpkg"))
    after = _without_uv_locks(content_snapshot(cache, elsewhere))
    if part == "src":  # the polluted slot is not behind the link: it may go
        polluted = str(tree["new"])
        before = {p: v for p, v in before.items() if not p.startswith(polluted)}
    assert after == before
    blocking = [n for n in notices if n.blocking]
    assert blocking, notices
    assert all(n.fix == "uv cache clean extpkg" for n in blocking), blocking
    assert any(n.path == path for n in blocking) or part == "src"
    o = _outcome(notices)
    assert o.exit_code == 1


def test_a_symlinked_hash_entry_of_another_package_is_not_reported(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    polluted_entry(cache, "pypi")
    other = polluted_entry(tmp_path / "c2", "url", name="other")
    os.makedirs(cache / "sdists-v11" / "url", exist_ok=True)
    os.symlink(other["entry"], cache / "sdists-v11" / "url" / "0123456789abcdef")
    _, notices = plan(cache, [Target("extpkg", hash_kinds=frozenset({"url"}))], tmp_path)
    assert not [n for n in notices if n.blocking]


# --- item 17: a build/ that cannot be fully removed ------------------------------------------


def test_a_build_dir_with_a_tracked_gitkeep_fails_the_run_and_says_what_to_do(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    src, build = _local(repo, "ext")
    (build / ".gitkeep").touch()
    (repo / ".gitignore").write_text("build/\n")
    git_init(repo)
    git(repo, "add", "-f", "ext/build/.gitkeep", "ext/setup.py")
    git_commit_all(repo, "keep build/")
    before = content_snapshot(repo)
    _, notices = _purge(tmp_path / "cache", repo, Target("extpkg", local_dirs=frozenset({src})))
    assert content_snapshot(repo) == before
    (n,) = [n for n in notices if n.path == build]
    assert n.blocking and n.fix is not None and _outcome(notices).exit_code == 1
    subprocess.run(n.fix, shell=True, check=True)  # the hint works and keeps .gitkeep
    assert os.listdir(build) == [".gitkeep"]
    assert git(repo, "status", "--porcelain") == ""


# --- item 1 without uv: the locks uv builds a local directory under ------------------------


def test_setuptools_lock_name_is_uvs() -> None:
    """uv 0.13.9 named its lock for /tmp/i15del/proj/ext `uv-setuptools-de7fca79397b7469.lock`
    (seen with strace); the digest is seahash of the canonical path as Rust hashes it."""
    from envkey_hook.locks import _path_hash_bytes, _seahash

    digest = _seahash(_path_hash_bytes(b"/tmp/i15del/proj/ext")).to_bytes(8, "little").hex()
    assert digest == "de7fca79397b7469"


def test_local_build_waits_for_uvs_setuptools_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envkey_hook.locks import LockBusy, setuptools_lock_paths
    from test_locks import held

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    repo = tmp_path / "repo"
    src, build = _local(repo, "ext")
    removals, _ = plan(None, [Target("extpkg", local_dirs=frozenset({src}))], repo)
    lock = setuptools_lock_paths(src)[-1]
    assert lock.parent == tmp_path
    with held(lock), pytest.raises(LockBusy):
        execute(removals, None, AllowedSet(repo=repo), lock_timeout=0.2)
    assert build.is_dir()


def test_local_build_waits_for_a_path_entry_uv_just_created(tmp_path: Path) -> None:
    """An entry holding nothing yet (uv just created it, about to build in place): its
    lock is taken too, whatever package it turns out to be."""
    from envkey_hook.locks import LockBusy
    from test_locks import held

    cache, repo = tmp_path / "cache", tmp_path / "repo"
    src, build = _local(repo, "ext")
    removals, _ = plan(cache, [Target("extpkg", local_dirs=frozenset({src}))], repo)
    fresh = entry(cache, "path")
    with held(fresh / ".lock"), pytest.raises(LockBusy):
        execute(removals, cache, AllowedSet(cache=cache, repo=repo), lock_timeout=0.2)
    assert build.is_dir()


def test_cache_through_a_symlink_still_locks_the_entry(tmp_path: Path) -> None:
    from envkey_hook.locks import LockBusy
    from test_locks import held

    real, cache, repo = tmp_path / "real-cache", tmp_path / "cache", tmp_path / "repo"
    real.mkdir()
    os.symlink(real, cache)
    src, build = _local(repo, "ext")
    e = entry(real, "path")
    (e / "rev").mkdir()
    removals, _ = plan(cache, [Target("extpkg", local_dirs=frozenset({src}))], repo)
    with held(e / ".lock"), pytest.raises(LockBusy):
        execute(removals, cache, AllowedSet(cache=cache, repo=repo), lock_timeout=0.2)
    assert build.is_dir()
