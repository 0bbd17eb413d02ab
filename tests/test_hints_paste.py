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

import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import test_corpus as corpus
from envkey_hook import fixture
from envkey_hook.names import canonical_name
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
    from envkey_hook.names import canonical_name

    for key, items in loads("\n".join(lines), "hint").items():
        package = canonical_name(key)  # the hint keeps the project's spelling (nv_grouped_gemm)
        runtimes = [
            item["requirement"]
            for item in items
            if isinstance(item, dict) and item.get("match-runtime")
        ]
        # The hint prints the whole merged line: runtimes already keyed may repeat, but it
        # must add at least one.
        assert [r for r in runtimes if (r, True) not in had.get(package, [])], (
            f"{key}: every runtime already keyed"
        )
        for runtime in runtimes:
            assert runtime in deps[package], f"{key} does not depend on {runtime}"
            assert (runtime, True) in shown[package], shown


@pytest.mark.e2e
@pytest.mark.parametrize("entry", corpus.MANIFEST["projects"], ids=lambda e: e["id"])
def test_corpus_project_hints_are_valid(entry: dict[str, Any], tmp_path: Path) -> None:
    """On every real project, whatever `status` and `fix --check` propose is
    valid for uv: `uv` commands are accepted, and `fix` (what --check would write)
    leaves a file uv reads without a warning."""
    project = tmp_path / "project"
    corpus._copy(corpus.CORPUS / entry["dir"], project)
    corpus._environment(project, entry["python"], entry["environment"])
    cache = tmp_path / "uv-cache"
    before = show_settings(project, cache).stderr  # warnings of the project as stored
    # (doctor's hints do not depend on the project: proven by the kind tests below.)
    for args in (["status"], ["fix", "--check"]):
        cmd = [*corpus.ENVKEY_HOOK, *args, "--cache-dir", corpus._cache(project)]
        proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        lines = _hint_lines(proc.stdout + proc.stderr)
        _check_commands(lines, project, cache)
        if args[0] == "fix" and any(ln.startswith("would fix") for ln in lines):
            fixed = subprocess.run(cmd[:-4] + cmd[-3:], cwd=project, capture_output=True)
            assert fixed.returncode in (0, 1), fixed.stderr
            assert_uv_reads(project, cache, before)


