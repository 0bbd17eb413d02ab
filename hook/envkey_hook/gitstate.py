"""Project files as they are at a git ref, in the index, or in the work tree.

Files at a ref come from one `git cat-file --batch` process per run, driven with the
standard library. This is the path every lock change takes, and GitPython's import alone
costs more memory than issue 5 allows the whole command (2.7x of `python -c pass` against
a 2x target), so GitPython serves the commands that run once (githooks.py) instead.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from envkey_hook.errors import InputError

TYPE_CHECKING = False  # not typing's: this module is on the changed-lock path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Optional

    ChunkReader = Callable[[str], Optional[Iterator[bytes]]]

WORKTREE = "worktree"
INDEX = "index"
_NOT_A_REPO = "not a git repository (pass --project inside a git checkout)"
_CHUNK = 1 << 16  # a large lock is read in pieces of this size, never whole
_F_SETPIPE_SZ = 1031  # Linux's fcntl (`fcntl.F_SETPIPE_SZ` only from Python 3.10)
_PIPE_SIZE = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size
# What points git at a repository, an index or an object store. A hook inherits them
# from git (right for that repository); a calling hook of another repository may leave
# them behind (wrong for ours).
LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
)


class Source:
    """The files of one state: `chunks` in pieces (the lock), `read` whole (small files)."""

    def __init__(self, chunks: ChunkReader) -> None:
        self.chunks = chunks

    def read(self, relpath: str) -> bytes | None:
        pieces = self.chunks(relpath)
        return None if pieces is None else b"".join(pieces)


class Repo:
    """One work tree's object store, read through a long-lived `git cat-file --batch`.

    `open_repo` gives it as a context manager: leaving the block ends the git process.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = git_env(root)  # None: inherit ours unchanged
        self._batch: subprocess.Popen[bytes] | None = None
        self._unread = 0  # content bytes of the last object not read yet
        self._asked: tuple[str, tuple[str, str, int]] | None = None  # its spec, none read
        self._objects: dict[str, tuple[str, str, bytes] | None] = {}

    def close(self) -> None:
        batch, self._batch = self._batch, None
        self._unread = 0
        self._asked = None
        if batch is not None:
            assert batch.stdin is not None and batch.stdout is not None
            # When git has exited, a request it never read cannot be flushed.
            with contextlib.suppress(OSError):
                batch.stdin.close()
            batch.stdout.close()
            batch.wait()

    def git(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """One git command in this work tree; the caller looks at the return code."""
        try:
            return subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True)
        except OSError as exc:
            raise InputError("git", f"cannot run: {exc.strerror or exc}") from None

    def object(self, spec: str) -> tuple[str, str, bytes] | None:
        """(object id, type, content) of `spec` (`<rev>`, `<rev>:<path>`, `:<path>`);
        asked once a run (a ref does not move under a hook)."""
        if spec not in self._objects:
            found = self._open(spec)
            self._objects[spec] = None if found is None else (*found[:2], b"".join(self._content()))
        return self._objects[spec]

    def prefetch(self, spec: str) -> None:
        """Ask for blob `spec` now, so that git unpacks it (into a pipe as large as the
        system allows) while the caller reads something else; `blob_chunks(spec)` then
        takes it. Problems are left for that call to meet."""
        with contextlib.suppress(InputError):
            self._open(spec)

    def blob_chunks(self, spec: str) -> Iterator[bytes] | None:
        """The content of blob `spec` in pieces; None when there is none (or not a blob)."""
        found = self._open(spec)
        if found is None or found[1] != "blob":
            return None  # a tree or a submodule at that path; its content is skipped
        return self._content()

    def _open(self, spec: str) -> tuple[str, str, int] | None:
        """Ask for `spec`: (object id, type, size), its content then waiting to be read."""
        if "\n" in spec:
            return None  # cannot name an object; no such object either way
        if self._asked is not None and self._asked[0] == spec:
            return self._asked[1]  # prefetched: its content is waiting, none of it read
        if self._unread:
            self.close()  # content left unread: restart rather than read it through
        batch = self._batch or self._start()
        assert batch.stdin is not None and batch.stdout is not None
        try:
            batch.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
            batch.stdin.flush()
            header = batch.stdout.readline().split()
            if len(header) == 3:
                self._unread = int(header[2]) + 1  # and the newline after it
                found = header[0].decode(), header[1].decode(), self._unread - 1
                self._asked = spec, found
                return found
        except (OSError, ValueError):
            header = []
        if len(header) == 2:  # `<spec> missing` or `<spec> ambiguous`
            return None
        self.close()
        raise InputError(self.root, _NOT_A_REPO)  # git exited: `.git` is not a repository

    def _content(self) -> Iterator[bytes]:
        """The content of the object just opened, in pieces."""
        assert self._batch is not None and self._batch.stdout is not None
        out = self._batch.stdout
        self._asked = None
        while self._unread > 1:
            chunk = out.read(min(self._unread - 1, _CHUNK))
            if not chunk:
                self.close()
                raise InputError(self.root, "git stopped while sending an object")
            self._unread -= len(chunk)
            yield chunk
        out.read(1)
        self._unread = 0

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            self._batch = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise InputError("git", f"cannot run: {exc.strerror or exc}") from None
        if sys.platform == "linux":  # git may unpack a lock ahead of us: 1 MiB, not 64 KiB
            import fcntl

            assert self._batch.stdout is not None
            with contextlib.suppress(OSError):  # above the user's limit: keep the default
                fcntl.fcntl(self._batch.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
        return self._batch


def find_repo_root(start: Path) -> Path | None:
    """The work tree root above `start`, found without starting git."""
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def git_env(root: Path, environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """The environment for git in the work tree at `root`; None when ours needs no change.

    Inherited GIT_DIR & co. are kept only when they name this repository (a hook of
    this repository: GIT_INDEX_FILE may name `git commit -a`'s temporary index, which
    holds what is being committed). Otherwise they are dropped, and git finds the
    repository from `root` as it would without them.
    """
    env = dict(os.environ if environ is None else environ)
    if not any(v in env for v in LOCATION_VARS):
        return None
    from envkey_hook.fastpath import git_dir

    gitdir = git_dir(str(root))
    if gitdir is not None and _names_this_repo(env, root, os.path.realpath(gitdir)):
        return env
    for var in LOCATION_VARS:
        env.pop(var, None)
    return env


def _names_this_repo(env: dict[str, str], root: Path, gitdir: str) -> bool:
    def real(value: str) -> str:
        return os.path.realpath(os.path.join(os.getcwd(), value))

    if "GIT_DIR" in env:
        if real(env["GIT_DIR"]) != gitdir:
            return False
    elif any(v in env for v in LOCATION_VARS[3:6]):
        return False  # an object store named without its repository: not ours to trust
    if "GIT_WORK_TREE" in env and real(env["GIT_WORK_TREE"]) != os.path.realpath(root):
        return False
    index = env.get("GIT_INDEX_FILE")
    if index is not None:
        path = real(index)
        if os.path.commonpath([path, gitdir]) != gitdir:
            return False
        env["GIT_INDEX_FILE"] = path  # git runs in `root`, maybe not where it was relative
    return True


def open_repo(root: Path) -> contextlib.closing[Repo]:
    """The repository at `root`, to use in a `with`; git itself starts at the first read."""
    return contextlib.closing(Repo(root))


def is_null_sha(ref: str) -> bool:
    """All zeros: what git passes for 'no previous state' (SHA-1 or SHA-256)."""
    return len(ref) in (40, 64) and set(ref) == {"0"}


def worktree_source(root: Path) -> Source:
    """The work tree's files."""

    def chunks(relpath: str) -> Iterator[bytes] | None:
        from envkey_hook import readfile

        return readfile.chunks(root / relpath, readfile.limit_for(relpath))

    return Source(chunks)


def resolve(repo: Repo, ref: str) -> str | None:
    """The commit id of `ref`; None when HEAD is unborn; InputError when unknown."""
    found = repo.object(f"{ref}^{{commit}}")
    if found is not None:
        return found[0]
    if ref == "HEAD" and repo.object("HEAD") is None:
        return None  # HEAD names a branch with no commit yet (a new repository)
    shallow = repo.git("rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
    hint = " (shallow clone? run `git fetch --unshallow`)" if shallow else ""
    raise InputError(ref, f"unknown revision{hint}")


def ref_source(repo: Repo, ref: str) -> Source | None:
    """Files at `ref`, or None when there is no such state (unborn HEAD, null sha)."""
    if ref == WORKTREE:
        return worktree_source(repo.root)
    if ref == INDEX:
        return _blob_source(repo, "")
    if is_null_sha(ref):
        return None
    sha = resolve(repo, ref)
    if sha is None:
        return None
    return _blob_source(repo, sha)


def prefetch(repo: Repo, ref: str, relpath: str) -> None:
    """Have git unpack `relpath` at commit `ref` while the caller reads the work tree
    (where a baseline lock is packed, git takes as long to unpack it as we take to read
    the other). Problems are left for the real read."""
    if ref in (WORKTREE, INDEX) or is_null_sha(ref):
        return
    with contextlib.suppress(InputError):
        sha = resolve(repo, ref)
        if sha is not None:
            repo.prefetch(f"{sha}:{relpath}")


def _blob_source(repo: Repo, rev: str) -> Source:
    """Blobs at commit `rev`; an empty `rev` reads the index (staged content)."""

    def chunks(relpath: str) -> Iterator[bytes] | None:
        return repo.blob_chunks(f"{rev}:{relpath}")

    return Source(chunks)
