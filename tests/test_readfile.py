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


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "directory", "not json", "list"])
def test_a_recorded_state_that_is_not_a_json_file_is_ignored_with_one_warning(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hook's own records (and uv's uv_build.json) go through the same reader: a FIFO
    there never blocks a commit, /dev/zero never fills memory."""
    import signal

    from envkey_hook import state

    path = tmp_path / "state.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind.startswith("/"):
        os.symlink(kind, path)
    else:
        path.write_text("[1]" if kind == "list" else "{nope")
    signal.alarm(20)  # a regression hangs here: fail instead
    try:
        assert state.load(path, tmp_path) is None
    finally:
        signal.alarm(0)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: unusable recorded state" in err, err
    if kind == "list":
        assert readfile.read_json(path, 1 << 20) == [1]  # JSON, but not a record
    else:
        with pytest.raises(ValueError):
            readfile.read_json(path, 1 << 20)


def test_fifos_in_a_source_tree_or_a_venv_never_block(tmp_path: Path) -> None:
    """setup.py of a local source (its backend, native or CUDA sources), a compiler or
    CUDA's version.json, a METADATA or uv_build.json in the venv: each read goes through
    readfile, so a FIFO there is skipped, never waited on."""
    import signal

    from envkey_hook import backend, envcheck, installed, nativesrc, toolchain

    tree = tmp_path / "src"
    tree.mkdir()
    os.mkfifo(tree / "setup.py")
    dist = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "extpkg-1.0.dist-info"
    dist.mkdir(parents=True)
    os.mkfifo(dist / "METADATA")
    os.mkfifo(dist / "uv_build.json")
    signal.alarm(20)  # a regression hangs here: fail instead
    try:
        assert backend.read_tree(tree) is None
        (tree / "ext.c").write_text("int x;")
        assert nativesrc.scan(tree) == (True, False)  # from the C file; setup.py skipped
        assert not toolchain._is_script(str(tree / "setup.py"))
        assert toolchain._version_json(str(tree / "setup.py")) is None
        assert installed._metadata(dist / "METADATA") == {}
        check = envcheck.check_environment(tmp_path / "venv")
    finally:
        signal.alarm(0)
    assert check.problems == [
        ("extpkg", "unreadable uv_build.json: is a named pipe (FIFO), not a regular file")
    ]
