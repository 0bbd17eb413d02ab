"""Issue 12 item 4: every hint envkey-hook prints is valid for uv as printed.

TOML hints (the `extra-build-dependencies` migration) are pasted the way a user does
(pastecheck.paste: replace the entry of that key, else add it under the header) in every
form a project can hold the table in; the real uv must then read the file without a
warning, with the pasted `match-runtime` in effect and the project's own entries kept.
Command hints are run by the real uv (or envkey-hook) against the test's project and
cache. `test_every_hint_site_is_covered` fails when a new hint appears in the code
without a case here; conftest.py additionally pastes every migration hint any test of
the session produced in-process (see `pytest_sessionfinish` there).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

import test_corpus as corpus
from envkey_hook import fixture
from envkey_hook.tomlcompat import loads
from pastecheck import assert_uv_reads, extra_build_dependencies, paste, show_settings, uv_binary

HOOK = Path(__file__).resolve().parent.parent / "hook" / "envkey_hook"

HEAD = (
    "[project]\nname = 'proj'\nversion = '0.1'\nrequires-python = '>=3.9'\n"
    'dependencies = ["{pkg}", "rtlib==1.0"]\n'
    "[tool.envkey-hook]\nextend-watch = ['rtlib']\n"
)
UV = "[tool.uv]\npackage = false\nno-index = true\nfind-links = ['../links']\n"
NBI = 'no-build-isolation-package = ["{key}"]\n'

# How a project may already hold the package's entry (`{key}`: its own spelling).
FORMS = {
    "no-table": UV + NBI,
    "other-spelling": UV
    + NBI
    + '[tool.uv.extra-build-dependencies]\n{key} = ["setuptools>=40, <100"]\n',
    "multi-line": UV
    + NBI
    + '[tool.uv.extra-build-dependencies]\n{key} = [\n  "setuptools>=40",\n  "wheel",\n]\n'
    + 'other = ["x"]\n',
    "inline-table": UV + NBI + 'extra-build-dependencies = {{ {key} = ["wheel"] }}\n',
    "dotted": UV + NBI + 'extra-build-dependencies.{key} = ["wheel"]\n',
    # Settings from uv.toml instead (its keys at the top level).
    "uv-toml": "",
    "uv-toml-inline": "",
}
UV_TOML = {
    "uv-toml": "no-index = true\nfind-links = ['../links']\n" + NBI,
    "uv-toml-inline": "no-index = true\nfind-links = ['../links']\n"
    + NBI
    + 'extra-build-dependencies = {{ {key} = ["wheel"] }}\n',
}


def _git(proj: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=proj, check=True, env=env, capture_output=True)


def _project(tmp_path: Path, form: str, pkg: str, key: str) -> tuple[Path, dict[str, str]]:
    """A committed project locking `pkg` (built without isolation, depends on rtlib)
    and rtlib 1.0, then the working tree moved to rtlib 2.0 and relocked."""
    for v in ("1.0", "2.0"):
        fixture.runtime_wheel(tmp_path / "links", v, name="rtlib")
    fixture.ext_sdist(tmp_path / "links", name=pkg)
    proj = tmp_path / "proj"
    proj.mkdir()
    env = fixture.env_for_uv(tmp_path / "uv-cache")
    text = HEAD.format(pkg=pkg) + FORMS[form].format(key=key)
    if form in UV_TOML:
        (proj / "uv.toml").write_text(UV_TOML[form].format(key=key))
    for step, version in enumerate(("1.0", "2.0")):
        (proj / "pyproject.toml").write_text(text.replace("rtlib==1.0", f"rtlib=={version}"))
        lock = subprocess.run(
            [uv_binary(), "lock", "-q", "--offline"], cwd=proj, env=env, capture_output=True
        )
        assert lock.returncode == 0, lock.stderr
        if step == 0:
            _git(proj, "init", "-q", env=env)
            _git(proj, "add", "-A", env=env)
            _git(proj, "commit", "-qm", "one", env=env)
    return proj, env


def _hint(out: str) -> tuple[str, list[str]]:
    """The header and entry lines of the migration hint in `run`'s output."""
    lines = out.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("hint: uv reuses"))
    body = []
    for ln in lines[at + 1 :]:
        if not ln.startswith("  ") or ln.startswith("  ("):
            break
        body.append(ln[2:])
    if body[0].startswith("["):
        return body[0], body[1:]
    return "", body  # uv.toml's top level


