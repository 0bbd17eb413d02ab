"""Finding a package's source-build entries in uv's cache without walking the cache.

Only the directories a package's entries can live in are listed: `sdists-v*/pypi/<name>/`,
`sdists-v*/index/*/<name>/`, and the hash-keyed `url/`, `path/`, `editable/` and `git/`
entries, each identified by peeking at its small files (wheel names, `PKG-INFO`,
`pyproject.toml`). Bucket versions change between uv releases, so they are globbed.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import NamedTuple

from envkey_hook.names import canonical_name

SDIST_BUCKET = re.compile(r"sdists-v\d+")
GIT_BUCKET = re.compile(r"git-v\d+")
SLOT_NAME = re.compile(r"[0-9a-f]{16}")
HASH_KINDS = ("url", "path", "editable", "git")
# The hash-keyed kinds a lock source can be cached under (uv's WheelCache variants). A
# registry package lives under `pypi/` or `index/` only, which are found by name, so
# the hash-keyed entries (peeked at one by one) are skipped. Directories are built
# editable or not depending on the sync, so both buckets.
SOURCE_KINDS = {
    "registry": (),
    "url": ("url",),
    "path": ("path",),
    "directory": ("path", "editable"),
    "editable": ("path", "editable"),
    "git": ("git",),
}
_MIN_SHORT_SHA = 7  # uv names git checkouts by 7 hex digits, git entries by 16
_PEEK_BYTES = 64 * 1024


class Entry(NamedTuple):
    """One source distribution in the cache; uv locks it through `<path>/.lock`."""

    bucket: Path
    kind: str  # pypi | index | url | path | git | editable
    path: Path  # the directory holding the entry's .lock
    package: str


class Slot(NamedTuple):
    """One built wheel of a revision: `<rev>/<16-hex digest>/`, or the revision itself."""

    path: Path
    wheel: Path | None
    created: float  # the wheel's mtime (the slot's when it has no wheel)
    is_root: bool = False  # wheel directly in the revision (empty build configuration)


def subdirs(path: Path) -> list[Path]:
    """Real (non-symlink) subdirectories, dot-names skipped, sorted."""
    try:
        with os.scandir(path) as it:
            names = [
                e.name for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []
    return [path / n for n in sorted(names)]


def _files(path: Path, suffix: str) -> list[Path]:
    try:
        with os.scandir(path) as it:
            names = [
                e.name for e in it if e.name.endswith(suffix) and e.is_file(follow_symlinks=False)
            ]
    except OSError:
        return []
    return [path / n for n in sorted(names)]


def buckets(cache: Path, pattern: re.Pattern[str]) -> list[Path]:
    """`sdists-v*` or `git-v*` buckets of the cache, whatever their version."""
    return [d for d in subdirs(cache) if pattern.fullmatch(d.name)]


def wheel_dist(wheel: Path) -> str:
    """Normalized distribution name from `<dist>-<ver>-...whl`."""
    return canonical_name(wheel.name.split("-", 1)[0])


def _read_head(path: Path) -> str:
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return ""
        with open(path, "rb") as f:
            return f.read(_PEEK_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""


def _pkg_info_name(path: Path) -> str | None:
    m = re.search(r"^Name:[ \t]*(\S+)", _read_head(path), re.MULTILINE)
    return canonical_name(m.group(1)) if m else None


def _pyproject_name(path: Path) -> str | None:
    """`[project] name` by a line scan: enough for a name, no TOML parser needed."""
    table = None
    for line in _read_head(path).splitlines():
        header = re.match(r"\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header:
            table = header.group(1).strip()
            continue
        m = re.match(r"""\s*name\s*=\s*["']([^"']+)["']""", line)
        if table == "project" and m:
            return canonical_name(m.group(1))
    return None


def revisions(entry: Entry) -> list[Path]:
    """The entry's revision directories. Git entries are keyed by commit: no revision level."""
    if entry.kind == "git":
        return [entry.path]
    return subdirs(entry.path)


def _slot(path: Path, wheel: Path | None, is_root: bool) -> Slot | None:
    try:
        created = os.lstat(wheel or path).st_mtime
    except OSError:
        return None  # removed under us
    return Slot(path, wheel, created, is_root)


def slots(rev: Path) -> list[Slot]:
    """Built slots of one revision, including a wheel filed directly in the revision."""
    found = [_slot(rev, wheel, True) for wheel in _files(rev, ".whl")]
    for d in subdirs(rev):
        if SLOT_NAME.fullmatch(d.name):  # skips `src` and anything unexpected
            wheels = _files(d, ".whl")
            found.append(_slot(d, wheels[0] if wheels else None, False))
    return [s for s in found if s is not None]


def entry_package(kind: str, path: Path) -> str | None:
    """The package a hash-keyed entry holds, from its slots' wheels or its source tree."""
    revs = [path] if kind == "git" else subdirs(path)
    for rev in revs:
        for slot in slots(rev):
            if slot.wheel is not None:
                return wheel_dist(slot.wheel)
    for rev in revs:
        name = _pkg_info_name(rev / "src" / "PKG-INFO") or _pyproject_name(
            rev / "src" / "pyproject.toml"
        )
        if name:
            return name
    return None


def _short_sha_matches(short: str, shas: Collection[str]) -> bool:
    short = short.lower()
    if len(short) < _MIN_SHORT_SHA or not re.fullmatch(r"[0-9a-f]+", short):
        return False
    return any(sha.lower().startswith(short) for sha in shas)


def _hash_entries(bucket: Path, kind: str) -> Iterator[Path]:
    for d in subdirs(bucket / kind):
        if kind == "git":
            yield from subdirs(d)  # git/<repo hash>/<commit>/
        else:
            yield d


def hash_kinds(source_kinds: Collection[str]) -> frozenset[str]:
    """The hash-keyed kinds to look in for a package locked with these source kinds."""
    return frozenset(k for s in source_kinds for k in SOURCE_KINDS.get(s, HASH_KINDS))


def find_entries(
    cache: Path,
    package: str,
    git_shas: Collection[str] = (),
    kinds: Collection[str] = HASH_KINDS,
) -> list[Entry]:
    """Every sdist entry of `package` (PEP 503 normalized) in every `sdists-v*` bucket.

    A git entry also matches when its commit prefixes one of `git_shas`, unless its
    wheels or source tree name another package (one commit can hold several packages).
    Hash-keyed entries are looked at only for `kinds` (see `hash_kinds`).
    """
    package = canonical_name(package)
    found: list[Entry] = []
    for bucket in buckets(cache, SDIST_BUCKET):
        for version in subdirs(bucket / "pypi" / package):
            found.append(Entry(bucket, "pypi", version, package))
        for index in subdirs(bucket / "index"):
            for version in subdirs(index / package):
                found.append(Entry(bucket, "index", version, package))
        for kind in HASH_KINDS:
            if kind not in kinds:
                continue
            for path in _hash_entries(bucket, kind):
                name = entry_package(kind, path)
                by_sha = kind == "git" and name is None and _short_sha_matches(path.name, git_shas)
                if name == package or by_sha:
                    found.append(Entry(bucket, kind, path, package))
    return found


def git_checkouts(cache: Path, git_shas: Collection[str]) -> list[Path]:
    """`git-v*/checkouts/<repo hash>/<short sha>/` for the given full commit shas."""
    if not git_shas:
        return []
    return [
        checkout
        for bucket in buckets(cache, GIT_BUCKET)
        for repo in subdirs(bucket / "checkouts")
        for checkout in subdirs(repo)
        if _short_sha_matches(checkout.name, git_shas)
    ]
