"""Envkeys: everything that decides which build uv makes of a source-built package.

Data flows one way: settings + lock -> envkeys -> changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from envkey_hook.errors import InputError
from envkey_hook.lockfile import Lock, LockedPackage
from envkey_hook.markers import evaluate
from envkey_hook.settings import Settings

# Sources uv always builds (a local or VCS tree, or an archive that is not a wheel).
_BUILT_KINDS = ("git", "directory", "editable", "path", "url")


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


def is_source_built(pkg: LockedPackage, settings: Settings) -> bool:
    """Whether uv builds this package from source (so it has an envkey)."""
    kind = pkg.source_kind
    if kind == "virtual":
        return False
    if kind in ("path", "url") and pkg.source_value.endswith(".whl"):
        return False
    if kind in _BUILT_KINDS:
        return True
    if pkg.has_sdist and not pkg.has_wheels:
        return True
    # A package the user configured a build for is built even when wheels exist
    # for other platforms.
    return pkg.has_sdist and pkg.name in configured_packages(settings)


def configured_packages(settings: Settings) -> set[str]:
    """Packages named by any per-package build setting."""
    return (
        set(settings.extra_build_dependencies)
        | set(settings.extra_build_variables)
        | set(settings.config_settings_package)
        | set(settings.no_build_isolation_package)
    )


def select_forks(
    candidates: Sequence[LockedPackage], env: Mapping[str, str]
) -> list[LockedPackage]:
    """The lock entries that apply to this interpreter and platform.

    With several entries (forks), keep those whose `resolution-markers` match
    `env`; if that does not single one out, every candidate stays relevant.
    """
    if len(candidates) <= 1:
        return list(candidates)
    matching = []
    for pkg in candidates:
        try:
            if any(_holds(m, env) for m in pkg.resolution_markers):
                matching.append(pkg)
        except (ValueError, KeyError):  # packaging's InvalidMarker, UndefinedEnvironmentName
            return list(candidates)
    return matching if len(matching) == 1 else list(candidates)


def _holds(marker: str, env: Mapping[str, str]) -> bool:
    """`markers.evaluate`, once per marker string (forks repeat the same few)."""
    key = (marker, tuple(sorted(env.items())))
    if key not in _EVALUATED:
        _EVALUATED[key] = evaluate(marker, env)
    return _EVALUATED[key]


_EVALUATED: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return value
    import json  # a list or table value: rare

    return json.dumps(value)


def _runtime_inputs(
    name: str, lock: Lock, env: Mapping[str, str], settings_file: str, package: str
) -> list[tuple[str, str]]:
    forks = select_forks(lock.by_name(name), env)
    if not forks:
        raise InputError(
            settings_file,
            f"extra-build-dependencies.{package}: "
            f"match-runtime package '{name}' is not in {lock.path}",
        )
    versions = " | ".join(sorted({p.version or "(dynamic)" for p in forks}))
    sources = " | ".join(sorted({f"{p.source_kind}={p.source_value}" for p in forks}))
    return [(name, versions), (f"{name} source", sources)]


def compute_envkeys(
    lock: Lock,
    settings: Settings,
    env: Mapping[str, str],
    settings_file: str = "pyproject.toml",
    watch: Sequence[str] = (),
) -> dict[str, EnvKey]:
    """Envkeys of every source-built package in the lock, by normalized name.

    A package built without isolation compiles against whatever is installed, so
    the locked version of each `watch`ed runtime counts as one of its inputs.
    """
    keys: dict[str, EnvKey] = {}
    groups: dict[str, list[LockedPackage]] = {}  # one pass: `by_name` per name is quadratic
    for pkg in lock.packages:
        groups.setdefault(pkg.name, []).append(pkg)
    for name, forks in sorted(groups.items()):
        if not any(is_source_built(p, settings) for p in forks):
            continue  # nothing uv builds: spare the marker evaluation of its forks
        own = [p for p in select_forks(forks, env) if is_source_built(p, settings)]
        if not own:
            continue
        inputs: list[tuple[str, str]] = [
            ("version", " | ".join(sorted({p.version or "(dynamic)" for p in own}))),
            ("source", " | ".join(sorted({f"{p.source_kind}={p.source_value}" for p in own}))),
        ]
        pinned = []
        runtimes = set()
        for dep in settings.extra_build_dependencies.get(name, []):
            if dep.match_runtime:
                inputs += _runtime_inputs(dep.name, lock, env, settings_file, name)
                runtimes.add(dep.name)
            else:
                pinned.append(dep.requirement)
        unkeyed: set[str] = set()
        if settings.builds_without_isolation(name):
            for runtime in watch:
                if runtime in runtimes or runtime == name or not lock.by_name(runtime):
                    continue
                watched = _runtime_inputs(runtime, lock, env, settings_file, name)
                inputs += watched
                unkeyed.update(label for label, _ in watched)
        if pinned:
            inputs.append(("extra-build-dependencies", ", ".join(pinned)))
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


def all_as_changed(keys: Iterable[EnvKey]) -> list[Change]:
    """`--all`: treat every source-built package as changed."""
    return [Change(k.package, "no baseline", None, "rebuild") for k in keys]
