"""uv's cache locks, taken the way uv takes them, with a bounded wait.

uv holds `<cache>/.lock` shared for the lifetime of every command (exclusive for
`uv cache clean`/`prune`) and `<entry>/.lock` exclusive while it unpacks or builds that
entry. These are flock(2) locks on Unix; Python's fcntl.flock interoperates with them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Callable

from envkey_hook.errors import InputError
from envkey_hook.remove import FD_WALK, RefusedRemoval, open_beneath

_POLL_SECONDS = 0.05


class LockBusy(Exception):
    """A uv lock was not free within the timeout, or could not be taken at all (then
    envkey-hook cannot tell whether uv is using it); nothing is held any more."""

    def __init__(self, lock_path: Path, holder: str, unknown: str | None = None) -> None:
        what = f"cannot take it ({unknown}), so uv may be using it" if unknown else None
        super().__init__(f"{lock_path}: {what}" if what else f"{lock_path} is locked by {holder}")
        self.lock_path = lock_path
        self.holder = holder


_MASK = (1 << 64) - 1


def _diffuse(x: int) -> int:
    x = (x * 0x6EED0E9DA4D94A4F) & _MASK
    x ^= (x >> 32) >> (x >> 60)
    return (x * 0x6EED0E9DA4D94A4F) & _MASK


def _seahash(data: bytes) -> int:
    """seahash 4.1's streaming SeaHasher (default seeds) over `data`, as uv uses it."""
    s = [0x16F11FE89B0D677C, 0xB480A793D8E6C86C, 0x6FE2E5AAF078EBC9, 0x14F994A4C5259381]
    whole = len(data) // 8 * 8
    for i in range(0, whole, 8):
        s = [s[1], s[2], s[3], _diffuse(s[0] ^ int.from_bytes(data[i : i + 8], "little"))]
    tail = data[whole:]
    a = _diffuse(s[0] ^ int.from_bytes(tail, "little")) if tail else s[0]
    return _diffuse(a ^ s[1] ^ s[2] ^ s[3] ^ len(data))


def _path_hash_bytes(path: bytes) -> bytes:
    """What Rust's `impl Hash for Path` feeds the hasher on Unix: the components, then a
    usize mixing their lengths (a `.` component is skipped, as `components()` does)."""
    parts = [p for p in path.split(b"/") if p and p != b"."]
    bits = 0
    for p in parts:
        bits = (bits + len(p)) & _MASK
        bits = ((bits >> 2) | (bits << 62)) & _MASK  # rotate_right(2)
    return b"".join(parts) + bits.to_bytes(8, "little")


def setuptools_lock_paths(source_dir: Path) -> list[Path]:
    """Where uv locks an in-place setuptools build of `source_dir`.

    uv 0.13 takes `<temp dir>/uv-setuptools-<cache_digest(canonical dir)>.lock` exclusive
    around the build (uv-build-frontend `acquire_lock`). Its temp dir is `$TMPDIR` or
    `/tmp`; the environment of the uv that builds may differ from ours, so both.
    """
    real = os.fsencode(os.path.realpath(source_dir))
    digest = _seahash(_path_hash_bytes(real)).to_bytes(8, "little").hex()
    dirs = {os.environ.get("TMPDIR") or "/tmp", "/tmp"}
    return [Path(d) / f"uv-setuptools-{digest}.lock" for d in sorted(dirs)]


if sys.platform == "win32":  # pragma: no cover - best effort, untested
    import msvcrt

    def _try_lock(fd: int, shared: bool) -> bool:
        # msvcrt has no shared mode: the shared cache lock is skipped on Windows.
        # A 1-byte lock at offset 0 overlaps uv's whole-file LockFileEx lock.
        if shared:
            return True
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int, shared: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _open_lock_file(path: Path, root: Path | None = None) -> int:
    """Open (creating it if missing, as uv does) a lock file, never through a symlink.

    Below `root` (the cache) every directory is opened without following a symlink
    (RefusedRemoval if one is), so no lock file is ever created outside the cache.
    """
    flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    rel = _dir_below(root, path)
    dir_fd = open_beneath(root, rel) if root is not None and rel is not None else None
    name = path.name if dir_fd is not None else str(path)
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | flags, 0o666, dir_fd=dir_fd)
    except FileExistsError:
        try:
            return os.open(name, os.O_RDWR | flags, dir_fd=dir_fd)
        except PermissionError:  # flock works on read-only fds
            return os.open(name, os.O_RDONLY | flags, dir_fd=dir_fd)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    if hasattr(os, "fchmod"):
        # uv's lock files are world-writable (0o666) regardless of the umask.
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)
    return fd


def _dir_below(root: Path | None, path: Path) -> tuple[str, ...] | None:
    """Components from `root` to the directory of `path`; None if not below it."""
    if root is None or not FD_WALK:
        return None
    try:
        rel = path.parent.relative_to(root).parts
    except ValueError:
        return None
    return None if ".." in rel else rel


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if not args:
        return ""
    text = " ".join([os.path.basename(args[0]), *args[1:]])
    return text if len(text) <= 60 else text[:57] + "..."


