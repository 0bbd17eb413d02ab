"""Where uv keeps its cache, resolved the way uv 0.13 resolves it.

Mirrors `Cache::from_settings` (crates/uv-cache/src/cli.rs): `--no-cache`/`UV_NO_CACHE`,
then `--cache-dir` > `UV_CACHE_DIR` > `cache-dir` from uv's config, then the platform
default. uv makes a relative value absolute against the working directory it runs in
(checked with uv 0.13.9: `cd sub && uv sync` and `uv --directory sub sync` use
`sub/<cache-dir>`, `uv sync --project sub` run at the root uses `<cache-dir>` there).

A path given explicitly that does not exist is an error where a purge depends on it:
a mistyped cache would otherwise be "reconciled" while the real one stays stale.
uv's default cache not existing yet is fine: nothing was built, nothing to purge.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from envkey_hook.errors import InputError

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
    project: Path | None = None,
    must_exist: bool = False,
) -> Path | None:
    """The absolute cache root uv would use; None when uv would use a throwaway cache.

    `config_value` is `cache-dir` from uv's configuration, as written; `no_cache` is
    `--no-cache` (or `no-cache = true` in the configuration). A relative `cache-dir`
    is where uv run in `project` puts it (`cd <project>; uv sync`), or, when only that
    one exists, where uv run in `cwd` does (`uv sync --project <project>`).
    `must_exist`: InputError when a path given explicitly does not exist.
    """
    if no_cache or (_env(env, "UV_NO_CACHE") or "").strip().lower() in _TRUTHY:
        return None
    env_value = _env(env, "UV_CACHE_DIR")
    if cli_value:
        path, source = _absolute(Path(cli_value), cwd), "--cache-dir"
    elif env_value:
        path, source = _absolute(Path(env_value), cwd), "UV_CACHE_DIR"
    elif config_value:
        path, source = _configured(Path(config_value), project, cwd), "the cache-dir setting"
    else:
        return default_cache_dir(env, platform)
    if must_exist and not path.exists():
        raise InputError(
            path, f"uv's cache directory does not exist (named by {source}); nothing was compared"
        )
    return path


def _absolute(path: Path, cwd: Path) -> Path:
    # Like uv (std::path::absolute): joined to cwd, `..` left for the OS to resolve.
    return path if path.is_absolute() else cwd / path


def _configured(value: Path, project: Path | None, cwd: Path) -> Path:
    if value.is_absolute() or project is None:
        return _absolute(value, cwd)
    in_project, in_cwd = project / value, cwd / value
    return in_cwd if not in_project.exists() and in_cwd.exists() else in_project
