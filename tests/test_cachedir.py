"""Resolving uv's cache directory as uv 0.13 does, per platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from envkey_hook.cachedir import resolve_cache_dir

CWD = Path("/work/project")


def resolve(
    env: dict[str, str],
    cli: str | None = None,
    config: str | None = None,
    platform: str = "linux",
    no_cache: bool = False,
) -> Path | None:
    return resolve_cache_dir(cli, config, env, CWD, platform, no_cache=no_cache)


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_precedence_cli_env_config(platform: str) -> None:
    env = {"UV_CACHE_DIR": "/env", "HOME": "/home/u", "LOCALAPPDATA": "/appdata"}
    assert resolve(env, "/cli", "/config", platform=platform) == Path("/cli")
    assert resolve(env, None, "/config", platform=platform) == Path("/env")
    assert resolve({"HOME": "/home/u"}, None, "/config", platform=platform) == Path("/config")


def test_relative_values_resolve_against_cwd() -> None:
    assert resolve({}, "cache") == CWD / "cache"
    assert resolve({"UV_CACHE_DIR": "../c"}) == CWD / "../c"  # left for the OS, like uv


def test_empty_env_value_is_unset() -> None:
    # clap treats an empty environment variable as absent.
    env = {"UV_CACHE_DIR": "", "HOME": "/home/u", "XDG_CACHE_HOME": ""}
    assert resolve(env, platform="linux") == Path("/home/u/.cache/uv")


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", "t", "y"])
def test_uv_no_cache_truthy_means_no_cache(value: str) -> None:
    assert resolve({"UV_NO_CACHE": value, "UV_CACHE_DIR": "/env"}, "/cli") is None


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_uv_no_cache_falsy_is_ignored(value: str) -> None:
    assert resolve({"UV_NO_CACHE": value, "UV_CACHE_DIR": "/env"}) == Path("/env")


def test_no_cache_flag() -> None:
    assert resolve({"UV_CACHE_DIR": "/env"}, "/cli", no_cache=True) is None


def test_linux_xdg_then_home() -> None:
    assert resolve({"XDG_CACHE_HOME": "/xdg", "HOME": "/h"}, platform="linux") == Path("/xdg/uv")
    assert resolve({"HOME": "/h"}, platform="linux") == Path("/h/.cache/uv")
    # A relative XDG_CACHE_HOME is ignored, as the XDG spec (and uv) say.
    assert resolve({"XDG_CACHE_HOME": "rel", "HOME": "/h"}) == Path("/h/.cache/uv")


def test_macos_prefers_existing_legacy_cache(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert resolve(env, platform="darwin") == tmp_path / "xdg" / "uv"
    legacy = tmp_path / "Library" / "Caches" / "uv"
    legacy.mkdir(parents=True)
    assert resolve(env, platform="darwin") == legacy
    assert resolve({**env, "UV_CACHE_DIR": "/env"}, platform="darwin") == Path("/env")


def test_macos_without_legacy_uses_home_cache(tmp_path: Path) -> None:
    assert resolve({"HOME": str(tmp_path)}, platform="darwin") == tmp_path / ".cache" / "uv"


def test_windows_local_app_data() -> None:
    env = {"LOCALAPPDATA": "/appdata", "XDG_CACHE_HOME": "/xdg", "HOME": "/h"}
    assert resolve(env, platform="win32") == Path("/appdata/uv/cache")
    assert resolve({"HOME": "/h"}, platform="win32") == Path("/h/AppData/Local/uv/cache")


def _uv_lock(cwd: Path, *args: str) -> None:
    import os
    import subprocess

    from e2e_helpers import uv_binary

    env = {k: v for k, v in os.environ.items() if k != "UV_CACHE_DIR"}
    proc = subprocess.run(
        [uv_binary(), "lock", "--offline", "-q", *args], cwd=cwd, env=env, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr


def test_a_relative_cache_dir_of_a_subproject_is_where_uv_puts_it(tmp_path: Path) -> None:
    """Issue 15 item 11, checked against the real uv: a relative `cache-dir` lands in
    uv's working directory. `cd sub && uv lock` (the usual way to work in a subproject)
    puts it in `sub`; the hook runs at the repository root, where none exists."""
    root, sub = tmp_path / "repo", tmp_path / "repo" / "sub"
    sub.mkdir(parents=True)
    (sub / "pyproject.toml").write_text(
        '[project]\nname = "sub"\nversion = "0.1"\nrequires-python = ">=3.8"\n'
        '[tool.uv]\ncache-dir = "rel-cache"\n'
    )
    _uv_lock(sub)
    assert (sub / "rel-cache").is_dir() and not (root / "rel-cache").exists()
    env: dict[str, str] = {}
    got = resolve_cache_dir(None, "rel-cache", env, root, project=sub)
    assert got == sub / "rel-cache"
    assert resolve_cache_dir(None, "rel-cache", env, sub, project=sub) == sub / "rel-cache"

    # `uv lock --project sub` at the root: uv's cache is the root's; when only that one
    # exists, it is the one compared.
    import shutil

    shutil.rmtree(sub / "rel-cache")
    _uv_lock(root, "--project", "sub")
    assert (root / "rel-cache").is_dir() and not (sub / "rel-cache").exists()
    got = resolve_cache_dir(None, "rel-cache", env, root, project=sub)
    assert got == root / "rel-cache"


def test_a_named_cache_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    from envkey_hook.errors import InputError

    missing = str(tmp_path / "typo")
    for cli, env, config in ((missing, {}, None), (None, {"UV_CACHE_DIR": missing}, None)):
        with pytest.raises(InputError, match=r"uv's cache directory does not exist"):
            resolve_cache_dir(cli, config, env, tmp_path, must_exist=True)
    with pytest.raises(InputError, match=r"named by the cache-dir setting"):
        resolve_cache_dir(None, "typo", {}, tmp_path, project=tmp_path, must_exist=True)
    # uv's default cache may not exist yet: nothing was built, nothing to purge.
    env = {"XDG_CACHE_HOME": missing}
    assert resolve_cache_dir(None, None, env, tmp_path, must_exist=True) == Path(missing, "uv")
