"""Reading `uv.lock`: the packages, their versions, sources and fork markers.

uv writes its lock in one fixed layout, so `parse_lock` first tries a reader that
accepts only that layout (a strict subset of TOML, matched one statement at a time by
one regex) and falls back to a full TOML parse on anything else. Both readers feed
`lock_from_toml`, so for any input they give the same `Lock` or the same error.

Two locks of one project share most `[[package]]` blocks byte for byte. The fast
reader reads a lock one block at a time, and a block identical to one of the lock read
just before (`like`) is not read again: the same bytes give the same package.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from envkey_hook.errors import InputError
from envkey_hook.names import canonical_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

SUPPORTED_LOCK_VERSION = 1


class Dep(NamedTuple):
    """One dependency edge: `{ name, version?, source?, extra?, marker? }`."""

    name: str  # PEP 503 normalized
    version: str | None = None  # given when the name has several entries
    source: tuple[tuple[str, str], ...] = ()
    marker: str | None = None
    extras: tuple[str, ...] = ()


Deps = tuple[Dep, ...]
Named = tuple[tuple[str, Deps], ...]  # optional-dependencies / dev-dependencies


class LockedPackage(NamedTuple):
    """One `[[package]]` table, reduced to what decides a build and what gets installed."""

    name: str  # PEP 503 normalized
    version: str | None  # None only for dynamic-version local sources
    source: tuple[tuple[str, str], ...]  # sorted items of the `source` inline table
    resolution_markers: tuple[str, ...] = ()
    has_sdist: bool = False
    has_wheels: bool = False
    dependencies: Deps = ()
    optional: Named = ()  # [package.optional-dependencies], by extra
    groups: Named = ()  # [package.dev-dependencies], by group
    wheels: tuple[str, ...] = ()  # tags of each wheel, `py-abi-platform`, interned

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


class Lock:
    """A parsed uv.lock; two are equal when all but `blocks` (how it was read) are."""

    def __init__(
        self,
        path: str,
        version: int,
        revision: int | None,
        requires_python: str | None,
        packages: tuple[LockedPackage, ...] = (),
        blocks: Mapping[tuple[int, int], LockedPackage] | None = None,
        members: tuple[str, ...] = (),
        conflicts: tuple[tuple[tuple[str, str, str], ...], ...] = (),
    ) -> None:
        self.path = path
        self.version = version
        self.revision = revision
        self.requires_python = requires_python
        self.packages = packages
        self.members = members  # [manifest] members: workspace member names, normalized
        # `conflicts`: sets of (package, "extra" | "group", name) never active together
        self.conflicts = conflicts
        # The package of each `[[package]]` block the fast reader read, by (hash, length)
        # of its bytes; Python's bytes hash is keyed per process, so it cannot be aimed.
        self.blocks: Mapping[tuple[int, int], LockedPackage] = blocks or {}

    def _key(self) -> tuple[object, ...]:
        return (
            self.path,
            self.version,
            self.revision,
            self.requires_python,
            self.packages,
            self.members,
            self.conflicts,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lock) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Lock({!r}, {!r}, {!r}, {!r}, <{} packages>)".format(
            *self._key()[:4], len(self.packages)
        )

    def by_name(self, name: str) -> list[LockedPackage]:
        """All entries (forks) for a normalized name."""
        return [p for p in self.packages if p.name == name]


def read_lock(path: Path) -> Lock:
    """Read and parse a uv.lock file."""
    from envkey_hook import readfile

    data = readfile.read(path, readfile.LOCK_LIMIT)
    if data is None:
        raise InputError(path, "not found (run `uv lock` first)")
    return parse_lock(data, str(path))


def parse_lock(data: bytes, path: str, like: Lock | None = None) -> Lock:
    """Parse uv.lock bytes; raise InputError(path, problem) on anything bad.

    `like`: a lock read before (the other side of a comparison), whose blocks are reused.
    """
    return read_lock_chunks((data,), path, like, lambda: data)


def read_lock_chunks(
    chunks: Iterable[bytes], path: str, like: Lock | None, reread: Callable[[], bytes]
) -> Lock:
    """`parse_lock` over a lock read a chunk at a time, so that it is never whole in memory.

    `reread` gives the whole lock again, for the TOML parser when the fast reader hands
    over (a lock not in uv's layout: rare).
    """
    scan = _Scan(path, like.blocks if like is not None else {}, reread)
    pending = b""
    for chunk in chunks:
        pending += chunk  # `b"" + chunk` is `chunk` itself: one chunk is never copied
        cut = pending.rfind(_BLOCK) + 1  # where the last complete block ends
        if cut > 0:
            scan.piece(pending, cut)
            pending = pending[cut:]
    scan.piece(pending, len(pending))
    lock = scan.finish()
    return lock if lock is not None else _toml_lock(reread(), path)


def parse_lock_toml(data: bytes, path: str) -> Lock:
    """The reference reader: the same checks, then a full TOML parse (slow)."""
    scan = _Scan(path, {}, lambda: data)
    scan.fast = False
    scan.piece(data, len(data))
    scan.finish()
    return _toml_lock(data, path)


def _toml_lock(data: bytes, path: str) -> Lock:
    from envkey_hook import tomlcompat

    return lock_from_toml(tomlcompat.loads(data.decode("utf-8"), path), path)


# --- what both readers share ---------------------------------------------------------

_MARKER = rb"(?:<{7}|={7}|>{7})(?![^ \r\n])"
_MARKER_AT_START = re.compile(_MARKER)
_MARKER_AFTER_NEWLINE = re.compile(rb"\n" + _MARKER)  # a literal first byte: fast search
_NOT_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")  # what `bytes.isspace` calls space
_BLOCK = b"\n[[package]]\n"


class _Scan:
    """One pass over a lock, a piece at a time: the byte checks, and the fast reader.

    Each piece is whole lines: the prelude (before the first `[[package]]`) and whole
    blocks. Of each problem only the first is kept and none is raised before the end,
    so the lock gets the answer a check of the whole file would give: conflict markers
    first (they explain the rest), then an empty file, NUL, invalid UTF-8.
    """

    def __init__(
        self,
        path: str,
        like: Mapping[tuple[int, int], LockedPackage],
        reread: Callable[[], bytes],
    ) -> None:
        self.path, self.like = path, like
        self.reread = reread  # the whole lock again: only to number a conflict marker's line
        self.size = 0  # bytes before the current piece
        self.marker: int | None = None  # where the first conflict marker's line starts
        self.text = self.nul = False
        self.bad_utf8: int | None = None  # offset of the first invalid byte
        self.fast = True  # still in uv's layout
        self.root: dict[str, Any] | None = None  # the prelude
        self.read: list[LockedPackage | dict[str, Any]] = []  # per block: reused, or read
        self.keys: list[tuple[int, int]] = []

    def piece(self, buf: bytes, end: int) -> None:
        """Take `buf[:end]` (not copied), whole lines following the pieces taken so far."""
        if self.marker is None:
            if _MARKER_AT_START.match(buf, 0, end):
                self.marker = self.size
            else:
                m = _MARKER_AFTER_NEWLINE.search(buf, 0, end)
                if m is not None:
                    self.marker = self.size + m.start() + 1
        self.text = self.text or _NOT_SPACE.search(buf, 0, end) is not None
        self.nul = self.nul or buf.find(b"\x00", 0, end) >= 0
        # isascii: 100x a regex scan; of the whole buffer first (no copy), mostly enough
        if self.bad_utf8 is None and not buf.isascii():
            try:
                buf[:end].decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad_utf8 = self.size + exc.start
        if self.fast and not self._broken():
            try:
                self._read(buf, end)
            except _Unexpected:
                self.fast = False
        self.size += end

    def _broken(self) -> bool:
        """Whether `_problem` has something to say (without numbering a line)."""
        return self.marker is not None or not self.text or self.nul or self.bad_utf8 is not None

    def _problem(self) -> str | None:
        """The first problem so far, in the order a check of the whole file reports it."""
        if self.marker is not None:  # lines counted only now: a broken lock is rare
            line = self.reread().count(b"\n", 0, self.marker) + 1
            return f"unresolved merge conflict markers (line {line})"
        if not self.text:
            return "empty file, not a uv lock"
        if self.nul:
            return "binary data, not a TOML file"
        if self.bad_utf8 is not None:
            return f"not UTF-8 text (byte {self.bad_utf8})"
        return None

    def _read(self, buf: bytes, end: int) -> None:
        """Read the prelude and blocks of a piece; a block seen in `like` is not reread.

        Each block is a document of its own that may hold only its package and that
        package's `[package.*]` tables. Blocks share no keys, so this accepts exactly
        what reading the whole text at once would.
        """
        cuts = [0] if buf.startswith(_BLOCK[1:]) else []
        at = buf.find(_BLOCK, 0, end)
        while at >= 0:
            cuts.append(at + 1)
            at = buf.find(_BLOCK, at + 1, end)
        if self.root is None:
            prelude = buf[: cuts[0] if cuts else end]
            self.root = _fast_doc(prelude.decode("utf-8"), _is_clean(prelude))
            if "package" in self.root:
                raise _Unexpected
        for a, b in zip(cuts, [*cuts[1:], end]):
            block = buf[a:b]
            key = (hash(block), len(block))
            self.keys.append(key)
            self.read.append(self.like.get(key) or _fast_block(block))

    def finish(self) -> Lock | None:
        """The Lock; None when the TOML parser must decide; InputError on a problem."""
        problem = self._problem()
        if problem is not None:
            raise InputError(self.path, problem)
        if not self.fast or self.root is None:
            return None
        header = _lock_header(self.root, self.path)
        packages = [
            p if isinstance(p, LockedPackage) else locked_package(p, number, self.path)
            for number, p in enumerate(self.read, 1)
        ]
        graph = _lock_graph(self.root, self.path)
        return lock_of(self.path, *header, packages, dict(zip(self.keys, packages)), *graph)


_LOCAL_KINDS = ("directory", "editable", "virtual")  # may have a dynamic version, so none


def lock_from_toml(doc: Mapping[str, Any], path: str) -> Lock:
    """Build a Lock from a parsed uv.lock, checking what the hook relies on."""
    version, revision, requires_python = _lock_header(doc, path)
    tables = doc.get("package", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(path, "`package` must be an array of tables")
    packages = [locked_package(table, number, path) for number, table in enumerate(tables, 1)]
    return lock_of(
        path, version, revision, requires_python, packages, None, *_lock_graph(doc, path)
    )


def _lock_graph(
    doc: Mapping[str, Any], path: str
) -> tuple[tuple[str, ...], tuple[tuple[tuple[str, str, str], ...], ...]]:
    """`[manifest] members` and `conflicts`, checked."""
    manifest = doc.get("manifest", {})
    members = manifest.get("members", []) if isinstance(manifest, dict) else None
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise InputError(path, "`manifest.members` must be an array of strings")
    sets = doc.get("conflicts", [])
    if not isinstance(sets, list) or not all(isinstance(c, list) for c in sets):
        raise InputError(path, "`conflicts` must be an array of arrays")
    conflicts = []
    for items in sets:
        out = []
        for item in items:
            kind = "extra" if "extra" in item else "group" if isinstance(item, dict) else ""
            if not kind or not all(isinstance(item.get(k), str) for k in ("package", kind)):
                raise InputError(path, "`conflicts` items must be { package, extra | group }")
            out.append((canonical_name(item["package"]), kind, item[kind]))
        conflicts.append(tuple(out))
    return tuple(canonical_name(m) for m in members), tuple(conflicts)


def _lock_header(doc: Mapping[str, Any], path: str) -> tuple[int, int | None, str | None]:
    """`version`, `revision` and `requires-python`, checked."""

    def bad(problem: str) -> InputError:
        return InputError(path, problem)

    supported = f"envkey-hook supports version {SUPPORTED_LOCK_VERSION}"
    version = doc.get("version")
    if version is None:
        raise bad(f"no lock `version`; {supported}")
    if type(version) is not int or version != SUPPORTED_LOCK_VERSION:
        raise bad(f"unsupported lock version {version!r}; {supported}")
    revision = doc.get("revision")
    if revision is not None and type(revision) is not int:
        raise bad("`revision` must be an integer")
    requires_python = doc.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise bad("`requires-python` must be a string")
    return version, revision, requires_python


def lock_of(
    path: str,
    version: int,
    revision: int | None,
    requires_python: str | None,
    packages: list[LockedPackage],
    blocks: Mapping[tuple[int, int], LockedPackage] | None = None,
    members: tuple[str, ...] = (),
    conflicts: tuple[tuple[tuple[str, str, str], ...], ...] = (),
) -> Lock:
    """The Lock, once no package appears twice."""
    seen: set[tuple[str, str | None, tuple[tuple[str, str], ...]]] = set()
    for pkg in packages:
        key = (pkg.name, pkg.version, pkg.source)
        if key in seen:
            label = pkg.name if pkg.version is None else f"{pkg.name} {pkg.version}"
            where = f"{pkg.source_kind} {pkg.source_value}".strip()
            raise InputError(path, f"duplicate package {_show(label)} ({_show(where)})")
        seen.add(key)
    return Lock(
        path, version, revision, requires_python, tuple(packages), blocks, members, conflicts
    )


def locked_package(table: Mapping[str, Any], number: int, path: str) -> LockedPackage:
    """One `[[package]]` table (the `number`th), checked as `lock_from_toml` checks it."""

    def bad(problem: str) -> InputError:
        return InputError(path, problem)

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
    if not isinstance(source, dict) or not all(isinstance(v, str) for v in source.values()):
        raise bad(f"{what}: `source` must be an inline table of strings")
    markers = table.get("resolution-markers", [])
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise bad(f"{what}: `resolution-markers` must be an array of strings")
    if not isinstance(table.get("sdist", {}), dict):
        raise bad(f"{what}: `sdist` must be a table")
    wheels = table.get("wheels", [])
    if not isinstance(wheels, list):
        raise bad(f"{what}: `wheels` must be an array")
    pkg = LockedPackage(
        name=canonical_name(name),
        version=pkg_version,
        source=tuple(sorted(source.items())),
        resolution_markers=tuple(markers),
        has_sdist="sdist" in table,
        has_wheels=bool(wheels),
        dependencies=_deps(table.get("dependencies", []), f"{what}: `dependencies`", bad),
        optional=_named(table, "optional-dependencies", what, bad),
        groups=_named(table, "dev-dependencies", what, bad),
        # only a package that also has an sdist may be built: only its wheels are read
        wheels=_wheel_tags_of(wheels) if "sdist" in table else (),
    )
    if pkg_version is None and pkg.source_kind not in _LOCAL_KINDS:
        only = ", ".join(_LOCAL_KINDS)
        raise bad(f"{what} has no `version` (only {only} sources may omit it)")
    return pkg


def _deps(value: Any, where: str, bad: Callable[[str], InputError]) -> Deps:
    if not isinstance(value, list):
        raise bad(f"{where} must be an array")
    if set(map(type, value)) <= {Dep}:  # the fast reader's (the type checks run in C)
        return tuple(value)
    out = []
    for dep in value:
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise bad(f"{where}: each item must be a table with a `name`")
        extras = dep.get("extra", [])
        source = dep.get("source", {})
        if (
            not all(isinstance(dep.get(k, ""), str) for k in ("version", "marker"))
            or not isinstance(extras, list)
            or not all(isinstance(e, str) for e in extras)
            or not isinstance(source, dict)
            or not all(isinstance(v, str) for v in source.values())
        ):
            raise bad(f"{where}: malformed item for {_show(dep['name'])}")
        out.append(
            Dep(
                canonical_name(dep["name"]),
                dep.get("version"),
                tuple(sorted(source.items())),
                None if dep.get("marker") is None else sys.intern(dep["marker"]),
                tuple(canonical_name(e) for e in extras),
            )
        )
    return tuple(out)


def _named(
    table: Mapping[str, Any], key: str, what: str, bad: Callable[[str], InputError]
) -> Named:
    sub = table.get(key, {})
    if not isinstance(sub, dict):
        raise bad(f"{what}: `{key}` must be a table")
    return tuple((canonical_name(k), _deps(v, f"{what}: `{key}.{k}`", bad)) for k, v in sub.items())


def _wheel_tags_of(wheels: list[Any]) -> tuple[str, ...]:
    if set(map(type, wheels)) <= {str}:  # the fast reader's tags (the type checks run in C)
        return tuple(wheels)
    return tuple(map(_wheel_tag, wheels))


def _wheel_tag(wheel: Any) -> str:
    """The `py-abi-platform` tags of a `wheels` item (its file name from `filename`, `url`
    or `path`); "" when it names no wheel."""
    if isinstance(wheel, str):
        return wheel  # the fast reader's answer (never kept without an sdist)
    if isinstance(wheel, dict):
        for key in ("filename", "url", "path"):
            value = wheel.get(key)
            if isinstance(value, str):
                return tag_of(value)
    return ""


def tag_of(url: str) -> str:
    """`py-abi-platform` of a wheel's file name (the last three of at least five `-` parts);
    "" when the url names no wheel. Called for every wheel of a lock: kept to str methods."""
    if not url.endswith(".whl"):
        return ""
    name = url[url.rfind("/") + 1 : -4]
    if name.count("-") < 4:
        return ""
    return sys.intern(name[name.rfind("-", 0, name.rfind("-", 0, name.rfind("-"))) + 1 :])


def _show(value: str) -> str:
    """A name or version as it may go into a one-line message."""
    return value if value.isprintable() else repr(value)


# --- the fast reader -----------------------------------------------------------------
#
# The grammar is a strict subset of TOML 1.0: every document it accepts, tomllib reads
# into the same values. It admits the layout uv writes (uv's
# crates/uv-resolver/src/lock/serialize.rs): LF line ends, `key = value` lines, `[table]`
# and `[[array]]` headers, arrays on one line or one `    element,` a line, inline tables
# on one line, a comment after a value. Anything else goes to the TOML parser.

_CTRL = r"\x00-\x08\x0a-\x1f\x7f"  # not allowed raw in strings or comments
_STR = (  # a basic string with only the short escapes, or a literal string
    rf'(?:"[^"\\{_CTRL}]*(?:\\[btnfr"\\][^"\\{_CTRL}]*)*"' rf"|'[^'{_CTRL}]*')"
)
_INT = r"(?:0|[1-9][0-9]*)"
_KEY = r"[A-Za-z0-9_-]+"


def _array(element: str, one_line: bool = False) -> str:
    """`[a, b]`, or uv's `[\n    a,\n    b,\n]` (any mix of the two is valid TOML)."""
    if one_line:
        return rf"\[(?:{element}(?:, |(?=\])))*\]"
    return rf"\[(?:\n    )?(?:{element}(?:, |,\n    |,?\n?(?=\])))*\]"


def _inline_table(*slots: tuple[str, str]) -> str:
    """`{ k = v, ... }`, each slot (a key or an alternation of keys) at most once, in order.

    The fixed order is what rules out a duplicate key, which TOML forbids.
    """
    items = "".join(rf"(?:(?:{k}) = {v}(?:, (?=[a-z])| (?=\}})))?" for k, v in slots)
    return rf"(?:\{{ (?=[a-z]){items}\}}|\{{\}})"


# Slots in one order that agrees with every inline table uv writes: dependencies (name,
# version, source, extra, marker), requirements (name, extras | groups, marker, a source
# kind, subdirectory, specifier, index, conflict), conflict items (package, extra |
# group), sources (a kind, subdirectory), sdists and wheels (url | path | filename, hash,
# size, upload-time, zstd). Keys share a slot where uv writes at most one of them.
_KIND = "registry|git|url|path|filename|directory|editable|virtual"


def _location(string: str) -> tuple[tuple[str, str], ...]:
    return ((_KIND, string), ("subdirectory", string))


def _file(string: str) -> tuple[tuple[str, str], ...]:
    return (("hash", string), ("size", _INT), ("upload-time", string))


def _conflict_item_of(string: str) -> str:
    return _inline_table(("package", string), ("extra|group", string))


def _inline_of(string: str) -> str:
    return _inline_table(
        ("name|package", string),
        ("version", string),
        ("source", _inline_table(*_location(string))),
        ("extra|extras|group|groups", rf"(?:{string}|{_array(string, one_line=True)})"),
        ("marker", string),
        *_location(string),
        ("specifier", string),
        ("index", string),
        ("conflict", _conflict_item_of(string)),
        *_file(string),
        ("zstd", _inline_table(("hash", string), ("size", _INT))),
    )


def _wheel_of(string: str) -> str:
    """Most of a lock's bytes are wheel lines: this shortcut halves the time to match them."""
    return rf"\{{ url = {string}, hash = {string}, size = {_INT}, upload-time = {string} \}}"


def _element_of(string: str) -> str:
    """An array element. The nested array is uv's `conflicts = [[ ... ], [ ... ]]`. A wheel
    line matches both the wheel and the inline table, so a failing array would be retried
    2**n ways: matching inside a lookahead, then taking its text, commits to the first way
    (an atomic group, which `re` has only from Python 3.11)."""
    inline, item = _inline_of(string), _array(_conflict_item_of(string))
    return rf"(?=(?P<element>{_wheel_of(string)}|{string}|{inline}|{item}))(?P=element)"


def _statement_of(string: str) -> str:
    """One statement of the document, `string` being the pattern of a string."""
    # A table value outside arrays: `source`, `sdist`, `[options.exclude-newer-package]`.
    table = _inline_table(
        *_location(string), *_file(string), ("timestamp", string), ("span", string)
    )
    value = rf"{string}|{_INT}|true|false|{table}|{_array(_element_of(string))}"
    return (
        r"(?P<blank>\n)"
        rf"|\[\[(?P<aot>{_KEY}(?:\.{_KEY})*)\]\]\n"
        rf"|\[(?P<table>{_KEY}(?:\.{_KEY})*)\]\n"
        rf"|(?P<key>{_KEY}) = (?P<value>{value})(?: #[^{_CTRL}]*)?\n"
    )


# Slots in one order that agrees with every inline table uv writes: dependencies (name,
# version, source, extra, marker), requirements (name, extras | groups, marker, a source
# kind, subdirectory, specifier, index, conflict), conflict items (package, extra |
# group), sources (a kind, subdirectory), sdists and wheels (url | path | filename, hash,
# size, upload-time, zstd). Keys share a slot where uv writes at most one of them.
_CONFLICT_ITEM = _conflict_item_of(_STR)
_WHEEL = _wheel_of(_STR)
_ELEMENT = _element_of(_STR)
# In a clean text (no backslash, no control character but LF and tab: `_UNCLEAN`) a
# string is this; the grammar with it accepts there what the full one does, and is half
# the pattern to compile (~4 ms a run saved: the full one is compiled only when needed).
_CLEAN_STRING = r"""(?:"[^"\n]*"|'[^'\n]*')"""


@cache
def _statement(clean: bool = False) -> re.Pattern[str]:
    """Compiled on first use (it takes milliseconds), not at import."""
    return re.compile(_statement_of(_CLEAN_STRING if clean else _STR))


_STRING = re.compile(_STR)
_STRING_PAIR = re.compile(rf"({_KEY}) = ({_STR})")
_ESCAPE = re.compile(r'\\([btnfr"\\])')
_ESCAPED = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}

