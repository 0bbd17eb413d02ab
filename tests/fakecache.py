"""Fake uv cache trees for the cache, remove, purge and locks tests (layout of uv 0.13.9)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

SO = "extpkg/_ext.cpython-311-x86_64-linux-gnu.so"
TAGS = "cp311-cp311-linux_x86_64"


def write_wheel(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def add_slot(
    rev: Path,
    digest: str,
    binary: bytes | None = b"binary built against 1.0",
    *,
    dist: str = "extpkg",
    mtime: float | None = None,
    version: str = "0.1",
) -> Path:
    """A slot `<rev>/<digest>/` as uv files it; `binary=None` gives a pure-Python wheel.

    `digest=""` files the wheel directly in the revision (empty build configuration).
    """
    slot = rev / digest if digest else rev
    slot.mkdir(parents=True, exist_ok=True)
    stem = f"{dist.replace('-', '_')}-{version}-{TAGS}"
    members = {f"{dist}/__init__.py": b""}
    if binary is not None:
        members[SO] = binary
    wheel = write_wheel(slot / f"{stem}.whl", members)
    if digest:
        (slot / f"{version}-{TAGS}.lock").touch()
        (slot / "metadata.msgpack").write_bytes(b"\x80")
        target = _cache_root(rev) / "archive-v0" / f"arch-{digest}"
        target.mkdir(parents=True, exist_ok=True)
        (target / "keep.txt").write_text("unpacked wheel, shared with venvs")
        os.symlink(os.path.relpath(target, slot), slot / stem)
    if mtime is not None:
        os.utime(wheel, (mtime, mtime))
    return slot


def _hex16(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def _cache_root(path: Path) -> Path:
    for p in path.parents:
        if p.name.startswith(("sdists-v", "git-v")):
            return p.parent
    raise AssertionError(f"{path} is not in a cache bucket")


def setuptools_build(src: Path) -> Path:
    """`<src>/build` as setuptools leaves it after compiling an extension."""
    build = src / "build"
    (build / "lib.linux-x86_64-cpython-311" / "extpkg").mkdir(parents=True)
    (build / "lib.linux-x86_64-cpython-311" / SO).write_bytes(b"x" * 100)
    (build / "temp.linux-x86_64-cpython-311" / "src").mkdir(parents=True)
    (build / "temp.linux-x86_64-cpython-311" / "src" / "ext.o").write_bytes(b"o" * 50)
    (build / "bdist.linux-x86_64").mkdir()
    return build


def entry(
    cache: Path, kind: str = "index", name: str = "extpkg", bucket: str = "sdists-v11"
) -> Path:
    """An empty entry directory with its `.lock`, where uv would put it."""
    base = cache / bucket
    path = {
        "pypi": base / "pypi" / name / "0.1",
        "index": base / "index" / "31e99dde752c1be3" / name / "0.1",
        "url": base / "url" / _hex16("url", name),
        "path": base / "path" / _hex16("path", name),
        "editable": base / "editable" / _hex16("editable", name),
        "git": base / "git" / "df948d441cd1dd5d" / "8b5b5eba221b4d0d",
    }[kind]
    path.mkdir(parents=True)
    (path / ".lock").touch()
    if kind != "git":
        (path / "revision.rev").write_bytes(b"\x92\x95")
    return path


def polluted_entry(cache: Path, kind: str = "index", name: str = "extpkg") -> dict[str, Path]:
    """An entry with a source tree holding build/, an older clean and a newer polluted slot."""
    e = entry(cache, kind, name)
    rev = e if kind == "git" else e / "NY1wkbQIK4PdmLmv"
    if kind != "git":
        src = rev / "src"
        src.mkdir(parents=True)
        (src / "PKG-INFO").write_text(f"Metadata-Version: 2.2\nName: {name}\nVersion: 0.1\n")
    old = add_slot(rev, "cace87155b165d5b", dist=name, mtime=1_700_000_000)
    new = add_slot(rev, "81a196cb5a99c968", dist=name, mtime=1_700_000_600)
    found = {"entry": e, "rev": rev, "old": old, "new": new}
    if kind != "git":
        found["build"] = setuptools_build(rev / "src")
    return found
