"""uv.lock reading: the fast reader must agree with the full TOML parse on every input.

Sample locks in tests/data/locks were written by uv 0.13.9 (`uv lock --offline`):
`workspace-conflicts.lock` (workspace member, editable, directory, virtual, local wheel,
find-links registry, conflicting extras, manifest, metadata tables) and
`local-sources.lock` (git, local sdist, dynamic-version directory, forks by Python
version, options, supported-markers); the git URL was replaced by git.example.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from e2e_helpers import BIG_TORCH
from envkey_hook import lockfile
from envkey_hook.errors import InputError
from envkey_hook.lockfile import (
    Lock,
    LockedPackage,
    parse_lock,
    parse_lock_toml,
    read_lock,
    read_lock_chunks,
)

P = "proj/uv.lock"
DATA = Path(__file__).parent / "data" / "locks"
REGISTRY = (("registry", "https://index.example/simple"),)

Outcome = Union[Lock, str]  # a Lock, or the InputError's message


def outcome(read: Callable[[bytes, str], Lock], data: bytes) -> Outcome:
    try:
        lock = read(data, P)
    except InputError as exc:
        assert str(exc) == f"{P}: {exc.problem}" and "\n" not in exc.problem
        return str(exc)
    return lock


def fast(text: str) -> Lock | None:
    """The fast reader alone: None when it hands over to the TOML parser."""
    return fast_bytes(text.encode(), P)


def fast_bytes(data: bytes, path: str) -> Lock | None:
    scan = lockfile._Scan(path, {}, lambda: data)
    scan.piece(data, len(data))
    return scan.finish()


def assert_agree(text: str, *, fast_path: bool | None = None) -> Outcome:
    """Both readers give the same Lock or the same error; optionally say which path ran."""
    data = text.encode()
    got = outcome(parse_lock, data)
    assert got == outcome(parse_lock_toml, data)
    if fast_path is not None:
        try:
            took_fast = fast(text) is not None
        except InputError:
            took_fast = True  # the fast reader read it and found it wrong
        assert took_fast == fast_path
    return got


def lock_text(*packages: str, head: str = "version = 1\nrevision = 5\n") -> str:
    return head + "".join(f"\n[[package]]\n{p}" for p in packages)


def problem(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(InputError) as info:
        parse_lock(data, P)
    assert str(info.value).startswith(f"{P}: ")
    assert outcome(parse_lock_toml, data) == str(info.value)  # same error either way
    return info.value.problem


TORCH = (
    'name = "torch"\nversion = "2.14.1"\nsource = { registry = "https://index.example/simple" }\n'
)


# --- the big real locks --------------------------------------------------------------


def big_torch(state: str) -> bytes:
    return (BIG_TORCH / state / "uv.lock").read_bytes()


@pytest.mark.parametrize("state", ["before", "after"])
def test_big_torch_fast_reader_matches_toml(state: str) -> None:
    data = big_torch(state)
    fast_lock = fast(data.decode())
    assert fast_lock is not None, "uv's own layout must not need the fallback"
    assert fast_lock == parse_lock_toml(data, P) == parse_lock(data, P)
    assert (fast_lock.version, fast_lock.revision, fast_lock.requires_python) == (1, 5, ">=3.10")
    assert len(fast_lock.packages) == {"before": 425, "after": 440}[state]
    (flash,) = fast_lock.by_name("flash-attn")
    assert (flash.version, flash.source, flash.has_sdist, flash.has_wheels) == (
        "2.8.3.post2",
        REGISTRY,
        True,
        False,
    )
    (root,) = fast_lock.by_name("big")
    assert (root.version, root.source_kind, root.source_value) == ("0.1.0", "virtual", ".")


def test_a_lock_read_like_another_rereads_only_the_blocks_that_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, after = big_torch("before"), big_torch("after")
    alone = parse_lock(after, P)
    old = parse_lock(before, P)
    read_blocks: list[str] = []
    real = lockfile._fast_block

    def counting(block: bytes) -> dict[str, object]:
        read_blocks.append(block)
        return real(block)

    monkeypatch.setattr(lockfile, "_fast_block", counting)
    reused = parse_lock(after, P, like=old)
    assert reused == alone == parse_lock_toml(after, P)
    new_blocks = set(after.split(b"\n[[package]]\n")[1:]) - set(
        before.split(b"\n[[package]]\n")[1:]
    )
    assert 15 <= len(read_blocks) == len(new_blocks) < 440 // 4


def test_reused_blocks_do_not_hide_a_broken_lock() -> None:
    good = lock_text(TORCH, 'name = "a"\nversion = "1"\nsource = { virtual = "." }\n')
    like = parse_lock(good.encode(), P)
    for broken in (
        good.replace("version = 1\n", "version = 2\n"),  # the prelude is always read
        good + "\n[[package]]\n" + TORCH,  # a duplicate, from reused blocks alone
        good.replace("revision = 5", 'revision = 5\n[manifest]\nmembers = ["a"]') + "[manifest]\n",
    ):
        data = broken.encode()
        assert outcome(lambda d, p: parse_lock(d, p, like=like), data) == outcome(
            parse_lock_toml, data
        )


def test_big_torch_fork() -> None:
    before = parse_lock(big_torch("before"), P)
    after = parse_lock(big_torch("after"), P)
    (torch,) = before.by_name("torch")
    assert torch[:6] == ("torch", "2.14.1", REGISTRY, (), False, True)
    assert torch.wheels == ()  # no sdist: never built, so its wheels' tags are not read
    (a2wsgi,) = before.by_name("a2wsgi")
    assert a2wsgi.wheels == ("py3-none-any",)
    assert {d.name for d in torch.dependencies} >= {"filelock", "sympy"}
    old, new = after.by_name("torch")
    assert (old.version, new.version) == ("2.14.1", "2.15.0")
    assert old.resolution_markers == ("python_full_version < '3.11'",)
    assert len(new.resolution_markers) == 18
    assert new.resolution_markers[0] == "python_full_version >= '3.15' and sys_platform == 'win32'"
    assert not any("< '3.11'" in m for m in new.resolution_markers)


# --- small real locks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "conflicts",
    [
        '[[\n    { package = "p", extra = "a" },\n    { package = "p", group = "b" },\n]]',
        '[[{ package = "p", extra = "a" }, { package = "p", extra = "b" }], [{}]]',
        '[[\n    { package = "p", extra = "a" },\n], [\n    { package = "q", extra = "a" },\n]]',
        '[[\n    { package = "p", extra = "a" },\n], "p"]',  # not uv's: the general reader
        '[{ package = "p", extra = "a" }]',
        "[]",
    ],
)
def test_conflicts_read_as_tomllib_reads_them(conflicts: str) -> None:
    """`conflicts` has a reader of its own (no general element pattern to compile)."""
    assert_agree(
        lock_text(
            'name = "p"\nversion = "1"\nsource = { registry = "r" }\n',
            head=f"version = 1\nconflicts = {conflicts}\n",
        )
    )


def test_workspace_with_conflicts() -> None:
    text = (DATA / "workspace-conflicts.lock").read_text()
    lock = assert_agree(text, fast_path=True)
    assert isinstance(lock, Lock)
    assert [(p.name, p.version, p.source_kind) for p in lock.packages] == [
        ("flatpkg", "1.0", "registry"),
        ("flatpkg", "2.0", "registry"),
        ("helper", "0.5", "registry"),
        ("lib-ed", "0.2", "editable"),
        ("libdir", "0.1", "directory"),
        ("member", "0.3", "editable"),
        ("proj", "0.1.0", "virtual"),
        ("wheelpkg", "1.0", "path"),
    ]
    (wheel,) = lock.by_name("wheelpkg")
    assert (wheel.source_value, wheel.has_sdist, wheel.has_wheels) == (
        "files/wheelpkg-1.0-py3-none-any.whl",
        False,
        True,
    )


def test_local_sources() -> None:
    path = DATA / "local-sources.lock"
    lock = read_lock(path)
    assert lock.path == str(path)
    assert fast_bytes(path.read_bytes(), str(path)) == lock
    assert parse_lock_toml(path.read_bytes(), str(path)) == lock
    dyn, old, new, git, root, sdist = lock.packages
    assert (dyn.name, dyn.version, dyn.source) == ("dyn-pkg-x", None, (("directory", "dyn"),))
    assert (old.version, new.version) == ("1.0", "2.0")
    assert new.resolution_markers == (
        "python_full_version >= '3.11' and sys_platform == 'linux'",
        "python_full_version >= '3.11' and sys_platform == 'darwin'",
    )
    assert git.source_kind == "git"
    assert git.source_value.endswith("?tag=v1#2a29b26be2200245d22db395b462c6de163cea07")
    assert (root.source_kind, root.source_value) == ("editable", ".")
    assert (sdist.has_sdist, sdist.has_wheels, sdist.source_kind) == (True, False, "path")


# --- hand-edited but valid TOML: the fallback reads it, to the same result ---------------


@pytest.mark.parametrize(
    ("edited", "expected", "fast_path"),
    [
        ('name="torch"', "torch", False),  # spacing
        ('name = "torch"  ', "torch", False),  # trailing blanks
        ("# a comment line\nname = 'torch'", "torch", False),
        ('name = "t\\u006Frch"', "torch", False),  # a \u escape
        ('name = """torch"""', "torch", False),  # a multi-line string
        ('"name" = "Torch"', "torch", False),  # a quoted key
        ('name = "torch" # pinned', "torch", True),  # a comment after a value: uv writes those
        ("name = 'Torch'", "torch", True),  # a literal string: uv writes those
    ],
)
def test_hand_edits(edited: str, expected: str, fast_path: bool) -> None:
    text = lock_text(TORCH.replace('name = "torch"', edited))
    lock = assert_agree(text, fast_path=fast_path)
    assert isinstance(lock, Lock)
    assert [(p.name, p.version, p.source) for p in lock.packages] == [
        (expected, "2.14.1", REGISTRY)
    ]


SOURCE_LINE = 'source = { registry = "https://index.example/simple" }\n'
SDIST_LINE = 'sdist = { url = "https://files.example/torch.tar.gz", hash = "sha256:00" }\n'
FULL_TORCH = (
    TORCH
    + "resolution-markers = [\n    \"python_full_version < '3.11'\",\n]\n"
    + SDIST_LINE
    + 'wheels = [\n    { url = "https://files.example/torch.whl", hash = "sha256:11" },\n]\n'
)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("\n", "\r\n"),  # CRLF line ends
        lambda t: t.rstrip("\n"),  # no final newline
        lambda t: t.replace("    ", "\t"),  # tabs in arrays
        lambda t: t.replace("wheels = [\n", "wheels = [\n\n"),  # a blank line in an array
        lambda t: t.replace(  # spaces inside brackets
            "[\n    \"python_full_version < '3.11'\",\n]", "[ \"python_full_version < '3.11'\" ]"
        ),
        lambda t: t.replace(SOURCE_LINE, 'source.registry = "https://index.example/simple"\n'),
        lambda t: (
            t.replace(SOURCE_LINE, "")
            + '\n[package.source]\nregistry = "https://index.example/simple"\n'
        ),  # a sub-table
        lambda t: t.replace(  # inline-table keys out of uv's order
            SDIST_LINE,
            'sdist = { hash = "sha256:00", url = "https://files.example/torch.tar.gz" }\n',
        ),
    ],
)
def test_fallback_on_reformatted_lock(edit: Callable[[str], str]) -> None:
    text = lock_text(FULL_TORCH)
    plain = assert_agree(text, fast_path=True)
    edited = edit(text)
    assert edited != text
    assert assert_agree(edited, fast_path=False) == plain


def test_fast_reader_handles_escapes_and_literal_strings() -> None:
    text = lock_text(
        A + 'source = { url = \'C:\\x\\"y".whl\', subdirectory = "s\\\\u" }\n'
        'resolution-markers = [\n    "extra == \\"q\\"\\t\\u00e9",\n    \'é\',\n]\n'
    )
    assert "\\u00e9" in text
    assert assert_agree(text, fast_path=False)  # \u escapes: the TOML parser reads them
    text = text.replace("\\u00e9", "é")
    lock = assert_agree(text, fast_path=True)
    assert isinstance(lock, Lock)
    (pkg,) = lock.packages
    assert pkg.source == (("subdirectory", "s\\u"), ("url", 'C:\\x\\"y".whl'))
    assert pkg.resolution_markers == ('extra == "q"\té', "é")


def test_empty_wheels_and_no_packages() -> None:
    lock = assert_agree(lock_text(TORCH + "wheels = []\n"), fast_path=True)
    assert isinstance(lock, Lock) and lock.packages[0].has_wheels is False
    lock = assert_agree('version = 1\nrequires-python = ">=3.12"\n', fast_path=True)
    assert lock == Lock(P, 1, None, ">=3.12", ())


@pytest.mark.parametrize(
    "text",
    [
        lock_text(TORCH + 'name = "x"\n'),  # a duplicate key
        lock_text(TORCH + "[package.metadata]\n[package.metadata]\n"),  # a table twice
        lock_text(TORCH + "wheels = [\n    { url = 'a', url = 'b' },\n]\n"),
        lock_text(TORCH + "[package.metadata]\nx = 1\n", TORCH + "[package]\n"),
        lock_text(TORCH, head="version = 1\n[package.metadata]\n"),
        lock_text(TORCH + "wheels = [\n    ]\n    sdist = {}\n    x = [\n]\n"),
        lock_text(TORCH + "wheels = [[]]\n"),
        lock_text(TORCH + "resolution-markers = [[], []]\n"),
        lock_text(TORCH + "[package.sdist]\n"),
        lock_text(TORCH, head="version = 1\npackage = 1\n"),
        lock_text(TORCH, head="[version]\n"),
        lock_text(TORCH + "x = 01\n"),
        lock_text(TORCH + 'x = "a\x7fb"\n'),
    ],
)
def test_tricky_toml_agrees(text: str) -> None:
    """Valid or not, TOML that could fool a line scanner gets the same answer."""
    assert_agree(text)


def test_broken_long_array_falls_back_without_backtracking_forever() -> None:
    """A wheel line fits two patterns; a broken end must not retry 2**100 combinations."""
    wheel = '    { url = "u", hash = "h", size = 1, upload-time = "t" },\n'
    text = lock_text(TORCH + "wheels = [\n" + wheel * 100 + "]]\n")
    assert fast(text) is None
    assert problem(text).startswith("invalid TOML: ")


# --- errors --------------------------------------------------------------------------------


def test_conflict_markers_come_first() -> None:
    text = lock_text(TORCH)
    lines = text.splitlines(keepends=True)
    conflicted = "".join(lines[:3] + ["<<<<<<< HEAD\n"] + lines[3:5] + ["=======\n"])
    assert problem(conflicted) == "unresolved merge conflict markers (line 4)"
    assert problem(">>>>>>> theirs\n" + text) == "unresolved merge conflict markers (line 1)"
    assert problem(b"\x00\xff\n=======\n") == "unresolved merge conflict markers (line 2)"


def test_not_text() -> None:
    assert problem(b"version = 1\x00") == "binary data, not a TOML file"
    assert problem(b"version = 1\n\xff") == "not UTF-8 text (byte 12)"
    assert problem(b"") == "empty file, not a uv lock"
    assert problem(b" \n\n") == "empty file, not a uv lock"


def test_invalid_toml() -> None:
    assert problem(lock_text('name = "torch\n')).startswith("invalid TOML: ")
    assert problem(lock_text(TORCH + TORCH)).startswith("invalid TOML: ")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("revision = 5\n", "no lock `version`; envkey-hook supports version 1"),
        ("version = 2\n", "unsupported lock version 2; envkey-hook supports version 1"),
        ('version = "1"\n', "unsupported lock version '1'; envkey-hook supports version 1"),
        ("version = true\n", "unsupported lock version True; envkey-hook supports version 1"),
        ('version = 1\nrevision = "5"\n', "`revision` must be an integer"),
        ("version = 1\nrequires-python = 3\n", "`requires-python` must be a string"),
    ],
)
def test_bad_lock_version(head: str, expected: str) -> None:
    assert problem(lock_text(TORCH, head=head)) == expected


A = 'name = "a"\nversion = "1"\n'
NOT_STRINGS = "package a: `source` must be an inline table of strings"
MARKERS = "`resolution-markers` must be an array of strings"
NO_VERSION = "has no `version` (only directory, editable, virtual sources may omit it)"


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ('version = "1"\nsource = { registry = "r" }\n', "package #2 has no `name`"),
        ('name = 1\nversion = "1"\n', "package #2: `name` must be a string"),
        ('name = "A_b"\nversion = 3\n', "package A_b: `version` must be a string"),
        (A, "package a has no `source`"),
        (A + 'source = "pypi"\n', NOT_STRINGS),
        (A + "source = { registry = 1 }\n", NOT_STRINGS),
        (A + 'source = { git = "g" }\nresolution-markers = "m"\n', f"package a: {MARKERS}"),
        (A + 'source = { git = "g" }\nsdist = "s"\n', "package a: `sdist` must be a table"),
        (A + 'source = { git = "g" }\nwheels = "w"\n', "package a: `wheels` must be an array"),
        ('name = "a\\tb"\nsource = { registry = "r" }\n', f"package 'a\\tb' {NO_VERSION}"),
        (TORCH.replace('"torch"', '"Torch"'), "duplicate package torch 2.14.1 (registry https://index.example/simple)"),
    ],
)  # fmt: skip
def test_bad_package(package: str, expected: str) -> None:
    assert problem(lock_text(TORCH, package)) == expected


@pytest.mark.parametrize("kind", ["registry", "git", "url", "path"])
def test_version_required_unless_local(kind: str) -> None:
    text = lock_text(f'name = "a"\nsource = {{ {kind} = "x" }}\n')
    assert problem(text) == f"package a {NO_VERSION}"
    for local in ("directory", "editable", "virtual"):
        lock = parse_lock(text.replace(kind, local).encode(), P)
        assert lock.packages == (LockedPackage("a", None, ((local, "x"),)),)


def test_forks_are_not_duplicates() -> None:
    other = TORCH.replace("2.14.1", "2.15.0")
    elsewhere = TORCH.replace("index.example", "mirror.example")
    lock = parse_lock(lock_text(TORCH, other, elsewhere).encode(), P)
    assert [(p.version, p.source_value) for p in lock.by_name("torch")] == [
        ("2.14.1", "https://index.example/simple"),
        ("2.15.0", "https://index.example/simple"),
        ("2.14.1", "https://mirror.example/simple"),
    ]


def test_read_lock_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_lock(tmp_path / "uv.lock")
    assert str(info.value) == f"{tmp_path / 'uv.lock'}: not found (run `uv lock` first)"
    with pytest.raises(InputError, match="is a directory, expected a file"):
        read_lock(tmp_path)
    os.mkfifo(tmp_path / "fifo.lock")  # refused, never waited on
    with pytest.raises(InputError, match=r"is a named pipe \(FIFO\), not a regular file"):
        read_lock(tmp_path / "fifo.lock")


# --- generated locks in uv's layout ----------------------------------------------------


def toml_str(value: str, literal: bool) -> str:
    """A TOML string the way toml_edit (uv's writer) may spell it."""
    if literal and "'" not in value and not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value):
        return f"'{value}'"
    short = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"'}
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


