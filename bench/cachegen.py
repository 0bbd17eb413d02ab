"""Fake uv caches in uv 0.13's layout: many unrelated packages, and one built package."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

PACKAGE = "extpkg"
TAGS = "cp311-cp311-linux_x86_64"
REV = "NY1wkbQIK4PdmLmv"
SDIST_BUCKETS = ("sdists-v9", "sdists-v10", "sdists-v11")


def hex16(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _tree(root: Path, files: int, payload: bytes = b"x") -> int:
    """`files` small files under `root`, 50 to a directory."""
    for i in range(files):
        d = root / f"d{i // 50}"
        if i % 50 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.py").write_bytes(payload)
    return files


def _wheel(path: Path, dist: str, native: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/__init__.py", b"")
        zf.writestr(f"{dist}/_ext.cpython-311-x86_64-linux-gnu.so", native)


def built_entry(cache: Path, bucket: str, name: str = PACKAGE) -> Path:
    """A registry sdist entry with a source tree holding setuptools' build/ and one slot."""
    entry = cache / bucket / "pypi" / name / "0.1"
    src = entry / REV / "src"
    (src / "extpkg").mkdir(parents=True)
    (entry / ".lock").touch()
    (entry / "revision.rev").write_bytes(b"\x92\x95")
    (src / "PKG-INFO").write_text(f"Metadata-Version: 2.2\nName: {name}\nVersion: 0.1\n")
    (src / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    build = src / "build"
    lib = build / "lib.linux-x86_64-cpython-311" / "extpkg"
    lib.mkdir(parents=True)
    (lib / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF" + b"x" * 4000)
    temp = build / "temp.linux-x86_64-cpython-311" / "src"
    temp.mkdir(parents=True)
    (temp / "ext.o").write_bytes(b"o" * 2000)
    (build / "bdist.linux-x86_64").mkdir()
    slot = entry / REV / hex16(bucket, name)
    _wheel(slot / f"{name}-0.1-{TAGS}.whl", name, b"\x7fELF built")
    return entry


def affected(cache: Path) -> list[Path]:
    """The affected package in every sdist bucket (several uv versions side by side)."""
    for marker in ("CACHEDIR.TAG", ".gitignore"):
        (cache / marker).parent.mkdir(parents=True, exist_ok=True)
    (cache / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    (cache / ".gitignore").write_text("*\n")
    return [built_entry(cache, bucket) for bucket in SDIST_BUCKETS]


def unrelated(cache: Path, files: int = 100_000) -> int:
    """About `files` files of unrelated packages, spread as a real cache spreads them."""
    made = 0
    share = files // 100
    for i in range(30 * share // 100):  # unpacked wheels (shared with virtualenvs)
        made += _tree(cache / "archive-v0" / hex16("archive", i), 100)
    for bucket in SDIST_BUCKETS:
        n = {"sdists-v9": 20, "sdists-v10": 5, "sdists-v11": 5}[bucket] * share // 100
        for i in range(n):  # registry sdists: a source tree and a slot
            entry = cache / bucket / "pypi" / f"pkg{i}" / "1.0"
            made += _tree(entry / REV / "src", 95)
            (entry / ".lock").touch()
            _wheel(entry / REV / hex16(bucket, i) / f"pkg{i}-1.0-{TAGS}.whl", f"pkg{i}", b"so")
            made += 2
    for kind in ("url", "path", "editable"):  # hash-keyed sdists: peeked at, never walked
        for i in range(3 * share // 100):
            entry = cache / "sdists-v9" / kind / hex16(kind, i)
            made += _tree(entry / REV / "src", 95)
            _wheel(
                entry / REV / hex16(kind, i, 1) / f"{kind}{i}-1.0-{TAGS}.whl", f"{kind}{i}", b"so"
            )
            made += 1
    for i in range(3 * share // 100):  # git sdists and checkouts
        entry = cache / "sdists-v9" / "git" / hex16("repo", i) / hex16("commit", i)
        made += _tree(entry, 95)
        _wheel(entry / hex16("git", i) / f"git{i}-1.0-{TAGS}.whl", f"git{i}", b"so")
        made += _tree(cache / "git-v0" / "checkouts" / hex16("repo", i) / "abcdef1", 100)
    for i in range(10 * share // 100):  # wheels and index pages
        made += _tree(cache / "wheels-v5" / "pypi" / f"whl{i}", 100)
    for i in range(files - made):
        (cache / "simple-v16" / "pypi").mkdir(parents=True, exist_ok=True)
        (cache / "simple-v16" / "pypi" / f"p{i}.rkyv").write_bytes(b"x")
    return files


def copy_entries(template: Path, cache: Path) -> None:
    """Put the affected package's entries back as the template has them."""
    for bucket in SDIST_BUCKETS:
        dest = cache / bucket / "pypi" / PACKAGE
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(template / bucket / "pypi" / PACKAGE, dest, symlinks=True)


# --- big sparse wheels (doctor) -------------------------------------------------------

_MIB = 1024 * 1024


def _zeros_crc(size: int) -> int:
    crc, chunk = 0, bytes(_MIB)
    for _ in range(size // _MIB):
        crc = zlib.crc32(chunk, crc)
    return zlib.crc32(bytes(size % _MIB), crc)


def sparse_wheel(path: Path, dist: str, size: int, crc: int) -> None:
    """A valid stored-zip wheel of `size` bytes whose big member is a hole on disk.

    Only the central directory at the end holds data; a reader that opens member
    contents would read `size` bytes of zeros.
    """
    members = [
        (f"{dist}/__init__.py".encode(), b"", zlib.crc32(b"")),
        (f"{dist}/_ext.cpython-311-x86_64-linux-gnu.so".encode(), None, crc),
        (f"{dist}-1.0.dist-info/RECORD".encode(), b"RECORD\n", zlib.crc32(b"RECORD\n")),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    central = b""
    with open(path, "wb") as f:
        for name, data, member_crc in members:
            offset = f.tell()
            length = size if data is None else len(data)
            f.write(
                struct.pack(
                    "<4s5H3L2H",
                    b"PK\x03\x04",
                    20,
                    0,
                    0,
                    0,
                    0,
                    member_crc,
                    length,
                    length,
                    len(name),
                    0,
                )
                + name
            )
            if data is None:
                f.seek(length, os.SEEK_CUR)  # a hole: no data blocks
            else:
                f.write(data)
            central += (
                struct.pack(
                    "<4s6H3L5H2L",
                    b"PK\x01\x02",
                    20,
                    20,
                    0,
                    0,
                    0,
                    0,
                    member_crc,
                    length,
                    length,
                    len(name),
                    0,
                    0,
                    0,
                    0,
                    0o644 << 16,
                    offset,
                )
                + name
            )
        start = f.tell()
        f.write(central)
        f.write(
            struct.pack(
                "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0
            )
        )


def big_wheels(cache: Path, packages: int, slots: int, size: int) -> int:
    """`packages` x `slots` wheels of `size` bytes; all slots of a package repackage one
    binary (polluted); returns the total apparent size."""
    base_crc = _zeros_crc(size)
    total = 0
    for p in range(packages):
        dist = f"big{p}"
        entry = cache / "sdists-v9" / "pypi" / dist / "1.0"
        (entry / REV / "src").mkdir(parents=True, exist_ok=True)
        (entry / ".lock").touch()
        extra = p  # a different payload per package: one byte longer each
        crc = zlib.crc32(bytes(extra), base_crc)
        for s in range(slots):
            wheel = entry / REV / hex16(dist, s) / f"{dist}-1.0-{TAGS}.whl"
            sparse_wheel(wheel, dist, size + extra, crc)
            os.utime(wheel, (1_700_000_000 + s, 1_700_000_000 + s))
            total += wheel.stat().st_size
    return total
