"""`tomllib` on Python >= 3.11, `tomli` below; imported only when a TOML file must be parsed."""

from __future__ import annotations

import sys
from typing import Any

from envkey_hook.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover
    import tomli as _toml


def loads(data: bytes | str, path: object) -> dict[str, Any]:
    """Parse TOML; raise InputError naming `path` on bad bytes or syntax."""
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise InputError(path, "binary data, not a TOML file")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 text (byte {exc.start})") from None
    try:
        return _toml.loads(data)
    except _toml.TOMLDecodeError as exc:
        raise InputError(path, f"invalid TOML: {exc}") from None
    except RecursionError:
        # uv's own TOML reader stops at a nesting depth far below Python's stack.
        raise InputError(path, "invalid TOML: arrays or tables nested too deeply") from None
