"""The command line surface: every subcommand documents examples; `python -m` works."""

from __future__ import annotations

import subprocess
import sys

import pytest

from envkey_hook import cli

COMMANDS = [
    "run",
    "demo",
    "fix",
    "doctor",
    "sync",
    "status",
    "key",
    "state",
    "hook",
    "install",
    "uninstall",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_help_shows_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert f"envkey-hook {command}" in text.split("examples:", 1)[1]


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "envkey_hook", "--version"], capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout.split()[0]) == (0, "envkey-hook")


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
