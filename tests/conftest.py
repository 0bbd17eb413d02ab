"""Test isolation: no test sees the user's git, uv or pre-commit setup, cache or config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hookrepo
from e2e_helpers import Isolation

# The setuptools the e2e projects build with, served from a local wheelhouse so a
# test's fresh uv cache never asks the registry for it.
# (84.2.1 needs Python >= 3.10; 75.3.0 is the last release for 3.8 and 3.9.)
SETUPTOOLS_PIN = "setuptools==84.2.1" if sys.version_info >= (3, 10) else "setuptools==75.3.0"

_CLEARED_PREFIXES = ("GIT_", "UV_", "PRE_COMMIT")
_CLEARED_NAMES = ("VIRTUAL_ENV",)


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Isolation:
    """Point HOME, XDG dirs, uv's cache and git's config into a per-test temp dir."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name)
    base = tmp_path_factory.mktemp("env")
    iso = Isolation(base / "home", base / "config", base / "cache", base / "uv-cache")
    for path in (iso.home, iso.config, iso.cache, iso.uv_cache, base / "git-template"):
        path.mkdir()
    gitconfig = base / "gitconfig"
    gitconfig.touch()
    monkeypatch.setenv("HOME", str(iso.home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(iso.config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(iso.cache))
    monkeypatch.setenv("UV_CACHE_DIR", str(iso.uv_cache))
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("UV_NO_PROGRESS", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(base / "git-template"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "envkey-hook tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@example.invalid")
    return iso


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the setuptools wheel, fetched once per session."""
    dest = tmp_path_factory.mktemp("wheelhouse")
    cmd = [sys.executable, "-m", "pip", "download", SETUPTOOLS_PIN]
    cmd += ["--no-deps", "--only-binary", ":all:", "--no-cache-dir", "-q", "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not list(dest.glob("setuptools-*.whl")):
        pytest.fail(f"could not download {SETUPTOOLS_PIN} for the e2e tests:\n{proc.stderr}")
    return dest


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> hookrepo.Template:
    """One repository with two synced uv projects, shared by both hook installers' tests."""
    return hookrepo.template(tmp_path_factory, wheelhouse)