def _run(proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    from envkey_hook.cli import main

    cache = tmp_path / "c"
    cache.mkdir(exist_ok=True)
    rc = main(["run", "--dry-run", "--project", str(proj), "--cache-dir", str(cache)])
    out = capsys.readouterr().out
    assert rc in (0, 1), out
    return out


@pytest.mark.e2e
@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize(
    ("pkg", "key"), [("extpkg", "extpkg"), ("nv-grouped-gemm", "nv_grouped_gemm")]
)
def test_migration_hint_pastes_into_every_form(
    form: str, pkg: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pasted as printed, uv reads the file without a warning, keys `pkg` by rtlib's
    version, keeps what the entry held, and envkey-hook has nothing more to propose."""
    proj, env = _project(tmp_path, form, pkg, key)
    header, lines = _hint(_run(proj, tmp_path, capsys))
    target = proj / ("uv.toml" if form in UV_TOML else "pyproject.toml")
    before = loads(target.read_bytes(), str(target))
    target.write_text(paste(target.read_text(), header, lines))
    shown = assert_uv_reads(proj, tmp_path / "uv-cache")
    deps = extra_build_dependencies(shown)
    assert ("rtlib", True) in deps.get(pkg, []), shown
    table = before.get("tool", {}).get("uv", before).get("extra-build-dependencies", {})
    kept = [str(x).split(">")[0] for x in table.get(key, [])]
    assert [n for n, mr in deps[pkg] if not mr] == kept, "the entry's own items are lost"
    # The project relocks with it, and envkey-hook sees rtlib keyed: no hint any more.
    relock = subprocess.run(
        [uv_binary(), "lock", "--offline"], cwd=proj, env=env, capture_output=True, text=True
    )
    assert relock.returncode == 0 and "warning" not in relock.stderr.lower(), relock.stderr
    _git(proj, "add", "-A", env=env)
    _git(proj, "commit", "-qm", "pasted", env=env)
    (proj / "pyproject.toml").write_text(
        (proj / "pyproject.toml").read_text().replace("rtlib==2.0", "rtlib==1.0")
    )
    back = subprocess.run([uv_binary(), "lock", "-q", "--offline"], cwd=proj, env=env)
    assert back.returncode == 0
    out = _run(proj, tmp_path, capsys)
    assert "rtlib" in out and "hint: uv reuses" not in out, out


@pytest.mark.e2e
def test_no_hint_once_the_target_opts_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A commit that moves rtlib and adds `match-runtime` for it in the same change: the
    move is reported (the old slot was not keyed by rtlib), but nothing is left to paste
    (the hint used to propose the very entry the commit added)."""
    proj, env = _project(tmp_path, "no-table", "extpkg", "extpkg")
    pyproject = proj / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + "[tool.uv.extra-build-dependencies]\n"
        + 'extpkg = [{ requirement = "rtlib", match-runtime = true }]\n'
    )
    lock = subprocess.run([uv_binary(), "lock", "-q", "--offline"], cwd=proj, env=env)
    assert lock.returncode == 0
    out = _run(proj, tmp_path, capsys)
    assert "extpkg: rtlib" in out and "hint: uv reuses" not in out, out


def _hint_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if re.match(r"(hint|would fix)\b", ln)]


def _check_commands(lines: list[str], project: Path, cache: Path) -> None:
    """Each `uv ...` a hint names is accepted by the real uv, run in the project with
    the test's cache (`--show-settings`: parsed and resolved into settings, not run)."""
    for ln in lines:
        for cmd in re.findall(r"`(uv [^`]*)`", ln):
            args = shlex.split(cmd)
            proc = show_settings(project, cache, args[1:])
            assert proc.returncode == 0, f"{ln}\n{proc.stderr}"
            assert "warning" not in proc.stderr.lower(), f"{ln}\n{proc.stderr}"