PLAIN = list("az09 .-_'\"\\\t\n=[]{},#") + ["é", "λ", "\U0001f600"]
CONTROL = ["\x01", "\x7f"]  # spelled as \u escapes, which the fast reader leaves to TOML
names = st.sampled_from(["torch", "Flash_Attn", "a.b-c", "A__B", "numpy", "x", "ÿ-λ"])
WHEELS = [
    '{{ url = {}, hash = "h", size = 1, upload-time = "t" }}',
    "{{ path = {} }}",
    '{{ filename = {}, hash = "h", zstd = {{ hash = "z", size = 2 }} }}',
]
kinds = st.sampled_from(["registry", "git", "url", "path", "directory", "editable", "virtual"])


@st.composite
def uv_locks(draw: st.DrawFn) -> str:
    """A small lock written in uv's layout, with odd strings in the places uv allows."""

    alphabet = PLAIN + CONTROL if draw(st.integers(0, 4)) == 0 else PLAIN
    odd_text = st.text(st.sampled_from(alphabet), max_size=8)

    def s(value: str) -> str:
        return toml_str(value, draw(st.booleans()))

    def string_lines(values: list[str]) -> str:  # uv omits empty arrays
        return "[\n" + "".join(f"    {s(v)},\n" for v in values) + "]"

    out = ["version = 1\n"]
    if draw(st.booleans()):
        out.append(f"revision = {draw(st.integers(0, 9))}\n")
    out.append(f"requires-python = {s(draw(odd_text))}\n")
    if draw(st.booleans()):
        markers = draw(st.lists(odd_text, min_size=1, max_size=2))
        out.append(f"resolution-markers = {string_lines(markers)}\n")
    if draw(st.booleans()):
        out.append(
            'conflicts = [[\n    { package = "p", extra = "a" },\n    { package = "p" },\n]]\n'
        )
    if draw(st.booleans()):
        out.append('\n[options]\nexclude-newer = "2025-01-01T00:00:00Z" # keep\n')
    if draw(st.booleans()):
        out.append(f"\n[manifest]\nmembers = {string_lines(['a', 'b'])}\n")
        out.append('constraints = [{ name = "x", specifier = "<2" }]\n')
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(kinds)
        out.append(f"\n[[package]]\nname = {s(draw(names))}\n")
        if kind not in ("directory", "editable", "virtual") or draw(st.booleans()):
            out.append(
                f"version = {s(draw(st.sampled_from(['1.0', '2.0+cu1', draw(odd_text)])))}\n"
            )
        source = f"{kind} = {s(draw(odd_text))}"
        if kind == "url" and draw(st.booleans()):
            source += f", subdirectory = {s(draw(odd_text))}"
        out.append(f"source = {{ {source} }}\n")
        markers = draw(st.lists(odd_text, max_size=3))
        if markers:
            out.append(f"resolution-markers = {string_lines(markers)}\n")
        if draw(st.booleans()):
            out.append(
                "dependencies = [\n"
                f"    {{ name = {s(draw(names))} }},\n"
                f'    {{ name = "b", version = "1", source = {{ registry = {s(draw(odd_text))} }}, '
                f"extra = [{s(draw(odd_text))}], marker = {s(draw(odd_text))} }},\n"
                "]\n"
            )
        if draw(st.booleans()):
            out.append(f'sdist = {{ url = {s(draw(odd_text))}, hash = "sha256:ab", size = 12 }}\n')
        wheels = [
            draw(st.sampled_from(WHEELS)).format(s(draw(odd_text)))
            for _ in range(draw(st.integers(0, 2)))
        ]
        if wheels:
            out.append("wheels = [\n" + "".join(f"    {w},\n" for w in wheels) + "]\n")
        if draw(st.booleans()):
            out.append(
                f"\n[package.optional-dependencies]\n{draw(st.sampled_from(['cu', 'x-y']))} = [\n"
            )
            out.append(f"    {{ name = {s(draw(names))}, marker = {s(draw(odd_text))} }},\n]\n")
        if draw(st.booleans()):
            out.append(f"\n[package.metadata]\nrequires-dist = [{{ name = {s(draw(names))} }}]\n")
            out.append(f"provides-extras = [{s(draw(odd_text))}]\n")
            out.append("\n[package.metadata.requires-dev]\ndev = []\n")
    return "".join(out)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uv_locks())
