"""The envkeys uv's cache was last reconciled for, recorded per project.

`run` and `sync` compare the current envkeys with this record as well as with git,
so that changes git never saw between two hook runs (an uncommitted pyproject.toml
edit, a stash pop, a pull without hooks installed, a user-level uv.toml) are caught.

The record lives in `<git dir>/envkey-hook/state-<hash of the project path>.json`:
never tracked, never touched by uv, and it survives the virtual environment being
recreated (uv replaces `.venv` on a Python change, which is when builds move most).
The build trees it describes sit in the cache, shared by every environment of the
project, so the record belongs to the project, not to one environment. The git dir
of a linked worktree is its own (`.git/worktrees/<name>`), so worktrees do not mix.

Writes are atomic (a synced temp file renamed over the old one); a record that
cannot be read is reported in one warning line and treated as absent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from envkey_hook import __version__
from envkey_hook.atomic import write_atomic
from envkey_hook.digest import sha256_hex
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, InputError

if TYPE_CHECKING:  # imported late: `run`'s no-op path reads nothing else of ours
    from envkey_hook.envkey import Change, EnvKey

SCHEMA = 2  # 2: envkeys of installplan (issue 12); a record of 1 is silently dropped
DIR_NAME = "envkey-hook"
_MAX_BYTES = 4 * 1024 * 1024  # a record is a few KiB; anything bigger is not ours

Warn = Callable[[str], None]


def _warn(message: str) -> None:
    print(f"envkey-hook: warning: {message}", file=sys.stderr)


def git_dir(root: Path) -> Path | None:
    """The git dir of the work tree at `root`: `.git`, or where a `.git` file points."""
    dot = root / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # Linked worktrees and submodules: a file holding `gitdir: <path>`.
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    target = target if target.is_absolute() else root / target
    return target if target.is_dir() else None


_OTHER_CACHES = 8  # envkeys kept for caches other than the last one reconciled


def project_id(project: Path) -> str:
    """A stable name for a project directory: its resolved path."""
    return str(project.resolve())


def state_path(root: Path, project: Path) -> Path | None:
    """Where the record of `project` (inside the work tree at `root`) lives; None outside git."""
    gd = git_dir(root)
    if gd is None:
        return None
    digest = sha256_hex(os.fsencode(project_id(project)))[:16]  # a path may not be UTF-8
    return gd / DIR_NAME / f"state-{digest}.json"


def pending_path(root: Path, project: Path) -> Path | None:
    """Where the reinstalls still due for `project` are recorded (reinstall.py)."""
    path = state_path(root, project)
    return None if path is None else path.with_name("pending-" + path.name[len("state-") :])


def _encode(keys: Mapping[str, EnvKey]) -> dict[str, Any]:
    return {
        name: {"inputs": [list(pair) for pair in key.inputs], "unkeyed": sorted(key.unkeyed)}
        for name, key in sorted(keys.items())
    }


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _decode(doc: object, project: Path) -> dict[str, EnvKey]:
    """The envkeys of a parsed record; ValueError names what is wrong with it."""
    from envkey_hook.envkey import EnvKey

    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"schema {doc.get('schema')!r}, expected {SCHEMA}")
    if doc.get("project") != project_id(project):
        raise ValueError(f"records another project ({doc.get('project')!r})")
    raw = doc.get("envkeys")
    if not isinstance(raw, dict):
        raise ValueError("`envkeys` is not an object")
    keys: dict[str, EnvKey] = {}
    for name, entry in raw.items():
        inputs = entry.get("inputs") if isinstance(entry, dict) else None
        unkeyed = entry.get("unkeyed", []) if isinstance(entry, dict) else None
        if not (isinstance(inputs, list) and all(_is_str_list(p) and len(p) == 2 for p in inputs)):
            raise ValueError(f"envkeys.{name}: bad `inputs`")
        if not isinstance(unkeyed, list) or not _is_str_list(unkeyed):
            raise ValueError(f"envkeys.{name}: bad `unkeyed`")
        pairs = tuple(sorted((p[0], p[1]) for p in inputs))
        keys[name] = EnvKey(name, pairs, frozenset(str(u) for u in unkeyed))
    return keys


def load(
    path: Path, project: Path, warn: Warn = _warn, cache: str = ""
) -> dict[str, EnvKey] | None:
    """The recorded envkeys; None when there is no record or it cannot be used (one warning).

    `cache` (see `cache_id`): the envkeys recorded for that cache; None, silently, when
    there are none: reconciling one cache says nothing about another.
    """
    doc = _read_doc(path, project, warn)
    if doc is None:
        return None
    if not cache or doc.get("cache") == cache:
        return _decode(doc, project)
    other = _other_caches(doc).get(cache)
    try:
        return None if other is None else _decode({**doc, "envkeys": other}, project)
    except ValueError as exc:
        warn(f"{path}: unusable recorded state ({exc}); ignored")
        return None


def _read_doc(path: Path, project: Path, warn: Warn) -> dict[str, Any] | None:
    """The record as JSON, checked; None when absent or unusable (one warning)."""
    from envkey_hook.readfile import read_json

    try:
        doc = read_json(path, _MAX_BYTES)
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("schema") == 1:
            return None  # envkeys of an older meaning: comparing them would report false changes
        _decode(doc, project)
    except ValueError as exc:
        warn(f"{path}: unusable recorded state ({exc}); ignored")
        return None
    return doc


def _other_caches(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The envkeys last recorded for other caches, by `cache_id`."""
    others = doc.get("other_caches")
    return dict(others) if isinstance(others, dict) else {}


