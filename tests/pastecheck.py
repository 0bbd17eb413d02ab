"""Paste a TOML hint the way a user does, and ask the real uv what it then reads.

`uv lock --offline --show-settings` discovers and parses the project's settings (the
step that warns "Failed to parse ... during settings discovery" and then ignores all of
`[tool.uv]`), prints what it resolved and exits before resolving: it works offline on any
project, the corpus' locks whose registries point at index.example included.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from e2e_helpers import uv_binary

if TYPE_CHECKING:
    from collections.abc import Sequence

_KEY = re.compile(r"\s*([A-Za-z0-9_.\"'-]+?)\s*=")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _balance(line: str) -> int:
    """Open brackets minus closed ones, outside strings and comments."""
    code = _STRING.sub("", line).split("#", 1)[0]
    return sum(code.count(c) for c in "[{") - sum(code.count(c) for c in "]}")


def paste(text: str, header: str, hint_lines: Sequence[str]) -> str:
    """`text` with each hint line replacing the entry of its key under `header` (the
    whole entry, however many lines it spans), or added right under the header (the
    header added at the end when the file has none)."""
    lines = text.splitlines()
    for hint in hint_lines:
        key = hint.split(" = ", 1)[0]
        start = 0 if not header else lines.index(header) + 1 if header in lines else None
        if start is None:
            lines += ["", header, hint]
            continue
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        for i in range(start, end):
            m = _KEY.match(lines[i])
            if m and m.group(1) == key:
                stop, depth = i, _balance(lines[i])
                while depth > 0 and stop + 1 < len(lines):
                    stop += 1
                    depth += _balance(lines[stop])
                lines[i : stop + 1] = [hint]
                break
        else:
            lines.insert(start, hint)
    return "\n".join(lines) + "\n"


def show_settings(
    project: Path, cache: Path, args: Sequence[str] = ("lock", "--offline")
) -> subprocess.CompletedProcess[str]:
    """What uv reads from the project's settings for `uv <args>` (no resolution, no
    network: `--show-settings` prints them and exits)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.update(UV_CACHE_DIR=str(cache), UV_NO_PROGRESS="1", XDG_CONFIG_HOME=str(cache / "xdg"))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    cmd = [uv_binary(), *args, "--show-settings"]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)


def extra_build_dependencies(shown: str) -> dict[str, list[tuple[str, bool]]]:
    """`extra_build_dependencies` of uv's `--show-settings` output: package ->
    [(requirement name, match_runtime)]."""
    start = shown.find("extra_build_dependencies: ExtraBuildDependencies(")
    if start < 0:
        return {}
    end = shown.find("extra_build_variables:", start)
    block = shown[start:end]
    out: dict[str, list[tuple[str, bool]]] = {}
    package = None
    names: list[str] = []
    for m in re.finditer(
        r'(?P<pkg>^ {16}PackageName\(\n\s*"(?P<p>[^"]+)")|'
        r'(?P<req>name: PackageName\(\n\s*"(?P<r>[^"]+)")|'
        r"(?P<mr>match_runtime: (?P<b>true|false))",
        block,
        re.M,
    ):
        if m.group("pkg"):
            package = m.group("p")
            out[package] = []
        elif m.group("req"):
            names.append(m.group("r"))
        elif package is not None and names:
            out[package].append((names.pop(), m.group("b") == "true"))
    return out


def assert_uv_reads(project: Path, cache: Path, before: str = "") -> str:
    """uv parses the project's settings without a warning (other than those in `before`,
    its stderr on the file as the project stored it); its `--show-settings` output."""
    proc = show_settings(project, cache)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to parse" not in proc.stderr, proc.stderr
    new = [ln for ln in proc.stderr.splitlines() if "warning" in ln.lower()]
    assert [ln for ln in new if ln not in before] == [], proc.stderr
    return proc.stdout
