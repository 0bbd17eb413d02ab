"""Parsed files are read only from regular files of a bounded size (issue 15 item 18)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envkey_hook import readfile
from envkey_hook.errors import InputError
from envkey_hook.gitstate import worktree_source


def test_a_lock_larger_than_the_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    with open(lock, "wb") as f:  # sparse: no disk used
        f.truncate(readfile.LOCK_LIMIT + 1)
    with pytest.raises(InputError, match=r"larger than 256 MiB: not a uv file"):
        worktree_source(tmp_path).chunks("uv.lock")


def test_settings_files_have_a_smaller_bound(tmp_path: Path) -> None:
    path = tmp_path / "uv.toml"
    with open(path, "wb") as f:
        f.truncate(readfile.TOML_LIMIT + 1)
    with pytest.raises(InputError, match=r"larger than 16 MiB"):
        readfile.read(path, readfile.limit_for(path))
    assert readfile.limit_for("sub/uv.lock") == readfile.LOCK_LIMIT


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x = 1\n")
    os.symlink(tmp_path / "real", tmp_path / "uv.toml")
    assert readfile.read(tmp_path / "uv.toml", readfile.TOML_LIMIT) == b"x = 1\n"
    assert readfile.read(tmp_path / "missing", readfile.TOML_LIMIT) is None


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "uv.lock")
    with pytest.raises(InputError, match=r"named pipe \(FIFO\)"):
        worktree_source(tmp_path).chunks("uv.lock")
