"""Reading `uv.lock`: the packages, their versions, sources and fork markers.

uv writes its lock in one fixed layout, so `parse_lock` first tries a reader that
only accepts that layout (checked line by line with one regex, with keys inside
inline tables in uv's order so a duplicate key cannot slip through) and falls
back to a full TOML parse on anything else. Both feed the same `lock_from_toml`,
so they give the same `Lock`, or the same error, for any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from envkey_hook.errors import InputError

SUPPORTED_LOCK_VERSION = 1


@dataclass(frozen=True)
class LockedPackage:
    """One `[[package]]` table, reduced to what decides a build."""

    name: str  # PEP 503 normalized
    version: str | None  # None only for dynamic-version local sources
    source: tuple[tuple[str, str], ...]  # sorted items of the `source` inline table
    resolution_markers: tuple[str, ...] = ()
    has_sdist: bool = False
    has_wheels: bool = False

    @property
    def source_kind(self) -> str:
        """`registry`, `git`, `url`, `path`, `directory`, `editable` or `virtual`."""
        for key, _ in self.source:
            if key in ("registry", "git", "url", "path", "directory", "editable", "virtual"):
                return key
        return ""

    @property
    def source_value(self) -> str:
        return dict(self.source).get(self.source_kind, "")


@dataclass(frozen=True)
class Lock:
    path: str
    version: int
    revision: int | None
    requires_python: str | None
    packages: tuple[LockedPackage, ...] = field(default_factory=tuple)

    def by_name(self, name: str) -> list[LockedPackage]:
        """All entries (forks) for a normalized name."""
        return [p for p in self.packages if p.name == name]


def read_lock(path: Path) -> Lock:
    """Read and parse a uv.lock file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    return parse_lock(data, str(path))


def parse_lock(data: bytes, path: str) -> Lock:
    """Parse uv.lock bytes; raise InputError(path, problem) on anything bad."""
    text = _checked_text(data, path)
    lock = _fast_lock(text, path)
    return lock if lock is not None else parse_lock_toml(text, path)


def parse_lock_toml(text: str, path: str) -> Lock:
    """The reference reader: a full TOML parse (the fallback of `parse_lock`)."""
    from envkey_hook import tomlcompat

    return lock_from_toml(tomlcompat.loads(text, path), path)


# --- checks shared by both readers -------------------------------------------------

_CONFLICT = re.compile(rb"\n(?:<{7}|={7}|>{7})(?![^ \r\n])")


def _checked_text(data: bytes, path: str) -> str:
    """Reject what is not a text file, conflict markers first (they explain the rest)."""
    buf = b"\n" + data  # so that the first line also starts after a newline
    conflict = _CONFLICT.search(buf)
    if conflict:
        line = buf.count(b"\n", 0, conflict.start() + 1)
        raise InputError(path, f"unresolved merge conflict markers (line {line})")
    if not data.strip():
        raise InputError(path, "empty file, not a uv lock")
    if b"\x00" in data:
        raise InputError(path, "binary data, not a TOML file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start})") from None


def _show(value: str) -> str:
    """A name or version as it may go into a one-line message."""
    return value if value.isprintable() and value else repr(value)


_LOCAL_KINDS = ("directory", "editable", "virtual")  # may have a dynamic version