# The keys `lock_from_toml` reads: the fast reader must give what tomllib would.
_ROOT_READS = frozenset(("version", "revision", "requires-python", "package", "conflicts"))
_PACKAGE_READS = frozenset(
    ("name", "version", "source", "resolution-markers", "sdist", "wheels", "dependencies")
)
_MANIFEST_READS = frozenset(("members",))
_NO_READS: frozenset[str] = frozenset()
_DEP_TABLES = ("package.optional-dependencies", "package.dev-dependencies")
_EVERY_KEY = frozenset(("*",))  # every key of the table is an array of dependencies
_LEAF = True  # the value of a key that is not read
_NOT_READ = "(not read)"  # a wheel of a package without an sdist (its tags are not needed)


class _Unexpected(Exception):
    """Not uv's layout: the TOML parser decides."""


def _fast_block(block: bytes) -> dict[str, Any]:
    """The table of one `[[package]]` block; anything outside `package` is unexpected."""
    doc = _fast_doc(block.decode("utf-8"), _is_clean(block))
    tables = doc.get("package")
    if len(doc) != 1 or not isinstance(tables, list) or len(tables) != 1:
        raise _Unexpected
    table: dict[str, Any] = tables[0]
    return table


def _fast_doc(text: str, clean: bool = False) -> dict[str, Any]:
    """The document as nested dicts, with the values `lock_from_toml` reads.

    It keeps every table and key, as a TOML parser does, so that a redefined key or table
    falls back (to be reported by tomllib) instead of being merged. `clean`: the text
    has no backslash and no control character but LF and tab (uv's arrays of wheels and
    dependencies are then read by `_uv_array`, without the statement regex).
    """
    root: dict[str, Any] = {}
    table, reads = root, _ROOT_READS
    match = _statement(clean).match
    pos, end = 0, len(text)
    head = _CLEAN_HEAD.match(text) if clean else None
    if head is not None:  # uv's first lines of a package: the statements, read at once
        name, version, kind, where = head.groups()
        table, reads, pos = _open_table(root, ["package"], True), _PACKAGE_READS, head.end()
        table["name"] = name
        if version is not None:
            table["version"] = version
        table["source"] = {kind: where}
    while pos < end:
        if clean and reads is not _ROOT_READS and reads is not _NO_READS:
            read = _uv_array(text, pos, reads, "sdist" in table)
            if read is not None:
                key, value, pos = read
                if key in table:
                    raise _Unexpected
                table[key] = value
                continue
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
            reads = (
                _PACKAGE_READS
                if header == "package"
                else _MANIFEST_READS
                if header == "manifest"
                else _EVERY_KEY
                if header in _DEP_TABLES
                else _NO_READS
            )
            continue
        key = m.group("key")
        if key in table:
            raise _Unexpected
        if reads is _EVERY_KEY:
            table[key] = _read_value("dependencies", m.group("value"))
        elif (
            key == "wheels"
            and reads is _PACKAGE_READS
            and "sdist" not in table
            and m.group("value")[0] == "["
        ):
            # only a package with an sdist can be built: uv writes `sdist` first
            table[key] = [] if m.group("value") in ("[]", "[\n    ]") else [_NOT_READ]
        elif key == "sdist" and table.get("wheels", [None])[:1] == [_NOT_READ]:
            raise _Unexpected  # `sdist` after `wheels`: not uv's order
        else:
            table[key] = _read_value(key, m.group("value")) if key in reads else _LEAF
    return root


