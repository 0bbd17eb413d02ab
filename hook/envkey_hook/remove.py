"""The one place where envkey-hook deletes anything.

A path is removed only when it has one of a few known shapes under an allowed root
(uv's cache, or the repository), and no component from that root down is a symlink.
Removal renames the directory to a unique trash name beside it (atomic: uv never
sees a half-deleted tree), checks that what was renamed is the directory that was
verified, then deletes it without following symlinks. A trash tree an interrupted
run left behind is allowed where the tree it was renamed from was allowed.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

TRASH_PREFIX = ".envkey-hook-trash-"

_SDISTS = re.compile(r"sdists-v\d+")
_GIT = re.compile(r"git-v\d+")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_SHORT_SHA = re.compile(r"[0-9a-f]{7,64}")
# Path components from the cache root to an entry directory, per kind.
_ENTRY_DEPTH = {"pypi": 4, "index": 5, "url": 3, "path": 3, "editable": 3, "git": 4}

FD_WALK = (
    os.open in os.supports_dir_fd
    and os.rename in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
)
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _safe_rmtree() -> bool:
    """Whether shutil.rmtree resists symlink attacks (imported late: planning needs none)."""
    import shutil

    # Windows' rmtree is not fd-based but does not follow links or junctions either.
    return shutil.rmtree.avoids_symlink_attacks or sys.platform == "win32"


class RefusedRemoval(Exception):
    """A removal that did not match an allowed shape, or met a symlink: nothing deleted."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class AllowedSet:
    """The roots under which removals may happen: uv cache root(s) and the repository."""

    def __init__(
        self,
        cache: Path | Iterable[Path] | None = None,
        repo: Path | None = None,
        venvs: Iterable[Path] = (),
    ):
        if cache is None:
            caches: list[Path] = []
        elif isinstance(cache, Path):
            caches = [cache]
        else:
            caches = list(cache)
        self.caches = tuple(c if c.is_absolute() else Path.cwd() / c for c in caches)
        self.repo = repo
        # Virtual environments in the repository: nothing in them is removed.
        self.venvs = tuple(venvs)

    def classify(self, path: Path) -> tuple[Path, tuple[str, ...], str]:
        """(root, components below it, shape) of an allowed path; RefusedRemoval otherwise.

        The shape is "leftover" for a trash tree of an interrupted run.
        """
        if not path.is_absolute():
            raise RefusedRemoval(path, "not an absolute path")
        for root in self.caches:
            rel = _below(root, path)
            if rel is not None:
                shape = _leftover_shape(rel, _cache_shape)
                if shape is None:
                    raise RefusedRemoval(path, "not a build directory or slot of uv's cache")
                return root, rel, shape
        repo = self.repo
        rel = _below(repo, path) if repo is not None else None
        if repo is not None and rel is not None:
            if _leftover_shape(rel, _repo_shape) is None:
                raise RefusedRemoval(path, "not a `build` directory of the repository")
            return repo, rel, "leftover" if is_trash(rel[-1]) else "local-build"
        raise RefusedRemoval(path, "outside uv's cache and the repository")

    def root_of(self, path: Path) -> Path | None:
        """The allowed root `path` lies in or is, if any."""
        for root in (*self.caches, self.repo):
            if root is not None and (path == root or _below(root, path) is not None):
                return root
        return None


def _below(root: Path, path: Path) -> tuple[str, ...] | None:
    """Components of `path` strictly below `root`, compared lexically; `..` never passes."""
    try:
        rel = path.relative_to(root).parts
    except ValueError:
        return None
    return rel if rel and ".." not in rel else None


def is_trash(name: str) -> bool:
    """A name removal renames to (and only removal does)."""
    return name.startswith(TRASH_PREFIX) and len(name) > len(TRASH_PREFIX)


# What a trash tree may have been renamed from: a `build` directory, a slot, or an
# entry (whose last component is a version or a hash: any name passes there).
_RENAMED_FROM = ("build", "0" * 16)


def _leftover_shape(
    rel: tuple[str, ...], shape_of: Callable[[tuple[str, ...]], str | None]
) -> str | None:
    """The shape of `rel`; "leftover" for a trash name where an allowed tree could have been."""
    if not is_trash(rel[-1]):
        return shape_of(rel)
    if len(rel) > 1 and shape_of(rel[:-1]) == "entry":
        return "leftover"  # a revision of an entry being emptied (its .lock stays)
    for name in _RENAMED_FROM:
        if shape_of((*rel[:-1], name)) is not None:
            return "leftover"
    return None


def _repo_shape(rel: tuple[str, ...]) -> str | None:
    return "local-build" if rel[-1] == "build" and ".git" not in rel else None


