"""End to end: build inputs no lockfile shows (CFLAGS, the compiler on PATH).

uv's build key cannot see them: after a change, `uv sync` (even with
`--reinstall-package`) installs the very same cached wheel. envkey-hook compares them
with the recorded state and removes the package's whole cache entries, so that the
reinstall compiles with what the environment now says.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_helpers import Isolation, Project, git, offline_pyproject

pytestmark = pytest.mark.e2e


def _wrapper(dest: Path, ident: str) -> Path:
    """A directory with `cc` and `gcc` that compile with the real gcc, marking the binary."""
    dest.mkdir(parents=True)
    real = shutil.which("gcc") or shutil.which("cc")
    assert real, "a C compiler is needed"
    for name in ("cc", "gcc"):
        script = dest / name
        script.write_text(f'#!/bin/sh\nexec {real} -DEXT_COMPILER={ident} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dest


def _start(tmp_path: Path, wheelhouse: Path, cache: Path) -> Project:
    project = Project(tmp_path / "project", cache)
    project.create(offline_pyproject(tmp_path, wheelhouse))
    return project


def _values(project: Project) -> tuple[str, str]:
    cflag, compiler = project.probe("extpkg.cflag()", "extpkg.compiler()")
    return cflag, compiler


@pytest.fixture
def synced(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """Built with CFLAGS giving `one` and compiler wrapper `A` first on PATH; recorded."""
    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=one")
    a = _wrapper(tmp_path / "wrap-a", "A")
    monkeypatch.setenv("PATH", f"{a}{os.pathsep}{os.environ['PATH']}")
    project = _start(tmp_path, wheelhouse, isolated_env.uv_cache)
    project.sync()
    assert _values(project) == ("one", "A")
    first = project.run_hook()  # first run on this machine: records, purges nothing
    assert first.rc == 0 and "->" not in first.stdout, first
    return project


def test_control_uv_keeps_the_old_binary(
    synced: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=two")
    b = _wrapper(tmp_path / "wrap-b", "B")
    monkeypatch.setenv("PATH", f"{b}{os.pathsep}{os.environ['PATH']}")
    synced.sync("--reinstall-package", "extpkg")
    assert _values(synced) == ("one", "A")  # uv cannot tell: the same cached wheel


def test_cflags_change_rebuilds(synced: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=two")
    cmd = [sys.executable, "-m", "envkey_hook", "doctor"]
    doctor = subprocess.run(cmd, cwd=synced.root, capture_output=True, text=True)
    assert doctor.returncode == 1, doctor
    expected = "toolchain: extpkg: built with CFLAGS '-DEXT_CFLAG=one', now '-DEXT_CFLAG=two'"
    assert expected in doctor.stdout, doctor
    result = synced.run_hook()
    assert result.rc == 1, result
    assert "extpkg: CFLAGS '-DEXT_CFLAG=one' -> '-DEXT_CFLAG=two'" in result.stdout
    assert "hint: run `uv sync --reinstall-package extpkg`" in result.stdout
    assert "match-runtime" not in result.stdout  # no runtime migration hint for a variable
    synced.sync("--reinstall-package", "extpkg")
    assert _values(synced) == ("two", "A")
    again = synced.run_hook()  # reconciled: nothing more to do
    assert again.rc == 0 and "->" not in again.stdout, again


def test_other_compiler_on_path_rebuilds(
    synced: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = _wrapper(tmp_path / "wrap-b", "B")
    monkeypatch.setenv("PATH", f"{b}{os.pathsep}{os.environ['PATH']}")
    result = synced.run_hook()
    assert result.rc == 1, result
    assert "extpkg: C compiler " in result.stdout and "wrap-b" in result.stdout, result
    synced.sync("--reinstall-package", "extpkg")
    assert _values(synced) == ("one", "B")


def test_sync_rebuilds_after_a_cflags_change(
    synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=two")
    cmd = [sys.executable, "-m", "envkey_hook", "sync"]
    done = subprocess.run(cmd, cwd=synced.root, capture_output=True, text=True)
    assert done.returncode == 0, done
    assert "extpkg: CFLAGS '-DEXT_CFLAG=one' -> '-DEXT_CFLAG=two'" in done.stdout, done
    assert _values(synced) == ("two", "A")
    again = synced.run_hook()  # sync recorded the new state
    assert again.rc == 0 and "->" not in again.stdout, again


def test_unrelated_variable_changes_nothing(
    synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_OTHER_FLAG", "x")
    monkeypatch.setenv("CUDA_HOME", "/nonexistent")  # CUDA inputs: not for a plain C package
    result = synced.run_hook()
    assert result.rc == 0 and "->" not in result.stdout, result


def _hook_stage(project: Project, stage: str) -> None:
    """Make git move the way `stage` sees it, then run that stage's hook command."""
    root = project.root
    (root / "README").write_text(stage)
    if stage == "pre-commit":
        git(root, "add", "README")
        args = ["hook", "pre-commit"]
    elif stage == "post-checkout":
        prev = git(root, "rev-parse", "HEAD").strip()
        git(root, "checkout", "-q", "-b", "other")
        args = ["hook", "post-checkout", prev, prev, "1"]
    elif stage == "post-merge":
        git(root, "add", "README")
        git(root, "commit", "-q", "--no-gpg-sign", "-m", "readme")
        git(root, "update-ref", "ORIG_HEAD", "HEAD~1")  # as the merge would have left it
        args = ["hook", "post-merge", "0"]
    else:
        git(root, "add", "README")
        git(root, "commit", "-q", "--no-gpg-sign", "--amend", "--no-edit")
        args = ["hook", "post-rewrite", "amend"]
    cmd = [sys.executable, "-m", "envkey_hook", *args]
    done = subprocess.run(cmd, cwd=root, input="", capture_output=True, text=True)
    assert done.returncode == 0, done
    assert "extpkg: CFLAGS '-DEXT_CFLAG=one' -> '-DEXT_CFLAG=two'" in done.stdout, done


