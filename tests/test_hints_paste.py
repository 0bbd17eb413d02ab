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

import subprocess
from pathlib import Path

import pytest

from envkey_hook import fixture
from pastecheck import assert_uv_reads, extra_build_dependencies, paste, uv_binary

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
    from envkey_hook.tomlcompat import loads

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
