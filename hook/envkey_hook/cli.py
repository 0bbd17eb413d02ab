"""Command line: `envkey-hook <command>`."""

from __future__ import annotations

import sys

from envkey_hook import __version__
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, EXIT_USAGE, InputError

# Not `typing.TYPE_CHECKING`: this module is on the no-op path, where every import shows.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

EXIT_INTERNAL = 3

EXIT_CODES = """\
exit codes:
  0  nothing to do, or done
  1  action taken that needs a follow-up (see the hint), or problems found
  2  usage, configuration or input error; nothing was deleted
  3  internal error (a bug in envkey-hook); the message says whether anything was deleted
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's raw-description formatter, told the width as `shutil` would find it.

    Left to find it, argparse imports shutil, and with it bz2 and lzma, for every parser
    built: half a MiB of the changed-lock run's memory budget (issue 5).
    """
    import argparse
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    columns = columns or 80
    return argparse.RawDescriptionHelpFormatter(prog, width=columns - 2)


def _add_common(p: argparse.ArgumentParser) -> None:
    from pathlib import Path

    p.add_argument("--project", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--cache-dir", help="uv cache directory (default: resolved as uv does)")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument("-q", "--quiet", action="count", default=0, help="print errors only")
    p.add_argument("-v", "--verbose", action="count", default=0, help="show every path removed")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; for `run` and the hook commands, without the others' modules.

    The modules behind `fix`, `doctor`, `sync`, `status`, `key` and `state` register their
    own options, so importing them costs every command; `argv` says whether it is needed.
    """
    import argparse

    from envkey_hook import argtypes

    parser = argparse.ArgumentParser(
        prog="envkey-hook",
        description="Purge stale native-extension builds from uv's cache when their build "
        "environment (envkey) changes.",
        epilog=EXIT_CODES,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"envkey-hook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="compare lockfile and settings with a git ref and purge stale build state",
        description="Compare uv.lock and uv's build settings between two states (default: HEAD "
        "and the work tree). For every source-built package whose envkey changed, remove the "
        "stale build state from uv's cache and from in-place source trees.",
        epilog="examples:\n  envkey-hook run\n  envkey-hook run --dry-run -v\n"
        "  envkey-hook run --from main --to HEAD --json\n\n" + EXIT_CODES,
        formatter_class=_formatter,
    )
    _add_common(run)
    run.add_argument(
        "--from", dest="from_ref", default="HEAD", help="baseline git ref (default: HEAD)"
    )
    run.add_argument(
        "--to", dest="to_ref", default=None, help="target git ref (default: the work tree)"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    run.add_argument(
        "--all",
        action="store_true",
        help="purge every source-built package, whatever changed (with or without a baseline)",
    )
    run.add_argument(
        "--python",
        help="interpreter (version or path) to evaluate the lock's markers for (default: the "
        "project's environment, else UV_PYTHON / .python-version, else this one)",
    )
    run.add_argument(
        "--lock-timeout",
        type=argtypes.seconds,
        default=10.0,
        help="seconds to wait for uv's locks (default: 10)",
    )

    demo = sub.add_parser(
        "demo",
        help="reproduce the stale-build bug in a throwaway project and heal it",
        description="Build a throwaway project in a temporary directory (its own uv cache), show "
        "the stale build that uv reuses after a runtime bump, run envkey-hook, and show the "
        "healed build. Needs `uv` and a C compiler.",
        epilog="examples:\n  envkey-hook demo\n  envkey-hook demo --keep",
        formatter_class=_formatter,
    )
    demo.add_argument("--keep", action="store_true", help="keep the temporary directory")
    _add_hook_commands(sub)
    command = next((a for a in argv or () if not a.startswith("-")), None)
    if command not in _CORE_COMMANDS:  # `--help` and every other command list them all
        from envkey_hook import doctor, fix, state, status, sync

        fix.add_parser(sub)
        doctor.add_parser(sub)
        sync.add_parser(sub)
        status.add_parser(sub)  # registers `status` and `key`
        state.add_parser(sub)
    return parser


# Defined in this module, so they parse without importing any other command's module.
_CORE_COMMANDS = ("run", "demo", "hook", "install", "uninstall")


# --- git hook commands (issue 3): `hook`, `install`, `uninstall` ---------------------------

_HOOK_TYPES = ("pre-commit", "post-checkout", "post-merge", "post-rewrite")  # githooks.HOOK_TYPES


def _add_hook_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import argparse

    hook = sub.add_parser(
        "hook",
        help="run from a git hook or pre-commit: work out both states, then `run` per project",
        description="Work out baseline and target from what git (argv, stdin) or pre-commit "
        "(PRE_COMMIT_* variables; STAGE inferred when omitted) passed, then check every uv "
        "project whose uv.lock, pyproject.toml or uv.toml changed. Reports and exits 0 "
        "unless --strict: a hook never fails a checkout for envkey-hook's own reasons.",
        epilog="examples:\n  envkey-hook hook post-checkout <prev> <new> 1\n"
        "  envkey-hook hook    (under pre-commit)\n\n" + EXIT_CODES,
        formatter_class=_formatter,
    )
    hook.add_argument(
        "--strict", action="store_true", help="exit non-zero on errors and when a follow-up is due"
    )
    hook.add_argument("--cache-dir", help="uv cache directory (default: resolved as uv does)")
    hook.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    hook.add_argument("-q", "--quiet", action="count", default=0, help="print errors only")
    hook.add_argument(
        "-v", "--verbose", action="count", default=0, help="say why nothing was done, list paths"
    )
    hook.add_argument(
        "hook_args",
        nargs=argparse.REMAINDER,
        metavar="STAGE [ARGS...]",
        help=f"one of {', '.join(_HOOK_TYPES)}, then the hook's own arguments",
    )
    descriptions = {
        "install": "Install hook scripts in the directory git runs hooks from (core.hooksPath, "
        "or the common git dir for worktrees). An existing hook is kept as "
        "<type>.pre-envkey-hook and runs first; hooks written by pre-commit are refused.",
        "uninstall": "Remove the hook scripts `envkey-hook install` wrote (and only those) "
        "from the directory git runs hooks from, restoring a hook kept as "
        "<type>.pre-envkey-hook. The recorded state in <git dir>/envkey-hook/ and the tool "
        "itself stay: see the README's Uninstall section.",
    }
    for name, verb in (("install", "install"), ("uninstall", "remove")):
        p = sub.add_parser(
            name,
            help=f"{verb} plain git hooks that run `envkey-hook hook` (without pre-commit)",
            epilog=f"examples:\n  envkey-hook {name}\n  envkey-hook {name} -t post-checkout",
            formatter_class=_formatter,
            description=descriptions[name],
        )
        p.add_argument(
            "-t",
            "--hook-type",
            action="append",
            choices=_HOOK_TYPES,
            dest="hook_types",
            help="hook type, repeatable (default: all four)",
        )
        if name == "install":
            p.add_argument("--strict", action="store_true", help="make the hooks run with --strict")


def _hook_command(args: argparse.Namespace) -> int:
    from envkey_hook import githooks, stages

    if args.command == "hook":
        return stages.run_hook(
            args.hook_args,
            strict=args.strict,
            cache_dir=args.cache_dir,
            dry_run=args.dry_run,
            verbosity=args.verbose - args.quiet,
        )
    types = args.hook_types or _HOOK_TYPES
    if args.command == "install":
        return githooks.install(types, strict=args.strict)
    return githooks.uninstall(types)


# --- end of git hook commands --------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from envkey_hook import gitstate, report
    from envkey_hook.run import Options, run

    opts = Options(
        project=args.project,
        from_ref=args.from_ref,
        to_ref=args.to_ref or gitstate.WORKTREE,
        cache_dir=args.cache_dir,
        dry_run=args.dry_run,
        all=args.all,
        lock_timeout=args.lock_timeout,
        python=args.python,
    )
    default = args.from_ref == "HEAD" and args.to_ref is None and not (args.all or args.dry_run)
    default = default and args.python is None
    if not default:
        outcome = run(opts)
    else:
        from envkey_hook import noop_record

        before = noop_record.snapshot(str(args.project))
        outcome = run(opts)
        from_env = any(v == "environment" for k in outcome.envkeys.values() for _, v in k.inputs)
        if before is not None and not from_env:  # an installed runtime: always look again
            noop_record.save(before, outcome)  # lets the next run exit at once (fastpath)
    if args.json:
        report.render_json([outcome])
    else:
        report.render_text([outcome], args.verbose - args.quiet, sys.stdout, sys.stderr)
        if not (outcome.changes or outcome.message or outcome.busy or args.quiet):
            print(NOTHING_CHANGED)
    return outcome.exit_code


# command -> (module, function taking the parsed arguments); imported only when chosen.
_COMMANDS = {
    "fix": ("envkey_hook.fix", "run_fix"),
    "doctor": ("envkey_hook.doctor", "run_doctor"),
    "sync": ("envkey_hook.sync", "run_sync"),
    "status": ("envkey_hook.status", "run_status"),
    "key": ("envkey_hook.status", "run_key"),
    "state": ("envkey_hook.state", "run_state"),
}


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        from envkey_hook.demo import main as demo_main

        return demo_main(keep=args.keep)
    if args.command in ("hook", "install", "uninstall"):
        return _hook_command(args)
    import importlib

    module, func = _COMMANDS[args.command]
    result: int = getattr(importlib.import_module(module), func)(args)
    return result


def _tolerate_undecodable_paths() -> None:
    """Paths with bytes that are not UTF-8 reach Python as lone surrogates; printed to a
    strict UTF-8 stdout they raised after the deletions, losing the report and the hint.
    They are written back as the original bytes (stderr already escapes them)."""
    out = sys.stdout
    reconfigure = getattr(out, "reconfigure", None)
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if reconfigure is not None and encoding == "utf8":
        try:  # noqa: SIM105 - no contextlib import on the no-op path
            reconfigure(errors="surrogateescape")
        except (ValueError, OSError):  # pragma: no cover - a detached or closed stream
            pass


def _command_parser(
    parser: argparse.ArgumentParser, command: str | None
) -> argparse.ArgumentParser:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            chosen: argparse.ArgumentParser = action.choices[command]
            return chosen
    return parser


def _check_project(project: object) -> None:
    """`--project` must name a directory: a missing one is not "not a git repository"."""
    import os

    if project is None or os.path.isdir(str(project)):
        return
    path = os.path.abspath(str(project))
    problem = "not a directory" if os.path.lexists(path) else "does not exist"
    raise InputError(path, f"{problem} (--project)")


NOTHING_CHANGED = "No build input changed"


def entry() -> None:
    """The `envkey-hook` command (and `python -m envkey_hook`): `main`, then out at once.

    A command is one short process. On a changed lock, the collector's passes over the
    two locks read (no cycles among them) and the interpreter's teardown freeing them are
    ~10% of the run: the collector is off, and the process ends once its output is out.
    """
    import gc
    import os

    gc.disable()
    code = main()  # SystemExit (argparse's --help, usage errors) ends the usual way
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: Python's own exit reports it, as it would have
        sys.exit(code)
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    from envkey_hook import fastpath

    argv = list(sys.argv[1:] if argv is None else argv)
    _tolerate_undecodable_paths()
    if fastpath.try_noop(argv):
        # a record shows nothing changed since a clean run: no parsing at all
        if not any(a in ("-q", "--quiet") or a.startswith("-q") for a in argv):
            print(NOTHING_CHANGED)
        return EXIT_OK
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # in the chosen command's words, not the top-level usage
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        _check_project(getattr(args, "project", None))
        return _dispatch(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ACTION
    except Exception as exc:  # noqa: BLE001 - the user gets one line, never a traceback
        remove = sys.modules.get("envkey_hook.remove")
        begun = getattr(remove, "begun", 0)
        done = (
            f"{begun} removal(s) had begun: run `envkey-hook run -v` again"
            if begun
            else "nothing was deleted"
        )
        print(
            f"error: internal error: {type(exc).__name__}: {exc} (please report); {done}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
