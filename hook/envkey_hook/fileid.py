"""Cheap file identities for the no-op path: stat signatures and a path hash (os only)."""

from __future__ import annotations

import os


def stat_sig(path: str) -> str:
    """`size:mtime_ns:ctime_ns:inode`, or `-` when absent; `?` for anything not a file."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "-"
    if (st.st_mode & 0o170000) != 0o100000:  # S_IFREG, without importing stat
        return "?"
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def path_hash(path: str) -> str:
    """16 hex digits naming a path (FNV-1a, 64 bits: no hashlib import on this path)."""
    h = 0xCBF29CE484222325
    for byte in os.fsencode(path):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"
