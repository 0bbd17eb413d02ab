"""`envkey-hook doctor`: find stale builds without any git history.

A shared uv cache can be polluted by another project (or by a sync nobody hooked):
the evidence is in the cache itself, as slots of one source revision whose compiled
payload is identical although their build configurations differ. The whole cache is
scanned for those by listing entry directories and reading zip central directories
only, and wheels are opened only in revisions holding two slots or more.

The project's environment is checked too: the runtime each installed package's
`uv_build.json` names for match-runtime must be the one installed. That record says
what uv asked for, not what was compiled, so a repackaged binary passes this check;
only the cache scan finds it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from envkey_hook import argtypes
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from envkey_hook.current import Current
    from envkey_hook.purge import Removal

DESCRIPTION = """\
Find stale native-extension builds without any git history, for example when a
shared uv cache was polluted by another project:

- every `sdists-v*` bucket of uv's cache (all source kinds) is scanned for
  polluted slots: slots of one source revision whose compiled payload (.so, .pyd,
  .dylib) is identical although their build configurations differ;
- in the project's environment (.venv or UV_PROJECT_ENVIRONMENT), the runtime
  each package's uv_build.json names for match-runtime must be the one installed;
- in-place build directories left in local directory sources with build inputs
  are reported (the next build reuses them whatever its configuration).

--fix removes the polluted slots with the build directories of their source
trees, and the in-place build directories, under uv's locks. Then reinstall the
packages named in the hint in every project that uses them.
"""

EPILOG = """\
exit codes:
  0  nothing found
  1  problems found (with --fix: repaired; reinstall as the hint says)
  2  input error

