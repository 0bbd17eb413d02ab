"""Which build backend builds a package, read from its source: a tree or an sdist.

Three answers matter to envkey-hook: plain setuptools (`build_ext --force` makes
every build compile), setuptools with torch's `BuildExtension` (with ninja on
PATH it compiles through ninja, which ignores `--force` and keeps objects whose
headers carry older mtimes), and anything else (scikit-build-core, meson-python,
...: their own build directories). "unknown" when no source could be read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from envkey_hook.errors import InputError
from envkey_hook.names import canonical_name

SETUPTOOLS = "setuptools"
BUILD_EXTENSION = "setuptools + BuildExtension"
UNKNOWN = "unknown"

# What marks a setup.py that builds with torch's BuildExtension (CUDAExtension and
# CppExtension come from the same module).
_BUILD_EXTENSION = re.compile(rb"BuildExtension|cpp_extension")


class Backend(NamedTuple):
    """A build backend as read from one source."""

    name: str  # SETUPTOOLS, BUILD_EXTENSION, another backend's module, or UNKNOWN
    requires: tuple[str, ...] = ()  # build-system.requires
    where: str = ""  # the tree or archive it was read from

    @property
    def setuptools(self) -> bool:
        """Built by setuptools (with or without BuildExtension)."""
        return self.name in (SETUPTOOLS, BUILD_EXTENSION)


def from_files(pyproject: bytes | None, setup_py: bytes | None, where: str) -> Backend:
    """The backend named by a source's pyproject.toml and setup.py (None: absent)."""
    from envkey_hook import tomlcompat

    requires: tuple[str, ...] = ()
    name = SETUPTOOLS  # PEP 517: no pyproject.toml or no build-system: setuptools' legacy
    if pyproject is not None:
        try:
            data = tomlcompat.loads(pyproject, where)
        except InputError:
            return Backend(UNKNOWN, (), where)
        system = data.get("build-system")
        if isinstance(system, Mapping):
            reqs = system.get("requires", [])
            requires = (
                tuple(r for r in reqs if isinstance(r, str)) if isinstance(reqs, list) else ()
            )
            backend = system.get("build-backend")
            # An in-tree backend (backend-path) that requires setuptools wraps it.
            wrapper = "backend-path" in system and any(
                canonical_name(re.split(r"[^A-Za-z0-9._-]", r.strip(), maxsplit=1)[0])
                == "setuptools"
                for r in requires
            )
            if isinstance(backend, str) and not backend.startswith("setuptools") and not wrapper:
                name = backend
    if name == SETUPTOOLS and setup_py is not None and _BUILD_EXTENSION.search(setup_py):
        name = BUILD_EXTENSION
    return Backend(name, requires, where)


def read_tree(tree: Path) -> Backend | None:
    """The backend of a source tree; None when the tree is not there."""
    if not tree.is_dir():
        return None
    from envkey_hook.errors import InputError
    from envkey_hook.readfile import TOML_LIMIT, read

    files: list[bytes | None] = []
    for name in ("pyproject.toml", "setup.py"):
        try:
            files.append(read(tree / name, TOML_LIMIT))  # a FIFO there never blocks
        except InputError:
            return None
    return from_files(files[0], files[1], str(tree))


def read_sdist(archive: Path) -> Backend | None:
    """The backend of an sdist archive (.tar.gz, .zip): its top directory's
    pyproject.toml and setup.py; None when it cannot be read."""
    import tarfile
    import zipfile

    wanted: dict[str, bytes] = {}
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for n in zf.namelist():
                    if _top_file(n):
                        wanted[n.split("/", 1)[1]] = zf.read(n)
        else:
            with tarfile.open(archive) as tf:
                for m in tf:
                    if m.isfile() and _top_file(m.name):
                        f = tf.extractfile(m)
                        if f is not None:
                            wanted[m.name.split("/", 1)[1]] = f.read()
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError):
        return None
    return from_files(wanted.get("pyproject.toml"), wanted.get("setup.py"), str(archive))


def _top_file(member: str) -> bool:
    parts = member.lstrip("./").split("/")
    return len(parts) == 2 and parts[1] in ("pyproject.toml", "setup.py")


def combine(found: Iterable[Backend]) -> Backend:
    """One answer from several sources (versions, checkouts): BuildExtension if any
    uses it, else setuptools if all are setuptools, else the other backend."""
    found = [b for b in found if b.name != UNKNOWN]
    if not found:
        return Backend(UNKNOWN)
    for wanted in (BUILD_EXTENSION, SETUPTOOLS):
        if any(b.name == wanted for b in found) and all(b.setuptools for b in found):
            return next(b for b in found if b.name == wanted)
    return next(b for b in found if not b.setuptools)


def source_trees(
    name: str,
    locked: Iterable[tuple[str, str, str | None]],
    project: Path,
    cache: Path | None,
) -> list[Path]:
    """Where the package's source is, from its uv.lock entries as (source kind, source
    value, version): local directories, uv's git checkouts of the locked commits, uv's
    unpacked sdists (of the locked versions, else of any version)."""
    trees: list[Path] = []
    versions = []
    for kind, value, version in locked:
        if kind in ("directory", "editable"):
            trees.append(project / value)
        elif kind == "git" and "#" in value and cache is not None:
            url, sha = value.rsplit("#", 1)
            sub = re.search(r"[?&]subdirectory=([^&#]+)", url)
            for checkout in sorted(cache.glob(f"git-v*/checkouts/*/{sha[:7]}*")):
                trees.append(checkout / sub.group(1) if sub else checkout)
        if version is not None:
            versions.append(version)
    if cache is None:
        return trees
    name = canonical_name(name)
    for version in [*versions, "*"]:
        found = [
            p
            for pattern in (
                f"sdists-v*/pypi/{name}/{version}/*/src",
                f"sdists-v*/index/*/{name}/{version}/*/src",
            )
            for p in sorted(cache.glob(pattern))
        ]
        if found:
            return trees + found
    return trees


def detect(trees: Iterable[Path]) -> Backend:
    """The backend of a package from its source trees."""
    return combine(b for b in map(read_tree, trees) if b is not None)


def fetch_sdist(url: str, hash_: str | None, timeout: float = 60.0) -> Backend | None:
    """Download an sdist (the registry's, as uv.lock names it), check its hash, read its
    backend; None when it cannot be had or does not match."""
    import hashlib
    import tempfile
    import urllib.request

    if not url.startswith(("https://", "http://", "file://")):
        return None
    algo, _, want = (hash_ or "").partition(":")
    digest = hashlib.new(algo) if want and algo in hashlib.algorithms_available else None
    with tempfile.TemporaryDirectory(prefix="envkey-hook-sdist-") as tmp:
        path = Path(tmp) / (url.rsplit("/", 1)[-1].split("#")[0] or "sdist")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(path, "wb") as out:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
        except (OSError, ValueError):
            return None
        if digest is not None and digest.hexdigest() != want:
            return None
        found = read_sdist(path)
        return found._replace(where=url) if found is not None else None
