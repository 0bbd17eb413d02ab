"""`envkey-hook demo` on a machine that cannot compile: one line says what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from envkey_hook import demo


@pytest.mark.e2e
def test_missing_compiler_is_named_first(tmp_path: Path) -> None:
    env = dict(os.environ, CC=str(tmp_path / "no-such-cc"), TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "envkey_hook", "demo"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: no C compiler: `") and "no-such-cc" in first, proc.stderr
    assert "apt-get install gcc" in first
    # uv's log still follows, and the demo's directory is gone.
    assert "failed" in proc.stderr
    assert not list(tmp_path.glob("envkey-hook-demo-*"))


def test_missing_python_headers_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = dict(sysconfig.get_paths(), include=str(tmp_path / "include"))
    monkeypatch.setattr(sysconfig, "get_paths", lambda: paths)
    problem = demo.toolchain_problem(dict(os.environ, CC=sys.executable))
    assert problem is not None and problem.startswith("no Python headers: ")
    assert str(tmp_path / "include" / "Python.h") in problem


def test_a_working_toolchain_has_no_problem() -> None:
    assert demo.toolchain_problem(dict(os.environ, CC=sys.executable)) is None