# Every place the code builds a hint a user may paste or run, found by
# `_hint_sites` (module, literal text, `{}` for what is filled in), and its kind.
# A new hint fails test_every_hint_site_is_covered until it is listed here, under a kind
# PROOFS proves valid.
HINT_SITES: dict[tuple[str, str], str] = {
    ("cachelinks.py", "rm -- {}"): "rm",
    ("cachelinks.py", "uv cache clean {}"): "uv",
    ("cli.py", "{} removal(s) had begun: run `envkey-hook run -v` again"): "envkey-hook",
    (
        "cli.py",
        "Remove the hook scripts `envkey-hook install` wrote (and only those) from the "
        "directory git runs hooks from, restoring a hook kept as <type>.pre-envkey-hook. The "
        "recorded state in <git dir>/envkey-hook/ and the tool itself stay: see the README's "
        "Uninstall section.",
    ): "envkey-hook",
    ("current.py", "not found (run `uv lock` first)"): "uv",
    ("demo.py", "Bump rtlib to 2.0 and run plain `uv sync` (the bug, astral-sh/uv#16850)"): "uv",
    ("demo.py", "envkey-hook run"): "envkey-hook",
    ("demo.py", "uv sync --reinstall-package extpkg"): "uv",
    ("doctor.py", ", then `uv sync {}` {}"): "uv",
    ("doctor.py", "`uv cache clean {}`"): "uv",
    ("doctor.py", "hint: run `envkey-hook doctor --fix`{}"): "envkey-hook",
    (
        "doctor.py",
        "hint: run `envkey-hook run` (it removes builds made with another toolchain)",
    ): "envkey-hook",
    ("doctor.py", "hint: run `uv sync {}` {}"): "uv",
    ("doctor.py", "hint: stale build state stays: run `{}`"): "fix",
    ("doctor.py", "not found (run `uv lock` first)"): "uv",
    (
        "fix.py",
        "builds with torch's BuildExtension: ninja ignores --force and keeps objects whose "
        "headers carry older mtimes, so each envkey gets its own build-temp directory; run "
        "`envkey-hook fix` again whenever its build inputs move, before `uv sync` (the "
        "envkey-hook-fix pre-commit hook does it at commit time), and keep the purge hook "
        "(envkey-hook run) for moves synced before a commit",
    ): "envkey-hook",
    (
        "fix.py",
        "not counted: its build backend is unknown (no source in uv's cache yet: `uv sync` "
        "first, or --assume-setuptools); meanwhile `envkey-hook run` purges its stale build "
        "state",
    ): "envkey-hook",
    (
        "fix.py",
        "not counted: no envkey for it here (not built from source for this interpreter in "
        "uv.lock; run `uv lock` first); `envkey-hook run` purges its stale build state",
    ): "envkey-hook",
    ("gitstate.py", " (shallow clone? run `git fetch --unshallow`)"): "git",
    ("lockfile.py", "not found (run `uv lock` first)"): "uv",
    ("purge.py", "renamed away but not fully deleted ({}): `envkey-hook run` retries"): (
        "envkey-hook"
    ),
    ("purge.py", "rm -rf -- "): "rm",
    ("purge.py", "uv cache clean {}"): "uv",
    ("report.py", "clear it by hand, then run `envkey-hook run`"): "envkey-hook",
    ("report.py", "{}: the installed copy may hold a stale build (a plain `uv sync` keeps it)"): (
        "uv"
    ),
    ("report.py", "{}: stale build state stays: {}"): "fix",
    ("report.py", "{}: run `{}`"): "next-command",
    ("report.py", "{}: uv reuses the same cached build of "): "toml",
    ("run.py", "envkey-hook run"): "envkey-hook",
    ("run.py", "not found (run `uv lock` first)"): "uv",
    ("run.py", "not inside a git repository (run `git init`, or pass --project)"): "git",
    ("run.py", "uv lock"): "uv",
    ("run.py", "uv sync "): "uv",
    (
        "run.py",
        "{} is out of date: {} changed {} since {}, {} did not; run `uv lock`, then "
        "`envkey-hook run` again (until then the next `uv sync` relocks and builds in what "
        "the old lock left)",
    ): "uv",
    ("status.py", "hint: `envkey-hook doctor --fix` removes the polluted slots"): "envkey-hook",
    ("status.py", "hint: build inputs changed since the last run: `envkey-hook sync`"): (
        "envkey-hook"
    ),
    ("sync.py", "hint: "): "filter",  # sync drops run's hint lines: it reinstalls itself
    (
        "sync.py",
        "note: dry run: uv.lock does not exist yet, nothing compared (a real sync compares "
        "it once `uv lock` has written it)",
    ): "uv",
}

# How each kind is proven valid (the tests of this module that do it).
PROOFS = {
    "toml": ["test_migration_hint_pastes_into_every_form", "test_corpus_pair_hints_are_valid"],
    "uv": ["test_uv_commands_in_hints_are_accepted_by_uv", "test_corpus_pair_hints_are_valid"],
    "envkey-hook": ["test_envkey_hook_commands_in_hints_parse"],
    "next-command": ["test_next_commands_are_valid"],
    "fix": ["test_fix_commands_clear_only_the_stale_state"],
    # (`envkey-hook fix` edits the file itself: test_fix_rewrites_are_read_by_uv.)
    "rm": ["test_fix_commands_clear_only_the_stale_state"],
    "git": ["test_git_commands_in_hints_run"],
    "filter": [],
}

_WANT = re.compile(
    r"\bhint\b[^`]*[:`]|`(?:uv|envkey-hook|git|rm) [^`]*`|^\{\}: (?:run `|stale build|uv reuses)"
    r"|^(?:uv (?:sync|lock|cache clean)|rm -|envkey-hook (?:run|sync|doctor|fix))"
)


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = node.values
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in parts)  # type: ignore[misc]
    return None


