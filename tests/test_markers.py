"""markers.py gives packaging's answer for every marker, in every environment.

The fast evaluator covers the shapes uv writes into `resolution-markers`; anything
else goes to packaging. Either way the result must be packaging's, so each test
compares with `packaging.markers.Marker` directly.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker, default_environment

from e2e_helpers import BIG_TORCH
from envkey_hook import markers

TESTS = Path(__file__).parent

BASE = {k: str(v) for k, v in default_environment().items()}


def env(**values: str) -> dict[str, str]:
    return {**BASE, **values}


ENVIRONMENTS = [
    env(
        python_full_version=v,
        python_version=".".join(v.split(".")[:2]),
        sys_platform=p,
        platform_system=s,
        platform_machine=m,
    )
    for v in ("3.9.18", "3.10.0", "3.11.7", "3.12.1", "3.13.0", "3.14.2", "3.15.0", "3.14")
    for p, s, m in (
        ("linux", "Linux", "x86_64"),
        ("linux", "Linux", "aarch64"),
        ("win32", "Windows", "AMD64"),
        ("darwin", "Darwin", "arm64"),
        ("emscripten", "Emscripten", "wasm32"),
    )
] + [env(python_full_version="3.14.0rc1", python_version="3.14"), env(os_name="nt")]


def packaging_says(marker: str, environment: dict[str, str]) -> object:
    try:
        return Marker(marker).evaluate(dict(environment))
    except Exception as exc:  # noqa: BLE001 - the exception type is the answer
        return type(exc)


def ours(marker: str, environment: dict[str, str]) -> object:
    try:
        return markers.evaluate(marker, environment)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


def lock_markers() -> list[str]:
    """Every marker string in the real locks at hand (big-torch and tests/data)."""
    found: set[str] = set()
    paths = sorted(TESTS.glob("data/locks/*.lock"))
    paths += sorted(BIG_TORCH.glob("*/uv.lock"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        found.update(re.findall(r'^    "(.*)",$', text, re.M))  # resolution-markers
        found.update(re.findall(r'marker = "([^"]*)"', text))
    return sorted(m.replace('\\"', '"') for m in found)


def test_the_real_locks_hold_markers_of_uvs_shape() -> None:
    found = lock_markers()
    assert len(found) > 50, "the corpus lost its markers"
    assert any("python_full_version" in m and " and " in m for m in found)


@pytest.mark.parametrize(
    "environment", ENVIRONMENTS, ids=lambda e: f"{e['python_full_version']}-{e['sys_platform']}"
)
def test_every_marker_in_the_real_locks_agrees_with_packaging(environment: dict[str, str]) -> None:
    for marker in lock_markers():
        assert ours(marker, environment) == packaging_says(marker, environment), marker


VARS = [
    "python_version",
    "python_full_version",
    "implementation_version",
    "sys_platform",
    "platform_machine",
    "platform_system",
    "os_name",
    "implementation_name",
    "platform_release",
    "extra",
    "platform_python_implementation",
    "unknown_var",
]
VALUES = [
    "3",
    "3.11",
    "3.11.0",
    "3.14.*",
    "3.1.*",
    "3.10.7",
    "3.9",
    "4",
    "0",
    "3.11.0rc1",
    "linux",
    "win32",
    "Linux",
    "x86_64",
    "cpython",
    "v1",
    "1.0",
    "",
    "nt",
    "posix",
    "6.1.0",
    "3.11+local",
    "1!2",
]
OPS = ["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in"]


@st.composite
def marker_texts(draw: st.DrawFn, depth: int = 0) -> str:
    if depth < 2 and draw(st.booleans()):
        left = draw(marker_texts(depth + 1))
        right = draw(marker_texts(depth + 1))
        joined = f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
        return f"({joined})" if draw(st.booleans()) else joined
    var, op, value = (
        draw(st.sampled_from(VARS)),
        draw(st.sampled_from(OPS)),
        draw(st.sampled_from(VALUES)),
    )
    quote = draw(st.sampled_from(["'", "'", '"']))
    if draw(st.integers(0, 9)) == 0:
        return f"{quote}{value}{quote} {op} {var}"  # reversed: packaging's job
    return f"{var} {op} {quote}{value}{quote}"


@settings(max_examples=400, deadline=None)
@given(marker_texts(), st.sampled_from(ENVIRONMENTS))
def test_generated_markers_agree_with_packaging(marker: str, environment: dict[str, str]) -> None:
    assert ours(marker, environment) == packaging_says(marker, environment)


def for_sets(marker: str, environment: dict[str, str], sets: list[frozenset[str]]) -> object:
    """`residual` + `holds_for` as one answer per set of extras (or the exception type)."""
    try:
        bits = markers.holds_for(markers.residual(marker, environment), sets)
    except Exception as exc:  # noqa: BLE001
        return type(exc)
    return [bool(bits >> i & 1) for i in range(len(sets))]


def each_set(marker: str, environment: dict[str, str], sets: list[frozenset[str]]) -> object:
    try:
        return [markers.evaluate(marker, environment, s) for s in sets]
    except Exception as exc:  # noqa: BLE001
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(
    marker_texts(),
    st.sampled_from(ENVIRONMENTS),
    st.lists(st.frozensets(st.sampled_from(VALUES), max_size=4), min_size=1, max_size=6),
)
def test_a_residual_answers_as_evaluate_for_every_set_of_extras(
    marker: str, environment: dict[str, str], sets: list[frozenset[str]]
) -> None:
    """The install plan decides a marker once per environment and then only its `extra`
    tests per scenario: the answers (and the errors) must be evaluate's."""
    assert for_sets(marker, environment, sets) == each_set(marker, environment, sets)


