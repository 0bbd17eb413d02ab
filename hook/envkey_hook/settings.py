"""uv's build settings, read from every layer uv reads and merged as uv merges them.

Checked against uv's source (crates/uv/src/lib.rs, uv-settings, uv-dirs) and uv 0.13.9:

- Project layer: the FIRST directory, walking up from the workspace root, that has a
  `uv.toml` or a `pyproject.toml` with a `[tool.uv]` table wins alone; files further up
  are not merged in. uv starts at the workspace root, so pass that (the directory of
  `uv.lock`): a member's own `[tool.uv]` is never read for these settings.
- Then the user file, then ONE system file; `UV_CONFIG_FILE` replaces all three;
  `UV_NO_CONFIG` drops all three, the project's `[tool.uv]` included;
  `UV_NO_SYSTEM_CONFIG` drops the system file.
- A relative `cache-dir` is kept as written, as uv keeps it, and made absolute where
  it is used (cachedir.py: against uv's working directory, not the file's directory).
- Where uv only warns about a `pyproject.toml` it cannot parse and walks on, we raise
  InputError instead: an ignored `[tool.uv]` is a mistake worth stopping for.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Callable, NamedTuple, Optional, Union

from envkey_hook import tomlcompat
from envkey_hook.errors import InputError
from envkey_hook.names import canonical_name, is_bare_name

ConfigValue = Union[str, list[str]]
# Reads a file of the project at the state being examined (a git ref or the
# work tree); `relpath` is relative to the repository root, POSIX separators.
# Returns None when the file does not exist in that state.
ProjectReader = Callable[[str], Optional[bytes]]

# clap's BoolishValueParser and uv's parse_boolish_environment_variable (case-insensitive).
_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})


class ExtraBuildDep(NamedTuple):
    requirement: str  # PEP 508 string as written (match-runtime ones carry no version/URL)
    name: str  # normalized name of the requirement
    match_runtime: bool = False


class _Record:
    """Equality and repr from the attributes (the settings types are built up in place)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Settings(_Record):
    """Everything in uv's configuration that feeds a source build."""

    def __init__(
        self,
        no_build_isolation: bool = False,
        no_build_isolation_package: list[str] | None = None,  # normalized
        extra_build_dependencies: dict[str, list[ExtraBuildDep]] | None = None,
        extra_build_variables: dict[str, dict[str, str]] | None = None,
        config_settings: dict[str, ConfigValue] | None = None,
        config_settings_package: dict[str, dict[str, ConfigValue]] | None = None,
        cache_dir: str | None = None,  # as written (maybe relative: see cachedir.py)
        files: list[str] | None = None,  # the files that set settings, highest first
        no_build: bool = False,
        no_build_package: list[str] | None = None,  # normalized
        no_binary: bool = False,
        no_binary_package: list[str] | None = None,  # normalized
    ) -> None:
        self.no_build_isolation = no_build_isolation
        self.no_build_isolation_package = no_build_isolation_package or []
        self.extra_build_dependencies = extra_build_dependencies or {}
        self.extra_build_variables = extra_build_variables or {}
        self.config_settings = config_settings or {}
        self.config_settings_package = config_settings_package or {}
        self.cache_dir = cache_dir
        self.files = files or []
        self.no_build = no_build
        self.no_build_package = no_build_package or []
        self.no_binary = no_binary
        self.no_binary_package = no_binary_package or []

    def effective_config_settings(self, package: str) -> dict[str, ConfigValue]:
        """`config-settings-package.<package>` merged with `config-settings`, as uv does.

        The package's values come first; a key in both becomes a list of both.
        """
        own = self.config_settings_package.get(canonical_name(package))
        if own is None:
            return dict(self.config_settings)
        return _merge_config(own, self.config_settings)

    def never_builds(self, package: str) -> bool:
        """`no-build` / `no-build-package`: uv installs wheels only."""
        return self.no_build or package in self.no_build_package

    def never_wheels(self, package: str) -> bool:
        """`no-binary` / `no-binary-package`: uv builds from the sdist."""
        return self.no_binary or package in self.no_binary_package

    def builds_without_isolation(self, package: str) -> bool:
        return self.no_build_isolation or canonical_name(package) in self.no_build_isolation_package


def project_config_candidates(project_relpath: str) -> list[str]:
    """Project-level files uv may read, nearest first, up to the repository root."""
    parts = list(_rel_parts(project_relpath))
    out: list[str] = []
    while True:
        prefix = "/".join(parts)
        for name in ("uv.toml", "pyproject.toml"):
            out.append(f"{prefix}/{name}" if prefix else name)
        if not parts:
            return out
        parts.pop()


