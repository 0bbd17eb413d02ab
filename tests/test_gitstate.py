"""gitstate: files at a ref through one `git cat-file --batch`, whole or in pieces."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envkey_hook import gitstate
from envkey_hook.errors import InputError
from hookrepo import git, isolated_env


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with a 1 MB file, a small one and a directory, committed."""
    env = isolated_env(tmp_path, tmp_path / "uv-cache")
    for key in os.environ:
        if key not in env:
            monkeypatch.delenv(key)  # GIT_DIR and the like, from a hook running the tests
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, env, "init", "-q")
    (root / "big.lock").write_bytes(bytes(range(256)) * 4096 + b"end\n")
    (root / "small.toml").write_text("x = 1\n")
    (root / "sub").mkdir()
    (root / "sub" / "f").write_text("f\n")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-qm", "c")
    return root


@pytest.fixture
def head(repo: Path) -> Iterator[gitstate.Source]:
    """The files of `repo` at HEAD, read through one batch process."""
    with gitstate.open_repo(repo) as r:
        files = gitstate.ref_source(r, "HEAD")
        assert files is not None
        yield files


def test_whole_and_in_pieces_give_the_committed_bytes(repo: Path, head: gitstate.Source) -> None:
    chunks = head.chunks("big.lock")
    assert chunks is not None
    pieces = list(chunks)
    assert len(pieces) > 1 and max(map(len, pieces)) <= gitstate._CHUNK  # never whole
    assert b"".join(pieces) == (repo / "big.lock").read_bytes() == head.read("big.lock")
    assert head.read("small.toml") == b"x = 1\n"


def test_a_directory_or_a_missing_path_is_no_file(head: gitstate.Source) -> None:
    assert head.read("sub") is None and head.chunks("sub") is None
    assert head.read("nope") is None and head.chunks("nope") is None
    assert head.read("small.toml") == b"x = 1\n"  # still in step with git


def test_a_stream_left_half_read_does_not_garble_the_next_read(head: gitstate.Source) -> None:
    chunks = head.chunks("big.lock")
    assert chunks is not None
    next(chunks)  # abandoned after one piece (an error while parsing, say)
    assert head.read("small.toml") == b"x = 1\n"
    assert head.chunks("big.lock") is not None  # never started: also fine
    assert head.read("small.toml") == b"x = 1\n"


def test_a_prefetched_blob_is_unpacked_ahead_and_read_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git is asked for the baseline lock before the work tree's is read; the read that
    follows takes that answer, and any other request still gets its own."""
    with gitstate.open_repo(repo) as r:
        gitstate.prefetch(r, "HEAD", "big.lock")
        assert r._batch is not None and r._unread > 1  # asked, none of it read yet
        if sys.platform == "linux":
            import fcntl

            assert fcntl.fcntl(r._batch.stdout.fileno(), 1032) >= 1 << 20  # F_GETPIPE_SZ
        batch = r._batch
        files = gitstate.ref_source(r, "HEAD")
        assert files is not None and files.read("big.lock") == (repo / "big.lock").read_bytes()
        assert r._batch is batch  # the same git, asked once
        assert files.read("small.toml") == b"x = 1\n"
        gitstate.prefetch(r, "HEAD", "big.lock")  # abandoned for another request
        assert files.read("small.toml") == b"x = 1\n"
        assert files.read("big.lock") == (repo / "big.lock").read_bytes()


@pytest.mark.parametrize("ref", ["nope", "HEAD~5", "0" * 40, gitstate.WORKTREE])
def test_a_prefetch_leaves_problems_to_the_read(repo: Path, ref: str) -> None:
    with gitstate.open_repo(repo) as r:
        gitstate.prefetch(r, ref, "big.lock")
        gitstate.prefetch(r, "HEAD", "nope.lock")
        if ref in ("nope", "HEAD~5"):
            with pytest.raises(InputError, match="unknown revision"):
                gitstate.ref_source(r, ref)
        files = gitstate.ref_source(r, "HEAD")
        assert files is not None and files.read("nope.lock") is None
        assert files.read("small.toml") == b"x = 1\n"


def test_the_work_tree_in_pieces(repo: Path) -> None:
    files = gitstate.worktree_source(repo)
    chunks = files.chunks("big.lock")
    assert chunks is not None
    assert b"".join(chunks) == (repo / "big.lock").read_bytes()
    assert files.chunks("nope") is None and files.read("nope") is None
    assert files.read("small.toml") == b"x = 1\n"
    with pytest.raises(InputError, match="is a directory"):
        files.chunks("sub")
    with pytest.raises(InputError, match="is a directory"):
        files.read("sub")


def test_not_a_repository_is_one_input_error(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("garbage\n")
    with gitstate.open_repo(tmp_path) as r, pytest.raises(InputError, match="not a git repository"):
        gitstate.ref_source(r, "HEAD")


def test_a_git_that_exited_before_the_request_is_one_input_error(tmp_path: Path) -> None:
    """The request then cannot be flushed, not even when the pipe is closed (a race, made sure)."""
    (tmp_path / ".git").write_text("garbage\n")
    with gitstate.open_repo(tmp_path) as r:
        r._start().wait()
        with pytest.raises(InputError, match="not a git repository"):
            gitstate.ref_source(r, "HEAD")


def _other_repo(tmp_path: Path) -> Path:
    """Another repository whose HEAD has a different small.toml."""
    other = tmp_path / "other"
    other.mkdir()
    env = dict(os.environ)
    git(other, env, "init", "-q")
    (other / "small.toml").write_text("x = 2\n")
    git(other, env, "add", "-A")
    git(other, env, "commit", "-qm", "other")
    return other


@pytest.mark.parametrize("var", ["GIT_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"])
def test_another_repositorys_git_variables_are_not_followed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    """A hook of another repository may leave GIT_DIR & co. in the environment: the
    files still come from the repository at `root` (issue 15 item 15)."""
    other = _other_repo(tmp_path)
    value = {
        "GIT_DIR": other / ".git",
        "GIT_INDEX_FILE": other / ".git" / "index",
        "GIT_OBJECT_DIRECTORY": other / ".git" / "objects",
    }[var]
    monkeypatch.setenv(var, str(value))
    if var == "GIT_DIR":
        monkeypatch.setenv("GIT_WORK_TREE", str(other))
    (repo / "small.toml").write_text("x = 3\n")
    with gitstate.open_repo(repo) as r:
        for ref in ("HEAD", gitstate.INDEX):
            files = gitstate.ref_source(r, ref)
            assert files is not None and files.read("small.toml") == b"x = 1\n", ref


def test_this_repositorys_hook_variables_are_kept(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a hook of this repository GIT_INDEX_FILE (relative, as git may pass it) names
    the index being committed, e.g. `git commit -a`'s temporary one: it is read."""
    env = dict(os.environ)
    (repo / "small.toml").write_text("x = 4\n")
    temp_index = repo / ".git" / "next-index.lock"
    git(repo, {**env, "GIT_INDEX_FILE": str(temp_index)}, "read-tree", "HEAD")
    git(repo, {**env, "GIT_INDEX_FILE": str(temp_index)}, "add", "small.toml")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_DIR", ".git")
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/next-index.lock")
    with gitstate.open_repo(repo) as r:
        staged = gitstate.ref_source(r, gitstate.INDEX)
        assert staged is not None and staged.read("small.toml") == b"x = 4\n"
    assert gitstate.git_env(repo) == {
        **os.environ,
        "GIT_INDEX_FILE": str(temp_index),
    }
