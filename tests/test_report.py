"""Output: colour decisions, the documented JSON schema, and the hint text."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from envkey_hook.envkey import Change
from envkey_hook.purge import Notice, Removal
from envkey_hook.report import Painter, as_json, migration_hint, render_text, use_color
from envkey_hook.run import Outcome

README = Path(__file__).resolve().parents[1] / "README.md"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"CLICOLOR_FORCE": "1"}, False, True),
        ({"CLICOLOR": "0"}, True, False),
        ({"NO_COLOR": ""}, True, True),
    ],
)
def test_colour_decisions(env: dict[str, str], tty: bool, expected: bool) -> None:
    assert use_color(Tty() if tty else io.StringIO(), env) is expected


def outcome() -> Outcome:
    o = Outcome("/p", "HEAD", "worktree")
    o.changes = [
        Change("extpkg", "rtlib", "1.0", "2.0"),
        Change("flash-attn", "torch", "2.6", "2.7", keyed=False),
    ]
    o.removals = [
        Removal(Path("/c/src/build"), "build-dir", "extpkg", Path("/c"), 2048, "d"),
        Removal(Path("/c/abcd"), "polluted-slot", "extpkg", Path("/c"), 1024, "d"),
    ]
    o.notices = [Notice("extpkg", Path("/elsewhere/build"), "outside the repository; left alone")]
    return o


def test_text_report_is_terse_and_ends_with_the_exact_command() -> None:
    out, err = io.StringIO(), io.StringIO()
    render_text([outcome()], 0, out, err)
    lines = out.getvalue().splitlines()
    assert lines[0] == "extpkg: rtlib 1.0 -> 2.0"
    assert lines[1] == "flash-attn: torch 2.6 -> 2.7"
    assert lines[2] == "Removed 1 build directory, 1 polluted slot of extpkg (3.0 KiB)"
    assert lines[-1] == "hint: run `uv sync --reinstall-package extpkg`"
    assert (
        err.getvalue() == "warning: extpkg: /elsewhere/build: outside the repository; left alone\n"
    )
    assert "\033[" not in out.getvalue()


def test_quiet_prints_only_errors_and_verbose_every_path() -> None:
    out, err = io.StringIO(), io.StringIO()
    render_text([outcome()], -1, out, err)
    assert out.getvalue() == ""
    render_text([outcome()], 1, out, err)
    assert "  /c/src/build\n" in out.getvalue() and "  /c/abcd\n" in out.getvalue()


def test_migration_hint_is_valid_toml_to_paste() -> None:
    text = migration_hint([("flash-attn", "torch")], Painter(False))
    assert '  flash-attn = [{ requirement = "torch", match-runtime = true }]' in text.splitlines()


_SCHEMA: dict[str, Any] = {
    "schema": int,
    "exit_code": int,
    "projects": [
        {
            "project": str,
            "baseline": str,
            "target": str,
            "dry_run": bool,
            "message": (str, type(None)),
            "busy": (str, type(None)),
            "changes": [
                {"package": str, "input": str, "old": (str, type(None)), "new": (str, type(None))}
            ],
            "removals": [{"package": str, "kind": str, "path": str, "bytes": int, "detail": str}],
            "notices": [
                {
                    "package": str,
                    "path": str,
                    "message": str,
                    "stale": bool,
                    "fix": (str, type(None)),
                }
            ],
            "migrations": [{"package": str, "runtime": str}],
            "next_command": (str, type(None)),
        }
    ],
}


def check(value: Any, schema: Any, where: str = "$") -> None:
    if isinstance(schema, dict):
        assert isinstance(value, dict) and set(value) == set(schema), (
            f"{where}: keys {sorted(value)}"
        )
        for k, sub in schema.items():
            check(value[k], sub, f"{where}.{k}")
    elif isinstance(schema, list):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check(item, schema[0], f"{where}[{i}]")
    else:
        assert isinstance(value, schema), f"{where}: {value!r}"


def test_json_matches_the_schema_and_the_readme() -> None:
    doc = as_json([outcome()])
    check(doc, _SCHEMA)
    assert doc["exit_code"] == 1 and doc["schema"] == 1
    documented = re.search(r"```json\n(.*?)```", README.read_text(), re.S)
    assert documented is not None
    for key in _SCHEMA["projects"][0]:
        assert f'"{key}"' in documented.group(1), f"README's JSON example lacks {key}"
