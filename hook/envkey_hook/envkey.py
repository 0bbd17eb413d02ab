"""Envkeys: everything that decides which build uv makes of a source-built package.

Data flows one way: settings + lock -> envkeys -> changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from envkey_hook.config import BUILD_TOOLS
from envkey_hook.errors import InputError
from envkey_hook.installplan import UNKNOWN, Plan, Selection, _select_forks, source_built
from envkey_hook.lockfile import Lock, LockedPackage
from envkey_hook.settings import Settings


class EnvKey(NamedTuple):
    """The build inputs of one package, as (label, value) pairs sorted by label.

    `unkeyed` names the inputs uv does not put in its slot key (a watched runtime
    of a package built without isolation): when only those move, uv reuses the
    same slot, so purging `build/` is not enough.
    """

    package: str
    inputs: tuple[tuple[str, str], ...]
    unkeyed: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, str]:
        return dict(self.inputs)


class Change(NamedTuple):
    """One build input of one package that differs between two states."""

    package: str
    input: str
    old: str | None
    new: str | None
    keyed: bool = True  # False: uv's slot key does not see this input

    def describe(self) -> str:
        old = "(none)" if self.old is None else self.old
        new = "(none)" if self.new is None else self.new
        return f"{self.package}: {self.input} {old} -> {new}"


def is_source_built(
    pkg: LockedPackage, settings: Settings, env: Mapping[str, str] | None = None
) -> bool:
    """Whether uv builds this entry from source here (see installplan.source_built)."""
    from envkey_hook.markers import environment

    return source_built(pkg, settings, environment() if env is None else env)


def select_forks(
    candidates: Sequence[LockedPackage], env: Mapping[str, str]
) -> list[LockedPackage]:
    """Without a dependency graph: the entries whose `resolution-markers` match `env`."""
    return _select_forks(list(candidates), env)


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return value
    import json  # a list or table value: rare

    return json.dumps(value)


def _requirements(items: list[str]) -> str:
    """A list of PEP 508 strings, unambiguously (a requirement may hold `, `)."""
    import json

    return json.dumps(items)


# Sources uv builds from the tree itself: the version the lock records for one is metadata
# (it may come from `dependency-metadata`, or be absent when dynamic), not a build input.
_LOCAL_TREES = ("directory", "editable", "virtual")


def _version(p: LockedPackage) -> str:
    if p.source_kind in _LOCAL_TREES:
        return "(local tree)"
    return p.version or "(dynamic)"


def _pairs(label: str, pkgs: Iterable[LockedPackage]) -> list[tuple[str, str]]:
    """Versions and sources, one position per (version, source) pair, so they line up."""
    pairs = sorted({(_version(p), f"{p.source_kind}={p.source_value}") for p in pkgs})
    return [
        (label, " | ".join(v for v, _ in pairs)),
        (f"{label} source" if label != "version" else "source", " | ".join(s for _, s in pairs)),
    ]


class Runtimes:
    """Where a build's runtime comes from: the lock here, else the project's environment."""

    def __init__(self, plan: Plan, installed: Callable[[str], str | None] | None) -> None:
        self.plan = plan
        self.installed = installed

    def inputs(self, name: str, settings_file: str, package: str) -> list[tuple[str, str]]:
        found = self.plan.of(name)
        if found:
            return _pairs(name, found)
        if not self.plan.in_lock(name):  # uv itself refuses to build then
            raise InputError(
                settings_file,
                f"extra-build-dependencies.{package}: "
                f"match-runtime package '{name}' is not in {self.plan.lock.path}",
            )
        version = self.installed(name) if self.installed is not None else None
        return [(name, version or "(not installed)"), (f"{name} source", "environment")]


def compute_envkeys(
    lock: Lock,
    settings: Settings,
    env: Mapping[str, str],
    settings_file: str = "pyproject.toml",
    watch: Sequence[str] = (),
    selection: Selection = UNKNOWN,
    installed: Callable[[str], str | None] | None = None,
) -> dict[str, EnvKey]:
    """Envkeys of every package uv builds from source here, by normalized name.

    A package built without isolation compiles against whatever is installed: each
    `watch`ed runtime it depends on in the lock counts as one of its inputs (a build
    tool only when the user named it). A runtime the lock does not install here comes
    from `installed` (the project's environment).
    """
    plan = Plan(lock, settings, env, selection)
    runtimes = Runtimes(plan, installed)
    keys: dict[str, EnvKey] = {}
    for name, own in sorted(plan.built.items()):
        inputs = _pairs("version", own)
        pinned = []
        matched = set()
        for dep in settings.extra_build_dependencies.get(name, []):
            if dep.match_runtime:
                inputs += runtimes.inputs(dep.name, settings_file, name)
                matched.add(dep.name)
            else:
                pinned.append(dep.requirement)
        unkeyed: set[str] = set()
        if settings.builds_without_isolation(name):
            for runtime in watch:
                if runtime in matched or runtime == name:
                    continue
                if runtime in BUILD_TOOLS or plan.depends_on(name, runtime):
                    if not plan.in_lock(runtime):
                        continue
                    watched = runtimes.inputs(runtime, settings_file, name)
                    inputs += watched
                    unkeyed.update(label for label, _ in watched)
        if pinned:
            inputs.append(("extra-build-dependencies", _requirements(pinned)))
        for var, value in settings.extra_build_variables.get(name, {}).items():
            inputs.append((f"extra-build-variables {var}", value))
        for key, setting in settings.effective_config_settings(name).items():
            inputs.append((f"config-settings {key}", _format_value(setting)))
        keys[name] = EnvKey(name, tuple(sorted(inputs)), frozenset(unkeyed))
    return keys


def diff_envkeys(old: Mapping[str, EnvKey], new: Mapping[str, EnvKey]) -> list[Change]:
    """Input-level differences for packages present in both states.

    A package new in `new` is left out: uv builds it in a fresh source tree.
    """
    changes: list[Change] = []
    for name, key in new.items():
        before = old.get(name)
        if before is None:
            continue  # newly added: uv builds it fresh, in a fresh source tree
        a, b = before.as_dict(), key.as_dict()
        for label in sorted(set(a) | set(b)):
            if a.get(label) != b.get(label):
                keyed = label not in key.unkeyed | before.unkeyed
                changes.append(Change(name, label, a.get(label), b.get(label), keyed))
    return changes


def all_as_changed(keys: Iterable[EnvKey], why: str = "no baseline") -> list[Change]:
    """`--all`: treat every source-built package as changed."""
    return [Change(k.package, why, None, "rebuild") for k in keys]
