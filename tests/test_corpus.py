"""Real projects (tests/corpus, see its README): envkey-hook's CLI against expected answers.

For every stored project, `status` must list exactly the packages uv builds for the stated
target and give each the runtimes it is really built against; for every real commit pair,
`run --dry-run` must report exactly the packages whose build inputs moved: no false change
(a needless 30-90 min CUDA rebuild), no missed change (a binary built against the wrong torch).

The target interpreter is stated by the project's `.venv/pyvenv.cfg`; a project built against
a container's torch (the lock never installs it) gets that torch as installed metadata in the
environment's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).parent / "corpus"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
ENVKEY_HOOK = [sys.executable, "-m", "envkey_hook"]
# Inputs that name a runtime a package may be compiled against (watched by default or
# match-runtime in the corpus); anything else in `inputs` is a setting, a version or a source.
RUNTIMES = ("torch", "numpy", "jax", "jaxlib", "tensorflow", "setuptools", "cython", "pybind11")

# Where today's code is wrong: (check, entry id) -> issue 12 item. strict: when the fix lands
# the test passes, the xfail turns red, and the marker goes.
KNOWN: dict[tuple[str, str], str] = {}


def _mark(check: str, entry: dict[str, Any]) -> Any:
    items = KNOWN.get((check, entry["id"]))
    marks = [pytest.mark.xfail(strict=True, reason=f"issue 12 {items}")] if items else []
    return pytest.param(entry, id=entry["id"], marks=marks)


def _environment(project: Path, python: str, installed: dict[str, str]) -> None:
    """The project's environment: its Python version, and runtimes installed outside the lock."""
    venv = project / ".venv"
    site = venv / "lib" / f"python{python}" / "site-packages"
    site.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion_info = {python}.9\n"
    )
    for name, version in installed.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("pip\n")


def _copy(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True)


def _cache(project: Path) -> str:
    """An empty uv cache of the test's own (a named cache must exist)."""
    cache = project.parent / "uv-cache"
    cache.mkdir(exist_ok=True)
    return str(cache)


def _hook(project: Path, *args: str) -> dict[str, Any]:
    cmd = [*ENVKEY_HOOK, *args, "--json", "--cache-dir", _cache(project)]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode in (0, 1), f"{' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _runtimes(inputs: dict[str, str], names: set[str]) -> dict[str, str]:
    return {k: v for k, v in inputs.items() if k in names}


def _status(project: Path) -> list[dict[str, Any]]:
    """Every package uv builds: `status --all`, or `status` where `--all` does not exist yet."""
    cmd = [*ENVKEY_HOOK, "status", "--all", "--json", "--cache-dir", _cache(project)]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if proc.returncode == 2 and "--all" in proc.stderr:
        return list(_hook(project, "status")["packages"])
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout)["packages"])


def _names(entry: dict[str, Any]) -> set[str]:
    names = set(RUNTIMES)
    for pkg in entry.get("source_built", {}).values():
        names |= set(pkg["inputs"])
    return names


@pytest.mark.parametrize(
    "entry", [_mark("built", e) for e in MANIFEST["projects"]], ids=lambda e: e["id"]
)
def test_status_lists_what_uv_builds(entry: dict[str, Any], tmp_path: Path) -> None:
    project = tmp_path / "project"
    _copy(CORPUS / entry["dir"], project)
    _environment(project, entry["python"], entry["environment"])
    # Installable only where a wheel needs a newer glibc than this machine's: not judged.
    unjudged = set(entry["unjudged"])
    listed = {p["package"] for p in _status(project)} - unjudged
    expected = set(entry["source_built"]) - unjudged
    assert sorted(listed - expected) == [], "listed, but uv installs a wheel or nothing"
    assert sorted(expected - listed) == [], "uv builds these, not listed"


@pytest.mark.parametrize(
    "entry", [_mark("inputs", e) for e in MANIFEST["projects"]], ids=lambda e: e["id"]
)
def test_status_runtimes_are_what_uv_builds_against(entry: dict[str, Any], tmp_path: Path) -> None:
    project = tmp_path / "project"
    _copy(CORPUS / entry["dir"], project)
    _environment(project, entry["python"], entry["environment"])
    names = _names(entry)
    got = {}
    for p in _status(project):
        runtimes = _runtimes(p["inputs"], names)
        if runtimes and p["package"] not in entry["unjudged"]:
            got[p["package"]] = runtimes
    want = {
        n: p["inputs"]
        for n, p in entry["source_built"].items()
        if p["inputs"] and n not in entry["unjudged"]
    }
    assert {n: sorted(r) for n, r in got.items()} == {n: sorted(r) for n, r in want.items()}
    for name, runtimes in want.items():
        for runtime, versions in runtimes.items():
            shown = got[name][runtime]
            for version in versions:
                assert version in shown, f"{name}: {runtime} {shown!r}, uv builds against {version}"


@pytest.mark.parametrize(
    "entry", [_mark("run", e) for e in MANIFEST["pairs"]], ids=lambda e: e["id"]
)
def test_run_reports_exactly_the_moved_build_inputs(entry: dict[str, Any], tmp_path: Path) -> None:
    project = tmp_path / "project"
    _copy(CORPUS / entry["base"], project)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "baseline")
    _git(project, "apply", str(CORPUS / entry["patch"]))
    _environment(project, entry["python"], entry["environment"])
    report = _hook(project, "run", "--dry-run")
    changes = [c for p in report["projects"] for c in p["changes"]]
    # A package uv builds in only one of the two states has no stale build to purge or keep.
    either = set(entry["source_built_before"]) ^ set(entry["source_built_after"])
    either |= set(entry["unjudged"])
    got = {c["package"] for c in changes} - either
    want = set(entry["expected_changes"])
    assert sorted(got - want) == [], "false changes"
    assert sorted(want - got) == [], "missed changes"