def _hint_sites() -> set[tuple[str, str]]:
    """String literals in hook/ that name a command or hint (not docstrings, help texts,
    module constants)."""
    out = set()
    for f in sorted(HOOK.glob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for n in ast.walk(tree):
            body = getattr(n, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                skip.add(id(body[0].value))  # a docstring
            if isinstance(n, ast.keyword) and n.arg in ("help", "description", "epilog"):
                skip.update(id(x) for x in ast.walk(n.value))
            if isinstance(n, ast.JoinedStr):
                skip.update(id(v) for v in n.values)  # the parts of an f-string
            if isinstance(n, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id.isupper() for t in n.targets
            ):
                skip.update(id(x) for x in ast.walk(n.value))  # help texts, tables
        for n in ast.walk(tree):
            text = _literal(n)
            if text is not None and id(n) not in skip and _WANT.search(text):
                out.add((f.name, text))
    return out


def test_every_hint_site_is_covered() -> None:
    """Each place a hint is built is listed with a kind, and each kind has its proof."""
    found = _hint_sites()
    assert sorted(found - set(HINT_SITES)) == [], "new hints: list them with a kind"
    assert sorted(set(HINT_SITES) - found) == [], "listed hints the code no longer has"
    here = globals()
    for kind in set(HINT_SITES.values()):
        assert all(callable(here.get(t)) for t in PROOFS[kind]), kind


def _commands(kind: str, tool: str) -> list[str]:
    """The `tool ...` commands the sites of `kind` name (templates, `{}` unfilled)."""
    out = []
    for (_, text), k in sorted(HINT_SITES.items()):
        if k == kind:
            found = re.findall(rf"`({tool} [^`]*)`", text)
            found += [text.strip()] if text.startswith(f"{tool} ") else []
            assert found, text
            out += found
    return out


# What the code fills in where a uv command has a `{}` (doctor and run join
# `--reinstall-package` options; the rest name one package).
_FILLED = {
    "uv sync {}": "uv sync --reinstall-package extpkg --reinstall-package nv_grouped_gemm",
    "uv cache clean {}": "uv cache clean nv_grouped_gemm",
}


def _uv_accepts(cmd: str, tmp_path: Path) -> str:
    project = tmp_path / "p"
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '0.1'\n")
    proc = show_settings(project, tmp_path / "uv-cache", shlex.split(cmd)[1:])
    assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    assert "warning" not in proc.stderr.lower(), f"{cmd}: {proc.stderr}"
    return proc.stdout


def test_uv_commands_in_hints_are_accepted_by_uv(tmp_path: Path) -> None:
    """Every `uv` command a hint names is accepted by the real uv (its options parsed
    and resolved into settings), the packages named in effect; `uv cache clean` runs."""
    commands = {_FILLED.get(c, c) for c in _commands("uv", "uv")}
    assert all("{}" not in c for c in commands), commands
    for cmd in sorted(commands):
        shown = _uv_accepts(cmd, tmp_path)
        for name in re.findall(r"--reinstall-package (\S+)", cmd):
            assert f'"{canonical_name(name)}"' in shown, (cmd, shown)
    env = fixture.env_for_uv(tmp_path / "uv-cache")
    args = [uv_binary(), *shlex.split(_FILLED["uv cache clean {}"])[1:]]
    clean = subprocess.run(args, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr


def test_next_commands_are_valid(tmp_path: Path) -> None:
    """`run`'s closing hint: a reinstall uv accepts naming each package, `uv lock`, or
    `envkey-hook run` again."""
    from envkey_hook.cli import build_parser
    from envkey_hook.run import Outcome

    o = Outcome(".", "HEAD", "worktree")
    o.stale_installs = ["extpkg", "nv_grouped_gemm"]
    assert o.next_command is not None and o.next_command.startswith("uv sync ")
    shown = _uv_accepts(o.next_command, tmp_path)
    assert '"extpkg"' in shown and '"nv-grouped-gemm"' in shown, shown
    o.lock_out_of_date = "pyproject.toml changed"
    assert o.next_command == "uv lock"
    _uv_accepts(o.next_command, tmp_path)
    o.busy = "uv holds its lock"
    args = shlex.split(o.next_command or "")[1:]
    assert args == ["run"] and build_parser(args).parse_args(args).command == "run"


def test_envkey_hook_commands_in_hints_parse() -> None:
    """Every `envkey-hook` command a hint names is one envkey-hook's parser accepts."""
    from envkey_hook.cli import build_parser

    for cmd in sorted(set(_commands("envkey-hook", "envkey-hook"))):
        args = shlex.split(cmd)[1:]
        assert build_parser(args).parse_args(args).command == args[0], cmd


def test_fix_commands_clear_only_the_stale_state(tmp_path: Path) -> None:
    """The commands a refused or foreign build state comes with, run as printed: the
    setuptools output goes and a user's file stays (a path with a space and a quote);
    `uv cache clean` removes the package's cache entry; `rm --` removes the link only."""
    from envkey_hook import cachelinks, purge

    build = tmp_path / "it's a tree" / "build"
    for name in ("temp.linux-x86_64-cpython-311", "lib.linux-x86_64-cpython-311"):
        (build / name).mkdir(parents=True)
        (build / name / "ext.o").write_text("stale")
    (build / "notes.txt").write_text("mine")
    notice = purge._build_dir(build, "local-build", "extpkg", None, "")
    assert isinstance(notice, purge.Notice) and notice.blocking and notice.fix
    subprocess.run(["sh", "-c", notice.fix], check=True)
    assert sorted(p.name for p in build.iterdir()) == ["notes.txt"]

    removal = purge.Removal(tmp_path / "c" / "x", "build-dir", "nv_grouped_gemm", None, 0, "")
    fix = purge.refusal_notice(removal, "permission denied").fix
    assert fix == "uv cache clean nv_grouped_gemm"
    env = fixture.env_for_uv(tmp_path / "uv-cache")
    from fakecache import entry as cache_entry

    entry = cache_entry(tmp_path / "uv-cache", name="nv-grouped-gemm")
    (tmp_path / "uv-cache" / "CACHEDIR.TAG").write_text(
        "Signature: 8a477f597d28d172789f06886806bc55"
    )
    args = [uv_binary(), *shlex.split(fix)[1:]]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and not entry.exists(), proc.stderr

    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "uv-cache" / "sdists-v11" / "editable" / "ab cd"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    subprocess.run(["sh", "-c", cachelinks.clean_command("extpkg", link)], check=True)
    assert not link.is_symlink() and target.is_dir()


def test_git_commands_in_hints_run(tmp_path: Path) -> None:
    """`git fetch --unshallow` (suggested for a shallow clone) and `git init` run."""
    assert set(_commands("git", "git")) == {"git fetch --unshallow", "git init"}
    origin = tmp_path / "origin"
    origin.mkdir()
    env = fixture.env_for_uv(tmp_path / "uv-cache")
    subprocess.run(["git", "init", "-q"], cwd=origin, check=True, env=env)
    for i in range(2):
        (origin / "f").write_text(str(i))
        _git(origin, "add", "-A", env=env)
        _git(origin, "commit", "-qm", str(i), env=env)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True, env=env
    )
    subprocess.run(["git", "fetch", "-q", "--unshallow"], cwd=clone, check=True, env=env)
    assert not (clone / ".git" / "shallow").exists()


FIX_GOLDEN = Path(__file__).resolve().parent / "golden" / "fix"


@pytest.mark.parametrize(
    "case", sorted(p.name for p in FIX_GOLDEN.iterdir() if (p / "expected").is_dir())
)
def test_fix_rewrites_are_read_by_uv(case: str, tmp_path: Path) -> None:
    """What `envkey-hook fix` writes (its golden results, which test_fix.py checks
    against a real run) is read by uv without a warning, `--force` in effect."""
    project = tmp_path / "project"
    shutil.copytree(FIX_GOLDEN / case / "project", project)
    stored = show_settings(project, tmp_path / "uv-cache")
    shutil.copytree(FIX_GOLDEN / case / "expected", project, dirs_exist_ok=True)
    shown = assert_uv_reads(project, tmp_path / "uv-cache", stored.stderr)
    assert shown.count('"--force"') > stored.stdout.count('"--force"'), shown