def test_a_residual_of_a_conflict_marker_answers_as_evaluate() -> None:
    a, b = "extra-5-proj-a", "extra-5-proj-b"
    marker = (
        f"(sys_platform == 'linux' and extra == '{a}' and extra != '{b}')"
        f" or (sys_platform != 'linux' and extra == '{b}') or python_full_version < '3.0'"
    )
    sets = [frozenset(), frozenset([a]), frozenset([b]), frozenset([a, b])]
    for environment in ENVIRONMENTS:
        assert for_sets(marker, environment, sets) == each_set(marker, environment, sets)
    assert for_sets(marker, BASE, sets) == [False, True, False, False]
    # a comparison that raises raises for every set, though another one decides first
    for raising in (
        f"sys_platform == 'linux' or extra == '{a}' or platform_release >= '6'",
        f"sys_platform != 'linux' and extra == '{a}' and platform_release >= '6'",
    ):
        assert for_sets(raising, BASE, sets) is each_set(raising, BASE, sets) is ValueError


@pytest.mark.parametrize(
    "text",
    ["", "and", "python_version >", "(python_version == '3')", "python_version == '3' garbage"],
)
def test_malformed_markers_fail_as_packaging_fails(text: str) -> None:
    assert ours(text, BASE) == packaging_says(text, BASE)


def test_environment_is_packagings_default_environment() -> None:
    assert markers.environment() == BASE


def test_environment_asks_platform_where_os_uname_is_not_its_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import platform

    monkeypatch.setattr(platform, "system", lambda: "iOS")
    monkeypatch.setattr(sys, "platform", "ios")
    got = markers.environment()
    assert (got["platform_system"], got["sys_platform"]) == ("iOS", "ios")
    assert {k: v for k, v in got.items() if k not in ("platform_system", "sys_platform")} == {
        k: v for k, v in BASE.items() if k not in ("platform_system", "sys_platform")
    }


def test_environment_takes_the_python_version_from_the_project_venv(tmp_path: Path) -> None:
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.15.0.final.0\n")
    got = markers.environment(str(tmp_path))
    assert (got["python_full_version"], got["python_version"]) == ("3.15.0", "3.15")


def test_uvs_fork_markers_need_no_packaging() -> None:
    """The speed of a changed lock rests on this: no fork marker falls back."""
    path = BIG_TORCH / "after" / "uv.lock"
    forks = set(re.findall(r'^    "(.*)",$', path.read_text(encoding="utf-8"), re.M))
    forks = {m for m in forks if "python" in m or "platform" in m}
    assert len(forks) > 10
    for marker in forks:
        markers._evaluate(marker, BASE, None)  # raises _Unsupported on a fallback
