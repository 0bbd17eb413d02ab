"""The TOML side of `envkey-hook fix`: add or change config-settings tokens with
tomlkit, keeping everything outside the edited value byte for byte."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tomlkit.container import Container

CSP = "config-settings-package"


@dataclass(frozen=True)
class Edit:
    """Append `tokens` to `config-settings-package.<package>.<option>` (a string value
    becomes the first element), or with `at`, replace the element at that index by
    the single token."""

    package: str  # the key as spelled in the file (existing), or as to be written
    option: str  # "--build-option" or "--global-option"
    tokens: tuple[str, ...]
    existing: bool = False  # the package already has a table in config-settings-package
    at: int | None = None

    def describe(self, settings: Mapping[str, Any], future: bool) -> str:
        csp = settings.get(CSP)
        own = csp.get(self.package) if self.existing and isinstance(csp, Mapping) else None
        old = own.get(self.option) if isinstance(own, Mapping) else None
        if self.at is not None and isinstance(old, list):
            verb = "change" if future else "changed"
            return f'{verb} {old[self.at]} to {self.tokens[0]} in "{self.option}"'
        if old is not None:
            verb = "append" if future else "appended"
            return f'{verb} {", ".join(map(_string, self.tokens))} to "{self.option}"'
        return f'{"add" if future else "added"} "{self.option}" = {_array(self.tokens)}'


def _string(token: str) -> str:
    return json.dumps(token)  # a TOML basic string for the tokens envkey-hook writes


def _array(tokens: tuple[str, ...]) -> str:
    return "[" + ", ".join(map(_string, tokens)) + "]"


def apply_edits(text: str, uv_path: tuple[str, ...], edits: list[Edit]) -> str:
    """`text` with the edits made by tomlkit, keeping everything else as it was."""
    import tomlkit

    doc = tomlkit.parse(text)
    root = list(uv_path)
    if CSP not in _node(doc, root):  # then no package has settings yet: one new table
        entries = ", ".join(
            f'{_key(e.package)} = {{ "{e.option}" = {_array(e.tokens)} }}' for e in edits
        )
        _add(doc, root, CSP, f"{{ {entries} }}")
        edits = []
    for e in edits:
        value = _array(e.tokens)
        if e.package not in _node(doc, [*root, CSP]):
            _add(doc, [*root, CSP], e.package, f'{{ "{e.option}" = {value} }}')
        elif e.option not in _node(doc, [*root, CSP, e.package]):
            _add(doc, [*root, CSP, e.package], e.option, value)
        else:
            path = [*root, CSP, e.package, e.option]
            old = _node(doc, path)
            if isinstance(old, list) and e.at is not None:
                old[e.at] = e.tokens[0]
            elif isinstance(old, list):
                old.extend(e.tokens)
            else:  # a string: becomes the first element
                _node(doc, path[:-1])[e.option] = _value(f"[{old.as_string()}, {value[1:]}")
    new = doc.as_string()
    while new.endswith("\n\n") and not text.endswith("\n\n"):
        new = new[:-1]  # the blank line after a new table that ended up last
    if "\r\n" in text and "\n" not in text.replace("\r\n", ""):
        new = re.sub(r"(?<!\r)\n", "\r\n", new)  # tomlkit writes "\n" for new lines
    return new


def expected_data(data: dict[str, Any], uv_path: tuple[str, ...], edits: list[Edit]) -> Any:
    """What the rewritten file must parse to: `data` plus exactly the edits."""
    import copy

    expected = copy.deepcopy(data)
    for e in edits:
        node = expected
        for key in (*uv_path, CSP, e.package):
            node = node.setdefault(key, {})
        old = node.get(e.option)
        value = [old] if isinstance(old, str) else list(old or [])
        if e.at is not None:
            value[e.at] = e.tokens[0]
        else:
            value += e.tokens
        node[e.option] = value
    return expected


def verify(
    new_text: str, data: dict[str, Any], uv_path: tuple[str, ...], edits: list[Edit], path: Path
) -> None:
    """Refuse to write unless the new text parses to the old data plus exactly the edits."""
    from envkey_hook import tomlcompat

    if tomlcompat.loads(new_text, path) != expected_data(data, uv_path, edits):
        raise RuntimeError(
            f"{path}: the rewrite would change more than the new settings; nothing written"
        )


def _node(doc: Container, path: list[str]) -> Any:
    node: Any = doc
    for key in path:
        node = node[key]
    return node


def _key(name: str) -> str:
    """A key as TOML text: bare when possible."""
    return (
        name if re.fullmatch(r"[A-Za-z0-9_-]+", name) and not name.startswith("--") else f'"{name}"'
    )


def _value(text: str) -> Any:
    """A tomlkit item from TOML text, with the trivia a parsed line has."""
    import tomlkit

    return tomlkit.parse(f"v = {text}\n").item("v")


def _add(doc: Container, path: list[str], key: str, value_text: str) -> None:
    """Add `key = value_text` to the table at `path`, in the style of that table."""
    import tomlkit
    from tomlkit.items import InlineTable, Key, SingleKey, Table

    parent: Any = _node(doc, path[:-1]) if path else None
    node = _node(doc, path)
    if isinstance(node, InlineTable):
        # tomlkit's own insertion loses the spacing before `}`: rebuild the text.
        inner = node.as_string()[1:-1]
        body = inner.rstrip()
        entry = f"{_key(key)} = {value_text}"
        text = f"{{{body}, {entry}{inner[len(body) :]}}}" if body.strip() else f"{{ {entry} }}"
        parent[path[-1]] = _value(text)
        return
    value = _value(value_text)
    # A super table (no header of its own) holds either dotted keys (`a.b = 1`
    # lines under a parent header: add one more) or only `[a.b]` sub-tables.
    super_table = isinstance(node, Table) and node.is_super_table()
    dotted = super_table and any(k and k.is_dotted() for k, _ in node.value.body)
    header_only = super_table and not dotted
    if isinstance(value, InlineTable) and not dotted and (header_only or key == CSP):
        # A new `[...]` table: a key-value here would land under the previous header.
        table = tomlkit.table()
        for k, v in value.value.body:
            if isinstance(k, Key):
                table.add(k, _value(v.as_string()))  # re-parsed: ends its line
        table.add(tomlkit.nl())  # a blank line before whatever follows
        node[SingleKey(key)] = table
        return
    node[_quoted(key) if key.startswith("--") else SingleKey(key)] = value


def _quoted(key: str) -> Any:
    from tomlkit.items import KeyType, SingleKey

    return SingleKey(key, KeyType.Basic)
