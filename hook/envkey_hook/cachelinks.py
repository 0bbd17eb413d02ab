"""Symlinked parts of uv's cache where a package's build state could be.

uv follows a symlinked `sdists-v*` bucket, index, entry or revision; envkey-hook never
deletes through one. Skipping it silently would leave the stale tree uv reuses, so each
one is reported with the command that clears it (uv removes the link, not its target).
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Collection, Iterator
from pathlib import Path

from envkey_hook.cache import SDIST_BUCKET, entry_package
from envkey_hook.names import canonical_name

_MSG = "is a symlink: not followed, so the build state of {pkg} behind it was left alone"


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def _children(path: Path) -> list[Path]:
    """Every entry of a real directory, dot-names skipped (symlinks included)."""
    if _is_link(path):
        return []
    try:
        with os.scandir(path) as it:
            return [path / e.name for e in it if not e.name.startswith(".")]
    except OSError:
        return []


def _dirs(path: Path) -> list[Path]:
    return [c for c in _children(path) if c.is_dir() and not _is_link(c)]


def _links(path: Path) -> list[Path]:
    return [c for c in _children(path) if _is_link(c) and c.is_dir()]


def _has_package(bucket: Path, package: str, kinds: Collection[str]) -> bool:
    """Whether a bucket (read through its link) holds entries of `package`."""
    if (bucket / "pypi" / package).is_dir():
        return True
    index = bucket / "index"
    if index.is_dir() and any((i / package).is_dir() for i in index.iterdir()):
        return True
    return any(
        entry_package(kind, e) in (None, package)
        for kind in kinds
        for e in (bucket / kind).glob("*/*" if kind == "git" else "*")
        if e.is_dir()
    )


def _in_bucket(bucket: Path, package: str, kinds: Collection[str]) -> Iterator[Path]:
    """Symlinks in a real bucket on the way to `package`'s entries and revisions."""
    named: list[Path] = [bucket / "pypi", bucket / "pypi" / package, bucket / "index"]
    for index in _children(bucket / "index"):
        named += [index, index / package]
    yield from (p for p in named if _is_link(p) and p.is_dir())
    entries = _dirs(bucket / "pypi" / package)
    entries += [e for i in _dirs(bucket / "index") for e in _dirs(i / package)]
    yield from _links(bucket / "pypi" / package)
    for i in _dirs(bucket / "index"):
        yield from _links(i / package)
    for kind in kinds:
        if _is_link(bucket / kind):
            yield bucket / kind
            continue
        parents = _dirs(bucket / kind) if kind == "git" else [bucket / kind]
        for parent in parents:
            for e in _links(parent):
                if entry_package(kind, e) in (None, package):
                    yield e
            for e in _dirs(parent):
                if entry_package(kind, e) == package:
                    entries.append(e)
    for e in entries:
        yield from _links(e)  # a revision (or a git entry's slot)
        for rev in _dirs(e):
            if _is_link(rev / "src"):
                yield rev / "src"


def symlinked_parts(cache: Path, package: str, kinds: Collection[str]) -> list[Path]:
    """Symlinks uv would follow to `package`'s build state, which envkey-hook will not."""
    package = canonical_name(package)
    found: list[Path] = []
    for b in _children(cache):
        if not SDIST_BUCKET.fullmatch(b.name):
            continue
        if _is_link(b):
            if b.is_dir() and _has_package(b, package, kinds):
                found.append(b)
        elif b.is_dir():
            found += _in_bucket(b, package, kinds)
    return sorted(set(found))


def clean_command(package: str, link: Path) -> str:
    """What clears it: `uv cache clean` removes the link (uv never removes an
    `editable/` entry, so that link is removed by hand)."""
    if link.parent.name == "editable":
        return f"rm -- {shlex.quote(str(link))}"
    return f"uv cache clean {shlex.quote(package)}"


def message(package: str) -> str:
    return _MSG.format(pkg=package)
