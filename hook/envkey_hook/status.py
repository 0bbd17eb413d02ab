"""`envkey-hook status` (what is built from source, and with what) and `envkey-hook key`."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from envkey_hook.errors import EXIT_OK, InputError

if TYPE_CHECKING:
    from envkey_hook.envkey import EnvKey
    from envkey_hook.installplan import Selection

JSON_SCHEMA_VERSION = 1
# Part of what `key` hashes: bump it when the meaning of an envkey changes, so that
# CI caches keyed by an older envkey-hook are not restored as if they matched.
KEY_FORMAT = "envkey-hook-key-2"  # 2: installplan (issue 12)
_BUILD_STATE = ("build-dir", "checkout-build", "local-build")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `status` and `key` subcommands."""
    st = subparsers.add_parser(
        "status",
        help="table of source-built packages: build inputs, envkey, cache entries, stale state",
        description="For every package uv builds from source: its build inputs, its envkey "
        "(a short hash of them), its entries in uv's cache, whether build state (build/ "
        "directories) is present, its polluted slots, and whether its envkey differs from the "
        "recorded state (`envkey-hook run` would then purge it). Changes nothing.",
        epilog="examples:\n  envkey-hook status\n  envkey-hook status --json --project sub\n\n"
        "exit codes:\n  0  shown\n  2  input error (no uv.lock, bad settings)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument(
        "--project", type=Path, default=Path("."), help="project directory (default: .)"
    )
    st.add_argument("--cache-dir", help="uv cache directory (default: resolved as uv does)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--python", help="interpreter (version or path) to evaluate markers for")
    _selection_args(st)
    st.add_argument(
        "--all",
        action="store_true",
        help="every package uv builds here (default: those with build inputs beyond their "
        "own version and source)",
    )

    key = subparsers.add_parser(
        "key",
        help="print a short stable hash of the envkeys (for CI cache keys)",
        description="Print a 16-hex-digit hash of the envkeys of the given packages (default: "
        "every source-built package). It changes whenever a build input changes: put it in "
        "the key of a CI cache that holds uv's cache, so that a job never restores build "
        "trees made for other build inputs. Run it with the Python the project uses (it "
        "picks the lock entries for this interpreter and platform).",
        epilog="examples:\n  envkey-hook key\n  envkey-hook key flash-attn xformers\n\n"
        "exit codes:\n  0  printed\n  2  input error (unknown package, no uv.lock)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    key.add_argument("packages", nargs="*", metavar="PACKAGE", help="packages to include")
    key.add_argument("--python", help="interpreter (version or path) to evaluate markers for")
    _selection_args(key)
    key.add_argument(
        "--project", type=Path, default=Path("."), help="project directory (default: .)"
    )


def _selection_args(p: argparse.ArgumentParser) -> None:
    """`uv sync`'s extras and groups; none given: any extra (one of conflicting ones at a
    time) with, for `status`, the default groups as plain `uv sync`, for `key` any group."""
    p.add_argument("--extra", action="append", default=[], help="an extra `uv sync` installs")
    p.add_argument("--all-extras", action="store_true", help="`uv sync --all-extras`")
    p.add_argument("--group", action="append", default=[], help="a dependency group it installs")
    p.add_argument("--no-default-groups", action="store_true", help="`uv sync --no-default-groups`")
    p.add_argument("--all-groups", action="store_true", help="`uv sync --all-groups`")


def selection(args: argparse.Namespace, project: Path, default: bool = False) -> Selection | None:
    """What `uv sync` with these options installs: the extras named, the default groups
    (`[tool.uv] default-groups`, else `dev`) and the groups named. No extra or group
    flag: any extra may be installed (two conflicting ones never together), with the
    default groups when `default`, else with any group (None)."""
    said = args.extra or args.all_extras or args.group or args.no_default_groups or args.all_groups
    if not (said or default):
        return None
    from envkey_hook.installplan import Selection
    from envkey_hook.names import canonical_name

    # Flags given: the extras are those named, as in `uv sync`; none given: unknown.
    extras = None
    if said and not args.all_extras:
        extras = frozenset(canonical_name(e) for e in args.extra)
    if args.all_groups:
        return Selection(extras, None)
    groups = {canonical_name(g) for g in args.group}
    if not args.no_default_groups:
        wanted: Any = ["dev"]
        path = project / "pyproject.toml"
        if path.is_file():
            from envkey_hook.tomlcompat import loads

            uv = loads(path.read_bytes(), str(path)).get("tool", {}).get("uv", {})
            wanted = uv.get("default-groups", wanted) if isinstance(uv, dict) else wanted
        if wanted == "all":
            return Selection(extras, None)
        if isinstance(wanted, list):
            groups |= {canonical_name(g) for g in wanted if isinstance(g, str)}
    return Selection(extras, frozenset(groups))


def envkey_digest(key: EnvKey) -> str:
    """12 hex digits identifying one package's build inputs."""
    data = json.dumps([key.package, [list(p) for p in key.inputs]])
    return hashlib.sha256(data.encode()).hexdigest()[:12]


def combined_key(keys: Iterable[EnvKey]) -> str:
    """16 hex digits over several envkeys, independent of their order."""
    items = sorted([k.package, [list(p) for p in k.inputs]] for k in keys)
    data = json.dumps([KEY_FORMAT, items])
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def run_key(args: argparse.Namespace) -> int:
    """`envkey-hook key [PACKAGE...]`."""
    from envkey_hook import current
    from envkey_hook.names import canonical_name

    cur = current.load(args.project, python=args.python, selection=selection(args, args.project))
    wanted = [canonical_name(p) for p in args.packages]
    for name in wanted:
        if name not in cur.envkeys:
            raise InputError(name, f"not a source-built package in {cur.project / 'uv.lock'}")
    keys = [cur.envkeys[n] for n in wanted] if wanted else list(cur.envkeys.values())
    print(combined_key(keys))
    return EXIT_OK


def collect(
    project: Path,
    cache_dir: str | None = None,
    every: bool = True,
    python: str | None = None,
    chosen: Selection | None = None,
) -> dict[str, Any]:
    """The `status --json` document; `every=False`: only packages with build inputs."""
    from envkey_hook import backend, current, purge, state
    from envkey_hook.cache import find_entries

    cur = current.load(project, cache_dir, python=python, selection=chosen)
    recorded = state.load_for(cur.root, cur.project, cache=state.cache_id(cur.cache))
    packages = []
    shown = [n for n, k in cur.envkeys.items() if every or current.has_build_inputs(k)]
    for target in current.targets(cur, shown):
        key = cur.envkeys[target.name]
        entries = find_entries(cur.cache, target.name, target.git_shas) if cur.cache else []
        removals, notices = purge.plan(cur.cache, [target], cur.root)
        if recorded is None:
            since = None
        elif target.name not in recorded:
            since = "new"
        else:
            since = "same" if recorded[target.name].inputs == key.inputs else "changed"
        locked = [
            (p.source_kind, p.source_value, p.version) for p in cur.state.lock.by_name(target.name)
        ]
        trees = backend.source_trees(target.name, locked, cur.project, cur.cache)
        packages.append(
            {
                "package": target.name,
                "backend": backend.detect(trees).name,
                "envkey": envkey_digest(key),
                "inputs": key.as_dict(),
                "entries": [str(e.path) for e in entries],
                "build_state": [str(r.path) for r in removals if r.kind in _BUILD_STATE],
                "polluted_slots": [str(r.path) for r in removals if r.kind == "polluted-slot"],
                "notices": [f"{n.path}: {n.message}" for n in notices],
                "recorded": since,
            }
        )
    return {
        "schema": JSON_SCHEMA_VERSION,
        "project": str(cur.project),
        "cache": str(cur.cache) if cur.cache else None,
        "key": combined_key(cur.envkeys.values()),
        "recorded_state": recorded is not None,
        "source_built": len(cur.envkeys),
        "packages": packages,
    }


def _inputs_text(inputs: dict[str, str]) -> str:
    # The sources are long URLs and paths: they stay in --json, except where a runtime
    # comes from the environment rather than the lock. `; ` separates inputs (a
    # requirement list may hold `, `).
    shown = []
    for k, v in inputs.items():
        if k == "version" or k.endswith("source"):
            continue
        where = inputs.get(f"{k} source")
        shown.append(f"{k} {v}" + (f" (from the {where})" if where == "environment" else ""))
    return "; ".join(shown) or "-"


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        print("  ".join(cells).rstrip(), file=out)


def render_text(doc: dict[str, Any], out: TextIO) -> None:
    print(f"project {doc['project']}", file=out)
    print(f"uv cache {doc['cache'] or '(none: uv would use a throwaway cache)'}", file=out)
    hidden = doc.get("source_built", len(doc["packages"])) - len(doc["packages"])
    if not doc["packages"]:
        if hidden:
            print(f"No package has build inputs ({hidden} built from source: --all)", file=out)
        else:
            print("No package is built from source", file=out)
        return
    rows = [
        [
            "package",
            "version",
            "envkey",
            "entries",
            "build state",
            "polluted",
            "recorded",
            "backend",
            "build inputs",
        ]
    ]
    for p in doc["packages"]:
        rows.append(
            [
                p["package"],
                p["inputs"].get("version", "?"),
                p["envkey"],
                str(len(p["entries"])),
                "present" if p["build_state"] else "-",
                str(len(p["polluted_slots"])) if p["polluted_slots"] else "-",
                p["recorded"] or "-",
                p["backend"],
                _inputs_text(p["inputs"]),
            ]
        )
    _table(rows, out)
    if hidden:
        print(f"({hidden} more built from source without build inputs: --all)", file=out)
    if any(p["polluted_slots"] for p in doc["packages"]):
        print("hint: `envkey-hook doctor --fix` removes the polluted slots", file=out)
    if any(p["recorded"] == "changed" for p in doc["packages"]):
        print("hint: build inputs changed since the last run: `envkey-hook sync`", file=out)


def run_status(args: argparse.Namespace) -> int:
    """`envkey-hook status`."""
    chosen = selection(args, args.project, default=True)  # what plain `uv sync` installs
    doc = collect(args.project, args.cache_dir, every=args.all, python=args.python, chosen=chosen)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render_text(doc, sys.stdout)
    return EXIT_OK
