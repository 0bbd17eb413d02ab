"""`envkey-hook status` and `envkey-hook key`: hand-written projects, fake caches, no uv."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest

import lockedproject
from envkey_hook import current, state, status
from envkey_hook.envkey import EnvKey
from envkey_hook.errors import InputError
from fakecache import polluted_entry


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    status.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def key_of(project: Path, *packages: str) -> str:
    return run_key(project, *packages).strip()


def run_key(project: Path, *packages: str) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert status.run_key(parse("key", "--project", str(project), *packages)) == 0
    return buf.getvalue()


def test_status_json_lists_inputs_entries_build_state_and_pollution(tmp_path: Path) -> None:
    project = lockedproject.write(tmp_path / "p", "1.0")
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")

    doc = status.collect(project, str(cache))

    assert doc["schema"] == 1 and doc["cache"] == str(cache)
    assert doc["recorded_state"] is False
    (pkg,) = doc["packages"]
    assert pkg["package"] == "extpkg"
    assert pkg["inputs"]["rtlib"] == "1.0" and pkg["inputs"]["version"] == "0.1"
    assert re.fullmatch(r"[0-9a-f]{12}", pkg["envkey"])
    assert pkg["entries"] == [str(tree["entry"])]
    assert pkg["build_state"] == [str(tree["build"])]
    assert pkg["polluted_slots"] == [str(tree["new"])]
    assert pkg["recorded"] is None
    assert tree["new"].exists() and tree["build"].exists()  # status changes nothing


def test_status_compares_with_the_recorded_state(tmp_path: Path) -> None:
    project = lockedproject.write(tmp_path / "p", "1.0")
    lockedproject.init(project)
    keys = status.collect(project, str(tmp_path / "cache"))
    assert keys["packages"][0]["recorded"] is None
    cache = state.cache_id(tmp_path / "c")  # the record is for the cache status looks at
    state.save_for(project, project, current.load(project).envkeys, cache=cache)
    assert status.collect(project, str(tmp_path / "c"))["packages"][0]["recorded"] == "same"
    lockedproject.write(project, "2.0")
    assert status.collect(project, str(tmp_path / "c"))["packages"][0]["recorded"] == "changed"


def test_status_text_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = lockedproject.write(tmp_path / "p", "1.0")
    cache = tmp_path / "cache"
    polluted_entry(cache, "index")
    rc = status.run_status(parse("status", "--project", str(project), "--cache-dir", str(cache)))
    out = capsys.readouterr().out
    assert rc == 0
    header, row = (line for line in out.splitlines() if line.startswith(("package", "extpkg")))
    assert header.split()[:4] == ["package", "version", "envkey", "entries"]
    assert row.split()[:2] == ["extpkg", "0.1"]
    assert "present" in row and row.endswith("rtlib 1.0")
    # The entry's source tree holds no pyproject.toml or setup.py: setuptools' legacy
    # backend, as PEP 517 says.
    assert row[header.index("backend") :].startswith("setuptools ")
    assert "doctor --fix" in out


def test_status_json_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = lockedproject.write(tmp_path / "p", "1.0")
    status.run_status(parse("status", "--project", str(project), "--json"))
    doc = json.loads(capsys.readouterr().out)
    assert [p["package"] for p in doc["packages"]] == ["extpkg"]
    assert doc["packages"][0]["entries"] == []


def test_status_without_a_lock_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="uv.lock"):
        status.collect(tmp_path)


def test_key_is_stable_short_and_moves_with_the_build_inputs(tmp_path: Path) -> None:
    a = lockedproject.write(tmp_path / "a", "1.0")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    first = key_of(a)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert key_of(a) == first
    assert key_of(b) == first  # another checkout of the same project: same key
    assert key_of(a, "extpkg") == key_of(a, "EXTPKG")  # names are normalized
    lockedproject.write(a, "2.0")
    assert key_of(a) != first
    lockedproject.write(a, "1.0", extra_uv='extra-build-variables = { extpkg = { X = "1" } }\n')
    assert key_of(a) != first


def test_key_of_an_unknown_package_is_an_input_error(tmp_path: Path) -> None:
    project = lockedproject.write(tmp_path / "p", "1.0")
    with pytest.raises(InputError, match="rtlib: not a source-built package"):
        run_key(project, "rtlib")


def test_combined_key_ignores_order() -> None:
    x = EnvKey("x", (("version", "1"),))
    y = EnvKey("y", (("version", "2"),))
    assert status.combined_key([x, y]) == status.combined_key([y, x])
    assert status.combined_key([x]) != status.combined_key([y])