# In a clean text: `[[package]]`, `name`, `version` (a local source may have none) and a
# one-key `source`, as uv writes them (`_fast_doc` would read them one by one the same).
_CLEAN_HEAD = re.compile(
    r'\[\[package\]\]\nname = "([^"\n]*)"\n(?:version = "([^"\n]*)"\n)?'
    rf'source = \{{ ({_KIND}) = "([^"\n]*)" \}}\n'
)
_UNCLEAN = bytes((*range(0x09), *range(0x0B, 0x20), 0x7F, 0x5C))  # as bytes.translate deletes


def _is_clean(data: bytes) -> bool:
    """No backslash and no control character but LF and tab: a string is `"[^"\n]*"`."""
    return len(data.translate(None, _UNCLEAN)) == len(data)


_ARRAY_START = re.compile(rf"({_KEY}) = \[\n")


def _uv_array(
    text: str, pos: int, reads: frozenset[str], has_sdist: bool
) -> tuple[str, Any, int] | None:
    """A `wheels` or dependency array at `pos` of a clean text, in uv's layout, read
    without the statement regex: (key, value, where the statement ends). None: another
    statement, or a shape the statement regex decides.

    In a clean text a string is `"[^"\n]*"`; both readers below accept only arrays that
    are valid TOML, so the first `\n]\n` ends the statement.
    """
    if reads is _PACKAGE_READS:
        if text.startswith("wheels = [\n", pos):
            key, start = "wheels", pos + 9
        elif text.startswith("dependencies = [\n", pos):
            key, start = "dependencies", pos + 15
        else:
            return None
    elif reads is _EVERY_KEY:
        m = _ARRAY_START.match(text, pos)
        if m is None:
            return None
        key, start = m.group(1), m.end() - 2
    else:
        return None
    stop = text.find("\n]\n", start)
    if stop < 0:
        return None
    body = text[start : stop + 2]  # `[\n ... \n]`
    value: list[Any] | None
    if key == "wheels":
        urls = _wheel_urls(body)
        # only a package with an sdist can be built: uv writes `sdist` first
        value = None if urls is None else [tag_of(u) for u in urls] if has_sdist else [_NOT_READ]
    else:
        value = _dep_array(body)
    return None if value is None else (key, value, stop + 3)


