"""Carrying out a purge plan: every lock taken first, every tree checked, then removed.

`purge.plan` says what is stale; this module deletes it through `remove.remove_tree`
(the one place that deletes), holding uv's locks as uv takes them (locks.py).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from envkey_hook.cache import SDIST_BUCKET, buckets
from envkey_hook.errors import InputError
from envkey_hook.purge import Removal, Replan, Result
from envkey_hook.remove import AllowedSet, RefusedRemoval, cleanup_leftovers, remove_tree

# Plans made under the locks before giving up on an entry that keeps appearing.
_REPLANS = 3


def execute(
    removals: Sequence[Removal],
    cache: Path | None,
    allowed: AllowedSet,
    lock_timeout: float = 10.0,
    replan: Replan | None = None,
) -> Result:
    """Remove everything planned while holding uv's locks on every entry involved.

    All locks are taken first: when one is busy, LockBusy propagates and nothing is
    deleted. Then every tree is checked before the first unlink (preflight.py): a
    directory that cannot be written raises InputError, nothing deleted; a mount, a
    tracked file or a virtual environment refuses that removal, the others proceed.
    With `replan`, what is removed is planned again once the locks are held: a `uv
    sync` that built between the first plan and the locks (it held the entry's lock)
    has left its polluted slot by then. A plan that needs more locks is retried with
    them (at most _REPLANS times; then what is not locked is refused).
    """
    from envkey_hook.locks import CacheLocks

    for attempt in range(_REPLANS):
        result = Result()
        entries, guards, source_locks = _locks_for(removals)
        local = [r for r in removals if r.kind == "local-build"]
        check_writable(removals)

        def rescan(local: list[Removal] = local) -> list[Path]:
            if cache is None or not local:
                return []
            return in_place_guards(cache, {r.package for r in local})

        with CacheLocks(cache, entries | guards, lock_timeout, source_locks, rescan, guards):
            if replan is not None:
                fresh, result.planned = replan()
                if not _held(fresh, entries | guards, source_locks):
                    if attempt + 1 < _REPLANS:
                        removals = fresh
                        continue  # an entry appeared meanwhile: lock it too, plan again
                    for r in fresh:
                        if not _held([r], entries | guards, source_locks):
                            result.refused.append((r, "its lock appeared while planning"))
                    fresh = [r for r in fresh if _held([r], entries | guards, source_locks)]
                removals = fresh
                check_writable(removals)
            _remove_held(removals, allowed, result)
            return result
    raise AssertionError("unreachable")


def _locks_for(removals: Sequence[Removal]) -> tuple[set[Path], set[Path], set[Path]]:
    """Entry locks, guard entry locks and uv's setuptools source-tree locks `removals` need."""
    entries = {r.entry for r in removals if r.entry is not None}
    guards = {p for r in removals for p in r.extra_locks}
    source_locks: set[Path] = set()
    local = [r for r in removals if r.kind == "local-build"]
    if local:
        from envkey_hook.locks import setuptools_lock_paths

        for r in local:
            source_locks.update(setuptools_lock_paths(r.path.parent))
    return entries, guards, source_locks


def _held(removals: Sequence[Removal], held: set[Path], source_locks: set[Path]) -> bool:
    entries, guards, sources = _locks_for(removals)
    return entries | guards <= held and sources <= source_locks


def _remove_held(removals: Sequence[Removal], allowed: AllowedSet, result: Result) -> None:
    """Check every tree, then remove it; all the locks are held."""
    refused = _preflight(removals, allowed)
    for r in removals:
        if r.path in refused:
            result.refused.append((r, refused[r.path]))
            continue
        problems: list[str] = []
        try:
            freed = remove_tree(r.path, allowed, problems)
        except FileNotFoundError:
            continue  # already gone (uv cache clean, or listed twice)
        except RefusedRemoval as exc:
            result.refused.append((r, exc.reason))
            continue
        except OSError as exc:
            result.refused.append((r, exc.strerror or str(exc)))
            continue
        result.removed.append(r._replace(size=freed))
        result.freed += freed
        if problems:
            result.partial.append((r, "; ".join(problems[:3])))
    cleanup_leftovers({r.path.parent for r in removals}, allowed)


def in_place_guards(cache: Path, packages: set[str]) -> list[Path]:
    """`path/` and `editable/` entries uv may be building one of `packages` in place
    under: theirs, and every entry whose package cannot be told yet (one uv has just
    created holds nothing to tell it by)."""
    from envkey_hook.cache import entry_package, subdirs

    found = []
    for bucket in buckets(cache, SDIST_BUCKET):
        for kind in ("path", "editable"):
            for d in subdirs(bucket / kind):
                if entry_package(kind, d) in (None, *packages):
                    found.append(d)
    return found


def _preflight(removals: Sequence[Removal], allowed: AllowedSet) -> dict[Path, str]:
    """Removals that must not happen, with why; InputError when one could only half happen."""
    from envkey_hook.preflight import in_virtualenv, tracked_under
    from envkey_hook.remove import check_tree

    refused: dict[Path, str] = {}
    repo = allowed.repo
    for r in removals:
        why = None
        if repo is not None and allowed.root_of(r.path) == repo:
            why = in_virtualenv(r.path, repo, allowed.venvs)
        try:
            why = why or check_tree(r.path, allowed)
        except (RefusedRemoval, FileNotFoundError):
            continue  # remove_tree says why (or it is gone)
        if why:
            refused[r.path] = why
    if repo is not None:
        in_repo = [r.path for r in removals if r.path not in refused]
        in_repo = [p for p in in_repo if allowed.root_of(p) == repo or repo in p.parents]
        if in_repo:
            refused.update(tracked_under(in_repo, repo, os.environ))
    return refused


def check_writable(removals: Iterable[Removal]) -> None:
    """InputError, before anything is deleted, when a removal could only half happen.

    Removal renames a tree in its parent, then empties it: both must be writable.
    """
    effective = os.access in os.supports_effective_ids
    for r in removals:
        for d in (r.path.parent, r.path):
            if os.access(d, os.W_OK | os.X_OK, effective_ids=effective):
                continue
            try:
                if not stat.S_ISDIR(os.lstat(d).st_mode):
                    continue  # refused by remove_tree with its own message
            except OSError:
                continue  # gone (another run removed it meanwhile): nothing to remove
            raise InputError(d, "cannot delete here: read-only (permission denied)")
