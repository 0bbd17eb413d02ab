"""The compiled payload of a wheel, read from the zip central directory only."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

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
