"""Environment inputs in the envkeys: which packages they belong to, and what a change of
one means.

uv's build key cannot see them, so a change makes the package's slots stale as a whole
(the change is unkeyed: whole entries go). They are observed on this machine, never read
from git: only a comparison with the recorded state can show them moving. A side where
an input was not observed (a state recorded before, a package whose sources were not at
hand) is no change: the first observation is recorded without a purge.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from envkey_hook import envinputs, nativesrc
from envkey_hook.envinputs import COMPILERS, CUDA, CUDA_VARS, var_label
from envkey_hook.toolchain import UNKNOWN

if TYPE_CHECKING:
    from envkey_hook.config import Config
    from envkey_hook.envkey import Change, EnvKey
    from envkey_hook.lockfile import Lock
    from envkey_hook.settings import Settings

# extra-build-variables that `envkey-hook fix` writes so that uv itself keys a build by
# the toolkit: when one holds the observed value, uv sees that input and it is keyed.
KEY_VARS = {CUDA: "CUDA_VERSION_KEY", "TORCH_CUDA_ARCH_LIST": "TORCH_CUDA_ARCH_LIST_KEY"}


class Observation:
    """The environment inputs of one project's packages, as observed in one run."""

    def __init__(self) -> None:
        self.kinds: dict[str, nativesrc.Kind] = {}
        self.values: dict[str, str] = {}
        self.key: list[str] | None = None  # the fingerprint; None: nothing observed


def _package_kinds(
    keys: Mapping[str, EnvKey], lock: Lock, project: Path, cache: Path | None, config: Config
) -> dict[str, nativesrc.Kind]:
    cuda_stack = nativesrc.has_cuda_runtime(p.name for p in lock.packages)
    kinds = {}
    for name in keys:
        forks = lock.by_name(name)
        local = {
            Path(os.path.normpath(project / p.source_value))
            for p in forks
            if p.source_kind in ("directory", "editable")
        }
        shas = {p.source_value.rsplit("#", 1)[1] for p in forks if "#" in p.source_value}
        versions = {p.version for p in forks if p.version}
        trees = nativesrc.source_trees(name, local, versions, shas, cache)
        kind = nativesrc.classify(trees, cuda_stack, name in config.cuda_packages)
        if kind.native:
            kinds[name] = kind
    return kinds


def observe(
    keys: Mapping[str, EnvKey],
    lock: Lock,
    project: Path,
    cache: Path | None,
    config: Config,
    gitdir: Path | None,
    env: Mapping[str, str],
) -> Observation:
    """Classify the packages and observe the inputs of the native ones."""
    obs = Observation()
    if not config.watch_env and not config.probe_toolchain:
        return obs
    obs.kinds = _package_kinds(keys, lock, project, cache, config)
    if obs.kinds:
        cuda = any(k.cuda for k in obs.kinds.values())
        obs.values, obs.key = envinputs.observe(
            None if gitdir is None else str(gitdir),
            str(project),
            env,
            config.watch_env,
            config.probe_toolchain,
            cuda,
        )
    return obs


def with_inputs(
    keys: Mapping[str, EnvKey], obs: Observation, settings: Settings, config: Config
) -> dict[str, EnvKey]:
    """`keys` with each native package's environment inputs added (as unkeyed inputs)."""
    out = dict(keys)
    for name, kind in obs.kinds.items():
        uvs = settings.extra_build_variables.get(name, {})
        labels = [
            var_label(v)
            for v in config.watch_env
            if v not in uvs and (kind.cuda or v not in CUDA_VARS)  # uv's own stay uv's
        ]
        labels += [c for c in COMPILERS if c in obs.values]
        labels += [CUDA] if kind.cuda and CUDA in obs.values else []
        pairs = [(label, obs.values[label]) for label in labels]
        keyed = {label for label, var in KEY_VARS.items() if uvs.get(var, 0) == _raw(obs, label)}

        key = keys[name]
        out[name] = key._replace(
            inputs=tuple(sorted(key.inputs + tuple(pairs))),
            unkeyed=key.unkeyed | {label for label, _ in pairs if label not in keyed},
        )
    return out


def _raw(obs: Observation, label: str) -> str | None:
    """An observed value as `envkey-hook fix` writes it: unquoted."""
    value = obs.values.get(label)
    if value is not None and len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def settle(changes: list[Change], new: Mapping[str, EnvKey]) -> list[Change]:
    """Drop environment inputs observed on one side only, or whose probe failed; an
    environment input is keyed only when uv's key holds its present value (`envkey-hook fix`)."""
    out = []
    for c in changes:
        if envinputs.is_env_label(c.input):
            if c.old is None or c.new is None:
                continue
            if UNKNOWN in c.old or UNKNOWN in c.new:
                continue  # a probe that failed is no evidence of a new toolchain
            key = new.get(c.package)
            c = c._replace(keyed=key is not None and c.input not in key.unkeyed)
        out.append(c)
    return out


def drift(
    recorded: Mapping[str, EnvKey], gitdir: str | None, project: str, env: Mapping[str, str]
) -> list[tuple[str, str, str, str]]:
    """(package, input, recorded value, present value) for every environment input of the
    recorded state that differs now: builds made with another toolchain (`doctor`)."""
    labels = {label for key in recorded.values() for label, _ in key.inputs}
    labels = {label for label in labels if envinputs.is_env_label(label)}
    if not labels:
        return []
    watch = [
        label[len("env ") :] if label.startswith("env ") else label
        for label in sorted(labels)
        if label != CUDA and label not in COMPILERS
    ]
    probe = any(label in COMPILERS for label in labels) or CUDA in labels
    now, _ = envinputs.observe(gitdir, project, env, watch, probe, CUDA in labels)
    found = []
    for name, key in sorted(recorded.items()):
        for label, value in key.inputs:
            if label in labels and label in now and now[label] != value:
                found.append((name, label, value, now[label]))
    return found
