"""uv's build settings, read from every layer uv reads and merged as uv merges them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

ConfigValue = Union[str, list[str]]
# Reads a file of the project at the state being examined (a git ref or the
# work tree); `relpath` is relative to the repository root, POSIX separators.
# Returns None when the file does not exist in that state.
ProjectReader = Callable[[str], Optional[bytes]]


@dataclass(frozen=True)
class ExtraBuildDep:
    requirement: str  # PEP 508 string as written (for match-runtime: the bare name)
    name: str  # normalized name of the requirement
    match_runtime: bool = False


@dataclass
class Settings:
    """Everything in uv's configuration that feeds a source build."""

    no_build_isolation: bool = False
    no_build_isolation_package: list[str] = field(default_factory=list)  # normalized
    extra_build_dependencies: dict[str, list[ExtraBuildDep]] = field(default_factory=dict)
    extra_build_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    config_settings: dict[str, ConfigValue] = field(default_factory=dict)
    config_settings_package: dict[str, dict[str, ConfigValue]] = field(default_factory=dict)
    cache_dir: str | None = None  # as configured, made absolute against the file's directory
    files: list[str] = field(default_factory=list)  # the files that were read, highest first

    def effective_config_settings(self, package: str) -> dict[str, ConfigValue]:
        """`config-settings` merged with `config-settings-package.<package>`."""
        raise NotImplementedError

    def builds_without_isolation(self, package: str) -> bool:
        raise NotImplementedError


def load_settings(
    repo_root: Path,
    project_relpath: str,
    read: ProjectReader,
    env: Mapping[str, str],
) -> Settings:
    """Read and merge uv's settings for the project at `repo_root/project_relpath`."""
    raise NotImplementedError