def lock_from_toml(doc: Mapping[str, Any], path: str) -> Lock:
    """Build a Lock from a parsed uv.lock, checking what the hook relies on."""

    def bad(problem: str) -> InputError:
        return InputError(path, problem)

    version = doc.get("version")
    if version is None:
        raise bad(f"no lock `version`; envkey-hook supports version {SUPPORTED_LOCK_VERSION}")
    if type(version) is not int or version != SUPPORTED_LOCK_VERSION:
        raise bad(
            f"unsupported lock version {version!r}; "
            f"envkey-hook supports version {SUPPORTED_LOCK_VERSION}"
        )
    revision = doc.get("revision")
    if revision is not None and type(revision) is not int:
        raise bad("`revision` must be an integer")
    requires_python = doc.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise bad("`requires-python` must be a string")
    tables = doc.get("package", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise bad("`package` must be an array of tables")

    packages: list[LockedPackage] = []
    seen: set[tuple[str, str | None, tuple[tuple[str, str], ...]]] = set()
    for number, table in enumerate(tables, 1):
        name = table.get("name")
        if name is None:
            raise bad(f"package #{number} has no `name`")
        if not isinstance(name, str):
            raise bad(f"package #{number}: `name` must be a string")
        what = f"package {_show(name)}"
        pkg_version = table.get("version")
        if pkg_version is not None and not isinstance(pkg_version, str):
            raise bad(f"{what}: `version` must be a string")
        source = table.get("source")
        if source is None:
            raise bad(f"{what} has no `source`")
        if not isinstance(source, dict):
            raise bad(f"{what}: `source` must be a table")
        if not all(isinstance(v, str) for v in source.values()):
            raise bad(f"{what}: `source` values must be strings")
        markers = table.get("resolution-markers", [])
        if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
            raise bad(f"{what}: `resolution-markers` must be an array of strings")
        if not isinstance(table.get("sdist", {}), dict):
            raise bad(f"{what}: `sdist` must be a table")
        wheels = table.get("wheels", [])
        if not isinstance(wheels, list):
            raise bad(f"{what}: `wheels` must be an array")
        pkg = LockedPackage(
            name=_normalize(name),
            version=pkg_version,
            source=tuple(sorted(source.items())),
            resolution_markers=tuple(markers),
            has_sdist="sdist" in table,
            has_wheels=bool(wheels),
        )
        if pkg_version is None and pkg.source_kind not in _LOCAL_KINDS:
            raise bad(f"{what} has no `version` (only {', '.join(_LOCAL_KINDS)} sources may omit it)")
        key = (pkg.name, pkg.version, pkg.source)
        if key in seen:
            where = f"{pkg.source_kind} {pkg.source_value}".strip()
            raise bad(f"duplicate package {_show(pkg.name)} {_show(pkg_version or '')} ({where})")
        seen.add(key)
        packages.append(pkg)
    return Lock(path, version, revision, requires_python, tuple(packages))


def _normalize(name: str) -> str:
    """PEP 503 normalization, as packaging.utils.canonicalize_name does it."""
    return _SEPARATORS.sub("-", name).lower()


_SEPARATORS = re.compile(r"[-_.]+")


# --- the fast reader -----------------------------------------------------------------
#
# The grammar below is a strict subset of TOML: every document it accepts is read by
# tomllib into the same values. It admits what uv writes (see uv's
# crates/uv-resolver/src/lock/serialize.rs): LF line ends, `key = value` lines,
# `[table]` / `[[array]]` headers, arrays (on one line, or one `    element,` a line),
# single-line inline tables, and a trailing comment on a value line.

_CTRL = r"\x00-\x08\x0a-\x1f\x7f"  # not allowed raw in strings or comments
_STR = (  # a basic string with only the short escapes, or a literal string
    rf'(?:"[^"\\{_CTRL}]*(?:\\[btnfr"\\][^"\\{_CTRL}]*)*"' rf"|'[^'{_CTRL}]*')"
)
_INT = r"(?:0|[1-9][0-9]*)"
_KEY = r"[A-Za-z0-9_-]+"


def _array(element: str) -> str:
    """`[a, b]` or uv's `[\n    a,\n    b,\n]` (or a mix: TOML allows any)."""
    return rf"\[(?:\n    )?(?:{element}(?:, |,\n    |,?\n?(?=\])))*\]"


def _inline_table(*slots: tuple[str, str]) -> str:
    """`{ k = v, ... }` with each slot (one key of an alternation) at most once, in order.

    The fixed order is what rules out a duplicate key, which TOML forbids.
    """
    items = "".join(rf"(?:(?:{k}) = {v}(?:, (?=[a-z])| (?=\}})))?" for k, v in slots)
    return rf"(?:\{{ (?=[a-z]){items}\}}|\{{\}})"


# Slots in one order that agrees with every inline table uv writes: dependency edges
# (name, version, source, extra, marker), requirements (name, extras | groups, marker,
# a source kind and subdirectory, specifier, index, conflict), conflict items
# (package, extra | group), sources (a kind, subdirectory), sdists and wheels
# (url | path | filename, hash, size, upload-time, zstd). Alternatives share a slot
# where uv writes only one of them.
_KIND = "registry|git|url|path|filename|directory|editable|virtual"
_CONFLICT_ITEM = _inline_table(("package", _STR), ("extra|group", _STR))
_INLINE = _inline_table(
    ("name|package", _STR),
    ("version", _STR),
    ("source", _inline_table((_KIND, _STR), ("subdirectory", _STR))),
    ("extra|extras|group|groups", rf"(?:{_STR}|{_array(_STR)})"),
    ("marker", _STR),
    (_KIND, _STR),
    ("subdirectory", _STR),
    ("specifier", _STR),
    ("index", _STR),
    ("conflict", _CONFLICT_ITEM),
    ("hash", _STR),
    ("size", _INT),
    ("upload-time", _STR),
    ("zstd", _inline_table(("hash", _STR), ("size", _INT))),
)
# An array element; the nested array is uv's `conflicts = [[ ... ], [ ... ]]`.
_ELEMENT = rf"(?:{_STR}|{_INLINE}|{_array(_CONFLICT_ITEM)})"
_STATEMENT_SOURCE = (
    r"(?P<blank>\n)"
    rf"|\[\[(?P<aot>{_KEY}(?:\.{_KEY})*)\]\]\n"
    rf"|\[(?P<table>{_KEY}(?:\.{_KEY})*)\]\n"
    rf"|(?P<key>{_KEY}) = (?P<value>{_STR}|{_INT}|true|false|{_INLINE}|{_array(_ELEMENT)})"
    rf"(?: #[^{_CTRL}]*)?\n"
)


@lru_cache(maxsize=None)
def _statement() -> re.Pattern[str]:
    """Compiled on first use: that takes milliseconds, which a plain import should not pay."""
    return re.compile(_STATEMENT_SOURCE)


_STRING = re.compile(_STR)
_PAIR = re.compile(rf"({_KEY}) = ({_STR})")
_ESCAPE = re.compile(r'\\([btnfr"\\])')
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}

