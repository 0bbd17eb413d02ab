"""The compiled payload of a wheel, read from the zip central directory only, and the
headers of the runtimes uv holds unpacked, which decide whether two builds must differ."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from envkey_hook.names import canonical_name

# Extension modules and shared libraries: `.so`, `.so.1.2`, `.pyd`, `.dylib`.
_NATIVE = re.compile(r"\.(so(\.\d+)*|pyd|dylib)$", re.IGNORECASE)

Payload = frozenset[tuple[str, int, int]]


def compiled_payload(wheel: Path) -> Payload | None:
    """(member name, CRC32, size) of every native member; None when the wheel is unreadable.

    ZipFile reads only the central directory, where CRC32 and size are recorded,
    so this stays cheap for wheels of hundreds of MB: no member data is read.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            return frozenset(
                (info.filename, info.CRC, info.file_size)
                for info in zf.infolist()
                if not info.is_dir() and _NATIVE.search(info.filename)
            )
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        # ValueError covers undecodable names and corrupt zip64 records.
        return None


# What a compile reads of a runtime: its C, C++, CUDA and Cython headers.
_HEADER = re.compile(r"\.(h|hh|hpp|hxx|h\+\+|cuh|inc|inl|ipp|tcc|pxd|pxi)$", re.IGNORECASE)

HeaderTree = frozenset[tuple[str, str]]  # (path in the wheel, RECORD hash)


def header_trees(cache: Path, names: Iterable[str]) -> dict[str, dict[str, set[HeaderTree]]]:
    """name -> version -> header trees of every copy of these runtimes unpacked in
    `archive-v*` (uv installs and builds from those copies), from their RECORD."""
    wanted = set(names)
    found: dict[str, dict[str, set[HeaderTree]]] = {}
    for bucket in _dirs(cache, lambda n: n.startswith("archive-v")):
        for archive in _dirs(bucket, lambda n: True):
            for info in _dirs(archive, lambda n: n.endswith(".dist-info")):
                dist, _, version = info.name[: -len(".dist-info")].partition("-")
                if canonical_name(dist) in wanted:
                    tree = _record_headers(info / "RECORD")
                    if tree is not None:
                        by_version = found.setdefault(canonical_name(dist), {})
                        by_version.setdefault(version, set()).add(tree)
    return found


def _dirs(path: Path, keep: Callable[[str], bool]) -> list[Path]:
    try:
        with os.scandir(path) as it:
            return [path / e.name for e in it if e.is_dir(follow_symlinks=False) and keep(e.name)]
    except OSError:
        return []


def _record_headers(record: Path) -> HeaderTree | None:
    try:
        with open(record, "rb") as f:
            lines = f.read(64 * 1024 * 1024).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    tree: set[tuple[str, str]] = set()
    for line in lines:
        path, _, digest = line.rpartition(",")[0].rpartition(",")  # path,hash,size
        if _HEADER.search(path):
            tree.add((path, digest))
    return frozenset(tree)


def native_record(text: str) -> frozenset[tuple[str, str]]:
    """(path, hash) of every native member listed in a RECORD."""
    found = set()
    for line in text.splitlines():
        path, _, digest = line.rpartition(",")[0].rpartition(",")  # path,hash,size
        if _NATIVE.search(path):
            found.add((path, digest))
    return frozenset(found)


def wheel_native_record(wheel: Path) -> frozenset[tuple[str, str]] | None:
    """`native_record` of the RECORD inside a wheel; None when it cannot be read."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
            if len(names) != 1 or zf.getinfo(names[0]).file_size > 64 * 1024 * 1024:
                return None
            return native_record(zf.read(names[0]).decode("utf-8"))
    except (OSError, EOFError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile):
        return None