_WHEEL_FIRST, _WHEEL_NEXT, _WHEEL_LAST = "[\n    { url = ", " },\n    { url = ", " },\n]"
_WHEEL_SIZES = re.compile(rf"(?:, size = {_INT}, upload-time = \n)*")


def _wheel_urls(body: str) -> list[str] | None:
    """The urls of a clean array of uv's wheel lines, else None:
    `    { url = "...", hash = "...", size = N, upload-time = "..." },`.

    No string holds a quote, so splitting at quotes alternates the text between strings
    and the strings; the text between must be exactly uv's, and no string may hold a
    newline (the text between holds one per line, and one more).
    """
    parts = body.split('"')
    lines, rest = divmod(len(parts), 6)
    if rest != 1 or lines == 0:
        return None
    between = parts[0::2]  # 3 a line, and the last: `{ url = `, `, hash = `, `, size...`
    if (
        between[0] != _WHEEL_FIRST
        or between[-1] != _WHEEL_LAST
        or between[1::3].count(", hash = ") != lines
        or between[3:-1:3].count(_WHEEL_NEXT) != lines - 1
        or body.count("\n") != lines + 1
        or _WHEEL_SIZES.fullmatch("\n".join(between[2::3]) + "\n") is None
    ):
        return None
    return parts[1::6]