def test_generated_uv_layout_fast_equals_toml(text: str) -> None:
    # Only \u escapes (for control characters) are left to the TOML parser.
    assert_agree(text, fast_path=None if "\\u" in text else True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    uv_locks() | st.sampled_from([lock_text(TORCH + "wheels = [\n    { path = 'w' },\n]\n")]),
    st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "drop line", "copy line", "swap lines"]),
            st.floats(0, 1),
            st.sampled_from(list("\n =[]{},\"'\\#a1\t\ré.")),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_damaged_locks_get_the_same_answer(text: str, edits: list[tuple[str, float, str]]) -> None:
    """Whatever an edit breaks, both readers agree: same Lock, or the same error."""
    for op, where, char in edits:
        lines = text.splitlines(keepends=True) or [""]
        at = int(where * (len(text) - 1)) if text else 0
        line = int(where * (len(lines) - 1))
        if op == "insert":
            text = text[:at] + char + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "drop line":
            text = "".join(lines[:line] + lines[line + 1 :])
        elif op == "copy line":
            text = "".join(lines[: line + 1] + lines[line:])
        elif line + 1 < len(lines):
            lines[line], lines[line + 1] = lines[line + 1], lines[line]
            text = "".join(lines)
    assert_agree(text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from("aZ09-_.é"), min_size=1, max_size=12))
