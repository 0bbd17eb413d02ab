"""Where uv keeps its cache, resolved the way uv 0.13 resolves it.

Mirrors `Cache::from_settings` (crates/uv-cache/src/cli.rs): `--no-cache`/`UV_NO_CACHE`,
then `--cache-dir` > `UV_CACHE_DIR` > `cache-dir` from uv's config, then the platform
default. uv makes a relative value absolute against the working directory.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

# clap's BoolishValueParser, which uv uses for UV_NO_CACHE.
_TRUTHY = frozenset({"1", "true", "t", "yes", "y", "on"})


def _env(env: Mapping[str, str], key: str) -> str | None:
    # clap treats an empty environment variable as unset.
    return env.get(key) or None


def _absolute_env(env: Mapping[str, str], key: str) -> Path | None:
    # etcetera and dirs-sys ignore XDG variables that are not absolute paths.
    value = _env(env, key)
    return Path(value) if value and Path(value).is_absolute() else None


def _home(env: Mapping[str, str]) -> Path:
    home = _env(env, "HOME")
    return Path(home) if home else Path.home()


def default_cache_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """uv's cache directory when nothing is configured."""
    if platform == "win32":
        local = _env(env, "LOCALAPPDATA")
        base = Path(local) if local else _home(env) / "AppData" / "Local"
        return base / "uv" / "cache"
    if platform == "darwin":
        # uv keeps using a pre-existing legacy macOS cache, else prefers XDG.
        legacy = _home(env) / "Library" / "Caches" / "uv"
        if legacy.exists():
            return legacy
    xdg = _absolute_env(env, "XDG_CACHE_HOME")
    return (xdg if xdg else _home(env) / ".cache") / "uv"


def resolve_cache_dir(
    cli_value: str | None,
    config_value: str | None,
    env: Mapping[str, str],
    cwd: Path,
    platform: str = sys.platform,
    *,
    no_cache: bool = False,
) -> Path | None:
    """The absolute cache root uv would use; None when uv would use a throwaway cache.

    `config_value` is `cache-dir` from uv's configuration, already absolute;
    `no_cache` is `--no-cache` (or `no-cache = true` in the configuration).
    """
    if no_cache or (_env(env, "UV_NO_CACHE") or "").strip().lower() in _TRUTHY:
        return None
    value = cli_value or _env(env, "UV_CACHE_DIR") or config_value
    path = Path(value) if value else default_cache_dir(env, platform)
    # Like uv (std::path::absolute): joined to cwd, `..` left for the OS to resolve.
    return path if path.is_absolute() else cwd / path