_CLEAN_STR = r'"[^"]*"'  # may run over a line end: see `_dep_array` (`[^"\n]` is 3x slower)
_CLEAN_DEP = re.compile(
    rf"(    \{{ name = ({_CLEAN_STR})(?:, version = ({_CLEAN_STR}))?"
    rf"(?:, source = \{{ ({_KIND}) = ({_CLEAN_STR}) \}})?"
    rf"(?:, extra = \[({_CLEAN_STR}(?:, {_CLEAN_STR})*)\])?"
    rf"(?:, marker = ({_CLEAN_STR}))? \}},\n)"
)


def _dep_array(body: str) -> list[Dep] | None:
    """A clean array of uv's dependency lines, one a line, else None. Matches that do
    not overlap and add up to the length of the lines are the lines, back to back; as
    many as there are lines, each holds one newline (its last), so no string holds one."""
    lines = _CLEAN_DEP.findall(body, 2, len(body) - 1)
    if sum(len(line[0]) for line in lines) != len(body) - 3 or len(lines) != body.count("\n") - 1:
        return None
    if len(_DEPS) > 100_000:  # a bound for hostile input
        _DEPS.clear()
    out = []
    for text, name, version, kind, where, extra, marker in lines:
        dep = _DEPS.get(text)
        if dep is None:
            dep = _DEPS[text] = _dep_of(name, version, kind, where, extra, marker)
        out.append(dep)
    return out


