"""`envkey-hook sync [-- UV_SYNC_ARGS]`: what to type instead of `uv sync`.

1. `uv lock` when `uv lock --check` says the lock is out of date (skipped with
   `--locked`/`--frozen`, which ask uv not to touch it);
2. the detection and purge of `envkey-hook run`, against HEAD and the recorded state;
3. `uv sync --no-active --reinstall-package <each affected package> UV_SYNC_ARGS`:
   `--no-active` so that a surrounding virtualenv (pre-commit's own) is ignored, the
   reinstalls because uv keeps an installed package whose build record still matches;
4. once uv succeeded, record the envkeys the cache is now reconciled for.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from envkey_hook import argtypes
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, InputError

if TYPE_CHECKING:
    from envkey_hook.run import Outcome

DESCRIPTION = """\
Run uv sync so that no stale native-extension build gets installed: relock when
`uv lock --check` says the lock is out of date, purge the build state of every
source-built package whose build inputs changed since HEAD or since the state
recorded by the last successful run or sync, then run

    uv sync --no-active --reinstall-package <each affected package> UV_SYNC_ARGS

and record the new state. Arguments after `--` go to uv sync unchanged.
"""

EPILOG = """\
exit codes:
  0  synced
  1  a uv lock was busy (nothing deleted, nothing synced), or --dry-run found work
  2  input error
  n  the exit code of a uv command that failed

examples:
  envkey-hook sync
  envkey-hook sync -- --all-extras --group dev
  envkey-hook sync --dry-run
"""

_NO_RELOCK = ("--locked", "--frozen")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `sync` subcommand."""
    p = subparsers.add_parser(
        "sync",
        help="`uv sync` guarded: relock, purge stale builds, sync and reinstall what was purged",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--project", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--cache-dir", help="uv cache directory (also passed to uv)")
    p.add_argument(
        "--dry-run", action="store_true", help="show what would be purged and run; change nothing"
    )
    p.add_argument(
        "--lock-timeout", type=argtypes.seconds, default=10.0, help="seconds to wait for uv's locks"
    )
    p.add_argument("-q", "--quiet", action="count", default=0, help="print errors only")
    p.add_argument("-v", "--verbose", action="count", default=0, help="show every path removed")
    p.add_argument(
        "uv_args",
        nargs=argparse.REMAINDER,
        metavar="-- UV_SYNC_ARGS",
        help="arguments for uv sync, after `--`",
    )


def find_uv(env: Mapping[str, str]) -> str:
    """The uv to run: `$UV` (set by `uv run`), then PATH, then next to this Python."""
    candidates = [env.get("UV"), shutil.which("uv")]
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    candidates.append(str(beside) if beside.is_file() else None)
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise InputError("uv", "not found on PATH (install it: https://docs.astral.sh/uv/)")


def _uv_args(raw: Sequence[str]) -> list[str]:
    args = list(raw)
    return args[1:] if args[:1] == ["--"] else args


def _cache_arg(uv_args: Sequence[str]) -> str | None:
    """`--cache-dir` given to uv sync: the purge must look at the same cache."""
    for i, a in enumerate(uv_args):
        if a == "--cache-dir" and i + 1 < len(uv_args):
            return uv_args[i + 1]
        if a.startswith("--cache-dir="):
            return a.split("=", 1)[1]
    return None


def _show(cmd: Sequence[str], err: TextIO, quiet: bool) -> None:
    if not quiet:
        print("+ " + shlex.join(["uv", *cmd[1:]]), file=err)


def _relock(
    uv: str, project: Path, cache: list[str], dry_run: bool, quiet: bool, err: TextIO
) -> int:
    """`uv lock` if `uv lock --check` fails; uv's exit code."""
    check = subprocess.run([uv, "lock", "--check", *cache], cwd=project, capture_output=True)
    if check.returncode == 0:
        return 0
    cmd = [uv, "lock", *cache]
    _show(cmd, err, quiet)
    if dry_run:
        return 0
    return subprocess.run(cmd, cwd=project).returncode


def run_sync(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`envkey-hook sync`."""
    from envkey_hook import gitstate
    from envkey_hook.run import Options, run, save_record

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    quiet = args.quiet > 0
    project = Path(args.project).resolve()
    if not project.is_dir():
        raise InputError(project, "not a directory")
    uv = find_uv(os.environ)
    uv_args = _uv_args(args.uv_args)
    cache_dir = args.cache_dir or _cache_arg(uv_args)
    cache = ["--cache-dir", args.cache_dir] if args.cache_dir else []

    if not any(a in _NO_RELOCK for a in uv_args):
        rc = _relock(uv, project, cache, args.dry_run, quiet, err)
        if rc != 0:
            return rc
        if args.dry_run and not (project / "uv.lock").exists():
            # The lock `uv lock` would write does not exist to be compared: say so, not
            # "run `uv lock` first" right after showing that it would run.
            print(
                "note: dry run: uv.lock does not exist yet, nothing compared "
                "(a real sync compares it once `uv lock` has written it)",
                file=err,
            )
            _show([uv, "sync", "--no-active", *cache, *uv_args], err, quiet)
            return EXIT_ACTION

    root = gitstate.find_repo_root(project)
    outcome: Outcome | None = None
    if root is None:
        print(
            f"envkey-hook: warning: {project} is not in a git repository: no baseline and no "
            "recorded state, stale builds are not detected",
            file=err,
        )
    else:
        opts = Options(
            project=project,
            cache_dir=cache_dir,
            dry_run=args.dry_run,
            lock_timeout=args.lock_timeout,
            save_state=False,  # recorded below, once uv sync succeeded
            cache_must_exist=False,  # uv sync creates it
        )
        outcome = run(opts)
        _report(outcome, args.verbose - args.quiet, out, err)
        if outcome.busy:
            return EXIT_ACTION

    affected = set(outcome.reinstall) | {c.package for c in outcome.changes} if outcome else set()
    reinstall = [a for p in sorted(affected) for a in ("--reinstall-package", p)]
    cmd = [uv, "sync", "--no-active", *cache, *reinstall, *uv_args]
    _show(cmd, err, quiet)
    if args.dry_run:
        return EXIT_ACTION if outcome and (outcome.removals or affected) else EXIT_OK
    rc = subprocess.run(cmd, cwd=project).returncode
    if rc != 0:
        return rc
    if outcome is not None and root is not None:
        save_record(root, project, outcome)
    return EXIT_OK


def _report(outcome: Outcome, verbosity: int, out: TextIO, err: TextIO) -> None:
    """`run`'s report without its hint: sync runs the reinstall itself."""
    from envkey_hook import report

    buf = io.StringIO()
    report.render_text([outcome], verbosity, buf, err)
    for line in buf.getvalue().splitlines():
        if not line.startswith("hint: "):
            print(line, file=out)
