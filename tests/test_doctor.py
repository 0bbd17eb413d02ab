"""`envkey-hook doctor`: fake caches and environments, then two real projects sharing a cache."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import time
from pathlib import Path

import pytest

import lockedproject
from e2e_helpers import Isolation, Project, build_dirs, offline_pyproject, slot_wheels
from envkey_hook import cachescan, doctor, wheels
from fakecache import add_slot, entry, polluted_entry, setuptools_build

DAY = 86400.0


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    doctor.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["doctor", *argv])


class Streams:
    def __init__(self, tty: bool = False) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.err.isatty = lambda: tty  # type: ignore[method-assign]


def doc(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    s = Streams(tty)
    rc = doctor.run_doctor(parse(*argv), s.out, s.err)
    return rc, s.out.getvalue(), s.err.getvalue()


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is no uv project: only the cache is looked at."""
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


# --- the cache scan ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pypi", "index", "url", "path", "editable", "git"])
def test_finds_polluted_slot_of_every_source_kind(tmp_path: Path, kind: str) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, kind)
    scan = cachescan.scan_cache(cache, now=1_700_000_600 + 3 * DAY)
    (p,) = scan.polluted
    assert p.slot.path == tree["new"] and p.slot.kind == "polluted-slot"
    assert p.slot.package == "extpkg" and p.version == "0.1"
    assert p.entry.path == tree["entry"]
    assert p.age == pytest.approx(3 * DAY)
    assert scan.entries == 1