def cache_id(cache: Path | None) -> str:
    """How a record names the cache it was reconciled with."""
    return "no-cache" if cache is None else str(cache)


def save(
    path: Path, project: Path, keys: Mapping[str, EnvKey], warn: Warn = _warn, cache: str = ""
) -> bool:
    """Record `keys` for `project`; False (after one warning) when it cannot be written.

    A record that cannot be written only costs the next run its extra baseline, so
    this never fails the command.
    """
    doc = {
        "schema": SCHEMA,
        "written_by": f"envkey-hook {__version__}",
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "project": project_id(project),
        "envkeys": _encode(keys),
    }
    if cache:
        # One file per project (the no-op record watches it): the envkeys of the caches
        # reconciled before stay in it, so a run against one never hides another's.
        doc["cache"] = cache
        old = _read_doc(path, project, lambda _: None)
        others = _other_caches(old) if old is not None else {}
        if old is not None and isinstance(old.get("cache"), str):
            others[old["cache"]] = old["envkeys"]
        others.pop(cache, None)
        if others:
            doc["other_caches"] = dict(list(others.items())[-_OTHER_CACHES:])
    import json  # only once there is a record to read or write

    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        warn(f"{path}: cannot record the state ({exc.strerror or exc}); ignored")
        return False
    return True


def load_for(
    root: Path, project: Path, warn: Warn = _warn, cache: str = ""
) -> dict[str, EnvKey] | None:
    path = state_path(root, project)
    return None if path is None else load(path, project, warn, cache)


def save_for(
    root: Path, project: Path, keys: Mapping[str, EnvKey], warn: Warn = _warn, cache: str = ""
) -> bool:
    path = state_path(root, project)
    return False if path is None else save(path, project, keys, warn, cache)


def union_changes(first: list[Change], second: list[Change]) -> list[Change]:
    """`first`, plus each change of `second` to an input `first` does not already name.

    Both baselines (git and the record) usually agree; an input is reported once,
    with git's old value, and the lines of one package stay together.
    """
    seen = {(c.package, c.input) for c in first}
    merged = first + [c for c in second if (c.package, c.input) not in seen]
    return sorted(merged, key=lambda c: c.package)


# --- `envkey-hook state`: show or forget the record ---------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `state` subcommand."""
    p = subparsers.add_parser(
        "state",
        help="show (or --forget) the envkeys the cache was last reconciled for",
        description="Show where the project's recorded state lives and the envkeys it holds. "
        "`run` and `sync` compare the current envkeys with it as well as with git, and "
        "update it after they succeed. --forget deletes it (the next run compares with git "
        "only).",
        epilog="examples:\n  envkey-hook state\n  envkey-hook state --json\n"
        "  envkey-hook state --forget\n\n"
        "exit codes:\n  0  shown (or forgotten)\n  1  no record yet\n"
        "  2  not inside a git repository",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--project", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.add_argument("--forget", action="store_true", help="delete the record")


def run_state(args: argparse.Namespace) -> int:
    """`envkey-hook state`."""
    from envkey_hook import gitstate

    project = Path(args.project).resolve()
    root = gitstate.find_repo_root(project)
    path = state_path(root, project) if root is not None else None
    if root is None or path is None:
        raise InputError(project, "not inside a git repository: no state is recorded")
    if args.forget:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        print(f"Forgot {path}")
        return EXIT_OK
    keys = load(path, project)
    if keys is None:
        print(f"No recorded state for {project} ({path})")
        return EXIT_ACTION
    if args.json:
        import json

        json.dump({"path": str(path), "envkeys": _encode(keys)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(f"Recorded state: {path}")
    for name, key in sorted(keys.items()):
        print(f"{name}: " + ", ".join(f"{label} {value}" for label, value in key.inputs))
    return EXIT_OK
