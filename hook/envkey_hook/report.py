"""Rendering outcomes: terse uv-style text, or JSON with a stable schema."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from envkey_hook.hints import Hint
    from envkey_hook.purge import Removal
    from envkey_hook.run import Outcome

JSON_SCHEMA_VERSION = 1
_KIND_WORDS = {
    "build-dir": ("build directory", "build directories"),
    "polluted-slot": ("polluted slot", "polluted slots"),
    "checkout-build": ("git checkout build", "git checkout builds"),
    "local-build": ("in-place build", "in-place builds"),
    "entry": ("cache entry", "cache entries"),
}


_STYLES = {"bold": "1", "red": "31", "yellow": "33", "cyan": "36", "green": "32"}


def use_color(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """NO_COLOR wins, then FORCE_COLOR / CLICOLOR_FORCE, then CLICOLOR=0, then a terminal."""
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR") or env.get("CLICOLOR_FORCE", "0") != "0":
        return True
    if env.get("CLICOLOR") == "0":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Painter:
    """Wraps text in ANSI styles, or leaves it alone."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, style: str, text: str) -> str:
        return f"\033[{_STYLES[style]}m{text}\033[0m" if self.enabled else text


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _counts(removals: list[Removal]) -> str:
    by_kind: dict[str, int] = defaultdict(int)
    for r in removals:
        by_kind[r.kind] += 1
    parts = []
    for kind, n in by_kind.items():
        one, many = _KIND_WORDS.get(kind, (kind, kind))
        parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def render_text(outcomes: list[Outcome], verbosity: int, out: TextIO, err: TextIO) -> None:
    """One line per change, one per removal group, warnings, then the hint."""
    quiet = verbosity < 0
    paint, paint_err = Painter(use_color(out)), Painter(use_color(err))
    for o in outcomes:
        if o.message and not quiet:
            print(o.message, file=out)
        if not quiet:
            for c in o.changes:
                print(paint("bold", c.package) + c.describe()[len(c.package) :], file=out)
        by_pkg: dict[str, list[Removal]] = defaultdict(list)
        for r in o.removals:
            by_pkg[r.package].append(r)
        verb = "Would remove" if o.dry_run or o.busy else "Removed"
        for pkg, rs in sorted(by_pkg.items()):
            if o.busy:
                break
            if not quiet:
                size = human_size(sum(r.size for r in rs))
                print(f"{verb} {_counts(rs)} of {pkg} ({size})", file=out)
            if verbosity > 0 or (o.dry_run and not quiet):
                for r in rs:
                    print(f"  {r.path}", file=out)
        if o.changes and not o.removals and not o.busy and not o.left_stale and not quiet:
            print("No stale build state in the cache", file=out)
        purged = {r.package for r in o.removals}
        for pkg in [] if quiet or o.busy or o.dry_run else o.stale_installs:
            if pkg not in purged:
                print(
                    f"{paint('bold', pkg)}: the installed copy may hold a stale build "
                    "(a plain `uv sync` keeps it)",
                    file=out,
                )
        for n in o.notices:
            print(f"{paint_err('yellow', 'warning')}: {n.package}: {n.path}: {n.message}", file=err)
            if n.blocking:
                what = f"run `{n.fix}`" if n.fix else "clear it by hand, then run `envkey-hook run`"
                print(f"{paint_err('cyan', 'hint')}: stale build state stays: {what}", file=err)
        if o.busy:
            print(f"{paint_err('red', 'error')}: {o.busy}; nothing was deleted", file=err)
        if o.migrations and not quiet:
            print(migration_hint(o.migrations, paint, o.hint), file=out)
        if o.next_command and not quiet:
            print(f"{paint('cyan', 'hint')}: run `{o.next_command}`", file=out)


def migration_hint(pairs: list[tuple[str, str]], paint: Painter, hint: Hint | None = None) -> str:
    """The TOML that lets uv key these builds by runtime version (a new slot per runtime):
    whole entries, merged with the project's own (`hint`), to replace or add."""
    by_pkg: dict[str, list[str]] = defaultdict(list)
    for package, runtime in pairs:
        by_pkg[package].append(runtime)
    where = hint.file if hint is not None else "pyproject.toml"
    lines = [
        f"{paint('cyan', 'hint')}: uv reuses the same cached build of "
        + ", ".join(sorted(by_pkg))
        + f" when the runtime moves; let uv key it by runtime version in {where} "
        "(replace each entry below where the file has one, else add it):",
    ]
    header = hint.header if hint is not None else "[tool.uv.extra-build-dependencies]"
    lines += [f"  {header}"] if header else []  # empty: uv.toml's top level
    if hint is not None:
        lines += [f"  {line}" for line in hint.lines]
    for package, runtimes in sorted(by_pkg.items()) if hint is None else ():
        deps = ", ".join(f'{{ requirement = "{r}", match-runtime = true }}' for r in runtimes)
        lines.append(f"  {package} = [{deps}]")
    lines.append(
        "  (a package with dynamic metadata also needs a [[tool.uv.dependency-metadata]] entry "
        "with its name, version and requires-dist)"
    )
    return "\n".join(lines)


def as_json(outcomes: list[Outcome]) -> dict[str, Any]:
    """The `--json` document (schema in the README; keep it stable)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "exit_code": max((o.exit_code for o in outcomes), default=0),
        "projects": [
            {
                "project": o.project,
                "baseline": o.baseline,
                "target": o.target,
                "dry_run": o.dry_run,
                "message": o.message,
                "busy": o.busy,
                "changes": [
                    {"package": c.package, "input": c.input, "old": c.old, "new": c.new}
                    for c in o.changes
                ],
                "removals": [
                    {
                        "package": r.package,
                        "kind": r.kind,
                        "path": str(r.path),
                        "bytes": r.size,
                        "detail": r.detail,
                    }
                    for r in o.removals
                ],
                "notices": [
                    {
                        "package": n.package,
                        "path": str(n.path),
                        "message": n.message,
                        "stale": n.blocking,
                        "fix": n.fix,
                    }
                    for n in o.notices
                ],
                "migrations": [{"package": p, "runtime": r} for p, r in o.migrations],
                "next_command": o.next_command,
            }
            for o in outcomes
        ],
    }


def render_json(outcomes: list[Outcome], out: TextIO | None = None) -> None:
    out = sys.stdout if out is None else out  # not a default: captures replace it
    import json

    json.dump(as_json(outcomes), out, indent=2)
    out.write("\n")
