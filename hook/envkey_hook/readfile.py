"""The files envkey-hook parses are read from regular files only, bounded in size.

A FIFO would block the open (or the read) forever, `/dev/zero` would fill memory, and
neither is a uv file. The bounds are far above any real file (uv.lock of a large ML
project is a few MiB) and keep a wrong file from taking the machine's memory.
"""

from __future__ import annotations

import os

from envkey_hook.errors import InputError

TYPE_CHECKING = False  # not typing's: this module is on the changed-lock path
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

LOCK_LIMIT = 256 << 20  # uv.lock
TOML_LIMIT = 16 << 20  # pyproject.toml, uv.toml
CHUNK = 1 << 16

_KINDS = {
    0o040000: "is a directory, expected a file",
    0o010000: "is a named pipe (FIFO), not a regular file",
    0o020000: "is a character device, not a regular file",
    0o060000: "is a block device, not a regular file",
    0o140000: "is a socket, not a regular file",
}
# Never wait for a writer on a FIFO swapped in after the check; no effect on files.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)


def limit_for(path: object) -> int:
    return LOCK_LIMIT if str(path).endswith("uv.lock") else TOML_LIMIT


def _check(path: object, mode: int, size: int, limit: int) -> None:
    kind = mode & 0o170000
    if kind != 0o100000:
        raise InputError(path, _KINDS.get(kind, "not a regular file"))
    if size > limit:
        raise InputError(path, f"larger than {limit >> 20} MiB: not a uv file")


def open_regular(path: str | os.PathLike[str], limit: int) -> BinaryIO | None:
    """`path` opened for reading; None when it does not exist; InputError for anything
    that is not a regular file of at most `limit` bytes (symlinks to one are fine)."""
    try:
        st = os.stat(path)
        _check(path, st.st_mode, st.st_size, limit)  # a FIFO blocks even an open()
        fd = os.open(path, _FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _check(path, st.st_mode, st.st_size, limit)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def chunks(path: str | os.PathLike[str], limit: int) -> Iterator[bytes] | None:
    """The file's bytes in pieces (see `open_regular`); a file that grows past `limit`
    while it is read is an error too."""
    f = open_regular(path, limit)
    if f is None:
        return None

    def pieces() -> Iterator[bytes]:
        total = 0
        with f:
            try:
                while chunk := f.read(CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise InputError(path, f"larger than {limit >> 20} MiB: not a uv file")
                    yield chunk
            except OSError as exc:
                raise InputError(path, f"cannot read: {exc.strerror or exc}") from None

    return pieces()


def read(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """The whole file (see `chunks`); None when it does not exist."""
    pieces = chunks(path, limit)
    return None if pieces is None else b"".join(pieces)


def read_json(path: str | os.PathLike[str], limit: int) -> object:
    """The parsed JSON file (envkey-hook's records, uv's `uv_build.json`); None when it
    does not exist; ValueError saying why when it is not a regular file of at most
    `limit` bytes, or not JSON."""
    try:
        data = read(path, limit)
    except InputError as exc:
        raise ValueError(exc.problem.replace(": not a uv file", "")) from None
    if data is None:
        return None
    import json  # only once there is such a file

    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(str(exc)) from None
