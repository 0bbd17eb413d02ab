"""Rendering outcomes: terse uv-style text, or JSON with a stable schema."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any, TextIO

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
    for o in outcomes:
        if o.message and verbosity > 0:
            print(o.message, file=out)
        elif o.message and not quiet:
            print(o.message.split(";")[0], file=out)
        if not quiet:
            for c in o.changes:
                print(c.describe(), file=out)
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
        if o.changes and not o.removals and not o.busy and not quiet:
            print("No stale build state in the cache", file=out)
        for n in o.notices:
            print(f"warning: {n.package}: {n.path}: {n.message}", file=err)
        if o.busy:
            print(f"error: {o.busy}; nothing was deleted", file=err)
        if o.next_command and not quiet:
            print(f"hint: run `{o.next_command}`", file=out)


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
                    {"package": n.package, "path": str(n.path), "message": n.message}
                    for n in o.notices
                ],
                "next_command": o.next_command,
            }
            for o in outcomes
        ],
    }


def render_json(outcomes: list[Outcome], out: TextIO = sys.stdout) -> None:
    json.dump(as_json(outcomes), out, indent=2)
    out.write("\n")
