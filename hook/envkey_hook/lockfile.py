"""Reading `uv.lock`: the packages, their versions, sources and fork markers."""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.utils import canonicalize_name  # noqa: F401  (used by the reader)

SUPPORTED_LOCK_VERSION = 1


@dataclass(frozen=True)
class LockedPackage:
    """One `[[package]]` table, reduced to what decides a build."""

    name: str  # PEP 503 normalized
    version: str | None  # None only for dynamic-version local sources
    source: tuple[tuple[str, str], ...]  # sorted items of the `source` inline table
    resolution_markers: tuple[str, ...] = ()
    has_sdist: bool = False
    has_wheels: bool = False

    @property
    def source_kind(self) -> str:
        """`registry`, `git`, `url`, `path`, `directory`, `editable` or `virtual`."""
        for key, _ in self.source:
            if key in ("registry", "git", "url", "path", "directory", "editable", "virtual"):
                return key
        return ""

    @property
    def source_value(self) -> str:
        return dict(self.source).get(self.source_kind, "")


@dataclass(frozen=True)
class Lock:
    path: str
    version: int
    revision: int | None
    requires_python: str | None
    packages: tuple[LockedPackage, ...] = field(default_factory=tuple)

    def by_name(self, name: str) -> list[LockedPackage]:
        """All entries (forks) for a normalized name."""
        return [p for p in self.packages if p.name == name]


def parse_lock(data: bytes, path: str) -> Lock:
    """Parse uv.lock bytes; raise InputError(path, problem) on anything bad."""
    raise NotImplementedError
