"""A uv project written by hand (pyproject.toml + uv.lock), for tests that need no uv."""

from __future__ import annotations

import subprocess
from pathlib import Path

from envkey_hook import fixture

LINKS = "/links"

_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.9"

[[package]]
name = "demo-app"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "extpkg" }},
    {{ name = "rtlib" }},
]

[[package]]
name = "extpkg"
version = "0.1"
source = {{ registry = "{links}" }}
dependencies = [
    {{ name = "rtlib" }},
]
sdist = {{ path = "{links}/extpkg-0.1.tar.gz" }}

[[package]]
name = "rtlib"
version = "{rtlib}"
source = {{ registry = "{links}" }}
wheels = [
    {{ path = "{links}/rtlib-{rtlib}-py3-none-any.whl" }},
]
"""


def write(root: Path, rtlib: str = "1.0", extra_uv: str = "") -> Path:
    """pyproject.toml and the uv.lock uv would write for it (extpkg match-runtime on rtlib)."""
    root.mkdir(parents=True, exist_ok=True)
    pyproject = fixture.project_pyproject("extpkg", rtlib, find_links=[LINKS], extra_uv=extra_uv)
    (root / "pyproject.toml").write_text(pyproject)
    (root / "uv.lock").write_text(_LOCK.format(links=LINKS, rtlib=rtlib))
    return root


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return proc.stdout


def init(root: Path) -> None:
    git(root, "-c", "init.defaultBranch=main", "init", "-q")


def commit(root: Path, message: str = "commit") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-gpg-sign", "-m", message)