def user_config_file(env: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """uv's user file (etcetera's base strategy: XDG on macOS too, APPDATA on Windows)."""
    if platform == "win32":
        appdata = env.get("APPDATA")
        if appdata:
            return ntpath.join(appdata, "uv", "uv.toml")
        home = env.get("USERPROFILE")
        if not home:
            return None
        return ntpath.join(home, "AppData", "Roaming", "uv", "uv.toml")
    xdg = env.get("XDG_CONFIG_HOME", "")
    if posixpath.isabs(xdg):  # a relative XDG_CONFIG_HOME is ignored, per the XDG spec
        return posixpath.join(xdg, "uv", "uv.toml")
    home = env.get("HOME") or _passwd_home()
    if not home:
        return None
    return posixpath.join(home, ".config", "uv", "uv.toml")


def system_config_candidates(env: Mapping[str, str], platform: str = sys.platform) -> list[str]:
    """Where uv looks for the system file, in order; the first existing one is used."""
    if platform == "win32":
        drive = env.get("SYSTEMDRIVE")
        return [ntpath.join(drive + "\\", "ProgramData", "uv", "uv.toml")] if drive else []
    dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    out = []
    for entry in dirs.split(":"):
        if not entry:  # uv stops at the first empty entry
            break
        out.append(posixpath.join(entry, "uv", "uv.toml"))
    return [*out, "/etc/uv/uv.toml"]


def load_settings(
    repo_root: Path,
    project_relpath: str,
    read: ProjectReader,
    env: Mapping[str, str],
    *,
    platform: str = sys.platform,
    cwd: Path | None = None,
) -> Settings:
    """Read and merge uv's settings for the project at `repo_root/project_relpath`.

    `project_relpath` should be the workspace root (where uv starts discovery).
    `cwd` is uv's working directory: a relative `UV_CONFIG_FILE` is resolved against it,
    as uv does.
    """
    base = cwd if cwd is not None else Path.cwd()
    layers: list[_Layer] = []
    config_file = env.get("UV_CONFIG_FILE")
    no_config = _env_bool(env, "UV_NO_CONFIG")
    if config_file is not None:
        if not config_file:
            raise InputError("UV_CONFIG_FILE", "empty value")
        path = os.path.join(base, config_file)
        data = _read_outside(path)
        if data is None:  # uv: "failed to open file"
            raise InputError(path, "no such file (named by UV_CONFIG_FILE)")
        layers.append(_parse_uv_toml(data, path))
    elif not no_config:
        project = _find_project(repo_root, project_relpath, read)
        if project is not None:
            layers.append(project)
        user = user_config_file(env, platform)
        if user is not None:
            data = _read_outside(user)
            if data is not None:
                layers.append(_parse_uv_toml(data, user))
        if not _env_bool(env, "UV_NO_SYSTEM_CONFIG"):
            for candidate in system_config_candidates(env, platform):
                if os.path.isfile(candidate):
                    data = _read_outside(candidate)
                    if data is not None:
                        layers.append(_parse_uv_toml(data, candidate))
                    break
    settings = _merge(layers)
    # UV_NO_BUILD_ISOLATION is the `--no-build-isolation` flag: when true it wins over
    # every file; false is the same as unset (clap's `flag(false, false)` is None).
    if _env_bool(env, "UV_NO_BUILD_ISOLATION"):
        settings.no_build_isolation = True
        settings.no_build_isolation_package = []
    return settings


class _Layer(_Record):
    """The build settings of one file, validated and normalized, not yet merged."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.no_build_isolation: bool | None = None
        self.no_build_isolation_package: list[str] = []
        self.no_build: bool | None = None
        self.no_build_package: list[str] = []
        self.no_binary: bool | None = None
        self.no_binary_package: list[str] = []
        self.extra_build_dependencies: dict[str, list[ExtraBuildDep]] = {}
        self.extra_build_variables: dict[str, dict[str, str]] = {}
        self.config_settings: dict[str, ConfigValue] = {}
        self.config_settings_package: dict[str, dict[str, ConfigValue]] = {}
        self.cache_dir: str | None = None


def _merge(layers: list[_Layer]) -> Settings:
    """Combine layers (highest first) with uv's `Combine` rules (uv-settings combine.rs)."""
    out = Settings(files=[layer.path for layer in layers])
    seen: list[_Layer] = []
    isolation: bool | None = None
    for layer in layers:
        if isolation is None:
            isolation = layer.no_build_isolation
        out.no_build_isolation_package += layer.no_build_isolation_package
        out.no_build_package += layer.no_build_package
        out.no_binary_package += layer.no_binary_package
        if layer.no_build is not None and not any(x.no_build is not None for x in seen):
            out.no_build = layer.no_build
        if layer.no_binary is not None and not any(x.no_binary is not None for x in seen):
            out.no_binary = layer.no_binary
        seen.append(layer)
        for name, deps in layer.extra_build_dependencies.items():
            out.extra_build_dependencies.setdefault(name, []).extend(deps)
        for name, variables in layer.extra_build_variables.items():
            merged = out.extra_build_variables.setdefault(name, {})
            for var, value in variables.items():
                merged.setdefault(var, value)  # the higher layer keeps its value
        out.config_settings = _merge_config(out.config_settings, layer.config_settings)
        for name, config in layer.config_settings_package.items():
            out.config_settings_package[name] = _merge_config(
                out.config_settings_package.get(name, {}), config
            )
        if out.cache_dir is None:
            out.cache_dir = layer.cache_dir
    # BuildIsolation::from_args on the merged values: a `no-build-isolation` set either
    # way (by the highest layer that sets it) overrides every `no-build-isolation-package`.
    if isolation is not None:
        out.no_build_isolation = isolation
        out.no_build_isolation_package = []
    return out


def _merge_config(
    high: Mapping[str, ConfigValue], low: Mapping[str, ConfigValue]
) -> dict[str, ConfigValue]:
    """uv's ConfigSettings::merge: a key in both becomes the list `high + low`."""
    out: dict[str, ConfigValue] = dict(high)
    for key, value in low.items():
        if key in out:
            out[key] = _as_list(out[key]) + _as_list(value)
        else:
            out[key] = value
    return out


def _as_list(value: ConfigValue) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _find_project(repo_root: Path, project_relpath: str, read: ProjectReader) -> _Layer | None:
    """The first `uv.toml` or `[tool.uv]`, walking up from the project; None if none."""
    for relpath in project_config_candidates(project_relpath):
        layer = _try_file(read(relpath), relpath)
        if layer is not None:
            return layer
    for directory in repo_root.resolve().parents:
        for name in ("uv.toml", "pyproject.toml"):
            path = str(directory / name)
            layer = _try_file(_read_outside(path), path)
            if layer is not None:
                return layer
    return None


def _try_file(data: bytes | None, path: str) -> _Layer | None:
    """A project-level layer, or None when the file is absent or has no `[tool.uv]`."""
    if data is None:
        return None
    if path.replace("\\", "/").rsplit("/", 1)[-1] == "uv.toml":
        return _parse_uv_toml(data, path)
    return _parse_pyproject(data, path)


def _parse_uv_toml(data: bytes, path: str) -> _Layer:
    return _Check(path, "").layer(tomlcompat.loads(data, path))


def _parse_pyproject(data: bytes, path: str) -> _Layer | None:
    """The `[tool.uv]` layer of a `pyproject.toml`; None when it has no such table."""
    doc = tomlcompat.loads(data, path)
    tool = doc.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise InputError(path, f"[tool]: expected a table, got {_type_name(tool)}")
    table = tool.get("uv")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise InputError(path, f"[tool] uv: expected a table, got {_type_name(table)}")
    return _Check(path, "[tool.uv] ").layer(table)


class _Check:
    """Validates one file's keys; every failure is one line naming the file and key."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where

    def layer(self, table: Mapping[str, Any]) -> _Layer:
        out = _Layer(self.path)
        if "no-build-isolation" in table:
            out.no_build_isolation = self.expect(
                table["no-build-isolation"], bool, "no-build-isolation"
            )
        key = "no-build-isolation-package"
        for i, raw in enumerate(self.expect(table.get(key, []), list, key)):
            out.no_build_isolation_package.append(self.name(raw, f"{key}[{i}]"))
        for key in ("no-build", "no-binary"):
            if key in table:
                setattr(out, key.replace("-", "_"), self.expect(table[key], bool, key))
            key += "-package"
            names = getattr(out, key.replace("-", "_"))
            for i, raw in enumerate(self.expect(table.get(key, []), list, key)):
                names.append(self.name(raw, f"{key}[{i}]"))
        key = "extra-build-dependencies"
        for raw, deps in self.packages(table, key, unique=True).items():
            where = f"{key}.{raw}"
            items = self.expect(deps, list, where)
            name = canonical_name(raw)
            out.extra_build_dependencies[name] = [
                self.dep(item, f"{where}[{i}]") for i, item in enumerate(items)
            ]
        key = "extra-build-variables"
        for raw, variables in self.packages(table, key).items():
            where = f"{key}.{raw}"
            out.extra_build_variables[canonical_name(raw)] = {
                var: self.expect(value, str, f"{where}.{var}")
                for var, value in self.expect(variables, dict, where).items()
            }
        out.config_settings = self.config(table.get("config-settings", {}), "config-settings")
        key = "config-settings-package"
        for raw, config in self.packages(table, key).items():
            out.config_settings_package[canonical_name(raw)] = self.config(config, f"{key}.{raw}")
        if "cache-dir" in table:
            out.cache_dir = self.expect(table["cache-dir"], str, "cache-dir")
        return out

    def fail(self, key: str, problem: str) -> InputError:
        return InputError(self.path, f"{self.where}{key}: {problem}".replace("\n", " "))

    def expect(self, value: Any, kind: type, key: str) -> Any:
        if not isinstance(value, kind):
            wanted = {bool: "a boolean", list: "a list", dict: "a table", str: "a string"}[kind]
            raise self.fail(key, f"expected {wanted}, got {_type_name(value)}")
        return value

    def name(self, raw: Any, key: str) -> str:
        if not is_bare_name(self.expect(raw, str, key)):
            raise self.fail(key, f"invalid package name {raw!r}")
        return canonical_name(raw)

    def packages(
        self, table: Mapping[str, Any], key: str, *, unique: bool = False
    ) -> dict[str, Any]:
        """A package-keyed table, names validated.

        uv rejects two spellings of one name in `extra-build-dependencies`; elsewhere the
        later one silently replaces the earlier (a BTreeMap insert), which dict order mirrors.
        """
        entries: dict[str, Any] = self.expect(table.get(key, {}), dict, key)
        seen: dict[str, str] = {}
        out: dict[str, Any] = {}
        for raw, value in entries.items():
            name = self.name(raw, f"{key}.{raw}")
            if name in seen:
                if unique:
                    raise self.fail(key, f"{seen[name]!r} and {raw!r} name the same package")
                del out[seen[name]]
            seen[name] = raw
            out[raw] = value
        return out

    def dep(self, item: Any, key: str) -> ExtraBuildDep:
        if isinstance(item, str):
            text, match_runtime = item, False
        elif isinstance(item, dict):
            for required in ("requirement", "match-runtime"):
                if required not in item:  # uv's untagged enum needs both fields
                    raise self.fail(key, f"missing `{required}`")
            text = self.expect(item["requirement"], str, f"{key}.requirement")
            match_runtime = self.expect(item["match-runtime"], bool, f"{key}.match-runtime")
        else:
            raise self.fail(key, f"expected a PEP 508 string or a table, got {_type_name(item)}")
        if is_bare_name(text):  # the usual `torch`: no need to import packaging
            return ExtraBuildDep(text, canonical_name(text), match_runtime)
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            detail = str(exc).splitlines()[0] if str(exc) else "invalid"
            raise self.fail(key, f"invalid requirement {text!r}: {detail}") from None
        if match_runtime and (req.specifier or req.url):
            # uv's ExtraBuildRequiresError::VersionSpecifiersNotAllowed (also for URLs)
            raise self.fail(key, f"match-runtime = true forbids a version or URL in {text!r}")
        return ExtraBuildDep(text.strip(), canonical_name(req.name), match_runtime)

    def config(self, value: Any, key: str) -> dict[str, ConfigValue]:
        out: dict[str, ConfigValue] = {}
        for name, item in self.expect(value, dict, key).items():
            where = f"{key}.{name}"
            if isinstance(item, list):
                out[name] = [self.expect(v, str, f"{where}[{i}]") for i, v in enumerate(item)]
            elif isinstance(item, str):
                out[name] = item
            else:
                raise self.fail(
                    where, f"expected a string or a list of strings, got {_type_name(item)}"
                )
        return out


def _read_outside(path: str) -> bytes | None:
    """Read a file outside the repository; None when it does not exist."""
    from envkey_hook import readfile

    return readfile.read(path, readfile.TOML_LIMIT)


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InputError(name, f"expected a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def _passwd_home() -> str | None:
    """The home directory from the user database, as Rust's `home_dir` falls back to."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, AttributeError):
        return None


def _rel_parts(project_relpath: str) -> tuple[str, ...]:
    parts = tuple(p for p in PurePosixPath(project_relpath.replace("\\", "/")).parts if p != ".")
    if parts and (parts[0] == "/" or ".." in parts):
        raise ValueError(f"project path must be relative to the repository: {project_relpath!r}")
    return parts


def _type_name(value: object) -> str:
    return "table" if isinstance(value, dict) else type(value).__name__