def test_names_normalized_like_packaging(name: str) -> None:
    lock = parse_lock(lock_text(TORCH.replace('"torch"', toml_str(name, False))).encode(), P)
    assert lock.packages[0].name == canonicalize_name(name)


@pytest.mark.parametrize("size", [1, 13, 4096, 1 << 18])
@pytest.mark.parametrize("state", ["before", "after"])
def test_a_lock_read_in_chunks_reads_as_a_whole(state: str, size: int) -> None:
    """The hook streams locks from git and the work tree: any chunking, the same Lock."""
    data = big_torch(state)
    if size == 1:
        data = data[:20_000]  # bytes one at a time: the first packages are enough
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    whole = outcome(parse_lock, data)
    assert outcome(lambda d, p: read_lock_chunks(chunks, p, None, lambda: d), data) == whole


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 18])
@pytest.mark.parametrize("at", [0, 1, 90, -1])
def test_a_conflict_marker_in_a_chunked_lock_is_on_the_line_a_whole_read_gives(
    size: int, at: int
) -> None:
    """Lines are numbered only once a marker is found, from the lock read again."""
    lines = big_torch("before").decode().splitlines(keepends=True)[:120]
    lines.insert(at if at >= 0 else len(lines), "=======\n")
    data = "".join(lines).encode()
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    reread: list[int] = []

    def again() -> bytes:
        reread.append(1)
        return data

    got = outcome(lambda d, p: read_lock_chunks(chunks, p, None, again), data)
    line = (at if at >= 0 else len(lines) - 1) + 1
    assert got == outcome(parse_lock, data) == outcome(parse_lock_toml, data)
    assert f"unresolved merge conflict markers (line {line})" in str(got) and reread == [1]


