"""envkey-hook's own settings: the `[tool.envkey-hook]` table of pyproject.toml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from envkey_hook.envinputs import DEFAULT_WATCH_ENV
from envkey_hook.errors import InputError

# Runtimes whose headers or ABI native extensions are commonly compiled against.
DEFAULT_WATCH = (
    "torch",
    "numpy",
    "jax",
    "jaxlib",
    "tensorflow",
    "pybind11",
    "nanobind",
)
# Tools that run a build rather than being compiled against: a watched runtime only
# when the user names one in `watch` / `extend-watch`.
BUILD_TOOLS = frozenset(
    (
        "setuptools",
        "wheel",
        "ninja",
        "cmake",
        "packaging",
        "scikit-build-core",
        "scikit-build",
        "meson-python",
        "meson",
        "cython",
        "hatchling",
        "flit-core",
        "poetry-core",
        "pdm-backend",
        "maturin",
        "setuptools-scm",
    )
)
PURGE_POLICIES = ("build-dirs", "entries")


class Config(NamedTuple):
    """Defaults are what a user gets with no `[tool.envkey-hook]` table."""

    watch: tuple[str, ...] = DEFAULT_WATCH
    purge: str | None = None  # None: build-dirs when uv keys the slot, entries when it cannot
    clean_local_sources: bool = True
    strict: bool = False
    lockfiles: tuple[str, ...] = ()
    # Environment inputs (envinputs.py): variables whose values count as build inputs of
    # native packages, whether the compilers and the CUDA toolkit are probed, and
    # packages to treat as CUDA users whatever their sources say.
    watch_env: tuple[str, ...] = DEFAULT_WATCH_ENV
    probe_toolchain: bool = True
    cuda_packages: tuple[str, ...] = ()
    # `envkey-hook fix` also writes extra-build-variables keying CUDA builds (fixenv.py).
    key_cuda: bool = False


_KEYS = (
    "watch",
    "extend-watch",
    "purge",
    "clean-local-sources",
    "strict",
    "lockfiles",
    "watch-env",
    "extend-watch-env",
    "probe-toolchain",
    "cuda-packages",
    "key-cuda",
)


def _names(path: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(path, f"[tool.envkey-hook] {key}: expected a list of strings")
    from envkey_hook.names import canonical_name

    return [canonical_name(v) if key.endswith(("watch", "packages")) else v for v in value]


def _variables(path: str, key: str, value: Any) -> list[str]:
    names = _names(path, key, value)
    for name in names:
        if not name or "=" in name or any(c.isspace() for c in name):
            raise InputError(path, f"[tool.envkey-hook] {key}: {name!r} is not a variable name")
    return names


def _bool(path: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(path, f"[tool.envkey-hook] {key}: expected true or false, got {value!r}")
    return value


def parse_config(pyproject: Mapping[str, Any], path: str) -> Config:
    """Validate `[tool.envkey-hook]`; unknown keys and wrong types name the key."""
    tool = pyproject.get("tool", {})
    if not isinstance(tool, dict):
        raise InputError(path, f"[tool]: expected a table, got {type(tool).__name__}")
    table = tool.get("envkey-hook", {})
    if not isinstance(table, dict):
        raise InputError(path, "[tool.envkey-hook]: expected a table")
    for key in table:
        if key not in _KEYS:
            raise InputError(
                path, f"[tool.envkey-hook] {key}: unknown key (known: {', '.join(_KEYS)})"
            )
    watch = _names(path, "watch", table["watch"]) if "watch" in table else list(DEFAULT_WATCH)
    watch += [
        n for n in _names(path, "extend-watch", table.get("extend-watch", [])) if n not in watch
    ]
    watch_env = (
        _variables(path, "watch-env", table["watch-env"])
        if "watch-env" in table
        else list(DEFAULT_WATCH_ENV)
    )
    watch_env += [
        n
        for n in _variables(path, "extend-watch-env", table.get("extend-watch-env", []))
        if n not in watch_env
    ]
    purge = table.get("purge")
    if purge is not None and purge not in PURGE_POLICIES:
        raise InputError(
            path,
            f"[tool.envkey-hook] purge: expected one of {', '.join(PURGE_POLICIES)}, got {purge!r}",
        )
    return Config(
        watch=tuple(watch),
        purge=purge,
        clean_local_sources=_bool(
            path, "clean-local-sources", table.get("clean-local-sources", True)
        ),
        strict=_bool(path, "strict", table.get("strict", False)),
        lockfiles=tuple(_names(path, "lockfiles", table.get("lockfiles", []))),
        watch_env=tuple(watch_env),
        probe_toolchain=_bool(path, "probe-toolchain", table.get("probe-toolchain", True)),
        cuda_packages=tuple(_names(path, "cuda-packages", table.get("cuda-packages", []))),
        key_cuda=_bool(path, "key-cuda", table.get("key-cuda", False)),
    )
