"""Checking a project's environment: build records against installed runtimes, and
in-place build directories of its local sources.

`uv_build.json` says what uv asked for, not what was compiled, so a repackaged
binary passes the record check; only the cache scan (cachescan.py) finds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from envkey_hook.cachescan import build_removal
from envkey_hook.current import Current
from envkey_hook.names import canonical_name
from envkey_hook.purge import Notice, Removal
from envkey_hook.readfile import TOML_LIMIT, read_json


@dataclass
class EnvCheck:
    venv: Path
    exists: bool = False
    records: int = 0  # match-runtime requirements checked
    problems: list[tuple[str, str]] = field(default_factory=list)  # (package, message)


def site_packages(venv: Path) -> list[Path]:
    found = [*venv.glob("lib*/*/site-packages"), venv / "Lib" / "site-packages"]
    seen: dict[str, Path] = {}
    for d in found:
        if d.is_dir():
            seen.setdefault(os.path.realpath(d), d)
    return list(seen.values())


def _installed(site: Path) -> dict[str, tuple[str, Path]]:
    """normalized name -> (version, dist-info dir), from the directory names."""
    out: dict[str, tuple[str, Path]] = {}
    for d in site.glob("*.dist-info"):
        name, _, version = d.name[: -len(".dist-info")].partition("-")
        if version:
            out[canonical_name(name)] = (version, d)
    return out


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def check_environment(venv: Path) -> EnvCheck:
    """Compare each match-runtime version in `uv_build.json` with the installed runtime."""
    check = EnvCheck(venv, exists=venv.is_dir())
    for site in site_packages(venv):
        installed = _installed(site)
        for package, (_, dist) in sorted(installed.items()):
            try:
                record = read_json(dist / "uv_build.json", TOML_LIMIT)
            except ValueError as exc:
                check.problems.append((package, f"unreadable uv_build.json: {exc}"))
                continue
            if record is None:
                continue
            reqs = record.get("extra_build_requires") if isinstance(record, dict) else None
            for item in reqs if isinstance(reqs, list) else []:
                req = item.get("requirement") if isinstance(item, dict) else None
                if not (isinstance(req, dict) and item.get("match_runtime") is True):
                    continue
                check.records += 1
                runtime = canonical_name(str(req.get("name", "")))
                spec = str(req.get("specifier", ""))
                wanted = spec[2:] if spec.startswith("==") else spec
                have = installed.get(runtime)
                if have is None:
                    msg = f"built for {runtime} {wanted}, but {runtime} is not installed"
                    check.problems.append((package, msg))
                elif not spec.startswith("==") or not _same_version(wanted, have[0]):
                    msg = (
                        f"built for {runtime} {wanted or '?'}, but {runtime} {have[0]} is installed"
                    )
                    check.problems.append((package, msg))
    return check


def local_builds(cur: Current) -> tuple[list[Removal], list[Notice]]:
    """In-place build directories of local sources with build inputs, and what was left alone.

    Only sources inside the repository (or the project, outside git) are removable.
    """
    from envkey_hook import current

    risky = [n for n, k in cur.envkeys.items() if current.has_build_inputs(k)]
    found: list[Removal] = []
    notices: list[Notice] = []
    for target in current.targets(cur, risky):
        for d in sorted(target.local_dirs):
            build = d / "build"
            if not os.path.lexists(build):
                continue
            try:
                rel = d.resolve(strict=True).relative_to(cur.root.resolve(strict=True))
            except (OSError, ValueError):
                notices.append(Notice(target.name, build, "outside the repository: left alone"))
                continue
            r = build_removal(cur.root / rel / "build", "local-build", target.name, None)
            if r is not None:
                found.append(r._replace(detail=f"in-place build directory of {d}"))
    return found, notices
