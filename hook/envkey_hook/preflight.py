"""Checks on a whole tree before the first unlink of a purge.

A removal must either happen completely or not start: every directory in the tree is
looked at first. What would make it unsafe (a mount point or another file system in
it, a file git tracks, a virtual environment around it) refuses that removal; what
would make it fail halfway (a directory we cannot write) stops the run before
anything is deleted.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from envkey_hook.errors import InputError

# Variables that point git at another repository than the one the path lies in (a
# calling hook may leave them set).
_GIT_LOCATORS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


def _unescape_mount(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal `\\ooo`."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str] | None:
    """Every mount point of this process (Linux); None when it cannot be told."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    return [_unescape_mount(line.split(" ")[4]) for line in lines if line.count(" ") >= 4]


def mounts_below(path: Path, points: list[str] | None) -> str | None:
    """A mount point at or below `path` (bind mounts on the same device included)."""
    if points is None:
        return None
    top = os.path.realpath(path)
    for p in points:
        if p == top or p.startswith(top.rstrip("/") + "/"):
            return p
    return None


def walk_check(parent_fd: int, name: str, path: Path) -> str | None:
    """Why the tree `name` (in `parent_fd`) must not be removed, or None.

    Raises InputError for a directory that cannot be emptied (a read-only one).
    Device changes are refused as `rm --one-file-system` would skip them.
    """
    try:
        top = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(top.st_mode):
        return None  # remove_tree refuses it with its own reason
    effective = os.access in os.supports_effective_ids

    def unreadable(exc: OSError) -> None:
        raise InputError(Path(exc.filename or path), "cannot delete here: cannot list it")

    walk = os.fwalk(name, dir_fd=parent_fd, follow_symlinks=False, onerror=unreadable)
    for dirpath, dirs, files, dfd in walk:
        where = path.parent / dirpath
        if os.fstat(dfd).st_dev != top.st_dev:
            return f"{where} is on another file system (a mount): left alone"
        if (dirs or files) and not _writable(dfd, effective):
            raise InputError(where, "cannot delete here: read-only (permission denied)")
    return None


def _writable(dfd: int, effective: bool) -> bool:
    # access() on /proc/self/fd/N checks the directory itself, with our effective ids.
    proc = f"/proc/self/fd/{dfd}"
    if os.path.exists(proc):
        return os.access(proc, os.W_OK | os.X_OK | os.R_OK, effective_ids=effective)
    mode = os.fstat(dfd).st_mode
    return bool(mode & stat.S_IWUSR and mode & stat.S_IXUSR)


def _enclosing_repo(path: Path, stop: Path) -> Path:
    """The innermost directory from `path` up to `stop` holding a `.git` (a submodule,
    a vendored repository), else `stop`."""
    d = path.parent
    while d != stop and stop in d.parents:
        if os.path.lexists(d / ".git"):
            return d
        d = d.parent
    return stop


def tracked_under(paths: Iterable[Path], repo: Path, env: Mapping[str, str]) -> dict[Path, str]:
    """For each path that holds a file git tracks (any index in use), why it is refused."""
    by_repo: dict[Path, list[Path]] = {}
    for p in paths:
        by_repo.setdefault(_enclosing_repo(p, repo), []).append(p)
    refused: dict[Path, str] = {}
    clean = {k: v for k, v in env.items() if k not in _GIT_LOCATORS}
    for top, group in sorted(by_repo.items()):
        indexes = [clean]
        if env.get("GIT_INDEX_FILE"):  # a hook during `git commit -a`: its index too
            indexes.append({**clean, "GIT_INDEX_FILE": os.path.abspath(env["GIT_INDEX_FILE"])})
        rels = {p: os.path.relpath(p, top) for p in group}
        for e in indexes:
            found = _ls_files(top, sorted(rels.values()), e)
            for p, rel in rels.items():
                if p in refused:
                    continue
                if found is None:
                    refused[p] = f"cannot tell whether git tracks files in it ({top}): left alone"
                    continue
                mine = [f for f in found if f == rel or f.startswith(rel + "/")]
                if mine:
                    more = f" and {len(mine) - 1} more" if len(mine) > 1 else ""
                    refused[p] = f"git tracks {mine[0]}{more} in it: left alone"
    return refused


def _ls_files(top: Path, rels: list[str], env: Mapping[str, str]) -> list[str] | None:
    """Tracked paths under `rels` (all stages, submodules too); None when git failed."""
    if not os.path.lexists(top / ".git"):
        return []  # not a git work tree (doctor outside git): nothing can be tracked
    cmd = ["git", "--literal-pathspecs", "-C", str(top), "ls-files", "-z"]
    cmd += ["--recurse-submodules", "--", *rels]
    try:
        proc = subprocess.run(cmd, capture_output=True, env=dict(env), timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return [os.fsdecode(n) for n in proc.stdout.split(b"\0") if n]


def in_virtualenv(path: Path, repo: Path, venvs: Iterable[Path]) -> str | None:
    """Why `path` lies in a virtual environment: below one of `venvs`, or below a
    directory holding `pyvenv.cfg` (any environment, whatever its name)."""
    real = os.path.realpath(path)
    for v in venvs:
        rv = os.path.realpath(v)
        if real == rv or real.startswith(rv.rstrip("/") + "/"):
            return f"inside the virtual environment {v}: left alone"
    d = path.parent
    while d != repo and repo in d.parents:
        if os.path.lexists(d / "pyvenv.cfg"):
            return f"inside the virtual environment {d}: left alone"
        d = d.parent
    return None


def virtualenvs(project: Path | None, env: Mapping[str, str]) -> list[Path]:
    """The environments uv (and the user) may be using: the project's `.venv`,
    `UV_PROJECT_ENVIRONMENT` (relative to the project) and `VIRTUAL_ENV`."""
    found: list[Path] = []
    if project is not None:
        found.append(project / ".venv")
        upe = env.get("UV_PROJECT_ENVIRONMENT")
        if upe:
            found.append(project / upe)  # an absolute value replaces the project dir
    if env.get("VIRTUAL_ENV"):
        found.append(Path(env["VIRTUAL_ENV"]))
    return found