_DEPS: dict[str, Dep] = {}  # by line: a lock (and the two of a run) repeat most of them


def _open_table(root: dict[str, Any], parts: list[str], array: bool) -> dict[str, Any]:
    """The table a header opens, made as TOML makes it; bail out on any redefinition."""
    head = parts[0]
    if parts == ["package"]:
        if not array:
            raise _Unexpected
    elif head in _ROOT_READS and (
        head != "package" or parts[1] in _PACKAGE_READS or not isinstance(root.get(head), list)
    ):
        raise _Unexpected  # it would change a value the hook reads
    node = root
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if isinstance(child, list):
            child = child[-1]  # `[a.b]` after `[[a]]` extends the last `a`
        elif not isinstance(child, dict):
            raise _Unexpected
        node = child
    new: dict[str, Any] = {}
    existing = node.get(parts[-1])
    if array and isinstance(existing, list):
        existing.append(new)
    elif existing is not None:
        raise _Unexpected
    else:
        node[parts[-1]] = [new] if array else new
    return new


def _read_value(key: str, value: str) -> Any:
    """A value `lock_from_toml` reads, as tomllib gives it (or as far as it is read)."""
    first = value[0]
    if first == '"' or first == "'":
        return _unquote(value)
    if first == "{" and key == "source":
        pairs = _STRING_PAIR.findall(value)
        if "{ " + ", ".join(f"{k} = {v}" for k, v in pairs) + " }" != value:
            raise _Unexpected  # a value that is not a string
        return {k: _unquote(v) for k, v in pairs}
    if first == "{" and key == "sdist":
        return {}  # only read for being there
    if first == "[" and key == "wheels":
        tags = _wheel_tags(value)
        if tags is not None:
            return tags
        return [_wheel(e) for e in _elements(value)]
    if first == "[" and key == "dependencies":
        tiled = _tiled(_dep_lines(), value)
        if tiled is not None:
            return [_dep_dict(m) for m in tiled]
        return [_inline(e) for e in _elements(value)]
    if first == "[" and key == "members":
        return [_string(e) for e in _elements(value)]
    if first == "[" and key == "conflicts":
        return _conflicts(value)
    if first == "[" and key == "resolution-markers":
        if _STRING.sub("", value)[1:-1].strip(", \n") == "":  # nothing but strings
            return [_unquote(s) for s in _STRING.findall(value)]
        raise _Unexpected
    if first in "{[":
        raise _Unexpected
    return value == "true" if value in ("true", "false") else int(value)


