"""Package names as PEP 503 normalizes them, without importing packaging."""

from __future__ import annotations

import re
import sys

_SEPARATORS = re.compile(r"[-_.]+")
# A PEP 508 name and nothing else: a requirement that packaging would read as just it.
_BARE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def canonical_name(name: str) -> str:
    """What `packaging.utils.canonicalize_name` gives (PEP 503)."""
    found = _SEEN.get(name)
    if found is None:
        if len(_SEEN) > 100_000:  # a bound for hostile input
            _SEEN.clear()
        found = _SEEN[name] = sys.intern(_SEPARATORS.sub("-", name).lower())
    return found


_SEEN: dict[str, str] = {}  # a lock names each package many times


def is_bare_name(text: str) -> bool:
    """A requirement with no extras, version, URL or marker: the name alone."""
    return _BARE_NAME.fullmatch(text) is not None
