"""Test isolation: no test sees the user's git, uv or pre-commit setup, cache or config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# Every migration hint a test produced in this process: (test id, the file's text the
# hint merges with, the hint). pytest_sessionfinish pastes each and asks the real uv.
_HINTS: list[tuple[str, bytes | None, Any]] = []


@pytest.fixture(autouse=True)
def record_hints(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Record the TOML hints this test makes envkey-hook print (issue 12 item 4)."""
    from envkey_hook import hints

    real = hints.migration

    def migration(pairs: Any, read: Any, rel: str) -> Any:
        seen: dict[str, bytes | None] = {}

        def reading(path: str) -> bytes | None:
            seen[path] = read(path)
            return seen[path]

        hint = real(pairs, reading, rel)
        _HINTS.append((request.node.nodeid, seen.get(hint.file), hint))
        return hint

    monkeypatch.setattr(hints, "migration", migration)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Paste every recorded hint into the file it was made for and let the real uv read
    it: a hint uv rejects fails the session, whichever test printed it."""
    if not _HINTS:
        return
    import tempfile

    from pastecheck import extra_build_dependencies, paste, show_settings

    failures = []
    done = set()
    with tempfile.TemporaryDirectory(prefix="envkey-hints-") as tmp:
        for i, (test, text, hint) in enumerate(_HINTS):
            if (text, hint) in done:
                continue
            done.add((text, hint))
            root = Path(tmp) / str(i)
            target = root / hint.file
            target.parent.mkdir(parents=True)
            original = (text or b"").decode("utf-8", "replace")
            target.write_text(paste(original, hint.header, hint.lines))
            if target.name == "uv.toml":  # uv needs a project to read a uv.toml in
                (target.parent / "pyproject.toml").write_text("[project]\nname = 'p'\n")
            proc = show_settings(target.parent, root / "cache")
            shown = extra_build_dependencies(proc.stdout)
            bad = proc.returncode != 0 or "warning" in proc.stderr.lower()
            if not bad:
                bad = not any(mr for deps in shown.values() for _, mr in deps)
            if bad:
                failures.append(f"{test}: {hint}\n{proc.stderr}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if failures:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if reporter is not None:
        reporter.write_line(
            f"pasted {len(done)} distinct migration hint(s) from this session into their "
            f"projects: {len(failures)} rejected by uv"
        )
        for f in failures:
            reporter.write_line(f"hint rejected by uv: {f}", red=True)