@pytest.mark.parametrize("stage", ["pre-commit", "post-checkout", "post-merge", "post-rewrite"])
def test_each_hook_stage_catches_it(
    synced: Project, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=two")
    _hook_stage(synced, stage)
    synced.sync("--reinstall-package", "extpkg")
    assert _values(synced) == ("two", "A")


def _toolkit(root: Path, version: str) -> Path:
    """A CUDA toolkit directory as far as the probe looks: version.json and bin/nvcc."""
    (root / "bin").mkdir(parents=True)
    (root / "version.json").write_text(
        f'{{"cuda": {{"name": "CUDA SDK", "version": "{version}"}}}}'
    )
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text(f'#!/bin/sh\necho "Cuda compilation tools, release {version}"\n')
    nvcc.chmod(0o755)
    return root


def test_fix_keys_cuda_builds_so_uv_itself_rebuilds(
    tmp_path: Path, wheelhouse: Path, isolated_env: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`key-cuda`: fix writes CUDA_VERSION_KEY; after a toolkit change and another fix,
    a plain `uv sync` builds a new slot and installs it (with `build_ext --force`, which
    fix also writes, the compile is fresh: the new CFLAGS shows)."""
    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=one")
    monkeypatch.setenv("CUDA_HOME", str(_toolkit(tmp_path / "cuda-12.8", "12.8.93")))
    project = _start(tmp_path, wheelhouse, isolated_env.uv_cache)
    text = project.pyproject.read_text()
    project.pyproject.write_text(
        text + '\n[tool.envkey-hook]\nkey-cuda = true\ncuda-packages = ["extpkg"]\n'
    )
    fix = [sys.executable, "-m", "envkey_hook", "fix"]
    done = subprocess.run(fix, cwd=project.root, capture_output=True, text=True)
    assert done.returncode == 1, done
    assert 'extpkg: extra-build-variables CUDA_VERSION_KEY = "12.8"' in done.stdout, done
    project.lock()
    project.sync()
    assert _values(project) == ("one", "none")

    monkeypatch.setenv("CFLAGS", "-DEXT_CFLAG=two")
    monkeypatch.setenv("CUDA_HOME", str(_toolkit(tmp_path / "cuda-13.0", "13.0.88")))
    done = subprocess.run(fix, cwd=project.root, capture_output=True, text=True)
    assert done.returncode == 1, done
    assert 'CUDA_VERSION_KEY = "13.0"' in project.pyproject.read_text()
    again = subprocess.run(fix, cwd=project.root, capture_output=True, text=True)
    assert again.returncode == 0, again  # kept current: nothing more to do
    project.sync()  # plain sync: uv's key moved, so uv rebuilds by itself
    assert _values(project)[0] == "two"
