"""Project files as they are at a git ref, in the index, or in the work tree.

Files at a ref are read with GitPython, through git commands rather than its object
database (which cannot parse SHA-256 object ids). GitPython is imported only here, and only
when a file at a ref is needed: the no-op path (fastpath.py) never gets this far.
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


def rev_parse(repo: Repo, name: str) -> str | None:
    """The object id `name` resolves to, or None."""
    import git

    try:
        return str(repo.git.rev_parse("--verify", "-q", name)) or None
    except git.GitCommandError:
        return None


def read_blob(repo: Repo, spec: str) -> bytes | None:
    """The content of blob `spec` (`<rev>:<path>` or `:<path>`); None when there is none.

    Asked through `git cat-file blob`, not GitPython's object database, because
    the latter cannot parse SHA-256 object ids.
    """
    import git

    if "\n" in spec:
        return None  # cannot name an object; no such object either way
    try:
        data: bytes = repo.git.cat_file(
            "blob", spec, stdout_as_string=False, strip_newline_in_stdout=False
        )
    except git.GitCommandError:
        return None  # absent, or a directory or submodule at that path
    except OSError:
        raise _not_a_repo(repo) from None
    return data


def _not_a_repo(repo: Repo) -> InputError:
    msg = "not a git repository (pass --project inside a git checkout)"
    return InputError(repo.working_tree_dir, msg)


def find_repo_root(start: Path) -> Path | None:
    """The work tree root above `start`, found without starting git."""
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def open_repo(root: Path) -> Repo:
    """The repository at `root`; a clear InputError when it is not one."""
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(
            root, "not a git repository (pass --project inside a git checkout)"
        ) from None


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
    found = rev_parse(repo, f"{ref}^{{commit}}")
    if found is not None:
        return found
    if ref == "HEAD" and _head_is_unborn(repo):
        return None
    hint = " (shallow clone? run `git fetch --unshallow`)" if _is_shallow(repo) else ""
    raise InputError(ref, f"unknown revision{hint}")


def _head_is_unborn(repo: Repo) -> bool:
    """HEAD names a branch that has no commit yet (a new repository)."""
    return rev_parse(repo, "HEAD") is None


def _is_shallow(repo: Repo) -> bool:
    import git

    try:
        return bool(repo.git.rev_parse("--is-shallow-repository") == "true")
    except git.GitCommandError:
        return False


def ref_reader(repo: Repo, ref: str) -> Reader | None:
    """Files at `ref`, or None when there is no such state (unborn HEAD, null sha)."""
    if ref == WORKTREE:
        return worktree_reader(Path(str(repo.working_tree_dir)))
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
        return read_blob(repo, f"{rev}:{relpath}")

    return read