def _cache_shape(rel: tuple[str, ...]) -> str | None:
    if any(part.startswith(".") for part in rel):
        return None  # uv names nothing it builds with a dot; our trash names start with one
    bucket, kind = rel[0], rel[1] if len(rel) > 1 else ""
    if _GIT.fullmatch(bucket):
        ok = len(rel) == 5 and kind == "checkouts" and rel[4] == "build"
        ok = ok and bool(_HEX16.fullmatch(rel[2]) and _SHORT_SHA.fullmatch(rel[3]))
        return "checkout-build" if ok else None
    if not _SDISTS.fullmatch(bucket) or kind not in _ENTRY_DEPTH:
        return None
    entry = _ENTRY_DEPTH[kind]
    rev = entry if kind == "git" else entry + 1  # git entries have no revision level
    if len(rel) == entry:
        return "entry"
    if len(rel) == rev + 1 and _HEX16.fullmatch(rel[-1]):
        return "slot"
    if kind != "git" and len(rel) == rev + 2 and rel[-2:] == ("src", "build"):
        return "build-dir"
    return None


def _symlink_reason(root: Path, rel: tuple[str, ...]) -> str:
    """Which component is not a real directory (for the refusal message)."""
    for i in range(len(rel) + 1):
        here = root.joinpath(*rel[:i])
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return f"{here} does not exist"
        if stat.S_ISLNK(mode):
            return f"{here} is a symlink"
        if not stat.S_ISDIR(mode):
            return f"{here} is not a directory"
    return "changed while being checked"


def open_beneath(root: Path, rel: tuple[str, ...]) -> int:
    """fd of the directory root/rel, no symlink followed from root down (RefusedRemoval)."""
    return _open_dir(root, rel)


def _open_dir(root: Path, rel: tuple[str, ...]) -> int:
    """fd of root/rel, opened one component at a time so no symlink is ever followed."""
    fd = _open_nofollow(root, None, root, rel)
    try:
        for name in rel:
            nfd = _open_nofollow(name, fd, root, rel)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_nofollow(name: str | Path, dir_fd: int | None, root: Path, rel: tuple[str, ...]) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError:  # ELOOP (symlink) or ENOTDIR
        raise RefusedRemoval(root.joinpath(*rel), _symlink_reason(root, rel)) from None


def _size_at(dir_fd: int, name: str) -> int:
    total = 0
    for _, _, files, dfd in os.fwalk(name, dir_fd=dir_fd, follow_symlinks=False):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(f, dir_fd=dfd, follow_symlinks=False).st_size
    return total


