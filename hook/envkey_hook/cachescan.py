"""Scanning the whole uv cache for polluted slots, cheaply.

Pollution can only be where two built wheels share one source revision, so entry
directories are listed, and wheels are opened (their zip central directory only)
in such revisions alone. Hash-keyed entries are named only when they are suspects.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from envkey_hook.cache import (
    SDIST_BUCKET,
    Entry,
    buckets,
    entry_package,
    git_checkouts,
    revisions,
    slots,
    subdirs,
)
from envkey_hook.purge import Notice, Removal, find_polluted, is_setuptools_build_dir
from envkey_hook.remove import tree_size

_PROGRESS_SECONDS = 0.1


@dataclass(frozen=True)
class Polluted:
    """A slot that repackaged an older slot's binary."""

    slot: Removal
    entry: Entry
    version: str
    age: float  # seconds since its wheel was written


@dataclass
class Scan:
    entries: int = 0
    polluted: list[Polluted] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # left alone, or unreadable


def iter_entries(cache: Path) -> Iterator[Entry]:
    """Every sdist entry of every bucket; hash-keyed entries with no package name yet."""
    for bucket in buckets(cache, SDIST_BUCKET):
        for name in subdirs(bucket / "pypi"):
            for version in subdirs(name):
                yield Entry(bucket, "pypi", version, name.name)
        for index in subdirs(bucket / "index"):
            for name in subdirs(index):
                for version in subdirs(name):
                    yield Entry(bucket, "index", version, name.name)
        for kind in ("url", "path", "editable"):
            for d in subdirs(bucket / kind):
                yield Entry(bucket, kind, d, "")
        for repo in subdirs(bucket / "git"):
            for commit in subdirs(repo):
                yield Entry(bucket, "git", commit, "")


def _may_be_polluted(entry: Entry) -> bool:
    """Two built wheels in one revision: the only place pollution can be."""
    return any(sum(s.wheel is not None for s in slots(rev)) >= 2 for rev in revisions(entry))


def _wheel(slot: Path) -> Path | None:
    wheels = sorted(slot.glob("*.whl"))
    return wheels[0] if wheels else None


def _version(entry: Entry, wheel: Path | None) -> str:
    if entry.kind in ("pypi", "index"):
        return entry.path.name
    parts = wheel.name.split("-") if wheel else []
    return parts[1] if len(parts) > 2 else "?"


class Progress:
    """`\\rscanned N entries` on stderr, only when it is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.last = 0.0

    def update(self, n: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= _PROGRESS_SECONDS:
            self.last = now
            self.stream.write(f"\rscanned {n} entries")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.last:
            self.stream.write("\r\033[K")
            self.stream.flush()


def scan_cache(
    cache: Path,
    progress: Progress | None = None,
    now: float | None = None,
    runtimes: Mapping[str, frozenset[str] | None] | None = None,
) -> Scan:
    """Polluted slots in the whole cache.

    `runtimes`: per package, the runtimes its configurations differ in (a project's
    settings know them); an identical payload across those is not pollution when
    their headers are the same (purge.compiles_alike).
    """
    now = time.time() if now is None else now
    result = Scan()
    for entry in iter_entries(cache):
        result.entries += 1
        if progress:
            progress.update(result.entries)
        if not _may_be_polluted(entry):
            continue
        if not entry.package:
            entry = entry._replace(package=entry_package(entry.kind, entry.path) or "?")
        removals, notices = find_polluted([entry], (runtimes or {}).get(entry.package))
        result.notices += notices
        for r in removals:
            wheel = _wheel(r.path)
            try:
                age = now - os.lstat(wheel).st_mtime if wheel else 0.0
            except OSError:
                age = 0.0
            result.polluted.append(Polluted(r, entry, _version(entry, wheel), max(age, 0.0)))
    if progress:
        progress.done()
    return result


def build_removal(path: Path, kind: str, package: str, entry: Path | None) -> Removal | None:
    """A setuptools build directory at `path`; None when there is none (or not ours)."""
    if path.is_symlink() or not path.is_dir() or not is_setuptools_build_dir(path):
        return None
    return Removal(path, kind, package, entry, tree_size(path), "build directory")


def fix_plan(cache: Path, polluted: Sequence[Polluted]) -> list[Removal]:
    """The polluted slots and the build directories of the source trees they came from."""
    found: dict[Path, Removal] = {}
    for p in polluted:
        found.setdefault(p.slot.path, p.slot)
        rev = p.slot.path.parent
        builds: list[tuple[Path, str]] = []
        if p.entry.kind == "git":  # built in uv's checkout of the commit
            co = git_checkouts(cache, [p.entry.path.name])
            builds += [(c / "build", "checkout-build") for c in co]
        else:
            builds.append((rev / "src" / "build", "build-dir"))
        for path, kind in builds:
            r = build_removal(path, kind, p.entry.package, p.entry.path)
            if r is not None:
                found.setdefault(r.path, r)
    return list(found.values())