def test_a_chunked_lock_not_in_uvs_layout_is_reread_for_the_toml_parser() -> None:
    data = lock_text(TORCH).replace("version = 1\n", "version = 1 # c\n", 1).encode()
    data = data.replace(b"revision = 5\n", b"revision = 0x5\n")  # valid TOML, not uv's
    reread: list[int] = []

    def again() -> bytes:
        reread.append(1)
        return data

    got = read_lock_chunks([data[:10], data[10:]], P, None, again)
    assert got == parse_lock_toml(data, P) and reread == [1]


# --- uv's arrays of wheels and dependencies, read without the statement regex ----------

CORPUS_LOCKS = sorted((Path(__file__).parent / "corpus" / "snapshots").glob("*/uv.lock"))
WHEEL = (
    '    {{ url = "https://files.example/{0}-1.0-{1}.whl", hash = "sha256:ab", size = 7,'
    ' upload-time = "2025-01-01T00:00:00Z" }},\n'
)
ARRAYS = (
    TORCH
    + 'sdist = { url = "https://files.example/torch-2.14.1.tar.gz", hash = "sha256:cd",'
    + " size = 9 }\n"
    + "dependencies = [\n"
    + '    { name = "Numpy", marker = "sys_platform == \'linux\'" },\n'
    + '    { name = "a", version = "1", source = { registry = "https://index.example/simple" },'
    + ' extra = ["x, y", "z"] },\n'
    + "]\nwheels = [\n"
    + WHEEL.format("torch", "cp311-cp311-linux_x86_64")
    + WHEEL.format("torch", "py3-none-any")
    + "]\n\n[package.optional-dependencies]\ncu = [\n"
    + '    { name = "b" },\n'
    + "]\n"
)