def test_every_bucket_version_is_scanned(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for bucket in ("sdists-v9", "sdists-v11"):
        rev = entry(cache, "pypi", bucket=bucket) / "rev"
        add_slot(rev, "cace87155b165d5b", mtime=1)
        add_slot(rev, "81a196cb5a99c968", mtime=2)
    assert len(cachescan.scan_cache(cache).polluted) == 2


def test_different_payloads_are_healthy(tmp_path: Path, nowhere: Path) -> None:
    cache = tmp_path / "cache"
    rev = entry(cache, "index") / "rev"
    add_slot(rev, "cace87155b165d5b", b"built against 1.0", mtime=1)
    add_slot(rev, "81a196cb5a99c968", b"built against 2.0", mtime=2)
    rc, out, _ = doc("--cache-dir", str(cache))
    assert rc == 0, out
    assert "scanned 1 entry in" in out and "polluted" not in out


def test_wheels_are_opened_only_where_two_slots_share_a_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    for i in range(300):
        rev = entry(cache, "pypi", name=f"pkg{i}") / "rev"
        add_slot(rev, "cace87155b165d5b", dist=f"pkg{i}")
    polluted_entry(cache, "index")
    opened: list[Path] = []
    real = wheels.compiled_payload

    def counting(wheel: Path) -> wheels.Payload | None:
        opened.append(wheel)
        return real(wheel)

    monkeypatch.setattr("envkey_hook.wheels.compiled_payload", counting)
    start = time.monotonic()
    scan = cachescan.scan_cache(cache)
    assert time.monotonic() - start < 5
    assert scan.entries == 301 and len(scan.polluted) == 1
    assert len(opened) == 2  # the two slots of the polluted revision only


def test_reports_package_version_slot_and_age_and_exits_1(tmp_path: Path, nowhere: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    two_hours_ago = time.time() - 2 * 3600 - 30
    os.utime(next(tree["new"].glob("*.whl")), (two_hours_ago, two_hours_ago))
    rc, out, _ = doc("--cache-dir", str(cache))
    assert rc == 1
    line = next(x for x in out.splitlines() if x.startswith("polluted:"))
    assert line.startswith(
        "polluted: extpkg 0.1, slot 81a196cb5a99c968, 2 h old: identical payload"
    )
    assert "hint: run `envkey-hook doctor --fix`, then `uv sync --reinstall-package extpkg`" in out
    assert tree["new"].exists() and tree["build"].exists()  # without --fix nothing goes


def test_fix_removes_polluted_slot_and_the_source_build(tmp_path: Path, nowhere: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "pypi")
    rc, out, err = doc("--cache-dir", str(cache), "--fix")
    assert rc == 1, err  # repaired, but installed copies need a reinstall
    assert not tree["new"].exists() and not tree["build"].exists()
    assert tree["old"].exists() and (tree["rev"] / "src" / "PKG-INFO").exists()
    assert "Removed polluted-slot of extpkg" in out and "Removed build-dir of extpkg" in out
    assert "hint: run `uv sync --reinstall-package extpkg`" in out
    rc, out, _ = doc("--cache-dir", str(cache))
    assert rc == 0, out


def test_fix_of_a_git_entry_removes_the_checkout_build(tmp_path: Path, nowhere: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "git")
    checkout = cache / "git-v2" / "checkouts" / "df948d441cd1dd5d" / "8b5b5eb"
    checkout.mkdir(parents=True)
    build = setuptools_build(checkout)
    other = setuptools_build(cache / "git-v2" / "checkouts" / "df948d441cd1dd5d" / "0123456")
    rc, _, err = doc("--cache-dir", str(cache), "--fix")
    assert rc == 1, err
    assert not tree["new"].exists() and not build.exists()
    assert other.exists()  # another commit's checkout


def test_root_wheel_with_identical_payload_is_reported_not_removed(
    tmp_path: Path, nowhere: Path
) -> None:
    cache = tmp_path / "cache"
    rev = entry(cache, "pypi") / "rev"
    add_slot(rev, "cace87155b165d5b", mtime=1)
    add_slot(rev, "", mtime=2)  # wheel filed directly in the revision
    rc, out, _ = doc("--cache-dir", str(cache), "--fix")
    assert rc == 1
    assert "uv cache clean extpkg" in out
    assert list(rev.glob("*.whl"))


def test_progress_only_on_a_terminal(tmp_path: Path, nowhere: Path) -> None:
    cache = tmp_path / "cache"
    polluted_entry(cache, "index")
    _, _, err = doc("--cache-dir", str(cache))
    assert "scanned" not in err
    _, out, err = doc("--cache-dir", str(cache), tty=True)
    assert "\rscanned 1 entries" in err and "scanned" not in out.split("\n", 1)[1]


def test_missing_cache_is_not_a_problem(tmp_path: Path, nowhere: Path) -> None:
    rc, out, _ = doc("--cache-dir", str(tmp_path / "nope"))
    assert rc == 0 and "does not exist" in out
    assert "environment: no uv.lock here" in out


def test_cache_path_that_is_a_file_is_an_input_error(
    tmp_path: Path, nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "does not exist", exit 0: the file is left alone and named."""
    from envkey_hook import cli

    cache = tmp_path / "cache"
    cache.write_text("not a cache")
    assert cli.main(["doctor", "--cache-dir", str(cache)]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {cache}: uv's cache directory is not a directory\n")
    assert cache.read_text() == "not a cache"


# --- the project's environment -------------------------------------------------------------


def fake_venv(project: Path, recorded: str | None, installed: str | None) -> Path:
    site = project / ".venv" / "lib" / "python3.11" / "site-packages"
    dist = site / "extpkg-0.1.dist-info"
    dist.mkdir(parents=True)
    if recorded is not None:
        req = {"name": "rtlib", "specifier": f"=={recorded}", "index": "file:///links"}
        build = {"extra_build_requires": [{"requirement": req, "match_runtime": True}]}
        (dist / "uv_build.json").write_text(json.dumps(build))
    if installed is not None:
        (site / f"rtlib-{installed}.dist-info").mkdir()
    return site


def test_environment_record_matching_the_runtime_passes_with_an_honest_note(
    tmp_path: Path,
) -> None:
    project = lockedproject.write(tmp_path / "p", "2.0")
    fake_venv(project, "2.0", "2.0")
    rc, out, _ = doc("--project", str(project), "--cache-dir", str(tmp_path / "c"))
    assert rc == 0, out
    assert "1 match-runtime build record(s) agree with the installed runtimes" in out
    assert "not what was compiled" in out


@pytest.mark.parametrize(
    ("recorded", "installed", "message"),
    [
        ("1.0", "2.0", "extpkg: built for rtlib 1.0, but rtlib 2.0 is installed"),
        ("1.0+cpu", "1.0+cu", "extpkg: built for rtlib 1.0+cpu, but rtlib 1.0+cu is installed"),
        ("1.0", None, "extpkg: built for rtlib 1.0, but rtlib is not installed"),
    ],
)
def test_environment_record_disagreeing_with_the_runtime_is_a_problem(
    tmp_path: Path, recorded: str, installed: str | None, message: str
) -> None:
    project = lockedproject.write(tmp_path / "p", "2.0")
    fake_venv(project, recorded, installed)
    rc, out, _ = doc("--project", str(project), "--cache-dir", str(tmp_path / "c"))
    assert rc == 1
    assert f"environment: {message}" in out
    assert "hint: run `uv sync --reinstall-package extpkg`" in out


def test_uv_project_environment_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = lockedproject.write(tmp_path / "p", "2.0")
    fake_venv(project, "1.0", "2.0")
    (project / ".venv").rename(project / "env")
    monkeypatch.setenv("UV_PROJECT_ENVIRONMENT", "env")
    rc, out, _ = doc("--project", str(project), "--cache-dir", str(tmp_path / "c"))
    assert rc == 1 and "built for rtlib 1.0" in out


_DIRECTORY_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.9"

[[package]]
name = "demo-app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "extpkg" }, { name = "plainpkg" }, { name = "rtlib" }]

[[package]]
name = "extpkg"
version = "0.1"
source = { directory = "extpkg" }
dependencies = [{ name = "rtlib" }]

[[package]]
name = "plainpkg"
version = "0.1"
source = { directory = "plainpkg" }

[[package]]
name = "rtlib"
version = "2.0"
source = { registry = "/links" }
wheels = [{ path = "/links/rtlib-2.0-py3-none-any.whl" }]
"""


def test_in_place_build_of_a_local_source_with_build_inputs(tmp_path: Path) -> None:
    project = lockedproject.write(tmp_path / "p", "2.0")
    (project / "uv.lock").write_text(_DIRECTORY_LOCK)
    build = setuptools_build(project / "extpkg")
    plain = setuptools_build(project / "plainpkg")  # nothing configured: not at risk
    rc, out, _ = doc("--project", str(project), "--cache-dir", str(tmp_path / "c"))
    assert rc == 0, out  # a warning, not a problem
    assert f"warning: extpkg: in-place build directory {build}" in out
    assert "plainpkg" not in out
    assert "hint: run `envkey-hook doctor --fix`" in out
    doc("--project", str(project), "--cache-dir", str(tmp_path / "c"), "--fix")
    assert not build.exists() and plain.exists()


def test_explicit_project_without_lock_is_an_input_error(tmp_path: Path) -> None:
    from envkey_hook.errors import InputError

    with pytest.raises(InputError, match="uv.lock"):
        doc("--project", str(tmp_path))


# --- end to end: two projects, one cache ---------------------------------------------------


def shared_cache_projects(tmp_path: Path, wheelhouse: Path, cache: Path) -> tuple[Project, Project]:
    made = []
    for name, runtime in (("a", "1.0"), ("b", "2.0")):
        p = Project(tmp_path / name, cache)
        p.create(offline_pyproject(tmp_path, wheelhouse, runtime))
        made.append(p)
    return made[0], made[1]


@pytest.mark.e2e
def test_doctor_finds_and_heals_pollution_from_another_project(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation
) -> None:
    cache = isolated_env.uv_cache
    a, b = shared_cache_projects(tmp_path, wheelhouse, cache)
    a.sync()
    b.sync()  # same sdist, other runtime: built in the tree A left behind
    assert a.built_against() == ("1.0", "1.0")
    assert b.built_against() == ("1.0", "2.0")  # stale, and no git history shows why
    assert len(slot_wheels(cache)) == 2

    rc, out, err = doc("--project", str(b.root))
    assert rc == 1, out + err
    line = next(x for x in out.splitlines() if x.startswith("polluted:"))
    # B's own record asks for rtlib 2.0 and rtlib 2.0 is installed: that check alone
    # cannot see the stale binary, and doctor says so.
    assert "1 match-runtime build record(s) agree with the installed runtimes" in out
    assert "environment: extpkg" not in out
    assert "not what was compiled" in out

    polluted = re.match(r"polluted: extpkg 0.1, slot ([0-9a-f]{16}),", line)
    assert polluted is not None
    (b_slot,) = [w for w in slot_wheels(cache) if w.parent.name == polluted.group(1)]
    (a_slot,) = [w for w in slot_wheels(cache) if w != b_slot]
    assert b_slot.stat().st_mtime >= a_slot.stat().st_mtime  # the newer one: B's
    rc, out, err = doc("--project", str(b.root), "--fix")
    assert rc == 1, err
    assert not b_slot.parent.exists()
    assert a_slot.exists()
    assert build_dirs(cache) == []
    assert "uv sync --reinstall-package extpkg" in out

    b.sync("--reinstall-package", "extpkg")
    assert b.built_against() == ("2.0", "2.0")
    assert a.built_against() == ("1.0", "1.0")
    rc, out, _ = doc("--project", str(b.root))
    assert rc == 0, out  # two slots, two different binaries
