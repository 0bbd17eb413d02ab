"""Versions installed in the project's environment, for runtimes the lock does not install
(a container's torch kept out by `override-dependencies = ["torch; sys_platform == 'never'"]`).

Asked of the environment's own interpreter (its `importlib.metadata`, which also sees the
system site-packages of a `--system-site-packages` venv), once per runtime; only when
such a runtime exists, so the usual run starts no process.
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
            found[name] = _ask(venv, name)
        return found[name]

    return version


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
