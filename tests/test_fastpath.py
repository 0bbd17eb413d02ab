"""The no-op path of `run`: when the record vouches for the state, and when it must not.

Correctness only, never timing (bench/ measures cost). `RACY_NS` is zeroed so that a
record is written for files the test has just created; one test keeps the default.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_helpers import BIG_TORCH
from envkey_hook import cli, fastpath, noop_record

LOCK = """\
version = 1
revision = 3
requires-python = ">=3.10"

[[package]]
name = "demo"
version = "0.1.0"
source = { virtual = "." }
"""
PYPROJECT = '[project]\nname = "demo"\nversion = "0.1.0"\n'
HEAVY = ("argparse", "git", "tomllib", "tomli", "tomlkit", "packaging", "dataclasses", "pathlib")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", message)


def make_project(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "uv.lock").write_text(LOCK)
    (path / "pyproject.toml").write_text(PYPROJECT)


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(noop_record, "RACY_NS", 0)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "-c", "init.defaultBranch=main", "init", "-q")
    make_project(root)
    commit(root, "base")
    return root


def run(project: Path, *extra: str) -> int:
    return cli.main(["run", "--project", str(project), *extra])


def record_of(project: Path) -> Path:
    found = fastpath.locate(str(project))
    assert found is not None
    return Path(fastpath.record_path(found[2], found[0]))


def test_clean_run_leaves_a_record_that_vouches(repo: Path) -> None:
    assert not fastpath.unchanged(str(repo))
    assert run(repo) == 0
    assert record_of(repo).is_file()
    assert fastpath.unchanged(str(repo))
    assert fastpath.try_noop(["run", "--project", str(repo), "-q"])


def test_edited_lock_invalidates(repo: Path) -> None:
    run(repo)
    with open(repo / "uv.lock", "a") as f:
        f.write("\n")
    assert not fastpath.unchanged(str(repo))


def test_same_size_edit_with_restored_mtime_invalidates(repo: Path) -> None:
    run(repo)
    lock = repo / "uv.lock"
    st = lock.stat()
    lock.write_text(LOCK.replace("0.1.0", "0.2.0"))  # same size
    os.utime(lock, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` or tar would
    assert not fastpath.unchanged(str(repo))  # ctime moved: the content check catches it


def test_touched_lock_is_checked_by_content_and_refreshed(repo: Path) -> None:
    run(repo)
    before = record_of(repo).read_text()
    os.utime(repo / "uv.lock", ns=(1, 1))
    assert fastpath.unchanged(str(repo))
    assert record_of(repo).read_text() != before  # the new stat is recorded


def test_new_commit_without_uv_files_is_checked_by_blob_ids(repo: Path) -> None:
    run(repo)
    (repo / "README").write_text("docs\n")
    commit(repo)
    assert fastpath.unchanged(str(repo))
    assert f"head {git(repo, 'rev-parse', 'HEAD')}" in record_of(repo).read_text()


def test_new_commit_changing_the_lock_invalidates(repo: Path) -> None:
    run(repo)
    (repo / "uv.lock").write_text(LOCK.replace("0.1.0", "0.2.0"))
    commit(repo)
    assert not fastpath.unchanged(str(repo))


def test_lock_committed_elsewhere_invalidates(repo: Path) -> None:
    # The work tree stays; only HEAD's lock differs (a reset --soft, or a checkout -f).
    run(repo)
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "uv.lock").write_text(LOCK.replace("0.1.0", "0.2.0"))
    commit(repo)
    git(repo, "checkout", "-q", "main", "--", ".")  # work tree back to main's bytes
    os.utime(repo / "uv.lock", ns=(1, 1))
    assert not fastpath.unchanged(str(repo))


@pytest.mark.parametrize("name", ["uv.toml", "pyproject.toml"])
def test_new_config_file_in_the_repository_invalidates(repo: Path, name: str) -> None:
    sub = repo / "pkg"
    make_project(sub)
    commit(repo)
    run(sub)
    assert fastpath.unchanged(str(sub))
    (repo / name).unlink(missing_ok=True)
    (repo / name).write_text("[tool.uv]\n")
    assert not fastpath.unchanged(str(sub))


def test_changed_user_config_invalidates(repo: Path) -> None:
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "uv" / "uv.toml"
    user.parent.mkdir(parents=True)
    user.write_text("no-build-isolation = false\n")
    run(repo)
    assert fastpath.unchanged(str(repo))
    user.write_text("no-build-isolation = true\n")
    assert not fastpath.unchanged(str(repo))


def test_removed_user_config_invalidates(repo: Path) -> None:
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "uv" / "uv.toml"
    user.parent.mkdir(parents=True)
    user.write_text("\n")
    run(repo)
    user.unlink()
    assert not fastpath.unchanged(str(repo))


@pytest.mark.parametrize(
    ("name", "value"),
    [("UV_NO_CONFIG", "1"), ("UV_CONFIG_FILE", "x.toml"), ("XDG_CONFIG_HOME", "/elsewhere")],
)
def test_changed_environment_invalidates(
    repo: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    run(repo)
    monkeypatch.setenv(name, value)
    assert not fastpath.unchanged(str(repo))


def test_git_dir_variable_disables_the_fast_path(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(repo)
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert not fastpath.unchanged(str(repo))


def test_forgotten_state_invalidates(repo: Path) -> None:
    run(repo)
    for state in record_of(repo).parent.glob("state-*.json"):
        state.unlink()
    assert not fastpath.unchanged(str(repo))


def test_corrupt_or_truncated_record_is_ignored(repo: Path) -> None:
    run(repo)
    record = record_of(repo)
    text = record.read_text()
    record.write_text(text.replace("\nend\n", "\n"))
    assert not fastpath.unchanged(str(repo))
    record.write_text(text.replace("head ", "head\x00"))
    assert not fastpath.unchanged(str(repo))
    record.write_text(
        "".join(line for line in text.splitlines(True) if not line.startswith("head"))
    )
    assert not fastpath.unchanged(str(repo))


def test_no_record_without_a_baseline(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    make_project(root)  # not committed: "no baseline" is a message, not a clean run
    run(root)
    assert not record_of(root).exists()


def test_no_record_for_dry_run_or_other_refs(repo: Path) -> None:
    run(repo, "--dry-run")
    run(repo, "--to", "HEAD")
    assert not record_of(repo).exists()


def test_no_record_for_files_changed_within_the_racy_window(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(noop_record, "RACY_NS", 3600 * 10**9)
    run(repo)
    assert not record_of(repo).exists()


def test_projects_have_their_own_records(repo: Path) -> None:
    a, b = repo / "a", repo / "b"
    make_project(a)
    make_project(b)
    commit(repo)
    run(a)
    run(b)
    with open(a / "uv.lock", "a") as f:
        f.write("\n")
    assert not fastpath.unchanged(str(a))
    assert fastpath.unchanged(str(b))


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "-b", "side")
    run(wt)
    assert fastpath.unchanged(str(wt))
    assert not fastpath.unchanged(str(repo))  # its own record, in its own git dir
    (wt / "README").write_text("x\n")
    commit(wt)
    assert fastpath.unchanged(str(wt))


def test_head_commit_matches_git(repo: Path, tmp_path: Path) -> None:
    gitdir = str(repo / ".git")
    assert fastpath.head_commit(gitdir) == git(repo, "rev-parse", "HEAD")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert fastpath.head_commit(gitdir) == git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    assert fastpath.head_commit(gitdir) == git(repo, "rev-parse", "HEAD")
    unborn = tmp_path / "unborn"
    unborn.mkdir()
    git(unborn, "init", "-q")
    assert fastpath.head_commit(str(unborn / ".git")) is None


@pytest.mark.parametrize(
    ("argv", "project"),
    [
        (["run"], "."),
        (["run", "-q", "--dry-run", "-vv"], "."),
        (["run", "--project", "p"], "p"),
        (["run", "--project=p", "--from", "HEAD"], "p"),
        (["run", "--from=HEAD"], "."),
        (["run", "--from", "main"], None),
        (["run", "--to", "HEAD"], None),
        (["run", "--json"], None),
        (["run", "--all"], None),
        (["run", "--project"], None),
        (["run", "--proj", "p"], None),  # argparse's abbreviations: argparse decides
        (["hook", "post-checkout"], None),
        ([], None),
    ],
)
def test_which_argv_may_take_the_fast_path(argv: list[str], project: str | None) -> None:
    assert fastpath.plain_run_project(argv) == project


def test_fast_path_imports_nothing_heavy(repo: Path) -> None:
    run(repo)
    code = (
        "import sys\n"
        "from envkey_hook.cli import main\n"
        "rc = main(['run'])\n"
        f"print(rc, sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("No build input changed\n0 []\n", "")
    done = subprocess.run(
        [sys.executable, "-m", "envkey_hook", "run"], cwd=repo, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "No build input changed\n", "")


def test_record_covers_every_file_the_run_reads(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard for later changes: a file `run` starts reading must join the record."""
    import builtins
    import io

    sub = repo / "pkg"
    make_project(sub)
    (repo / "uv.toml").write_text("\n")
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "uv" / "uv.toml"
    user.parent.mkdir(parents=True)
    user.write_text("\n")
    commit(repo)
    read: set[str] = set()
    real_open = io.open

    def spy(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if isinstance(file, (str, os.PathLike)) and not any(c in mode for c in "wax+"):
            read.add(os.path.realpath(os.fspath(file)))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(builtins, "open", spy)
    run(sub)
    monkeypatch.undo()
    snap = noop_record.snapshot(str(sub))
    assert snap is not None
    covered = {os.path.realpath(p) for p, _ in snap.files + snap.own}
    ours = {p for p in read if p.startswith((str(tmp_path), os.environ["HOME"]))}
    ours -= {os.path.realpath(str(record_of(sub)))}
    # HEAD and its ref are covered by the record's `head` line (fastpath.head_commit).
    gitdir = os.path.realpath(repo / ".git")
    ours = {p for p in ours if not p.startswith(gitdir) or "/envkey-hook/" in p}
    assert ours and ours <= covered, ours - covered


# The changed-lock path (issue 5, benchmark 2): what its time and memory budget cannot afford.
HEAVY_CHANGED = ("git", "packaging", "dataclasses", "inspect", "tomlkit", "hashlib", "zipfile")
HEAVY_CHANGED += ("shutil", "json", "platform")


def test_a_changed_large_lock_imports_nothing_heavy(repo: Path) -> None:
    """torch moving in a 440-package lock with forks: found, without GitPython or packaging."""
    for name in ("uv.lock", "pyproject.toml"):
        (repo / name).write_bytes((BIG_TORCH / "before" / name).read_bytes())
    commit(repo)
    for name in ("uv.lock", "pyproject.toml"):
        (repo / name).write_bytes((BIG_TORCH / "after" / name).read_bytes())
    # The torch fork that moves is Python 3.11's: the project's environment says which
    # Python the lock is read for, whatever Python runs the tests.
    (repo / ".venv").mkdir()
    (repo / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.11.7\n")
    code = (
        "import sys\n"
        "from envkey_hook.cli import main\n"
        "rc = main(['run', '--dry-run'])\n"
        "heavy = {m.split('.')[0] for m in sys.modules} & set(" + repr(HEAVY_CHANGED) + ")\n"
        "print(rc, sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert done.stdout.splitlines()[0] == "flash-attn: torch 2.14.1 -> 2.15.0", done.stdout
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
