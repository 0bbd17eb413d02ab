"""TOML a user can paste: `match-runtime` entries merged into the project's own table.

uv normalizes package names, so `nv_grouped_gemm` and `nv-grouped-gemm` are one key: a
second spelling is a duplicate key, and uv then ignores all of `[tool.uv]`. The hint
therefore reuses the spelling the file already has and prints the whole merged entry.
It also keeps the table's own form: a `[tool.uv.extra-build-dependencies]` header added to
a file that holds the table inline (`extra-build-dependencies = { ... }`) or as dotted
keys (`extra-build-dependencies.pkg = [...]`) under `[tool.uv]` is a duplicate table too.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from envkey_hook.names import canonical_name
from envkey_hook.settings import ProjectReader, project_config_candidates

if TYPE_CHECKING:
    from collections.abc import Iterable

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class Hint(NamedTuple):
    """`lines` (`key = [...]`, whole entries) go under `header` in `file` (an empty
    header: at the top of the file, before any table)."""

    file: str
    header: str
    lines: tuple[str, ...]


def project_file(read: ProjectReader, rel: str) -> tuple[str, dict[str, Any]]:
    """The file uv reads the project's settings from, and its `[tool.uv]` (or uv.toml)."""
    from envkey_hook.tomlcompat import loads

    for path in project_config_candidates(rel):
        data = read(path)
        if data is None:
            continue
        doc = loads(data, path)
        if path.endswith("uv.toml"):
            return path, doc
        uv = doc.get("tool", {}).get("uv")
        if isinstance(uv, dict):
            return path, uv
    return (f"{rel}/pyproject.toml" if rel else "pyproject.toml"), {}


def migration(pairs: Iterable[tuple[str, str]], read: ProjectReader, rel: str) -> Hint:
    """The merged `extra-build-dependencies` entries adding match-runtime for each pair."""
    path, table = project_file(read, rel)
    parent = "" if path.endswith("uv.toml") else "[tool.uv]"
    header = "[extra-build-dependencies]" if not parent else "[tool.uv.extra-build-dependencies]"
    form = _form(read(path) or b"", parent) if "extra-build-dependencies" in table else "table"
    existing = table.get("extra-build-dependencies", {})
    existing = existing if isinstance(existing, dict) else {}
    spelling = {canonical_name(k): k for k in existing}
    wanted: dict[str, list[str]] = {}
    for package, runtime in sorted(pairs):
        wanted.setdefault(package, []).append(runtime)
    lines = []
    for package, runtimes in sorted(wanted.items()):
        key = spelling.get(package, package)
        items = list(existing.get(key, [])) if isinstance(existing.get(key), list) else []
        named = {_requirement_name(i) for i in items}
        items += [{"requirement": r, "match-runtime": True} for r in runtimes if r not in named]
        lines.append(f"{_key(key)} = [{', '.join(_value(i) for i in items)}]")
    if form == "dotted":
        return Hint(path, parent, tuple(f"extra-build-dependencies.{ln}" for ln in lines))
    if form == "inline":  # the whole table, every entry, on the one line it lives on
        merged = {**existing, **_parsed(lines)}
        return Hint(path, parent, (f"extra-build-dependencies = {_value(merged)}",))
    return Hint(path, header, tuple(lines))


def _form(data: bytes, parent: str) -> str:
    """How the file spells its extra-build-dependencies table: under its own header
    ("table"), as dotted keys ("dotted") or as one inline table ("inline")."""
    text = data.decode("utf-8", "replace")
    prefix = r"tool\s*\.\s*uv\s*\.\s*" if parent else ""
    if re.search(rf"^\s*\[\s*{prefix}extra-build-dependencies\s*\]", text, re.M):
        return "table"
    if re.search(r"^\s*extra-build-dependencies\s*\.", text, re.M):
        return "dotted"
    return "inline"


def _parsed(lines: list[str]) -> dict[str, Any]:
    from envkey_hook.tomlcompat import loads

    return loads("\n".join(lines).encode(), "hint")


def _requirement_name(item: Any) -> str:
    text = item.get("requirement", "") if isinstance(item, dict) else item
    if not isinstance(text, str):
        return ""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    return canonical_name(m.group(1)) if m else ""


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    """A TOML value for what tomllib read (strings, booleans, numbers, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(type(value).__name__)