examples:
  envkey-hook doctor
  envkey-hook doctor --fix
  envkey-hook doctor --cache-dir /shared/uv-cache
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `doctor` subcommand."""
    p = subparsers.add_parser(
        "doctor",
        help="scan the whole uv cache and the project's environment for stale builds",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--project", type=Path, default=None, help="project directory (default: .)")
    p.add_argument("--cache-dir", help="uv cache directory (default: resolved as uv does)")
    p.add_argument("--fix", action="store_true", help="remove what was found, under uv's locks")
    p.add_argument(
        "--lock-timeout", type=argtypes.seconds, default=10.0, help="seconds to wait for uv's locks"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="list every path")


def _age(seconds: float) -> str:
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''}"
    return f"{int(seconds)} s"


@dataclass
class _Context:
    cur: Current | None  # None: no uv project here, only the cache is scanned
    cache: Path | None
    env: Mapping[str, str]


def _context(args: argparse.Namespace, env: Mapping[str, str]) -> _Context:
    from envkey_hook import current
    from envkey_hook.cachedir import resolve_cache_dir

    explicit = args.project is not None
    project = (args.project or Path(".")).resolve()
    if not (project / "uv.lock").is_file():
        if explicit:
            raise InputError(project / "uv.lock", "not found (run `uv lock` first)")
        return _Context(None, resolve_cache_dir(args.cache_dir, None, env, Path.cwd()), env)
    cur = current.load(project, args.cache_dir, env)
    return _Context(cur, cur.cache, env)


@dataclass
class _Found:
    """What the sections found: problems (exit 1), what to reinstall, what --fix removes."""

    problems: int = 0
    reinstall: set[str] = field(default_factory=set)
    removals: list[Removal] = field(default_factory=list)

    def problem(self, package: str) -> None:
        self.problems += 1
        if package != "?":  # an entry whose package could not be named
            self.reinstall.add(package)


def _runtimes(ctx: _Context) -> dict[str, frozenset[str] | None]:
    """What the project's packages' build configurations differ in (its settings say)."""
    from envkey_hook.reinstall import slot_runtimes

    keys = ctx.cur.envkeys if ctx.cur is not None else {}
    return {name: slot_runtimes(key) for name, key in keys.items()}


def _cache_section(ctx: _Context, verbose: int, found: _Found, out: TextIO, err: TextIO) -> None:
    from envkey_hook.cachescan import Progress, fix_plan, scan_cache
    from envkey_hook.purge import check_cache_readable

    start = time.monotonic()
    if ctx.cache is None:
        print("uv cache: none (UV_NO_CACHE: uv uses a throwaway cache)", file=out)
        return
    check_cache_readable(ctx.cache)  # a file or an unreadable cache: exit 2, not "clean"
    if not ctx.cache.is_dir():
        print(f"uv cache {ctx.cache}: does not exist", file=out)
        return
    scan = scan_cache(ctx.cache, Progress(err), runtimes=_runtimes(ctx))
    took = time.monotonic() - start
    what = f"{scan.entries} entr{'y' if scan.entries == 1 else 'ies'}"
    print(f"uv cache {ctx.cache}: scanned {what} in {took:.1f} s", file=out)
    for p in scan.polluted:
        found.problem(p.slot.package)
        print(
            f"polluted: {p.slot.package} {p.version}, slot {p.slot.path.name}, "
            f"{_age(p.age)} old: {p.slot.detail}",
            file=out,
        )
        if verbose:
            print(f"  {p.slot.path}", file=out)
    for n in scan.notices:
        if "identical payload" in n.message:  # a wheel filed in the revision: not a slot
            found.problem(n.package)
            clean = f"`uv cache clean {n.package}`"
            print(f"polluted: {n.package}: {n.path}: {n.message} ({clean})", file=out)
        else:
            print(f"warning: {n.package}: {n.path}: {n.message}", file=err)
    found.removals += fix_plan(ctx.cache, scan.polluted)


def _environment_section(
    cur: Current, env: Mapping[str, str], found: _Found, out: TextIO, err: TextIO
) -> None:
    from envkey_hook import current
    from envkey_hook.envcheck import check_environment, local_builds

    venv = current.project_environment(cur.project, env)
    check = check_environment(venv)
    for package, message in check.problems:
        found.problem(package)
        print(f"environment: {package}: {message}", file=out)
    if not check.exists:
        print(f"environment {venv}: does not exist, not checked", file=out)
    else:
        if not check.problems:
            print(
                f"environment {venv}: {check.records} match-runtime build record(s) agree with "
                "the installed runtimes",
                file=out,
            )
        print(
            "  note: a record says which runtime uv asked for, not what was compiled: a "
            "repackaged binary passes this check; the cache scan above finds it",
            file=out,
        )
    builds, notices = local_builds(cur)
    for r in builds:
        print(
            f"warning: {r.package}: in-place build directory {r.path}: reused by the next "
            "build, whatever its configuration",
            file=out,
        )
    for n in notices:
        print(f"warning: {n.package}: {n.path}: {n.message}", file=err)
    found.removals += builds


def _toolchain_section(cur: Current, env: Mapping[str, str], found: _Found, out: TextIO) -> None:
    """Builds the recorded state says were made with other variables, compilers or CUDA
    than this machine has now (buildenv.drift); `envkey-hook run` removes them."""
    from envkey_hook import state
    from envkey_hook.buildenv import drift
    from envkey_hook.fastpath import git_dir

    recorded = state.load_for(cur.root, cur.project, cache=state.cache_id(cur.cache))
    if not recorded:
        return
    moved = drift(recorded, git_dir(str(cur.root)), str(cur.project), env)
    for package, label, then, now in moved:
        print(f"toolchain: {package}: built with {label} {then}, now {now}", file=out)
    if moved:
        found.problems += 1
        print(
            "hint: run `envkey-hook run` (it removes builds made with another toolchain)", file=out
        )


def run_doctor(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`envkey-hook doctor [--fix]`."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    ctx = _context(args, os.environ)
    found = _Found()
    _cache_section(ctx, args.verbose, found, out, err)
    if ctx.cur is None:
        print("environment: no uv.lock here, not checked (pass --project)", file=out)
    else:
        _environment_section(ctx.cur, ctx.env, found, out, err)
        _toolchain_section(ctx.cur, ctx.env, found, out)

    if args.fix and found.removals:
        found.problems += _fix(found.removals, ctx, args, out, err)
    names = " ".join(f"--reinstall-package {p}" for p in sorted(found.reinstall))
    where = f"in each project that uses {', '.join(sorted(found.reinstall))}"
    if found.removals and not args.fix:
        then = f", then `uv sync {names}` {where}" if names else ""
        print(f"hint: run `envkey-hook doctor --fix`{then}", file=out)
    elif names:
        print(f"hint: run `uv sync {names}` {where}", file=out)
    return EXIT_ACTION if found.problems else EXIT_OK


def _fix(
    removals: list[Removal], ctx: _Context, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """Remove under uv's locks; the number of removals that failed."""
    from envkey_hook import purgeexec
    from envkey_hook.locks import LockBusy
    from envkey_hook.preflight import virtualenvs
    from envkey_hook.remove import AllowedSet
    from envkey_hook.report import human_size

    project = ctx.cur.project if ctx.cur else None
    venvs = virtualenvs(project, os.environ)
    allowed = AllowedSet(cache=ctx.cache, repo=ctx.cur.root if ctx.cur else None, venvs=venvs)
    try:
        result = purgeexec.execute(removals, ctx.cache, allowed, lock_timeout=args.lock_timeout)
    except LockBusy as busy:
        print(f"error: {busy}; nothing was deleted", file=err)
        return 1
    for r in result.removed:
        print(f"Removed {r.kind} of {r.package} ({human_size(r.size)}): {r.path}", file=out)
    for n in result.notices():
        print(f"error: {n.package}: {n.path}: {n.message}", file=err)
        if n.fix:
            print(f"hint: stale build state stays: run `{n.fix}`", file=err)
    return len(result.refused)
