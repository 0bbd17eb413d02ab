"""A wheel's compiled payload, from the zip central directory only."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from envkey_hook.wheels import compiled_payload
from fakecache import write_wheel


def test_native_members_with_crc_and_size(tmp_path: Path) -> None:
    members = {
        "pkg/__init__.py": b"",
        "pkg/_a.cpython-311-x86_64-linux-gnu.so": b"aaa",
        "pkg.libs/libfoo-1a2b.so.1.2": b"bbbb",
        "pkg/_b.cp311-win_amd64.pyd": b"c",
        "pkg/.dylibs/libomp.dylib": b"dd",
        "pkg/notes.so.txt": b"not a library",
        "pkg/sub.so/": b"",
    }
    wheel = write_wheel(tmp_path / "pkg-1-cp311-cp311-linux_x86_64.whl", members)
    got = compiled_payload(wheel)
    want = {
        (n, zlib.crc32(d), len(d))
        for n, d in members.items()
        if n.endswith((".so", ".so.1.2", ".pyd", ".dylib"))
    }
    assert got == frozenset(want)
    assert len(want) == 4


def test_pure_python_wheel_has_empty_payload(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "p-1-py3-none-any.whl", {"p/__init__.py": b"x"})
    assert compiled_payload(wheel) == frozenset()


def test_unreadable_wheel_is_none(tmp_path: Path) -> None:
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip at all")
    assert compiled_payload(bad) is None
    assert compiled_payload(tmp_path / "missing.whl") is None
    assert compiled_payload(tmp_path) is None  # a directory


def test_member_data_is_never_read(tmp_path: Path) -> None:
    """Corrupt every member's data: the central directory alone still gives the payload."""
    wheel = write_wheel(tmp_path / "w.whl", {"w/_x.so": b"A" * 4096})
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("w/_x.so")
        central = zf.start_dir
    data = bytearray(wheel.read_bytes())
    start = info.header_offset + 30 + len(info.filename)
    data[start:central] = b"\xff" * (central - start)
    wheel.write_bytes(bytes(data))
    assert compiled_payload(wheel) == frozenset({("w/_x.so", zlib.crc32(b"A" * 4096), 4096)})
