"""`envkey-hook sync`: the uv commands it runs (a fake uv), then the real uv end to end."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

import lockedproject
from e2e_helpers import Isolation, Project, offline_pyproject, slot_wheels
from envkey_hook import state, sync
from envkey_hook.errors import InputError
from envkey_hook.run import Options, run

FAKE_UV = """\
#!{python}
import json, os, sys
with open(os.environ["FAKE_UV_LOG"], "a") as f:
    f.write(json.dumps([os.getcwd(), *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["lock", "--check"]:
    sys.exit(int(os.environ.get("FAKE_UV_CHECK", "0")))
sys.exit(int(os.environ.get("FAKE_UV_" + sys.argv[1].upper(), "0")))
"""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sync.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sync", *argv])


def go(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = sync.run_sync(parse(*argv), out, err)
    return rc, out.getvalue(), err.getvalue()


class FakeUv:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log = tmp_path / "uv.log"
        script = tmp_path / "fake-uv"
        script.write_text(FAKE_UV.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("UV", str(script))
        monkeypatch.setenv("FAKE_UV_LOG", str(self.log))
        self.monkeypatch = monkeypatch

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line)[1:] for line in self.log.read_text().splitlines()]

    def exit(self, command: str, code: int) -> None:
        self.monkeypatch.setenv(f"FAKE_UV_{command.upper()}", str(code))


@pytest.fixture
def uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeUv:
    return FakeUv(tmp_path, monkeypatch)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = lockedproject.write(tmp_path / "project", "1.0")
    lockedproject.init(root)
    lockedproject.commit(root, "rtlib 1.0")
    return root


def recorded_runtime(root: Path) -> str | None:
    keys = state.load_for(root, root)
    return None if keys is None else keys["extpkg"].as_dict()["rtlib"]


def test_up_to_date_lock_plain_sync_and_state_recorded(project: Path, uv: FakeUv) -> None:
    rc, _, err = go("--project", str(project), "--", "--all-extras")
    assert rc == 0, err
    assert uv.calls() == [["lock", "--check"], ["sync", "--no-active", "--all-extras"]]
    assert "+ uv sync --no-active --all-extras" in err
    assert recorded_runtime(project) == "1.0"


def test_out_of_date_lock_is_relocked_first(project: Path, uv: FakeUv) -> None:
    uv.exit("check", 1)
    rc, _, err = go("--project", str(project))
    assert rc == 0, err
    assert uv.calls() == [["lock", "--check"], ["lock"], ["sync", "--no-active"]]


@pytest.mark.parametrize("flag", ["--frozen", "--locked"])
def test_frozen_or_locked_never_touches_the_lock(project: Path, uv: FakeUv, flag: str) -> None:
    rc, _, _ = go("--project", str(project), "--", flag)
    assert rc == 0
    assert uv.calls() == [["sync", "--no-active", flag]]


def test_change_since_the_recorded_state_is_purged_and_reinstalled(
    project: Path, uv: FakeUv
) -> None:
    run(Options(project=project))  # recorded at rtlib 1.0
    lockedproject.write(project, "2.0")
    lockedproject.commit(project, "rtlib 2.0")  # HEAD moved without hooks: git sees nothing
    rc, out, err = go("--project", str(project))
    assert rc == 0, err
    assert "extpkg: rtlib 1.0 -> 2.0" in out
    assert "hint:" not in out  # sync runs the reinstall itself
    assert uv.calls()[-1] == ["sync", "--no-active", "--reinstall-package", "extpkg"]
    assert recorded_runtime(project) == "2.0"


def test_failed_sync_keeps_the_old_record(project: Path, uv: FakeUv) -> None:
    run(Options(project=project))
    lockedproject.write(project, "2.0")
    uv.exit("sync", 2)
    rc, _, _ = go("--project", str(project))
    assert rc == 2  # uv's own exit code
    assert recorded_runtime(project) == "1.0"  # the next sync reinstalls again


def test_failed_relock_stops_before_anything_else(project: Path, uv: FakeUv) -> None:
    uv.exit("check", 1)
    uv.exit("lock", 2)
    rc, _, _ = go("--project", str(project))
    assert rc == 2
    assert uv.calls() == [["lock", "--check"], ["lock"]]
    assert recorded_runtime(project) is None


def test_dry_run_changes_nothing(project: Path, uv: FakeUv) -> None:
    run(Options(project=project))
    lockedproject.write(project, "2.0")
    uv.exit("check", 1)
    rc, out, err = go("--project", str(project), "--dry-run")
    assert rc == 1
    assert uv.calls() == [["lock", "--check"]]  # read-only
    assert "+ uv lock" in err
    assert "+ uv sync --no-active --reinstall-package extpkg" in err
    assert "extpkg: rtlib 1.0 -> 2.0" in out
    assert recorded_runtime(project) == "1.0"


def test_dry_run_without_a_lock_says_what_it_cannot_compare(project: Path, uv: FakeUv) -> None:
    """Not "+ uv lock" and then "uv.lock: not found (run `uv lock` first)"."""
    (project / "uv.lock").unlink()
    uv.exit("check", 1)
    rc, out, err = go("--project", str(project), "--dry-run")
    assert (rc, out) == (1, "")
    assert err.splitlines() == [
        "+ uv lock",
        "note: dry run: uv.lock does not exist yet, nothing compared "
        "(a real sync compares it once `uv lock` has written it)",
        "+ uv sync --no-active",
    ]
    assert uv.calls() == [["lock", "--check"]]
    assert not (project / "uv.lock").exists()


def test_cache_dir_goes_to_uv_and_to_the_purge(project: Path, uv: FakeUv, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    go("--project", str(project), "--cache-dir", cache)
    assert uv.calls() == [
        ["lock", "--check", "--cache-dir", cache],
        ["sync", "--no-active", "--cache-dir", cache],
    ]


def test_cache_dir_among_uv_args_is_used_for_the_purge() -> None:
    assert sync._cache_arg(["--frozen", "--cache-dir", "/c"]) == "/c"
    assert sync._cache_arg(["--cache-dir=/d"]) == "/d"
    assert sync._cache_arg(["--frozen"]) is None


def test_outside_git_it_warns_and_syncs(tmp_path: Path, uv: FakeUv) -> None:
    root = lockedproject.write(tmp_path / "nogit", "1.0")
    rc, _, err = go("--project", str(root))
    assert rc == 0
    assert "not in a git repository" in err
    assert uv.calls()[-1] == ["sync", "--no-active"]


def test_no_uv_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(InputError, match="uv: not found"):
        sync.find_uv(os.environ)


# --- end to end with the real uv -----------------------------------------------------------


def synced_project(tmp_path: Path, wheelhouse: Path, cache: Path) -> Project:
    """A committed project at rtlib 1.0, synced with `envkey-hook sync` (state recorded)."""
    p = Project(tmp_path / "project", cache)
    p.create(offline_pyproject(tmp_path, wheelhouse))
    rc, _, err = go("--project", str(p.root), "--", "-q")
    assert rc == 0, err
    assert p.built_against() == ("1.0", "1.0")
    assert recorded_runtime(p.root) == "1.0"
    return p


@pytest.mark.e2e
def test_uncommitted_pyproject_edit_then_sync_builds_against_the_new_runtime(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation
) -> None:
    p = synced_project(tmp_path, wheelhouse, isolated_env.uv_cache)
    p.edit("rtlib==1.0", "rtlib==2.0")  # neither committed nor relocked

    rc, out, err = go("--project", str(p.root), "--", "-q")

    assert rc == 0, out + err
    assert "+ uv lock" in err
    assert "extpkg: rtlib 1.0 -> 2.0" in out
    assert p.built_against() == ("2.0", "2.0")
    assert recorded_runtime(p.root) == "2.0"


@pytest.mark.e2e
@pytest.mark.parametrize("with_state", [True, False], ids=["recorded", "control-no-record"])
def test_pull_without_hooks_then_stale_uv_sync_is_healed_only_with_the_record(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation, with_state: bool
) -> None:
    """HEAD moved to rtlib 2.0 behind envkey-hook's back and a plain `uv sync` ran."""
    p = synced_project(tmp_path, wheelhouse, isolated_env.uv_cache)
    p.set_runtime("2.0")
    p.commit("rtlib 2.0")  # as a pull would: HEAD and the work tree agree
    p.sync()
    assert p.built_against() == ("1.0", "2.0")  # stale
    if not with_state:
        path = state.state_path(p.root, p.root)
        assert path is not None
        path.unlink()

    rc, out, err = go("--project", str(p.root), "--", "-q")

    assert rc == 0, out + err
    if with_state:
        assert "extpkg: rtlib 1.0 -> 2.0" in out
        assert len(slot_wheels(isolated_env.uv_cache)) == 2  # polluted one replaced
        assert p.built_against() == ("2.0", "2.0")
    else:  # git alone sees no change: the stale binary stays
        assert "extpkg" not in out
        assert p.built_against() == ("1.0", "2.0")
