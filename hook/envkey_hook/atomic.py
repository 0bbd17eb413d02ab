"""Replacing a file atomically: readers see the old bytes or the new, never half."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` through a synced temp file: the old or the new, never half."""
    import tempfile

    target = Path(os.path.realpath(path))  # a symlinked file stays a symlink
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:  # a new file gets the usual mode, not mkstemp's 0o600
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def replace_config(path: Path, text: str) -> None:
    """`write_atomic` for a settings file envkey-hook rewrites (`fix`): InputError,
    naming the file, when it cannot be written."""
    from envkey_hook.errors import InputError

    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
