"""Versions installed in the project's environment, for runtimes the lock does not install
(a container's torch kept out by `override-dependencies = ["torch; sys_platform == 'never'"]`).

Read from the `.dist-info` metadata in the environment's own site-packages (what its
interpreter would find first), else asked of the environment's interpreter (its
`importlib.metadata`, which also sees the system site-packages of a
`--system-site-packages` venv); once per runtime, only when such a runtime exists, so
the usual run reads nothing and starts no process.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_ASK = (
    "import sys\n"
    "from importlib.metadata import PackageNotFoundError, version\n"
    "try:\n    print(version(sys.argv[1]))\n"
    "except PackageNotFoundError:\n    pass\n"
)


def lookup(venv: Path) -> Callable[[str], str | None]:
    """name -> the version installed in `venv` (None: not installed, or no environment)."""
    found: dict[str, str | None] = {}

    def version(name: str) -> str | None:
        if name not in found:
            found[name] = _read(venv, name) or _ask(venv, name)
        return found[name]

    return version


def _read(venv: Path, name: str) -> str | None:
    """The version in the venv's site-packages metadata (None: absent, or several)."""
    from envkey_hook.names import canonical_name

    want = canonical_name(name)
    dirs = [*venv.glob("lib/python*/site-packages"), venv / "Lib" / "site-packages"]
    versions = set()
    for site in dirs:
        for info in site.glob("*.dist-info"):
            stem = info.name[: -len(".dist-info")]
            if canonical_name(stem.split("-", 1)[0]) != want:
                continue
            meta = _metadata(info / "METADATA")
            name_ok = meta.get("name") is not None and canonical_name(meta["name"]) == want
            if name_ok and meta.get("version"):
                versions.add(meta["version"])
    return versions.pop() if len(versions) == 1 else None


def _metadata(path: Path) -> dict[str, str]:
    """`Name` and `Version` from a METADATA file's headers ({} when unreadable)."""
    import io

    from envkey_hook.errors import InputError
    from envkey_hook.readfile import TOML_LIMIT, open_regular

    out: dict[str, str] = {}
    try:
        f = open_regular(path, TOML_LIMIT)  # a FIFO there never blocks
        if f is None:
            return {}
        with io.TextIOWrapper(f, encoding="utf-8", errors="replace") as text:
            for line in text:
                if not line.strip():
                    break  # the headers end at the first blank line
                key, sep, value = line.partition(":")
                if sep and key.lower() in ("name", "version"):
                    out.setdefault(key.lower(), value.strip())
    except (OSError, InputError):
        return {}
    return out


def _ask(venv: Path, name: str) -> str | None:
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        return None
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _ASK, name], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out and "\n" not in out else None
