"""The no-op path of `envkey-hook run`: a stat-validated record, checked before any import.

A full run that finds nothing to do (HEAD against the work tree) leaves a record in the
git dir (`noop_record.save`): HEAD's commit, the environment variables and interpreter
facts that feed uv's settings, and `(size, mtime, ctime, inode)` of every file the run
could read. When all of it still matches, the answer is the same, so `run` exits 0 at
once. Only `os` and `sys` are used here (both loaded by Python at startup), and any
surprise means "not sure": the full path runs.
"""

from __future__ import annotations

import os
import sys

from envkey_hook import __version__, envinputs
from envkey_hook.fileid import path_hash, stat_sig

# 2: records that predate the environment inputs (envinputs.py) never hold.
HEADER = f"envkey-hook-noop 2 {__version__}"
# Everything in the environment that changes which files uv's settings come from, or
# which interpreter the markers are evaluated for (settings.py, cachedir.py, run.py).
ENV_VARS = (
    "UV_CONFIG_FILE",
    "UV_NO_CONFIG",
    "UV_NO_SYSTEM_CONFIG",
    "UV_NO_BUILD_ISOLATION",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PYTHON",
    "UV_CACHE_DIR",
    "UV_NO_CACHE",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_CACHE_HOME",
    "HOME",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
    "SYSTEMDRIVE",
)
# Set, these make git look elsewhere than `<root>/.git`: not worth mirroring.
GIT_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")
# Options of `run` that cannot change the outcome when there is nothing to do.
_FLAGS = frozenset(("-q", "--quiet", "-v", "--verbose", "--dry-run"))
_PER_WORKTREE_REFS = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")
_HEX = frozenset("0123456789abcdef")


def try_noop(argv: list[str]) -> bool:
    """True when `argv` is a default `run` whose record proves there is nothing to do."""
    project = plain_run_project(argv)
    return project is not None and unchanged(project)


def plain_run_project(argv: list[str]) -> str | None:
    """The `--project` of a `run` with default refs and harmless options, else None."""
    if not argv or argv[0] != "run":
        return None
    project = "."
    args = iter(argv[1:])
    for arg in args:
        if arg in _FLAGS or (len(arg) > 2 and arg[0] == "-" and set(arg[1:]) in ({"q"}, {"v"})):
            continue
        if arg in ("--project", "--from"):
            value = next(args, None)
        elif arg.startswith(("--project=", "--from=")):
            arg, value = arg.split("=", 1)
        else:
            return None
        if not value or value.startswith("-"):
            return None  # let argparse say what is wrong
        if arg == "--from":
            if value != "HEAD":
                return None
        else:
            project = value
    return project


def unchanged(project: str) -> bool:
    """Whether the record of `project` still matches, first by stat, then by content.

    False whenever anything is unexpected: the caller then runs the full path.
    """
    try:
        return _unchanged(project)
    except Exception:  # noqa: BLE001 - any surprise: the full path decides
        return False


def _unchanged(project: str) -> bool:
    found = locate(project)
    if found is None:
        return False
    path, root, gitdir = found
    lines = read_lines(record_path(gitdir, path))
    top = header(path, root)
    if lines is None or lines[: len(top)] != top or lines[-1] != "end":
        return False
    if not envinputs.seen_holds(gitdir, path, os.environ):
        return False  # a build variable, compiler or CUDA toolkit may have moved
    head = head_commit(gitdir)
    if head is not None and lines_match(lines, head):
        return True
    from envkey_hook import noop_record  # content check: hashes and git, still no parsing

    return noop_record.revalidate(path, root, gitdir, lines, head)


def locate(project: str) -> tuple[str, str, str] | None:
    """(project realpath, work tree root, git dir); None when git is not plain here."""
    if any(v in os.environ for v in GIT_VARS):
        return None
    path = os.path.realpath(project)
    root = path
    while not os.path.exists(os.path.join(root, ".git")):
        parent = os.path.dirname(root)
        if parent == root:
            return None
        root = parent
    gitdir = git_dir(root)
    return None if gitdir is None else (path, root, gitdir)


def git_dir(root: str) -> str | None:
    """`<root>/.git`, or where a worktree's or submodule's `.git` file points."""
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    text = read_text(dot_git)
    if text is None or not text.startswith("gitdir: "):
        return None
    return os.path.normpath(os.path.join(root, text[len("gitdir: ") :].strip()))


def record_path(gitdir: str, project: str) -> str:
    """One record per project and worktree, named by a hash of the project's path."""
    return os.path.join(gitdir, "envkey-hook", f"noop-{path_hash(project)}")


def header(project: str, root: str) -> list[str]:
    """The record's first lines: what must be equal before any file is looked at."""
    env = [f"env {k}={os.environ[k]}" if k in os.environ else f"env {k}" for k in ENV_VARS]
    uname = os.uname() if hasattr(os, "uname") else ()
    facts = (sys.version, sys.platform, sys.implementation.name, os.name, tuple(uname)[2:])
    uid = os.getuid() if hasattr(os, "getuid") else -1  # whose home, when HOME is unset
    out = [HEADER, f"project {project}", f"root {root}", *env, f"sys {facts!r} {uid}"]
    if "UV_CONFIG_FILE" in os.environ or "UV_PROJECT_ENVIRONMENT" in os.environ:
        out.append(f"cwd {os.getcwd()}")  # both may be relative to it
    return out


def lines_match(lines: list[str], head: str) -> bool:
    """The record's `head` line and every `file` line still hold, by stat alone."""
    heads = 0
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "head":
            heads += 1
            if rest != head:
                return False
        elif kind == "file":
            sig, _, path = rest.split(" ", 2)
            if stat_sig(path) != sig:
                return False
    return heads == 1


def head_commit(gitdir: str) -> str | None:
    """HEAD's commit id from the files git keeps; None for anything unusual (reftable...)."""
    common = gitdir
    pointer = read_text(os.path.join(gitdir, "commondir"))
    if pointer is not None:
        common = os.path.normpath(os.path.join(gitdir, pointer.strip()))
    value = read_text(os.path.join(gitdir, "HEAD"))
    for _ in range(5):  # a symbolic ref may point at another one
        if value is None:
            return None
        value = value.strip()
        if not value.startswith("ref: "):
            return value if len(value) in (40, 64) and set(value) <= _HEX else None
        ref = value[len("ref: ") :].strip()
        if not ref.startswith("refs/") or ".." in ref.split("/"):
            return None
        base = gitdir if ref.startswith(_PER_WORKTREE_REFS) else common
        value = read_text(os.path.join(base, *ref.split("/")))
        if value is None:
            value = packed_ref(common, ref)
    return None


def packed_ref(common: str, ref: str) -> str | None:
    """The id of `ref` in `packed-refs`, where `git pack-refs` and `git gc` move refs."""
    text = read_text(os.path.join(common, "packed-refs"))
    if text is None:
        return None
    for line in text.splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and not sha.startswith(("#", "^")):
            return sha
    return None


def read_text(path: str) -> str | None:
    """A small file's text, newlines untranslated; None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def read_lines(path: str) -> list[str] | None:
    """A record's lines. Split on LF only: any other character may be part of a path."""
    text = read_text(path)
    return None if text is None or not text.endswith("\n") else text[:-1].split("\n")
