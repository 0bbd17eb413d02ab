"""Whether a wheel in the lock installs on the target interpreter (so uv builds nothing).

The answer is packaging.tags' (`cpython_tags` + `compatible_tags` for the target Python
version on this machine). On CPython for Linux with glibc it is worked out here without
packaging, whose import is a sizeable part of a changed-lock run's budget; elsewhere
packaging decides. A test compares the two on real wheel names.
"""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False  # not typing's: this module is on the changed-lock path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(.+)")
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def installable(wheels: Iterable[str], env: Mapping[str, str]) -> bool:
    """Whether any of these wheels (`py-abi-platform` tags) installs on the target."""
    key = (env.get("implementation_name", ""), env.get("python_version", ""))
    known = _KNOWN.setdefault(key, {})
    for tag in wheels:
        ok = known.get(tag)
        if ok is None:
            check = _checker(*key)
            parts = tag.split("-")
            ok = known[tag] = len(parts) == 3 and any(check(t) for t in _expand(*parts))
        if ok:
            return True
    return False


_KNOWN: dict[tuple[str, str], dict[str, bool]] = {}  # per target: tag -> installable


def _expand(py: str, abi: str, plat: str) -> list[tuple[str, str, str]]:
    return [(i, a, p) for i in py.split(".") for a in abi.split(".") for p in plat.split(".")]


_CHECKERS: dict[tuple[str, str], object] = {}


def _checker(impl: str, version: str):  # type: ignore[no-untyped-def]
    key = (impl, version)
    if key not in _CHECKERS:
        _CHECKERS[key] = _make_checker(impl, version)
    return _CHECKERS[key]


def _make_checker(impl: str, version: str):  # type: ignore[no-untyped-def]
    major, _, minor = version.partition(".")
    glibc = _glibc()
    if impl == "cpython" and major == "3" and minor.isdigit() and glibc is not None:
        own = f"cp3{minor}"
        machine = os.uname().machine
        pys = {"py3", *(f"py3{w}" for w in range(int(minor) + 1))}
        abi3 = {f"cp3{w}" for w in range(2, int(minor) + 1)}

        def platform_ok(plat: str) -> bool:
            if plat == "any":
                return True
            if plat == f"linux_{machine}":
                return True
            for prefix, (lmaj, lmin) in _LEGACY.items():
                if plat.startswith(prefix + "_"):
                    arch = plat[len(prefix) + 1 :]
                    return arch == machine and (lmaj, lmin) <= glibc and _legacy_arch(prefix, arch)
            m = _MANYLINUX.fullmatch(plat)
            if m is None or m.group(3) != machine:
                return False
            tag = (int(m.group(1)), int(m.group(2)))
            floor = 5 if machine in ("x86_64", "i686") else 17
            return tag[0] == 2 and floor <= tag[1] and tag <= glibc

        def check(t: tuple[str, str, str]) -> bool:
            py, abi, plat = t
            if not platform_ok(plat):
                return False
            if plat == "any":
                return abi == "none" and (py == own or py in pys)
            if py == own and abi in (own, "abi3", "none"):
                return True
            if abi == "abi3" and py in abi3:
                return True
            return abi == "none" and py in pys

        return check
    supported = _packaging_tags(impl, major, minor)
    return lambda t: t in supported


def _legacy_arch(prefix: str, arch: str) -> bool:
    if prefix == "manylinux2014":
        return arch in ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x")
    return arch in ("x86_64", "i686")


def _glibc() -> tuple[int, int] | None:
    """This machine's glibc version; None off Linux/glibc (packaging decides there)."""
    if not hasattr(os, "confstr") or os.uname().sysname != "Linux":
        return None
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (OSError, ValueError):
        return None
    m = re.fullmatch(r"glibc (\d+)\.(\d+).*", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _packaging_tags(impl: str, major: str, minor: str) -> set[tuple[str, str, str]]:
    import sys

    from packaging import tags

    same = (major, minor) == (str(sys.version_info[0]), str(sys.version_info[1]))
    found: Iterable[tags.Tag]
    if impl != "cpython" or same or not (major.isdigit() and minor.isdigit()):
        found = tags.sys_tags()
    else:
        version = (int(major), int(minor))
        found = [*tags.cpython_tags(version), *tags.compatible_tags(version)]
    return {(t.interpreter, t.abi, t.platform) for t in found}