@cache
def _element() -> re.Pattern[str]:
    return re.compile(_ELEMENT)


_SEPARATOR = re.compile(r",? ?\n?(?:    )?")
_NESTED = rf"\{{ (?:{_KEY} = (?:{_STR}|{_INT})(?:, (?=[A-Za-z0-9_-])| (?=\}})))+\}}"
_STRINGS = rf"\[(?:{_STR}(?:, (?=[\"'])|(?=\])))*\]"


@cache
def _inline_item() -> re.Pattern[str]:
    return re.compile(rf"({_KEY}) = ({_STR}|{_INT}|{_NESTED}|{_STRINGS})(?:, | \}})")


@cache
def _conflict_set() -> re.Pattern[str]:
    return re.compile(_array(_CONFLICT_ITEM))


@cache
def _conflict_item() -> re.Pattern[str]:
    return re.compile(_CONFLICT_ITEM)


def _conflicts(value: str) -> list[list[dict[str, Any]]]:
    """uv's `conflicts`, arrays of `{ package, extra | group }`: as the general element
    pattern splits them (an array, or an inline table, is that pattern's only match from
    its first character on), without compiling that pattern (~10 ms) when they are."""
    try:
        sets = _elements(value, _conflict_set())
        return [[_inline(i) for i in _elements(s, _conflict_item())] for s in sets]
    except _Unexpected:
        return [[_inline(i) for i in _elements(e)] for e in _elements(value)]


def _elements(value: str, element: re.Pattern[str] | None = None) -> list[str]:
    """The elements of an array value the statement regex accepted, as text."""
    out: list[str] = []
    pos, end = 1, len(value) - 1
    match, skip = (element or _element()).match, _SEPARATOR.match
    while True:
        sep = skip(value, pos)
        pos = sep.end() if sep is not None else pos
        if pos >= end:
            return out
        m = match(value, pos)
        if m is None:
            raise _Unexpected
        out.append(m.group())  # `element`'s text, also for `_ELEMENT`'s lookahead
        pos = m.end()


