"""Project files as they are at a git ref, in the index, or in the work tree.

GitPython is imported here only, and only when a file at a ref is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from envkey_hook.errors import InputError

if TYPE_CHECKING:
    from git import Repo

WORKTREE = "worktree"
INDEX = "index"

Reader = Callable[[str], Optional[bytes]]


def find_repo_root(start: Path) -> Path | None:
    """The work tree root above `start`, found without starting git."""
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def open_repo(root: Path) -> Repo:
    """Open the repository at `root`; a clear InputError when it is not one."""
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(root, "not a git repository (pass --project inside a git checkout)") from None


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
    import git

    try:
        return str(repo.commit(ref).hexsha)
    except ValueError:
        if ref == "HEAD":
            return None  # unborn HEAD: no commit yet
        raise InputError(ref, "unknown revision") from None
    except (git.BadName, git.BadObject):
        hint = " (shallow clone? run `git fetch --unshallow`)" if _is_shallow(repo) else ""
        raise InputError(ref, f"unknown revision{hint}") from None


def _is_shallow(repo: Repo) -> bool:
    return (Path(repo.git_dir) / "shallow").exists()


def ref_reader(repo: Repo, ref: str) -> Reader | None:
    """Files at `ref`, or None when there is no such state (unborn HEAD, null sha)."""
    if ref == WORKTREE:
        return worktree_reader(Path(str(repo.working_tree_dir)))
    if ref == INDEX:
        return _index_reader(repo)
    if is_null_sha(ref):
        return None
    sha = resolve(repo, ref)
    if sha is None:
        return None
    tree = repo.commit(sha).tree

    def read(relpath: str) -> bytes | None:
        try:
            blob = tree / relpath
        except KeyError:
            return None
        if blob.type != "blob":
            return None
        data: bytes = blob.data_stream.read()
        return data

    return read


def _index_reader(repo: Repo) -> Reader:
    """Staged content: what a pre-commit hook is about to commit."""
    import git

    def read(relpath: str) -> bytes | None:
        try:
            out: bytes = repo.git.show(f":{relpath}", stdout_as_string=False)
        except git.GitCommandError:
            return None
        return out

    return read
