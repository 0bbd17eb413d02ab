"""Is the lock behind the project's requirements? (pyproject.toml changed, uv.lock not yet.)

`uv sync` relocks such a project itself, then builds with the new runtime in a source tree
left by the old one: the stale build this tool exists to prevent, and the envkeys of a stale
lock cannot show it. So when the requirements differ between the two states and the lock
does not, the run says the lock is out of date instead of calling the cache reconciled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envkey_hook import tomlcompat

# What uv resolves from (uv-workspace's pyproject and uv-settings' resolver options): a
# change to any of these is a change the lock must follow.
_PROJECT_KEYS = ("name", "version", "dependencies", "optional-dependencies", "requires-python")
_UV_KEYS = (
    "sources",
    "dev-dependencies",
    "constraint-dependencies",
    "override-dependencies",
    "build-constraint-dependencies",
    "index",
    "index-url",
    "extra-index-url",
    "find-links",
    "workspace",
    "conflicts",
    "environments",
    "required-environments",
    "resolution",
    "prerelease",
    "fork-strategy",
    "exclude-newer",
)


def requirements(pyproject: bytes | None, uv_toml: bytes | None, path: str) -> dict[str, Any]:
    """The parts of a project's pyproject.toml (and uv.toml) that its lock is resolved from."""
    out: dict[str, Any] = {}
    if pyproject is not None:
        doc = tomlcompat.loads(pyproject, path)
        project = _table(doc.get("project"))
        out.update({f"project.{k}": project.get(k) for k in _PROJECT_KEYS})
        out["dependency-groups"] = doc.get("dependency-groups")
        uv = _table(_table(doc.get("tool")).get("uv"))
        out.update({f"tool.uv.{k}": uv.get(k) for k in _UV_KEYS})
    if uv_toml is not None:
        doc = tomlcompat.loads(uv_toml, path.rsplit("pyproject.toml", 1)[0] + "uv.toml")
        out.update({f"uv.toml {k}": doc.get(k) for k in _UV_KEYS})
    return out


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _table(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