def lock_holder(path: Path) -> str:
    """Who holds a lock on `path`: from /proc/locks (Linux), else "another process"."""
    try:
        st = os.stat(path)
        table = Path("/proc/locks").read_text()
    except OSError:
        return "another process"
    dev = (os.major(st.st_dev), os.minor(st.st_dev))
    found: list[tuple[bool, int]] = []
    for line in table.splitlines():
        # `1: FLOCK  ADVISORY  WRITE 1234 08:01:123456 0 EOF`; waiters carry `->`.
        fields = line.split()
        if "->" in fields or len(fields) < 6 or not fields[4].isdigit():
            continue
        try:
            major, minor, inode = fields[5].split(":")
            same_dev = (int(major, 16), int(minor, 16)) == dev
            ours = int(inode) == st.st_ino
        except ValueError:
            continue
        pid = int(fields[4])
        if ours and pid > 0 and pid != os.getpid():
            # Some filesystems (overlayfs, btrfs) report another device here: prefer a
            # full match, but fall back on the inode alone.
            found.append((not same_dev, pid))
    for _, pid in sorted(found):
        cmd = _cmdline(pid)
        if cmd:
            return f"{cmd} (pid {pid})"
    return f"pid {min(found)[1]}" if found else "another process"


class CacheLocks:
    """Hold `<cache>/.lock` shared, each `<entry>/.lock` exclusive and the given lock
    files outside the cache (uv's setuptools source-tree locks) exclusive, or none.

    Locks are taken in uv's order (entries, then the source tree), each group sorted so
    that two envkey-hook runs cannot deadlock, polling until `timeout` seconds have
    passed in total; then everything taken so far is released and LockBusy names the
    holder. `rescan` lists entries to hold once the rest is held: an entry uv created
    meanwhile is caught there (its build then waits on the source-tree lock we hold).
    A cache reached through a symlink is locked where uv locks it: at its target.
    """

    def __init__(
        self,
        cache: Path | None,
        entries: Iterable[Path],
        timeout: float,
        extra_files: Iterable[Path] = (),
        rescan: Callable[[], Iterable[Path]] | None = None,
        guards: Iterable[Path] = (),
    ) -> None:
        root = [(cache / ".lock", True)] if cache is not None and cache.is_dir() else []
        self._cache = cache
        self._root = Path(os.path.realpath(cache)) if cache is not None else None
        exclusive = sorted({e / ".lock" for e in entries})
        self._wanted = root + [(p, False) for p in exclusive]
        self._extra = sorted(set(extra_files))
        self._rescan = rescan
        # Entries whose lock guards a deletion outside them (an in-place build): not
        # being able to take it means we cannot tell whether uv builds there.
        self._guards = {g / ".lock" for g in guards}
        self._timeout = timeout
        self._held: list[int] = []
        self._held_paths: set[Path] = set()

    def __enter__(self) -> CacheLocks:
        deadline = time.monotonic() + self._timeout
        try:
            for path, shared in self._wanted:
                self._acquire(path, shared, deadline)
            for path in self._extra:
                self._acquire_outside(path, deadline)
            if self._rescan is not None:
                for entry in sorted(self._rescan()):
                    if entry / ".lock" not in self._held_paths:
                        self._guards.add(entry / ".lock")
                        self._acquire(entry / ".lock", False, deadline)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _in_real_cache(self, path: Path) -> Path:
        """`path` spelled below the cache's real location (uv follows a symlinked root)."""
        if self._cache is None or self._root is None:
            return path
        try:
            return self._root / path.relative_to(self._cache)
        except ValueError:
            return path

    def _acquire(self, path: Path, shared: bool, deadline: float) -> None:
        real = self._in_real_cache(path)
        try:
            fd = _open_lock_file(real, self._root)
        except FileNotFoundError:
            return  # the entry went away since it was planned: nothing left to guard
        except RefusedRemoval as exc:
            if path not in self._guards:
                return  # a symlink on the way: remove_tree refuses everything below it too
            # uv would follow the symlink: whether it holds what the link points to
            # cannot be told from here, so the lock counts as busy.
            raise LockBusy(path, "", exc.reason) from None
        except OSError as exc:  # a read-only entry without a lock file
            raise InputError(path, f"cannot open uv's lock: {exc.strerror or exc}") from None
        self._hold(fd, path, shared, deadline)

    def _acquire_outside(self, path: Path, deadline: float) -> None:
        """A lock file uv keeps outside the cache (created if missing, as uv does)."""
        try:
            fd = _open_lock_file(path)
        except FileNotFoundError:
            return  # no such temp dir: no uv can lock (or build under) this name there
        except OSError as exc:  # a symlink (ELOOP), another user's file we cannot open
            raise LockBusy(path, "", exc.strerror or str(exc)) from None
        self._hold(fd, path, False, deadline)

    def _hold(self, fd: int, path: Path, shared: bool, deadline: float) -> None:
        self._held.append(fd)  # closed by release() whatever happens next
        self._held_paths.add(path)
        while not _try_lock(fd, shared):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockBusy(path, lock_holder(path))
            time.sleep(min(_POLL_SECONDS, remaining))

    def release(self) -> None:
        """Release every lock held (closing the fd drops a flock)."""
        self._held_paths.clear()
        while self._held:
            fd = self._held.pop()
            with contextlib.suppress(OSError):
                _unlock(fd)
            os.close(fd)
