"""The interpreter uv would build for: `--python`, else the project's environment, else
`UV_PYTHON` / `.python-version`, else the one running envkey-hook.

The marker environment is the running one's, with the target's Python version.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

from envkey_hook.markers import environment

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

_VERSION = re.compile(r"(?:cpython|python|py)?[-@]?(3\.\d+(?:\.\d+)?)")


class Target:
    """Marker values of the target interpreter and a phrase saying where it came from."""

    def __init__(self, env: dict[str, str], origin: str) -> None:
        self.env = env
        self.origin = origin


def find(project: Path, venv: Path, python: str | None, env: Mapping[str, str]) -> Target:
    if python is None and (venv / "pyvenv.cfg").is_file():
        return Target(environment(str(venv)), f"the project's environment {venv}")
    request, origin = python, "--python"
    if request is None and env.get("UV_PYTHON"):
        request, origin = env["UV_PYTHON"], "UV_PYTHON"
    if request is None:
        for d in (project, *project.parents):
            pin = d / ".python-version"
            if pin.is_file():
                lines = pin.read_text(encoding="utf-8", errors="replace").splitlines()
                words = [w.strip() for w in lines if w.strip() and not w.startswith("#")]
                if words:
                    request, origin = words[0], str(pin)
                break
            if (d / ".git").exists():
                break  # the repository's root
    marker_env = environment()
    if request is None:
        return Target(marker_env, "the running interpreter")
    full = _version_of(request, marker_env["python_full_version"])
    if full is None:
        return Target(marker_env, f"the running interpreter ({origin} {request!r} not understood)")
    marker_env["python_full_version"] = marker_env["implementation_version"] = full
    marker_env["python_version"] = ".".join(full.split(".")[:2])
    return Target(marker_env, f"Python {full} ({origin})")


def _version_of(request: str, running: str) -> str | None:
    """A full version for a request: as written, the running one's when it matches, else
    the interpreter `uv python find` picks."""
    m = _VERSION.fullmatch(request.strip().lower())
    if m is None and os.path.realpath(request) == os.path.realpath(sys.executable):
        return running  # this very interpreter: nothing to ask
    if m is None:
        return _ask(request)
    wanted = m.group(1)
    if wanted.count(".") == 2:
        return wanted
    if running == wanted or running.startswith(wanted + "."):
        return running
    return _ask(wanted) or wanted + ".0"


def _ask(request: str) -> str | None:
    """The version of the interpreter uv finds for `request` (a path or a version)."""
    import subprocess

    exe = request if os.path.sep in request else None
    if exe is None:
        import shutil

        beside = os.path.join(os.path.dirname(sys.executable), "uv")
        uv = beside if os.path.exists(beside) else shutil.which("uv")
        if uv is None:
            return None
        try:
            found = subprocess.run(
                [uv, "python", "find", request], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        exe = found.stdout.strip() if found.returncode == 0 else None
    if not exe:
        return None
    code = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    try:
        out = subprocess.run([exe, "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+", version) else None


_CLAUSE = re.compile(r"\s*(>=|<=|>|<|==|!=)\s*(\d+(?:\.\d+)*)\s*")


def _satisfies(spec: str, version: str) -> bool:
    """`version in SpecifierSet(spec)`; plain clauses here, the rest by packaging."""
    have = [int(p) for p in version.split(".")]
    for clause in spec.split(","):
        m = _CLAUSE.fullmatch(clause)
        if m is None:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                return SpecifierSet(spec).contains(version, prereleases=True)
            except InvalidSpecifier:
                return True  # uv would have said so
        op, want = m.group(1), [int(p) for p in m.group(2).split(".")]
        width = max(len(have), len(want))
        a, b = have + [0] * (width - len(have)), want + [0] * (width - len(want))
        ok = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
        if not ok[op]:
            return False
    return True


def unsatisfied(requires_python: str | None, target: Target, lock_path: str) -> str | None:
    """One line when the target does not satisfy the lock's `requires-python`."""
    if not requires_python or target.origin.startswith("the project's environment"):
        return None  # uv made that environment for this project
    if _satisfies(requires_python, target.env["python_full_version"]):
        return None
    return (
        f"warning: {target.origin}: Python {target.env['python_full_version']} does not "
        f"satisfy requires-python {requires_python!r} of {lock_path}; markers are evaluated "
        "for it anyway (pass --python)"
    )
