"""Issue 12 items 5, 6 and 8: runtimes from the environment, the target interpreter, output.

Locks written by the real uv (offline, find-links); environments made by the real uv.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import uv_binary
from envkey_hook import fixture
from envkey_hook.cli import main

ENV_PROJECT = (
    "[project]\nname = 'proj'\nversion = '0.1'\nrequires-python = '>=3.9'\n"
    'dependencies = ["extpkg"]\n'
    "[tool.uv]\npackage = false\nno-index = true\nfind-links = ['../links']\n"
    'no-build-isolation-package = ["extpkg"]\n'
    "override-dependencies = [\"rtlib; sys_platform == 'never'\"]\n"
    "[tool.envkey-hook]\nextend-watch = ['rtlib']\n"
)


def _uv(proj: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = fixture.env_for_uv(tmp / "uv-cache")
    proc = subprocess.run([uv_binary(), *args], cwd=proj, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def _git(proj: Path, *args: str) -> None:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*cmd, *args], cwd=proj, check=True, capture_output=True)


def _project(tmp: Path, text: str, versions: tuple[str, ...] = ("1.0", "2.0")) -> Path:
    links = tmp / "links"
    for v in versions:
        fixture.runtime_wheel(links, v)
    fixture.ext_sdist(links)
    proj = tmp / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(text)
    (proj / ".gitignore").write_text(".venv/\n")
    _uv(proj, tmp, "lock", "-q", "--offline")
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "one")
    return proj


def test_a_runtime_kept_out_of_the_lock_comes_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 5: torch-from-the-container: the installed version is the input, status says
    so, and a changed installed runtime is caught by the next run."""
    proj = _project(tmp_path, ENV_PROJECT)
    assert "sys_platform == 'never'" in (proj / "uv.lock").read_text()
    _uv(proj, tmp_path, "venv", "-q", ".venv")
    wheel = str(tmp_path / "links" / "rtlib-1.0-py3-none-any.whl")
    _uv(
        proj, tmp_path, "pip", "install", "-q", "--no-config", "--python", ".venv/bin/python", wheel
    )
    (tmp_path / "c").mkdir()
    cache = ["--cache-dir", str(tmp_path / "c")]
    assert main(["status", "--json", "--project", str(proj), *cache]) == 0
    doc = json.loads(capsys.readouterr().out)
    (ext,) = doc["packages"]
    assert (ext["inputs"]["rtlib"], ext["inputs"]["rtlib source"]) == ("1.0", "environment")
    main(["status", "--project", str(proj), *cache])
    assert "rtlib 1.0 (from the environment)" in capsys.readouterr().out
    main(["run", "--project", str(proj), *cache])  # records the state
    capsys.readouterr()
    wheel = str(tmp_path / "links" / "rtlib-2.0-py3-none-any.whl")
    _uv(
        proj, tmp_path, "pip", "install", "-q", "--no-config", "--python", ".venv/bin/python", wheel
    )
    main(["run", "--dry-run", "--project", str(proj), *cache])
    assert "extpkg: rtlib 1.0 -> 2.0" in capsys.readouterr().out.splitlines()


FORKED = (
    "[project]\nname = 'proj'\nversion = '0.1'\nrequires-python = '>=3.9'\n"
    'dependencies = ["extpkg", "rtlib==1.0; python_version < \'3.11\'", '
    "\"rtlib==2.0; python_version >= '3.11'\"]\n"
    "[tool.uv]\npackage = false\nno-index = true\nfind-links = ['../links']\n"
    "[tool.uv.extra-build-dependencies]\n"
    "extpkg = [{ requirement = 'rtlib', match-runtime = true }]\n"
)


def _rtlib(proj: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["status", "--json", "--project", str(proj), *args]) == 0
    (ext,) = json.loads(capsys.readouterr().out)["packages"]
    return str(ext["inputs"]["rtlib"])


def test_the_target_interpreter_is_the_one_uv_would_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 6: without .venv, `.python-version` decides (UV_PYTHON, like `--python`,
    overrides it)."""
    import sys

    monkeypatch.delenv("UV_PYTHON", raising=False)
    if sys.version_info[:2] != (3, 11):
        pytest.skip("written for a 3.11 interpreter running the tests")
    proj = _project(tmp_path, FORKED)
    assert _rtlib(proj, capsys) == "2.0"  # nothing said: this interpreter
    (proj / ".python-version").write_text("3.10\n")
    assert _rtlib(proj, capsys) == "1.0"
    assert _rtlib(proj, capsys, "--python", "3.12") == "2.0"
    monkeypatch.setenv("UV_PYTHON", "3.12")
    assert _rtlib(proj, capsys) == "2.0"


def test_an_interpreter_outside_requires_python_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 6: one line saying the target does not satisfy requires-python."""
    proj = _project(tmp_path, FORKED)
    main(["key", "--project", str(proj), "--python", "3.8.10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3.8.10" in err[0] and "requires-python '>=3.9'" in err[0], err


def test_run_says_when_nothing_changed_and_all_with_a_baseline_purges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 8: one line when nothing changed; `--all` with a baseline names every
    source-built package instead of doing nothing."""
    proj = _project(tmp_path, FORKED)
    (tmp_path / "c").mkdir()
    cache = ["--cache-dir", str(tmp_path / "c")]
    assert main(["run", "--project", str(proj), *cache]) == 0
    assert capsys.readouterr().out == "No build input changed\n"
    assert main(["run", "--project", str(proj), *cache]) == 0  # the no-op path says it too
    assert capsys.readouterr().out == "No build input changed\n"
    main(["run", "--all", "--dry-run", "--project", str(proj), *cache])
    assert "extpkg: --all (none) -> rebuild" in capsys.readouterr().out


def test_status_shows_packages_with_build_inputs_unless_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 8: a package uv builds but nothing configures is listed only with --all."""
    links = tmp_path / "links"
    fixture.ext_sdist(links, name="plain")
    proj = _project(tmp_path, FORKED.replace('"extpkg", ', '"extpkg", "plain", '))
    main(["status", "--project", str(proj)])
    out = capsys.readouterr().out
    assert "extpkg" in out and "\nplain " not in out and "1 more" in out, out
    main(["status", "--all", "--project", str(proj)])
    assert "\nplain " in capsys.readouterr().out