def statement_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the statement regex reads from here on."""
    keys: list[str] = []
    real = lockfile._statement

    class Spy:
        def __init__(self, clean: bool = False) -> None:
            self.pattern = real(clean)

        def match(self, text: str, pos: int) -> re.Match[str] | None:
            m = self.pattern.match(text, pos)
            if m is not None and m.group("key"):
                keys.append(m.group("key"))
            return m

    monkeypatch.setattr(lockfile, "_statement", Spy)
    return keys


def test_uvs_arrays_are_read_without_the_statement_regex(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = statement_keys(monkeypatch)
    data = lock_text(ARRAYS).encode()
    lock = fast_bytes(data, P)
    assert lock is not None and lock == parse_lock_toml(data, P)
    assert "dependencies" not in keys and "wheels" not in keys and "cu" not in keys
    (torch,) = lock.packages
    assert torch.wheels == ("cp311-cp311-linux_x86_64", "py3-none-any")
    assert [d.name for d in torch.dependencies] == ["numpy", "a"]
    # a backslash anywhere in the block: the statement regex reads all of it
    keys.clear()
    escaped = data.replace(b"index.example/simple", b"index.example/s\\timple", 1)
    assert fast_bytes(escaped, P) == parse_lock_toml(escaped, P)
    assert {"dependencies", "wheels", "cu"} <= set(keys)


@pytest.mark.parametrize("escape", [False, True])
def test_an_extra_with_a_comma_reads_as_tomllib_reads_it(escape: bool) -> None:
    """`extra = ["x, y", "z"]` is two extras (main read three, `"x` and `y"` among them)."""
    text = lock_text(ARRAYS)
    if escape:  # the statement regex's reader, not the clean one
        text = text.replace("index.example/simple", "index.example/s\\timple", 1)
    lock = fast(text)
    assert lock is not None and lock == parse_lock_toml(text.encode(), P)
    assert lock.packages[0].dependencies[1].extras == (canonicalize_name("x, y"), "z")


@pytest.mark.parametrize(
    "at", ["Numpy", "sys_platform", "x, y", "torch-1.0-py3", "sha256:ab", '"b"']
)
def test_a_string_over_a_line_end_is_never_read_as_uvs_lines(at: str) -> None:
    """A newline inside a string is invalid TOML: both readers say so, none reads on."""
    assert at in ARRAYS
    text = lock_text(ARRAYS.replace(at, at[:2] + "\n" + at[2:], 1))
    assert outcome(parse_lock, text.encode()) == outcome(parse_lock_toml, text.encode())
    assert "invalid TOML" in str(outcome(parse_lock_toml, text.encode()))


def test_the_corpus_is_there() -> None:
    assert len(CORPUS_LOCKS) >= 40


@pytest.mark.parametrize("path", CORPUS_LOCKS, ids=lambda p: p.parent.name)
def test_real_locks_read_fast_as_tomllib_reads_them(path: Path) -> None:
    data = path.read_bytes()
    assert fast_bytes(data, P) == parse_lock_toml(data, P)


CLEAN_PIECES = [
    "\n", " ", "\t", "=", ",", ", ", "[", "]", "[[", "]]", "{ ", " }", "#", ".", '"', "'",
    "x", "name", "url", "hash", "size", "marker", "extra", "é", "1", "true", "package",
    '"a"', "'b'", '"', "\n    ", ",\n", "[\n    ", '{ name = "a" }', "{ name = 'a' }",
    '{ registry = "r" }', '{ url = "u", hash = "h", size = 1 }', "[]", " # c", '"x", ',
    "'y', ", '{ package = "p", extra = "e" }', "{ package = 'p', extra = 'e' }",
]  # fmt: skip
KEYS = st.sampled_from(["name", "source", "sdist", "wheels", "dependencies", "x", "[[package]]"])
VALUES = st.lists(st.sampled_from(CLEAN_PIECES), min_size=1, max_size=6).map("".join)
STATEMENTS = st.tuples(KEYS, st.sampled_from([" = ", "="]), VALUES, st.sampled_from(["\n", ""]))


@settings(max_examples=500, deadline=None)
@given(st.lists(STATEMENTS.map("".join) | st.sampled_from(CLEAN_PIECES), max_size=12))
def test_the_clean_grammar_reads_a_clean_text_as_the_full_one(pieces: list[str]) -> None:
    """Without backslashes and control characters the smaller pattern is the same grammar."""
    text = "".join(pieces) + "\n"
    assert lockfile._is_clean(text.encode())
    for pos in range(len(text)):
        full = lockfile._statement().match(text, pos)
        small = lockfile._statement(True).match(text, pos)
        assert (full and full.groupdict()) == (small and small.groupdict())


def reference_tag(url: str) -> str:
    """A wheel's tags as the wheel file name spec reads them: the last three `-` fields."""
    name = url.rsplit("/", 1)[-1]
    parts = name[:-4].split("-") if name.endswith(".whl") else []
    return "-".join(parts[-3:]) if len(parts) >= 5 else ""


@pytest.mark.parametrize(
    "url",
    [
        "https://x/torch-2.1.0-cp311-cp311-manylinux1_x86_64.whl",
        "https://x/pkg-1.0-1-py3-none-any.whl",  # a build tag
        "https://x/a-b-c-d.whl",  # four fields: not a wheel name
        "a-b-c-d-e.whl",  # no slash at all
        "https://x/a-b-c-d-e.whl/",
        "https://x/a-b-c-d-e.WHL",
        "https://x/-----.whl",
        "https://x/y/",
        "",
    ],
)
def test_a_wheels_tags_are_read_from_its_file_name(url: str) -> None:
    assert lockfile.tag_of(url) == reference_tag(url)


def test_the_tags_of_every_corpus_wheel_are_read_as_the_spec_reads_them() -> None:
    urls = {u for p in CORPUS_LOCKS for u in re.findall(r'url = "([^"]*)"', p.read_text())}
    assert len(urls) > 1000
    assert [lockfile.tag_of(u) for u in urls] == [reference_tag(u) for u in urls]