# The keys `lock_from_toml` reads; the fast reader must give their exact values.
_ROOT_READS = frozenset(("version", "revision", "requires-python", "package"))
_PACKAGE_READS = frozenset(("name", "version", "source", "resolution-markers", "sdist", "wheels"))
_LEAF = True  # a key holding a value the hook does not read

Table = dict[str, Any]  # runtime alias: builtin generics work from Python 3.9


class _Unexpected(Exception):
    """Not uv's layout: let the full TOML parser decide."""


def _fast_lock(text: str, path: str) -> Lock | None:
    """The Lock via the fast reader, or None when the text is not in uv's layout."""
    try:
        doc = _fast_doc(text)
    except _Unexpected:
        return None
    return lock_from_toml(doc, path)


def _fast_doc(text: str) -> Table:
    """The document as nested dicts holding the values `lock_from_toml` reads.

    It tracks every table and key, like a TOML parser, so that a redefined key or
    table falls back (and is then reported) instead of being silently merged.
    """
    root: Table = {}
    table, reads = root, _ROOT_READS
    match = _statement().match
    pos, end = 0, len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise _Unexpected
        pos = m.end()
        kind = m.lastgroup
        if kind == "blank":
            continue
        if kind == "aot" or kind == "table":
            header: str = m.group(kind)
            table = _open_table(root, header.split("."), kind == "aot")
            reads = _PACKAGE_READS if header == "package" else frozenset()
            continue
        key = m.group("key")
        if key in table:
            raise _Unexpected  # a duplicate: tomllib words the error
        table[key] = _read_value(key, m.group("value")) if key in reads else _LEAF
    return root


def _open_table(root: Table, parts: list[str], array: bool) -> Table:
    """The table a header opens, creating it as TOML does (redefinitions bail out)."""
    head = parts[0]
    if len(parts) == 1 and head == "package":
        if not array:
            raise _Unexpected
    elif head in _ROOT_READS and (
        head != "package" or parts[1] in _PACKAGE_READS or not isinstance(root.get(head), list)
    ):
        raise _Unexpected  # would change a value the hook reads
    node = root
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if isinstance(child, list):
            child = child[-1]
        elif not isinstance(child, dict):
            raise _Unexpected
        node = child
    new: Table = {}
    existing = node.get(parts[-1])
    if array and isinstance(existing, list):
        existing.append(new)
    elif existing is not None:
        raise _Unexpected
    else:
        node[parts[-1]] = [new] if array else new
    return new


def _read_value(key: str, value: str) -> Any:
    """The value of a key the hook reads, as tomllib gives it, or bail out."""
    first = value[0]
    if first == '"' or first == "'":
        return _unquote(value)
    if first == "{" and key == "source":
        pairs = _PAIR.findall(value)
        if "{ " + ", ".join(f"{k} = {v}" for k, v in pairs) + " }" != value:
            raise _Unexpected  # not all strings
        return {k: _unquote(v) for k, v in pairs}
    if first == "{" and key == "sdist":
        return {}  # only its presence matters
    if first == "[" and key in ("wheels", "resolution-markers"):
        strings = _STRING.findall(value)
        if key == "wheels":  # only whether it is empty matters
            return [] if value.strip("[\n ]") == "" else [_LEAF]
        if _STRING.sub("", value).strip("[], \n") == "":  # nothing but strings
            return [_unquote(s) for s in strings]
    if first in "{[":
        raise _Unexpected
    return value == "true" if value in ("true", "false") else int(value)


def _unquote(token: str) -> str:
    body = token[1:-1]
    if token[0] == "'" or "\\" not in body:
        return body
    return _ESCAPE.sub(lambda e: _ESCAPES[e.group(1)], body)


__all__ = [
    "SUPPORTED_LOCK_VERSION",
    "Lock",
    "LockedPackage",
    "lock_from_toml",
    "parse_lock",
    "parse_lock_toml",
    "read_lock",
]