def tree_size(path: Path) -> int:
    """Apparent size of the files in a directory tree, never following symlinks."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return 0
    except OSError:
        return 0
    total = 0
    for top, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, f)).st_size
    return total


def _rmtree_at(dir_fd: int, name: str, problems: list[str] | None = None) -> None:
    """Delete a renamed tree; what cannot be deleted is retried by the next run."""
    try:
        dev = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_dev
    except OSError:
        return
    failed = _rmtree_fd(dir_fd, name, dev)
    if failed and problems is not None:
        problems.extend(failed)


def _rmtree_fd(dir_fd: int, name: str, dev: int) -> list[str]:
    """rmtree relative to an open directory, never following a symlink and never
    entering another file system (like `rm --one-file-system`); what was left.

    shutil.rmtree(path) would resolve the parent's path again, and a component of it
    could have been swapped for a symlink since it was checked; it also crosses mounts.
    """
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        try:
            os.unlink(name, dir_fd=dir_fd)  # not a directory (or a symlink): unlink it
        except FileNotFoundError:
            pass
        except OSError as exc:
            return [f"{name}: {exc.strerror or exc}"]
        return []
    failed: list[str] = []
    try:
        if os.fstat(fd).st_dev != dev:
            return [f"{name}: on another file system: not entered"]
        with os.scandir(fd) as it:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for child, is_dir in children:
            if is_dir:
                failed += [f"{name}/{f}" for f in _rmtree_fd(fd, child, dev)]
            else:
                try:
                    os.unlink(child, dir_fd=fd)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    failed.append(f"{name}/{child}: {exc.strerror or exc}")
    except OSError as exc:
        failed.append(f"{name}: {exc.strerror or exc}")
    finally:
        os.close(fd)
    if not failed:
        try:
            os.rmdir(name, dir_fd=dir_fd)
        except OSError as exc:
            failed.append(f"{name}: {exc.strerror or exc}")
    return failed


# Removals begun in this process: an internal error after one must not claim that
# nothing was deleted (cli.main reads it).
begun = 0


def remove_tree(path: Path, allowed: AllowedSet, problems: list[str] | None = None) -> int:
    """Remove an allowed directory tree; bytes freed. RefusedRemoval when not allowed.

    A whole cache entry is emptied, not removed: its `.lock` stays, since a uv process
    may hold or wait on it. What could not be deleted (renamed out of uv's sight first)
    is added to `problems`; the next run finishes it.
    """
    global begun
    root, rel, shape = allowed.classify(path)
    begun += 1
    if not FD_WALK:  # pragma: no cover - Windows: lstat checks, then plain paths
        if not _safe_rmtree():
            raise RefusedRemoval(path, "shutil.rmtree is not safe against symlink attacks here")
        return _remove_by_path(root, rel, path)
    parent_fd = _open_dir(root, rel[:-1])
    try:
        if shape == "leftover":  # renamed already: uv never looks at it
            _check_real_dir(parent_fd, rel[-1], path)
            size = _size_at(parent_fd, rel[-1])
            _rmtree_at(parent_fd, rel[-1], problems)
            return size
        if shape == "entry":
            return _empty_entry(parent_fd, rel[-1], path, problems)
        return _remove_at(parent_fd, rel[-1], path, problems)
    finally:
        os.close(parent_fd)


def check_tree(path: Path, allowed: AllowedSet) -> str | None:
    """Why the allowed tree at `path` must not be removed (a mount in it), or None;
    InputError when it could only be half removed (a read-only directory in it)."""
    from envkey_hook.preflight import mount_points, mounts_below, walk_check

    root, rel, _ = allowed.classify(path)
    if not FD_WALK:  # pragma: no cover
        return None
    mount = mounts_below(path, mount_points())
    if mount is not None:
        return f"{mount} is a mount point: left alone"
    parent_fd = _open_dir(root, rel[:-1])
    try:
        return walk_check(parent_fd, rel[-1], path)
    finally:
        os.close(parent_fd)


def _check_real_dir(parent_fd: int, name: str, path: Path) -> None:
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise RefusedRemoval(path, f"is {kind}")


def _empty_entry(parent_fd: int, name: str, path: Path, problems: list[str] | None) -> int:
    """Remove everything in a cache entry but its `.lock`: revision pointers first (uv
    then sees no revision and starts afresh), then each revision, renamed away first."""
    _check_real_dir(parent_fd, name, path)
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        with os.scandir(fd) as it:
            children = sorted((e.is_dir(follow_symlinks=False), e.name) for e in it)
        size = 0
        for is_dir, child in children:
            if child == ".lock":
                continue
            if not is_dir:  # revision.http / revision.rev, or a symlink: unlink the name
                with contextlib.suppress(FileNotFoundError):
                    size += os.stat(child, dir_fd=fd, follow_symlinks=False).st_size
                    os.unlink(child, dir_fd=fd)
            elif is_trash(child):
                size += _size_at(fd, child)
                _rmtree_at(fd, child, problems)
            else:
                with contextlib.suppress(FileNotFoundError):
                    size += _remove_at(fd, child, path / child, problems)
        return size
    finally:
        os.close(fd)


def _remove_at(parent_fd: int, name: str, path: Path, problems: list[str] | None = None) -> int:
    _check_real_dir(parent_fd, name, path)
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        raise
    except OSError:
        raise RefusedRemoval(path, "is not a real directory") from None
    try:
        verified = os.fstat(fd)
        trash = TRASH_PREFIX + os.urandom(8).hex()
        os.rename(name, trash, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        moved = os.stat(trash, dir_fd=parent_fd, follow_symlinks=False)
        if (moved.st_dev, moved.st_ino) != (verified.st_dev, verified.st_ino):
            # Swapped between the check and the rename: put it back, touch nothing.
            os.rename(trash, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
            raise RefusedRemoval(path, "was replaced while being removed")
    finally:
        os.close(fd)
    size = _size_at(parent_fd, trash)
    _rmtree_at(parent_fd, trash, problems)
    return size


def _remove_by_path(root: Path, rel: tuple[str, ...], path: Path) -> int:  # pragma: no cover
    for i in range(len(rel) + 1):
        mode = os.lstat(root.joinpath(*rel[:i])).st_mode
        if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
            raise RefusedRemoval(path, _symlink_reason(root, rel))
    trash = path.parent / (TRASH_PREFIX + os.urandom(8).hex())
    os.rename(path, trash)
    size = tree_size(trash)
    import shutil

    shutil.rmtree(trash, ignore_errors=True)
    return size


def cleanup_leftovers(dirs: Iterable[Path], allowed: AllowedSet) -> int:
    """Delete `.envkey-hook-trash-*` trees an interrupted run left in `dirs`; bytes freed.

    Only directories under an allowed root are looked at, and only trees bearing
    our trash prefix are deleted.
    """
    freed = 0
    for d in sorted(set(dirs)):
        root = allowed.root_of(d)
        if root is None or not FD_WALK:
            continue
        rel = _below(root, d) or ()
        try:
            dfd = _open_dir(root, rel)
        except (OSError, RefusedRemoval):
            continue
        try:
            with os.scandir(dfd) as it:
                names = [e.name for e in it if is_trash(e.name) and e.is_dir(follow_symlinks=False)]
            for name in names:
                freed += _size_at(dfd, name)
                _rmtree_at(dfd, name)
        finally:
            os.close(dfd)
    return freed


def find_leftovers(directory: Path) -> list[Path]:
    """Trash trees an interrupted run left in `directory` (real directories only), sorted."""
    try:
        with os.scandir(directory) as it:
            names = [e.name for e in it if is_trash(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    return [directory / n for n in sorted(names)]
