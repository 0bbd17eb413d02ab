"""uv's locks: bounded waits, all-or-nothing, and naming the process in the way."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from envkey_hook.locks import CacheLocks, LockBusy, lock_holder
from envkey_hook.purge import Target, plan
from envkey_hook.purgeexec import execute
from envkey_hook.remove import AllowedSet
from fakecache import polluted_entry

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock semantics")

_HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()
    """
)


@contextmanager
def held(path: Path, mode: str = "exclusive") -> Iterator[int]:
    """A child process holding a flock on `path` (as uv would) until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def _uv_cache(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".lock").touch()
    return cache, polluted_entry(cache, "index")


def test_busy_entry_raises_naming_the_holder_and_deletes_nothing(tmp_path: Path) -> None:
    cache, tree = _uv_cache(tmp_path)
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    assert len(removals) == 2
    with held(tree["entry"] / ".lock") as pid:
        start = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            execute(removals, cache, AllowedSet(cache=cache), lock_timeout=0.5)
        elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 5
    assert busy.value.lock_path == tree["entry"] / ".lock"
    if Path("/proc/locks").exists():
        assert f"(pid {pid})" in busy.value.holder
        assert "python" in busy.value.holder
    assert tree["build"].is_dir() and tree["new"].is_dir()


def test_shared_cache_lock_like_uv_run_does_not_block(tmp_path: Path) -> None:
    cache, tree = _uv_cache(tmp_path)
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    with held(cache / ".lock", "shared"):
        result = execute(removals, cache, AllowedSet(cache=cache), lock_timeout=0.5)
    assert len(result.removed) == 2
    assert not tree["build"].exists() and not tree["new"].exists()


def test_exclusive_cache_lock_like_uv_cache_clean_blocks(tmp_path: Path) -> None:
    cache, tree = _uv_cache(tmp_path)
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    with held(cache / ".lock"), pytest.raises(LockBusy) as busy:
        execute(removals, cache, AllowedSet(cache=cache), lock_timeout=0.2)
    assert busy.value.lock_path == cache / ".lock"
    assert tree["build"].is_dir()


def test_all_or_nothing_releases_what_was_taken(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    a, b = cache / "a", cache / "b"
    a.mkdir(parents=True)
    b.mkdir()
    with held(b / ".lock"), pytest.raises(LockBusy):
        CacheLocks(cache, [b, a], timeout=0.1).__enter__()
    # a/.lock and cache/.lock were released: another holder gets them at once.
    with held(a / ".lock"), held(cache / ".lock"):
        pass


def test_locks_are_held_inside_and_released_after(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    e = cache / "e"
    e.mkdir(parents=True)
    with CacheLocks(cache, [e], timeout=1), pytest.raises(LockBusy):
        CacheLocks(cache, [e], timeout=0.1).__enter__()
    with CacheLocks(cache, [e], timeout=0.1):
        pass


def test_missing_lock_files_are_created_like_uv(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    e = cache / "e"
    e.mkdir(parents=True)
    with CacheLocks(cache, [e], timeout=1):
        pass
    for lock in (cache / ".lock", e / ".lock"):
        assert stat.S_IMODE(lock.stat().st_mode) == 0o666


def test_no_cache_root_lock_without_a_cache(tmp_path: Path) -> None:
    with CacheLocks(None, [], timeout=0.1):
        pass
    with CacheLocks(tmp_path / "missing", [], timeout=0.1):
        pass
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="Linux /proc/locks")
def test_lock_holder_describes_the_process(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with held(lock) as pid:
        holder = lock_holder(lock)
    assert holder.endswith(f"(pid {pid})") and holder.startswith("python")
    assert lock_holder(lock) == "another process"  # released
    assert lock_holder(tmp_path / "missing") == "another process"


def test_entry_gone_since_planning_is_skipped(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    with CacheLocks(cache, [cache / "vanished"], timeout=0.1):
        pass
    assert not (cache / "vanished").exists()