def _lock_deps(project: Path) -> dict[str, set[str]]:
    """Each locked package's direct dependencies, over all its entries."""
    from envkey_hook.names import canonical_name

    lock = loads((project / "uv.lock").read_bytes(), "uv.lock")
    deps: dict[str, set[str]] = {}
    for pkg in lock.get("package", []):
        names = deps.setdefault(canonical_name(pkg["name"]), set())
        for d in pkg.get("dependencies", []):
            names.add(canonical_name(d["name"]))
        for group in pkg.get("optional-dependencies", {}).values():
            names |= {canonical_name(d["name"]) for d in group}
    return deps


@pytest.mark.e2e
@pytest.mark.parametrize("entry", corpus.MANIFEST["pairs"], ids=lambda e: e["id"])
def test_corpus_pair_hints_are_valid(entry: dict[str, Any], tmp_path: Path) -> None:
    """On every real commit pair, `run --dry-run`'s migration hint, pasted into the
    project's pyproject.toml, is read by uv without a warning with each pasted runtime
    keyed, names only runtimes the package depends on in the lock, and every `uv`
    command a hint names is accepted by uv."""
    project = tmp_path / "project"
    corpus._copy(corpus.CORPUS / entry["base"], project)
    corpus._git(project, "init", "-q", "-b", "main")
    corpus._git(project, "add", "-A")
    corpus._git(project, "commit", "-q", "-m", "baseline")
    corpus._git(project, "apply", str(corpus.CORPUS / entry["patch"]))
    corpus._environment(project, entry["python"], entry["environment"])
    cmd = [*corpus.ENVKEY_HOOK, "run", "--dry-run", "--cache-dir", corpus._cache(project)]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    cache = tmp_path / "uv-cache"
    _check_commands(_hint_lines(proc.stdout + proc.stderr), project, cache)
    if "hint: uv reuses" not in proc.stdout:
        return
    header, lines = _hint(proc.stdout)
    deps = _lock_deps(project)
    stored = show_settings(project, cache)
    before, had = stored.stderr, extra_build_dependencies(stored.stdout)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(paste(pyproject.read_text(encoding="utf-8"), header, lines))
    shown = extra_build_dependencies(assert_uv_reads(project, cache, before))
    for package, items in loads("\n".join(lines), "hint").items():
        for item in items:
            if isinstance(item, dict) and item.get("match-runtime"):
                runtime = item["requirement"]
                assert runtime in deps[package], f"{package} does not depend on {runtime}"
                assert (runtime, True) not in had.get(package, []), f"{package}: already keyed"
                assert (runtime, True) in shown[package], shown


@pytest.mark.e2e
@pytest.mark.parametrize("entry", corpus.MANIFEST["projects"], ids=lambda e: e["id"])
def test_corpus_project_hints_are_valid(entry: dict[str, Any], tmp_path: Path) -> None:
    """On every real project, whatever `status`, `doctor` and `fix --check` propose is
    valid for uv: `uv` commands are accepted, and `fix` (what --check would write)
    leaves a file uv reads without a warning."""
    project = tmp_path / "project"
    corpus._copy(corpus.CORPUS / entry["dir"], project)
    corpus._environment(project, entry["python"], entry["environment"])
    cache = tmp_path / "uv-cache"
    before = show_settings(project, cache).stderr  # warnings of the project as stored
    for args in (["status"], ["doctor"], ["fix", "--check"]):
        cmd = [*corpus.ENVKEY_HOOK, *args, "--cache-dir", corpus._cache(project)]
        proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        lines = _hint_lines(proc.stdout + proc.stderr)
        _check_commands(lines, project, cache)
        if args[0] == "fix" and any(ln.startswith("would fix") for ln in lines):
            fixed = subprocess.run(cmd[:-4] + cmd[-3:], cwd=project, capture_output=True)
            assert fixed.returncode in (0, 1), fixed.stderr
            assert_uv_reads(project, cache, before)
