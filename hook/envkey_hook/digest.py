"""SHA-256 without loading OpenSSL.

`hashlib` loads OpenSSL at import (~4 MiB and ~3 ms), which is a tenth of the time
and half the memory issue 5 allows a changed-lock run. CPython ships its own SHA-256
(`_sha2` from 3.12, `_sha256` before); hashlib is the fallback where neither exists.
"""

from __future__ import annotations


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of `data`, as `hashlib.sha256(data).hexdigest()` gives it."""
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256
    digest: str = sha256(data).hexdigest()
    return digest
