"""What uv will install and build here: one model, used by every command.

For the target interpreter and platform, the lock is walked from the workspace members
along dependency edges whose markers can hold, as `uv sync` walks it. Extras and groups
the user did not name may all be active, except that two items of one `conflicts` set
never are (uv encodes them as `extra == 'extra-<n>-<package>-<extra>'` in markers).
A package is source-built when uv will build it for this interpreter.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, NamedTuple

from envkey_hook import wheeltags
from envkey_hook.markers import evaluate, holds_for, residual

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from envkey_hook.lockfile import Dep, Lock, LockedPackage
    from envkey_hook.markers import Residual
    from envkey_hook.settings import Settings

# Local trees and non-wheel archives: uv always builds them.
_ALWAYS_BUILT = ("git", "directory", "editable", "path", "url")
_MAX_SCENARIOS = 256


class Selection(NamedTuple):
    """Extras and groups `uv sync` is asked for; None: not known (any may be active)."""

    extras: frozenset[str] | None = None
    groups: frozenset[str] | None = None


UNKNOWN = Selection()  # nothing said: every extra and group may be active


def source_built(pkg: LockedPackage, settings: Settings, env: Mapping[str, str]) -> bool:
    """Whether uv builds this entry from source when it installs it here."""
    kind = pkg.source_kind
    if kind == "virtual" or settings.never_builds(pkg.name):
        return False
    if kind in ("path", "url") and pkg.source_value.endswith(".whl"):
        return False
    if kind in _ALWAYS_BUILT:
        return True
    if not pkg.has_sdist:
        return False
    if settings.never_wheels(pkg.name):
        return True
    return not wheeltags.installable(pkg.wheels, env)


class Plan:
    """The lock entries uv may install here, and which of them it builds."""

    def __init__(
        self,
        lock: Lock,
        settings: Settings,
        env: Mapping[str, str],
        selection: Selection = UNKNOWN,
    ) -> None:
        self.lock = lock
        self.env = env
        self._by_name: dict[str, list[LockedPackage]] = {}
        for pkg in lock.packages:
            self._by_name.setdefault(pkg.name, []).append(pkg)
        reached = _walk(lock, self._by_name, env, selection)
        self.graph_known = reached is not None  # False: no workspace member in the lock
        self.entries = (
            [p for p in lock.packages if id(p) in reached]
            if reached is not None
            else [p for ps in self._by_name.values() for p in _select_forks(ps, env)]
        )
        self._reachable: dict[str, list[LockedPackage]] = {}
        for pkg in self.entries:
            self._reachable.setdefault(pkg.name, []).append(pkg)
        self.built: dict[str, list[LockedPackage]] = {}
        for name, pkgs in self._reachable.items():
            own = [p for p in pkgs if source_built(p, settings, env)]
            if own:
                self.built[name] = own

    def of(self, name: str) -> list[LockedPackage]:
        """The entries of `name` uv may install here (empty: none)."""
        return self._reachable.get(name, [])

    def in_lock(self, name: str) -> bool:
        return name in self._by_name

    def depends_on(self, name: str, runtime: str) -> bool:
        """Whether an entry of `name` here lists `runtime` among its dependencies (any
        marker: a runtime the lock keeps out, e.g. by an override, still counts)."""
        for pkg in self.of(name):
            deps = [*pkg.dependencies, *(d for _, ds in pkg.optional for d in ds)]
            if any(d.name == runtime for d in deps):
                return True
        return False


def _select_forks(candidates: list[LockedPackage], env: Mapping[str, str]) -> list[LockedPackage]:
    """Without a dependency graph: the entries whose `resolution-markers` match, if that
    singles one out, else all of them."""
    if len(candidates) <= 1:
        return list(candidates)
    matching = []
    for pkg in candidates:
        try:
            if any(_holds(m, env, None) for m in pkg.resolution_markers):
                matching.append(pkg)
        except (ValueError, KeyError):  # packaging's InvalidMarker, UndefinedEnvironmentName
            return list(candidates)
    return matching if len(matching) == 1 else list(candidates)


_EVALUATED: dict[tuple[str, tuple[tuple[str, str], ...], frozenset[str] | None], bool] = {}


def _holds(
    marker: str,
    env: Mapping[str, str],
    extras: frozenset[str] | None,
    env_key: tuple[tuple[str, str], ...] | None = None,
) -> bool:
    key = (marker, env_key or tuple(sorted(env.items())), extras)
    found = _EVALUATED.get(key)
    if found is None:
        found = _EVALUATED[key] = evaluate(marker, env, extras)
    return found


def _encode(package: str, kind: str, name: str) -> str:
    """How uv names a conflict item in markers: `extra-<len>-<package>-<name>`."""
    return f"{kind}-{len(package)}-{package}-{name}"


def _roots(lock: Lock, by_name: Mapping[str, list[LockedPackage]]) -> list[LockedPackage]:
    if lock.members:
        return [p for m in lock.members for p in by_name.get(m, [])]
    return [
        p
        for p in lock.packages
        if p.source_kind in ("editable", "virtual", "directory") and p.source_value == "."
    ]


def _scenarios(lock: Lock, selection: Selection) -> list[frozenset[tuple[str, str, str]]]:
    """The sets of conflict items that may be active together: at most one of each set.
    Only items of a kind not given are chosen; a set with a given item active allows no
    other (extras unknown, groups given: the default groups still rule conflicting
    extras out)."""
    given = {"extra": selection.extras, "group": selection.groups}

    def active(item: tuple[str, str, str]) -> bool:
        names = given.get(item[1])
        return names is not None and item[2] in names

    sets: list[list[tuple[str, str, str]]] = []
    for items in lock.conflicts:
        if items and not any(active(i) for i in items):
            open_items = [i for i in items if given.get(i[1]) is None]
            if open_items:
                sets.append(open_items)
    if not sets:
        return [frozenset()]
    count = 1
    for s in sets:
        count *= len(s) + 1
    if count > _MAX_SCENARIOS:  # improbable: one item at a time
        return [frozenset()] + [frozenset([i]) for s in sets for i in s]
    out = []
    for choice in itertools.product(*[(None, *s) for s in sets]):
        chosen = frozenset(i for i in choice if i is not None)
        if all(len(chosen & set(s)) <= (not any(map(active, s))) for s in lock.conflicts):
            out.append(chosen)
    return out


def _walk(
    lock: Lock,
    by_name: Mapping[str, list[LockedPackage]],
    env: Mapping[str, str],
    selection: Selection,
) -> set[int] | None:
    """ids of the entries reachable in any scenario; None when the lock has no roots."""
    roots = _roots(lock, by_name)
    if not roots:
        return None
    conflicting = {item for s in lock.conflicts for item in s}
    actives: list[frozenset[str]] = []
    start: list[tuple[LockedPackage, str, int]] = []
    for bit, chosen in enumerate(_scenarios(lock, selection)):

        def wanted(pkg: str, kind: str, name: str, given: frozenset[str] | None) -> bool:
            if given is not None:
                return name in given
            item = (pkg, kind, name)
            return item not in conflicting or item in chosen  # noqa: B023 (used at once)

        active: set[str] = {_encode(*i) for i in chosen}
        for root in roots:
            extras = [
                e for e, _ in root.optional if wanted(root.name, "extra", e, selection.extras)
            ]
            groups = [g for g, _ in root.groups if wanted(root.name, "group", g, selection.groups)]
            active.update(_encode(root.name, "extra", e) for e in extras)
            active.update(_encode(root.name, "group", g) for g in groups)
            parts = ["", *("extra:" + e for e in extras), *("group:" + g for g in groups)]
            start += [(root, part, 1 << bit) for part in parts]
        actives.append(frozenset(active))
    return _reach(start, by_name, env, actives)


def _reach(
    start: Iterable[tuple[LockedPackage, str, int]],
    by_name: Mapping[str, list[LockedPackage]],
    env: Mapping[str, str],
    actives: list[frozenset[str]],
) -> set[int]:
    """One walk for all scenarios: bit i of a mask says "reachable in scenario i", so an
    entry is reached in the union, and each part of an entry is walked again only for
    scenarios that reach it anew."""
    env_key = tuple(sorted(env.items()))
    # marker -> the scenarios in which it can hold; shared by the walks of a run (the
    # baseline's and the target's locks mostly hold the same markers)
    edge_masks = _EDGE_MASKS.setdefault((env_key, tuple(actives)), {})
    masks: dict[tuple[int, str], int] = {}  # (entry, part) -> the scenarios reaching it
    pending: dict[tuple[int, str], int] = {}  # scenarios that reach a queued part anew
    stack: list[tuple[LockedPackage, str]] = []

    def push(pkg: LockedPackage, part: str, mask: int) -> None:
        key = (id(pkg), part)
        if key in pending:  # still queued: walk it once for all the scenarios
            pending[key] |= mask
        else:
            pending[key] = mask
            stack.append((pkg, part))

    for pkg, part, mask in start:
        push(pkg, part, mask)
    while stack:
        pkg, part = stack.pop()
        key = (id(pkg), part)
        seen = masks.get(key, 0)
        mask = pending.pop(key) & ~seen
        if not mask:
            continue
        masks[key] = seen | mask
        kind, _, name = part.partition(":")
        table = pkg.optional if kind == "extra" else pkg.groups if kind == "group" else ()
        deps = pkg.dependencies if not kind else dict(table).get(name, ())
        for dep in deps:
            along = mask
            if dep.marker is not None:
                edge = edge_masks.get(dep.marker)
                if edge is None:
                    edge = edge_masks[dep.marker] = _edge_mask(dep.marker, env, actives, env_key)
                along &= edge
                if not along:
                    continue
            for target in _resolve(dep, by_name):
                push(target, "", along)
                for e in dep.extras:
                    push(target, "extra:" + e, along)
    return {entry for entry, _ in masks}


_RESIDUALS: dict[tuple[str, tuple[tuple[str, str], ...]], Residual] = {}
_EDGE_MASKS: dict[
    tuple[tuple[tuple[str, str], ...], tuple[frozenset[str], ...]], dict[str, int]
] = {}


def _edge_mask(
    marker: str,
    env: Mapping[str, str],
    actives: list[frozenset[str]],
    env_key: tuple[tuple[str, str], ...],
) -> int:
    """The scenarios in which `marker` can hold. A marker that cannot be evaluated counts
    as holding: over-counting costs a rebuild, missing one ships a wrong binary."""
    key = (marker, env_key)
    if key not in _RESIDUALS:
        try:
            _RESIDUALS[key] = residual(marker, env)
        except (ValueError, KeyError):  # packaging's InvalidMarker, UndefinedEnvironmentName
            _RESIDUALS[key] = True
    return holds_for(_RESIDUALS[key], actives)


def _resolve(dep: Dep, by_name: Mapping[str, list[LockedPackage]]) -> list[LockedPackage]:
    """The entries a dependency edge names (all of that name when it does not say which)."""
    found = by_name.get(dep.name, [])
    if dep.version is not None:
        found = [p for p in found if p.version == dep.version]
    if dep.source:
        found = [p for p in found if p.source == dep.source]
    return found