def _inline(text: str) -> dict[str, Any]:
    """An inline table of strings, `{ k = "v" }` tables and arrays of strings, as tomllib
    gives it; anything else (or a shape the pieces do not add up to) is unexpected."""
    if not text.startswith("{ "):
        raise _Unexpected
    out: dict[str, Any] = {}
    pos = 2
    while pos < len(text):
        m = _inline_item().match(text, pos)
        if m is None:
            raise _Unexpected
        key, value = m.group(1), m.group(2)
        if key in out:
            raise _Unexpected
        first = value[0]
        if first == "{":
            out[key] = _read_value("source", value) if key == "source" else _LEAF
        elif first == "[":
            out[key] = [_string(e) for e in _elements(value)]
        elif first in "\"'":
            out[key] = _unquote(value)
        else:
            out[key] = int(value)
        pos = m.end()
    if not text.endswith(" }") or pos != len(text):
        raise _Unexpected
    return out


_PLAIN = r'"[^"\\\x00-\x1f\x7f]*"'  # a basic string without escapes: its value is [1:-1]


@cache
def _wheel_tag_line() -> re.Pattern[str]:
    return re.compile(r'\n    \{ url = "[^"]*/[^"/-]*-[^"/]*-([^-"/]*-[^-"/]*-[^-"/]*)\.whl"')


def _wheel_tags(value: str) -> list[str] | None:
    """The tags of uv's wheel lines, `    { url = "...", ... },`, one a line; else None.

    No string holds a newline, so `,\n` ends a line. A line with one `{` and one `}`, that
    starts with the table and ends with it, is that one table; its `url` is the only file
    key it can have (one slot in the grammar); a url without `\\` ends at the next `"`.
    """
    if not value.startswith('[\n    { url = "') or not value.endswith(",\n]"):
        return None
    lines = value.count(",\n")
    if (
        "\\" not in value
        and value.count('\n    { url = "') == lines
        and value.count(" },\n") == lines
        and value.count("{") == lines
        and value.count("}") == lines
    ):  # the same checks for all lines at once; then the tags of well-formed names
        tags = _wheel_tag_line().findall(value)
        if len(tags) == lines:
            return list(map(sys.intern, tags))
    out = []
    for line in value[2:-3].split(",\n"):
        if (
            not line.startswith('    { url = "')
            or not line.endswith(" }")
            or line.count("{") != 1
            or line.count("}") != 1
        ):
            return None
        url = line[13 : line.find('"', 13)]
        if "\\" in url:
            return None
        out.append(tag_of(url))
    return out


@cache
def _dep_lines() -> re.Pattern[str]:
    """One of uv's dependency lines in a multi-line array."""
    return re.compile(
        rf"    \{{ name = (?P<name>{_PLAIN})(?:, version = (?P<version>{_PLAIN}))?"
        rf"(?:, source = \{{ (?P<kind>{_KIND}) = (?P<where>{_PLAIN}) \}})?"
        rf"(?:, extra = \[(?P<extra>{_PLAIN}(?:, {_PLAIN})*)\])?"
        rf"(?:, marker = (?P<marker>{_PLAIN}))? \}},\n"
    )


def _tiled(pattern: re.Pattern[str], value: str) -> list[re.Match[str]] | None:
    """The lines of `[\n<line>...]` when each is `pattern`, back to back; else None."""
    if not value.startswith("[\n") or not value.endswith("\n]"):
        return None
    out = []
    pos, end = 2, len(value) - 1
    for m in pattern.finditer(value, 2, end):
        if m.start() != pos:
            return None
        out.append(m)
        pos = m.end()
    return out if pos == end else None


def _dep_dict(m: re.Match[str]) -> Dep:
    """A dependency line, as `_deps` makes it from the table tomllib gives."""
    return _dep_of(*m.group("name", "version", "kind", "where", "extra", "marker"))


def _dep_of(
    name: str,
    version: str | None,
    kind: str | None,
    where: str | None,
    extra: str | None,
    marker: str | None,
) -> Dep:
    """A dependency line's Dep from its quoted strings (absent: None or "", as `findall`
    gives them); none holds a quote, so `", "` is only ever between two extras."""
    return Dep(
        canonical_name(name[1:-1]),
        version[1:-1] if version else None,
        ((kind, where[1:-1]),) if kind and where else (),
        sys.intern(marker[1:-1]) if marker else None,
        tuple(canonical_name(e) for e in extra[1:-1].split('", "')) if extra else (),
    )


@cache
def _wheel_line() -> re.Pattern[str]:
    return re.compile(_WHEEL)


def _wheel(element: str) -> dict[str, Any]:
    """A `wheels` item; uv's usual `{ url, hash, size, upload-time }` without a full read."""
    if _wheel_line().fullmatch(element):
        return {"url": _unquote(_STRING.match(element, 8).group())}  # type: ignore[union-attr]
    return _inline(element)


def _string(element: str) -> str:
    if element[0] not in "\"'":
        raise _Unexpected
    return _unquote(element)


def _unquote(token: str) -> str:
    body = token[1:-1]
    if token[0] == "'" or "\\" not in body:
        return body
    return _ESCAPE.sub(lambda e: _ESCAPED[e.group(1)], body)
