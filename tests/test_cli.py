"""The command line surface: every subcommand documents examples; `python -m` works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


ENTRY = "import sys\nfrom envkey_hook import cli\ncli.main = lambda: {body}\ncli.entry()\n"


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_the_command_ends_with_mains_code_and_all_its_output(code: int) -> None:
    """`entry` skips the interpreter's teardown: buffered output must be out first."""
    body = f"(print('x' * 100_000), print('y' * 70_000, file=sys.stderr), {code})[-1]"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY.format(body=body)], capture_output=True, text=True, env=env
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        code,
        "x" * 100_000 + "\n",
        "y" * 70_000 + "\n",
    )


def test_the_command_on_a_closed_pipe_ends_as_python_ends_it() -> None:
    """Output still buffered when the reader has gone: what `sys.exit(main())` gives."""

    def ends(script: str) -> tuple[int, str]:
        read, write = os.pipe()
        os.close(read)
        try:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
            proc = subprocess.run(
                [sys.executable, "-c", script],
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        finally:
            os.close(write)
        return proc.returncode, proc.stderr.splitlines()[-1]

    body = "(sys.stdout.write('x'), 0)[-1]"  # no newline: still in the buffer
    plain = ENTRY.format(body=body).replace("cli.entry()", "sys.exit(cli.main())")
    assert (
        ends(ENTRY.format(body=body))
        == ends(plain)
        == (120, "BrokenPipeError: [Errno 32] Broken pipe")
    )


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "sync", "doctor"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "-0.5", "soon"])
def test_lock_timeout_must_be_finite_and_not_negative(
    command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nan` and `inf` waited forever on a busy lock, a negative value made no sense: all
    are usage errors (exit 2), told before anything is read or locked."""
    parser = cli.build_parser([command])  # parse only: never runs the command
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([command, f"--lock-timeout={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--lock-timeout" in err and value in err
    assert "Traceback" not in err


def test_lock_timeout_zero_means_try_once() -> None:
    args = cli.build_parser(["run"]).parse_args(["run", "--lock-timeout", "0"])
    assert args.lock_timeout == 0.0


def test_uninstall_help_describes_uninstall(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["uninstall", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Remove the hook scripts `envkey-hook install` wrote" in text
    assert "refused" not in text and "runs first" not in text  # install's words


def test_unknown_option_shows_the_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--frm", "main"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: envkey-hook run ") and "--from FROM_REF" in err
    assert err.splitlines()[-1] == "envkey-hook run: error: unrecognized arguments: --frm main"


@pytest.mark.parametrize("command", ["run", "status", "key", "state", "doctor", "sync", "fix"])
@pytest.mark.parametrize("kind", ["missing", "file"])
def test_project_that_is_not_a_directory_is_named(
    command: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "not inside a git repository" (run) or "not a directory" for a missing one."""
    project = tmp_path / "nope"
    if kind == "file":
        project.write_text("")
    assert cli.main([command, "--project", str(project)]) == 2
    problem = "does not exist" if kind == "missing" else "not a directory"
    assert capsys.readouterr().err == f"error: {project}: {problem} (--project)\n"
    assert not project.exists() or project.is_file()
