"""Issue 6: a fuzz target for the lock and settings readers, bounded for CI.

Byte-level mutations (flips, inserts of TOML punctuation, NUL, CR, invalid UTF-8,
conflict markers, truncation, duplicated ranges) of real inputs: `tests/hostile/`
and `tests/data/locks/`. Whatever the bytes, a reader returns a value or raises
InputError with one line that names the file; nothing else escapes. The two lock
readers (fast and TOML) agree, and envkeys computed from what was read never raise
anything but InputError.

Bounded by `max_examples` and a per-example deadline; ENVKEY_FUZZ_EXAMPLES raises the
budget for a longer local run (e.g. 20000).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envkey_hook.config import parse_config
from envkey_hook.envkey import compute_envkeys
from envkey_hook.errors import InputError
from envkey_hook.lockfile import Lock, parse_lock, parse_lock_toml, read_lock_chunks
from envkey_hook.settings import Settings, load_settings

pytestmark = pytest.mark.fuzz

TESTS = Path(__file__).parent
LOCK_SEEDS = sorted(TESTS.glob("hostile/*.uv.lock")) + sorted(TESTS.glob("data/locks/*.lock"))
SETTINGS_SEEDS = sorted(TESTS.glob("hostile/*.pyproject.toml")) + sorted(
    TESTS.glob("hostile/*.uv.toml")
)
TOKENS = [
    b"\x00", b"\r", b"\n", b"\t", b" ", b"\xff", b"\xc3", b"\xe2\x80\xae", b"\"", b"'",
    b"\\", b"\\u0000", b"[", b"]", b"[[", b"]]", b"{", b"}", b"=", b",", b"#", b".",
    b"<<<<<<< HEAD\n", b"=======\n", b">>>>>>> x\n", b"[[package]]\n", b"version = 2\n",
    b'name = "x"\n', b"source = { registry = 1 }\n", b"true", b"1e999", b"-0", b"\xef\xbb\xbf",
    b"[tool.uv]\n", b"[tool.envkey-hook]\n", b"no-build-isolation = 1\n",
    b'extpkg = [{ requirement = "rtlib", match-runtime = true }]\n',
]  # fmt: skip
EXAMPLES = int(os.environ.get("ENVKEY_FUZZ_EXAMPLES", "500"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_Edit = tuple[str, float, float, bytes]
EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate", "replace"]),
        st.floats(0, 1),
        st.floats(0, 1),
        st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, edits: list[_Edit]) -> bytes:
    for op, where, span, token in edits:
        at = int(where * len(data))
        end = min(len(data), at + 1 + int(span * 64))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (1 << int(span * 7.99))]) + data[at + 1 :]
        elif op == "insert":
            data = data[:at] + token + data[at:]
        elif op == "delete":
            data = data[:at] + data[end:]
        elif op == "duplicate":
            data = data[:end] + data[at:end] + data[end:]
        elif op == "truncate":
            data = data[:at]
        else:
            data = data[:at] + token + data[end:]
    return data


def assert_one_line_naming(exc: InputError, path: str) -> None:
    text = str(exc)
    assert "\n" not in text and "\r" not in text, text
    assert text.startswith(f"{path}: "), text


def read_lock(data: bytes, path: str = "uv.lock") -> Lock | None:
    """The lock, or None after checking the error; both readers must agree."""
    try:
        fast: Lock | InputError = parse_lock(data, path)
    except InputError as exc:
        assert_one_line_naming(exc, path)
        fast = exc
    try:
        slow: Lock | InputError = parse_lock_toml(data, path)
    except InputError as exc:
        slow = exc
    chunked = _read_in_chunks(data, path)
    if isinstance(fast, InputError):
        assert isinstance(slow, InputError) and str(slow) == str(fast)
        assert isinstance(chunked, InputError) and str(chunked) == str(fast)
        return None
    assert fast == slow == chunked
    return fast


def _read_in_chunks(data: bytes, path: str) -> Lock | InputError:
    """As the hook reads a lock from git or the work tree: in pieces, here of odd sizes."""
    size = 1 + len(data) % 97  # pieces split lines, `[[package]]` and UTF-8 sequences
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    try:
        return read_lock_chunks(chunks, path, None, lambda: data)
    except InputError as exc:
        return exc


def read_settings(data: bytes, name: str) -> Settings | None:
    files = {name: data}
    if name == "uv.toml":
        files["pyproject.toml"] = b"[project]\nname = 'x'\n"
    try:
        got = load_settings(Path("/nonexistent/repo"), "", files.get, {}, cwd=Path("/w"))
        if name == "pyproject.toml":
            from envkey_hook.tomlcompat import loads

            parse_config(loads(data, name), name)
    except InputError as exc:
        assert_one_line_naming(exc, name)
        return None
    return got


@BOUNDED
@given(st.sampled_from(LOCK_SEEDS), EDITS)
def test_lock_reader_fuzz(seed: Path, edits: list[_Edit]) -> None:
    read_lock(mutate(seed.read_bytes(), edits))


@BOUNDED
@given(st.sampled_from(SETTINGS_SEEDS), EDITS)
def test_settings_reader_fuzz(seed: Path, edits: list[_Edit]) -> None:
    name = "uv.toml" if seed.name.endswith(".uv.toml") else "pyproject.toml"
    read_settings(mutate(seed.read_bytes(), edits), name)


@BOUNDED
@given(st.sampled_from(LOCK_SEEDS), EDITS, st.sampled_from(SETTINGS_SEEDS), EDITS)
def test_envkeys_from_fuzzed_inputs(
    lock_seed: Path, lock_edits: list[_Edit], settings_seed: Path, settings_edits: list[_Edit]
) -> None:
    """Whatever the readers accept, computing envkeys raises nothing but InputError."""
    lock = read_lock(mutate(lock_seed.read_bytes(), lock_edits))
    name = "uv.toml" if settings_seed.name.endswith(".uv.toml") else "pyproject.toml"
    found = read_settings(mutate(settings_seed.read_bytes(), settings_edits), name)
    if lock is None or found is None:
        return
    env = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux"}
    try:
        compute_envkeys(lock, found, env, name, ("rtlib", "torch"))
    except InputError as exc:
        assert_one_line_naming(exc, name)


def test_seeds_are_there() -> None:
    assert len(LOCK_SEEDS) >= 10 and len(SETTINGS_SEEDS) >= 10
