"""`envkey-hook fix`: golden rewrites, properties, exit codes, atomic writes, real uv."""

from __future__ import annotations

import argparse
import difflib
import io
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e_helpers import Project
from envkey_hook import backend as backend_mod
from envkey_hook import fix, fixedit, fixture, tomlcompat
from envkey_hook.names import canonical_name

GOLDEN = Path(__file__).parent / "golden" / "fix"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "project").is_dir())
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # regenerate expected files


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="envkey-hook")
    fix.add_parser(parser.add_subparsers(dest="command"))
    code = fix.run_fix(parser.parse_args(["fix", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- golden files ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_golden(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = GOLDEN / case
    project = tmp_path / "project"
    shutil.copytree(src / "project", project)
    cache = tmp_path / "cache"
    if (src / "cache").is_dir():
        shutil.copytree(src / "cache", cache)
    else:
        cache.mkdir()
    before = snapshot(project)
    monkeypatch.chdir(project)

    # Without a cache no backend can be read: the rewrite mechanics are tested as
    # for a package known to be plain setuptools.
    argv = ["--cache-dir", str(cache)] + (
        [] if (src / "cache").is_dir() else ["--assume-setuptools"]
    )
    code, out, err = run(argv, capsys)
    assert err == ""
    after = snapshot(project)
    changed = {name: data for name, data in after.items() if before.get(name) != data}
    expected_dir = src / "expected"
    report = f"exit {code}\n{out}"
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for name, data in changed.items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_bytes(data)
        (src / "output.txt").write_text(report)
    expected = snapshot(expected_dir) if expected_dir.is_dir() else {}
    assert changed == expected
    assert report == (src / "output.txt").read_text()
    assert code == (1 if expected else 0)

    # Idempotent: a second run changes nothing and exits 0.
    code, out, _ = run(argv, capsys)
    assert (code, snapshot(project)) == (0, after)
    assert "fix" not in out


# --- the property: the rewrite adds exactly the new key ---------------------------------

comment = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
ws = st.sampled_from(["", " ", "  "])


@st.composite
def projects(draw: st.DrawFn) -> tuple[str, str]:
    """A pyproject.toml with [tool.uv] in a random style; returns (text, package spelling)."""
    pkg = draw(st.sampled_from(["extpkg", "flash-attn", "fast_jl", "zope.interface"]))
    key = f'"{pkg}"' if "." in pkg or draw(st.booleans()) else pkg
    eq = draw(ws) + "=" + draw(ws)

    def c() -> str:
        return f"  # {draw(comment)}" if draw(st.booleans()) else ""

    existing = draw(
        st.sampled_from(
            [
                None,
                '"--foo" = "x"',
                '"--build-option" = "--cpp_ext"',
                '"--build-option" = [\'--a\', "--b"]',
                '"--build-option" = [\n    "--a",  # why\n]',
                '"--build-option" = ["build_ext"]',
                '"--global-option" = "-v"',
            ]
        )
    )
    style = draw(st.sampled_from(["none", "table", "inline", "dotted", "headers"]))
    if "\n" in (existing or "") and style in ("inline", "dotted"):
        existing = '"--build-option" = ["--a"]'  # inline tables are single-line in TOML 1.0
    other = draw(st.booleans())
    uv_lines = [f"[tool.uv]{c()}", f"package{eq}false{c()}"]
    tables: list[str] = []
    if style == "table":
        body = [f'other-pkg = {{ "--x" = "1" }}{c()}'] if other else []
        if existing:
            body.append(f"{key}{eq}{{ {existing} }}{c()}")
        tables.append("\n".join(["[tool.uv.config-settings-package]", *body]))
    elif style == "inline":
        items = ['other-pkg = { "--x" = "1" }'] if other else []
        if existing:
            items.append(f"{key} = {{ {existing} }}")
        uv_lines.append(f"config-settings-package{eq}{{ {', '.join(items)} }}{c()}")
    elif style == "dotted":
        if other:
            uv_lines.append(f'config-settings-package.other-pkg."--x"{eq}"1"{c()}')
        if existing:
            k, v = existing.split(" = ", 1)
            uv_lines.append(f"config-settings-package.{key}.{k}{eq}{v}{c()}")
    elif style == "headers":
        if other:
            tables.append('[tool.uv.config-settings-package.other-pkg]\n"--x" = "1"')
        if existing:
            tables.append(f"[tool.uv.config-settings-package.{key}]{c()}\n{existing}")
    ebd = f'{key}{eq}[{{ requirement = "rtlib", match-runtime = true }}]'
    if draw(st.booleans()):
        uv_lines.append(f"extra-build-dependencies = {{ {ebd} }}{c()}")
    else:
        table = f"[tool.uv.extra-build-dependencies]\n{ebd}{c()}"
        tables.insert(draw(st.integers(0, len(tables))), table)
    sections = ["\n".join(uv_lines), *tables]
    if draw(st.booleans()):  # anywhere after [tool.uv]: out-of-order tables too
        ruff = f"[tool.ruff]{c()}\nline-length = 100"
        sections.insert(draw(st.integers(1, len(sections))), ruff)
    head = f'# {draw(comment)}\n[project]\nname = "app"{c()}\n'
    gap = draw(st.sampled_from(["\n", "\n\n"]))
    return head + gap + gap.join(s + "\n" for s in sections), pkg


def expected_data(text: str, pkg: str) -> dict[str, object]:
    data = tomlcompat.loads(text, "pyproject.toml")
    csp = data["tool"]["uv"].setdefault("config-settings-package", {})
    key = next((k for k in csp if canonical_name(k) == canonical_name(pkg)), pkg)
    own = csp.setdefault(key, {})
    old = own.get("--build-option", [])
    own["--build-option"] = ([old] if isinstance(old, str) else old) + ["build_ext", "--force"]
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projects())
def test_rewrite_adds_exactly_the_new_key(case: tuple[str, str]) -> None:
    text, pkg = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pyproject.toml"
        path.write_text(text)
        env = {"UV_CACHE_DIR": str(Path(tmp) / "cache")}
        out = io.StringIO()
        assert fix.fix(Path(tmp), env=env, out=out, assume_setuptools=True) == 1
        new = path.read_text()
        assert tomlcompat.loads(new, path) == expected_data(text, pkg)
        # Every original line survives, except at most the one holding the edited value.
        old_lines, new_lines = text.splitlines(), new.splitlines()
        ops = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
        assert sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag in ("delete", "replace")) <= 1, new
        assert fix.fix(Path(tmp), env=env, out=out, assume_setuptools=True) == 0
        assert path.read_text() == new


# --- exit codes, --check, refusals, bad input ----------------------------------------

PROJECT = """\
[tool.uv.extra-build-dependencies]
extpkg = [{ requirement = "rtlib", match-runtime = true }]
"""


def test_check_reports_and_edits_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    assume = ["--assume-setuptools", "--project", str(tmp_path)]
    code, out, err = run(["--check", *assume], capsys)
    assert code == 1 and err == ""
    path = tmp_path / "pyproject.toml"
    assert f'would fix {path}: extpkg: add "--build-option" = ["build_ext", "--force"]' in out
    assert (tmp_path / "pyproject.toml").read_text() == PROJECT
    assert run(assume, capsys)[0] == 1
    assert run(["--check", *assume], capsys)[:2] == (0, "")


def test_unknown_backend_is_reported_not_due(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 7: no source to read the backend from: a note, exit 0, no edit."""
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    for argv in (["--check"], []):
        code, out, err = run([*argv, "--project", str(tmp_path)], capsys)
        assert (code, err) == (0, "")
        assert out.startswith("note: extpkg: not counted: its build backend is unknown")
        assert "envkey-hook run" in out and "fix" not in out.split("\n", 1)[1]
    assert (tmp_path / "pyproject.toml").read_text() == PROJECT


def test_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert run(["--project", str(tmp_path)], capsys) == (0, "", "")
    assert run(["--check", "--project", str(tmp_path)], capsys) == (0, "", "")


@pytest.mark.parametrize(
    ("var", "value", "stage"),
    [
        ("PRE_COMMIT_CHECKOUT_TYPE", "1", "post-checkout"),
        ("PRE_COMMIT_IS_SQUASH_MERGE", "0", "post-merge"),
        ("PRE_COMMIT_REWRITE_COMMAND", "rebase", "post-rewrite"),
    ],
)
def test_refuses_in_post_stages(
    var: str,
    value: str,
    stage: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    monkeypatch.setenv(var, value)
    for argv in (["--project", str(tmp_path)], ["--check", "--project", str(tmp_path)]):
        code, out, err = run(argv, capsys)
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and err.startswith("error: ") and stage in err
    assert (tmp_path / "pyproject.toml").read_text() == PROJECT


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"pyproject.toml": "[tool.uv\n"}, "pyproject.toml: invalid TOML"),
        ({"pyproject.toml": "a = 1\na = 2\n"}, "pyproject.toml: invalid TOML"),
        ({"pyproject.toml": b"\xff\xfe"}, "pyproject.toml: not UTF-8"),
        (
            {"uv.toml": "[extra-build-dependencies\n", "pyproject.toml": PROJECT},
            "uv.toml: invalid TOML",
        ),
        ({}, "pyproject.toml: not found"),
        ({"pyproject.toml": "[tool]\nuv = 3\n"}, "tool.uv: expected a table"),
        (
            {"pyproject.toml": PROJECT + "[tool.uv.config-settings-package]\nextpkg = 1\n"},
            "config-settings-package.extpkg: expected a table",
        ),
        (
            {
                "pyproject.toml": PROJECT
                + '[tool.uv.config-settings-package]\nextpkg = { "--build-option" = 1 }\n'
            },
            "expected a string or a list",
        ),
        (
            {
                "pyproject.toml": PROJECT
                + '[tool.uv.config-settings-package]\nextpkg = { "--global-option" = [1] }\n'
            },
            "expected a string or a list",
        ),
        (
            {
                "pyproject.toml": PROJECT
                + "[tool.uv]\nbuild-constraint-dependencies = ['setuptools<<1']\n"
            },
            "invalid requirement",
        ),
        (
            {
                "pyproject.toml": PROJECT.replace("extpkg", "ext")
                + "[tool.uv]\nno-build-isolation-package = ['ext']\n",
                "uv.lock": "version = [\n",
            },
            "uv.lock: invalid TOML",
        ),
    ],
)
def test_bad_input(
    files: dict[str, str | bytes], problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (tmp_path / name).write_bytes(data)
    before = snapshot(tmp_path)
    code, out, err = run(["--assume-setuptools", "--project", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and problem in err, err
    assert snapshot(tmp_path) == before


def test_help_names_both_remedies(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["--help"], capsys)
    out = capsys.readouterr().out
    for phrase in (
        "build_ext",
        "--global-option",
        "69.1.1",
        "ninja",
        "scikit-build-core",
        "envkey-hook run",
        "--check",
    ):
        assert phrase in out


# --- atomic write -------------------------------------------------------------------


def test_keeps_mode_and_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real.toml"
    real.write_text(PROJECT)
    real.chmod(0o640)
    (tmp_path / "pyproject.toml").symlink_to("real.toml")
    assert run(["--assume-setuptools", "--project", str(tmp_path)], capsys)[0] == 1
    assert (tmp_path / "pyproject.toml").is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert "build_ext" in real.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml", "real.toml"]


@pytest.mark.parametrize("fail", ["mkstemp", "fsync", "replace"])
def test_failed_write_leaves_original(
    fail: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(PROJECT)

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    target = {
        "mkstemp": (tempfile, "mkstemp"),
        "fsync": (fix.os, "fsync"),
        "replace": (fix.os, "replace"),
    }[fail]
    monkeypatch.setattr(*target, boom)
    code, _, err = run(["--assume-setuptools", "--project", str(tmp_path)], capsys)
    assert code == 2
    assert err == f"error: {tmp_path / 'pyproject.toml'}: cannot write: No space left on device\n"
    assert snapshot(tmp_path) == {"pyproject.toml": PROJECT.encode()}  # no temp file left


def test_self_check_refuses_a_wrong_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should tomlkit ever render more than the new key, nothing is written (exit 3 in cli)."""
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    real = fixedit.apply_edits
    monkeypatch.setattr(fixedit, "apply_edits", lambda *a: real(*a).replace("rtlib", "rtlib2"))
    with pytest.raises(RuntimeError, match="nothing written"):
        env = {"UV_CACHE_DIR": str(tmp_path / "cache")}
        fix.fix(tmp_path, env=env, out=io.StringIO(), assume_setuptools=True)
    assert snapshot(tmp_path) == {"pyproject.toml": PROJECT.encode()}


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    tmp_path.chmod(0o555)
    try:
        code, _, err = run(["--assume-setuptools", "--project", str(tmp_path)], capsys)
    finally:
        tmp_path.chmod(0o755)
    assert code == 2 and "cannot write: Permission denied" in err
    assert snapshot(tmp_path) == {"pyproject.toml": PROJECT.encode()}


# --- deciding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "build_option"),
    [
        ([], True),
        ([">=40"], True),
        (["<70"], True),
        (["~=69.0"], True),
        (["==69.1.1"], True),
        ([">=70", "<75"], True),
        (["<69.1.1"], False),
        (["<=69.1.0"], False),
        (["==68.2.2"], False),
        (["==69.0.*"], False),
        (["<69"], False),
        ([">=60,<69.1"], False),
    ],
)
def test_allows_build_option(specs: list[str], build_option: bool) -> None:
    assert fix.allows_build_option(specs) is build_option


WRAPPER = '[build-system]\nrequires = ["{req}"]\nbuild-backend = "be"\nbackend-path = ["."]\n'


@pytest.mark.parametrize(
    ("pyproject", "backend"),
    [
        (None, "setuptools"),  # no pyproject.toml: legacy setup.py
        ('[project]\nname = "x"\n', "setuptools"),
        ('[build-system]\nrequires = ["setuptools"]\n', "setuptools"),
        ('[build-system]\nbuild-backend = "setuptools.build_meta:__legacy__"\n', "setuptools"),
        (WRAPPER.format(req="setuptools>=64"), "setuptools"),
        (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
            "hatchling.build",
        ),
        (WRAPPER.format(req="torch"), "be"),
    ],
)
def test_read_backend(pyproject: str | None, backend: str, tmp_path: Path) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    found = backend_mod.read_tree(tmp_path)
    assert found is not None and found.name == backend
    assert backend_mod.read_tree(tmp_path / "missing") is None


def test_fixed_project_rebuilds_after_runtime_bump(
    tmp_path: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = fixture.write_runtime_wheels(tmp_path / "links")
    fixture.ext_sdist(links)
    original = fixture.project_pyproject(
        "extpkg",
        "1.0",
        find_links=[str(wheelhouse), str(links)],  # setuptools comes from the wheelhouse
        extra_uv="no-index = true\n",
        requires_python=f">={sys.version_info[0]}.{sys.version_info[1]}",
    )
    project = Project(tmp_path / "project", Path(os.environ["UV_CACHE_DIR"]))
    project.root.mkdir()
    project.pyproject.write_text(original)

    # Nothing in uv's cache yet: the backend is unknown; the user vouches for it.
    assert run(["--check", "--project", str(project.root)], capsys)[0] == 0
    code, out, _ = run(["--assume-setuptools", "--project", str(project.root)], capsys)
    assert code == 1 and 'extpkg: added "--build-option" = ["build_ext", "--force"]' in out
    assert project.pyproject.read_text().startswith(original)  # only appended to

    project.lock()
    project.sync()
    assert project.built_against() == ("1.0", "1.0")
    assert run(["--project", str(project.root)], capsys)[:2] == (0, "")  # with the real lock

    # uv's cache now holds extpkg's sdist: its backend is known (setuptools).
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "pyproject.toml").write_text(original)
    code, out, _ = run(["--check", "--project", str(probe)], capsys)
    assert code == 1 and "backend unknown" not in out and '"--build-option"' in out

    project.edit("rtlib==1.0", "rtlib==2.0")
    project.lock()
    project.sync()  # plain: no purge, no --reinstall
    assert project.built_against() == ("2.0", "2.0")


def test_build_temp_dir_leaves_out_its_own_option() -> None:
    """The directory's name is a fixed point: writing it does not change it."""
    from envkey_hook.envkey import EnvKey

    base = (("rtlib", "1.0"), ("version", "0.1"))
    plain = EnvKey("extpkg", base)
    own = EnvKey("extpkg", (*base, ("config-settings --build-option", '["build_ext"]')))
    other = EnvKey("extpkg", (("rtlib", "2.0"), ("version", "0.1")))
    name = fix.build_temp_dir(plain)
    assert name.startswith("build/temp.envkey-") and len(name) == len("build/temp.envkey-") + 16
    assert fix.build_temp_dir(own) == name != fix.build_temp_dir(other)
