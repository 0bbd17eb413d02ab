"""Project files as they are at a git ref, in the index, or in the work tree.

Files at a ref are read through one `git cat-file --batch` process per repository:
GitPython costs ~100 ms and ~10 MB to import, more than the rest of a run.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Optional

from envkey_hook.errors import InputError

if TYPE_CHECKING:
    import subprocess

WORKTREE = "worktree"
INDEX = "index"

Reader = Callable[[str], Optional[bytes]]


class Repo:
    """A repository read by `git cat-file --batch`, started on first use."""

    def __init__(self, root: Path) -> None:
        self.working_tree_dir = str(root)
        self._proc: subprocess.Popen[bytes] | None = None

    def _batch(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._proc is None:
            import subprocess
            import weakref

            try:
                self._proc = subprocess.Popen(
                    ["git", "cat-file", "--batch"],
                    cwd=self.working_tree_dir,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as exc:
                raise InputError("git", f"cannot run: {exc.strerror or exc}") from None
            # Ends git when the Repo goes away, however the run ended.
            weakref.finalize(self, _stop, self._proc)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        return self._proc.stdin, self._proc.stdout

    def cat_file(self, name: str) -> tuple[str, str, bytes] | None:
        """(object id, type, content) of `name` (`<rev>:<path>`, `:<path>`, ...); None if none."""
        if "\n" in name:
            return None  # cannot be asked on one line; no such object either way
        stdin, stdout = self._batch()
        try:
            stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            stdin.flush()
        except BrokenPipeError:
            raise self._dead() from None
        header = stdout.readline()
        if not header:
            raise self._dead()
        fields = header.split()
        if len(fields) != 3:
            return None  # `<name> missing` or `<name> ambiguous`
        oid, kind, size = fields[0].decode(), fields[1].decode(), int(fields[2])
        data = stdout.read(size)  # one allocation of `size`: no copy of a large blob
        stdout.read(1)  # the newline after the content
        return oid, kind, data

    def _dead(self) -> InputError:
        msg = "not a git repository (pass --project inside a git checkout)"
        return InputError(self.working_tree_dir, msg)

    def close(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):  # a broken pipe: git is gone already
                stream.close()
    proc.wait()


def find_repo_root(start: Path) -> Path | None:
    """The work tree root above `start`, found without starting git."""
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def open_repo(root: Path) -> Repo:
    """The repository at `root`; a clear InputError when it is not one."""
    repo = Repo(root)
    # One round trip checks that git sees a repository here (an unborn HEAD is fine).
    repo.cat_file("HEAD")
    return repo


def is_null_sha(ref: str) -> bool:
    """All zeros: what git passes for 'no previous state' (SHA-1 or SHA-256)."""
    return len(ref) in (40, 64) and set(ref) == {"0"}


def worktree_reader(root: Path) -> Reader:
    def read(relpath: str) -> bytes | None:
        try:
            return (root / relpath).read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise InputError(root / relpath, "is a directory, expected a file") from None
        except OSError as exc:
            raise InputError(root / relpath, f"cannot read: {exc.strerror}") from None

    return read


def resolve(repo: Repo, ref: str) -> str | None:
    """The commit sha of `ref`; None when HEAD is unborn; InputError when unknown."""
    found = repo.cat_file(f"{ref}^{{commit}}")
    if found is not None:
        return found[0]
    if ref == "HEAD" and _head_is_unborn(repo):
        return None
    hint = " (shallow clone? run `git fetch --unshallow`)" if _is_shallow(repo) else ""
    raise InputError(ref, f"unknown revision{hint}")


def _git_out(repo: Repo, *args: str) -> str | None:
    import subprocess

    try:
        done = subprocess.run(
            ["git", *args],
            cwd=repo.working_tree_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else None


def _head_is_unborn(repo: Repo) -> bool:
    """HEAD names a branch that has no commit yet (a new repository)."""
    branch = _git_out(repo, "symbolic-ref", "-q", "HEAD")
    return branch is not None and _git_out(repo, "rev-parse", "-q", "--verify", branch) is None


def _is_shallow(repo: Repo) -> bool:
    return _git_out(repo, "rev-parse", "--is-shallow-repository") == "true"


def ref_reader(repo: Repo, ref: str) -> Reader | None:
    """Files at `ref`, or None when there is no such state (unborn HEAD, null sha)."""
    if ref == WORKTREE:
        return worktree_reader(Path(repo.working_tree_dir))
    if ref == INDEX:
        return _blob_reader(repo, "")
    if is_null_sha(ref):
        return None
    sha = resolve(repo, ref)
    if sha is None:
        return None
    return _blob_reader(repo, sha)


def _blob_reader(repo: Repo, rev: str) -> Reader:
    """Blobs at commit `rev`; an empty `rev` reads the index (staged content)."""

    def read(relpath: str) -> bytes | None:
        found = repo.cat_file(f"{rev}:{relpath}")
        if found is None or found[1] != "blob":
            return None  # absent, or a directory or submodule at that path
        return found[2]

    return read
