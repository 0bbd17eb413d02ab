"""Which source-built packages compile native code, and which of them use CUDA.

Decided from the source tree where one is at hand (a local directory source, uv's
unpacked sdist or git checkout in the cache), conservatively otherwise: a package
whose sources cannot be seen counts as native, and as a CUDA user when the lock
holds a CUDA runtime (`nvidia-cuda-runtime-*`, `nvidia-cuda-nvcc-*`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

NATIVE_SUFFIXES = frozenset(
    (".c", ".cc", ".cpp", ".cxx", ".cu", ".cuh", ".pyx", ".f", ".f90", ".rs", ".m", ".mm")
)
NATIVE_NAMES = frozenset(("CMakeLists.txt", "meson.build", "Cargo.toml"))
CUDA_SUFFIXES = frozenset((".cu", ".cuh"))
# Build scripts that name CUDA: torch's CUDAExtension, CMake's CUDA language or toolkit.
_CUDA_WORDS = {"setup.py": b"CUDAExtension", "CMakeLists.txt": b"CUDA"}
_SKIP_DIRS = frozenset(("build", "node_modules", "site-packages", "__pycache__"))
MAX_ENTRIES = 50_000  # a tree bigger than this is not read to the end: conservative answer
CUDA_RUNTIMES = ("nvidia-cuda-runtime", "nvidia-cuda-nvcc")


class Kind(NamedTuple):
    native: bool
    cuda: bool
    seen: bool  # decided from a source tree (False: the conservative guess)


def has_cuda_runtime(names: Iterable[str]) -> bool:
    """Whether a lock's package names include a CUDA runtime or toolkit wheel."""
    return any(n.startswith(CUDA_RUNTIMES) for n in names)


def scan(tree: Path) -> tuple[bool, bool] | None:
    """(native, cuda) for a source tree; None when it cannot be read to a decision."""
    from envkey_hook.errors import InputError
    from envkey_hook.readfile import TOML_LIMIT, open_regular

    native = cuda = False
    for name, word in _CUDA_WORDS.items():
        try:
            script = open_regular(tree / name, TOML_LIMIT)  # a FIFO there never blocks
            if script is None:
                continue
            with script:
                text = script.read(1 << 20)
        except (OSError, InputError):
            continue
        if word in text:
            return True, True
        # A CMake project is native; a setup.py only when it declares an Extension.
        native = native or name != "setup.py" or b"Extension" in text
    seen = 0
    try:
        for _top, dirs, files in os.walk(tree):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
            seen += len(files) + len(dirs)
            for f in files:
                suffix = os.path.splitext(f)[1].lower()
                if suffix in CUDA_SUFFIXES:
                    return True, True
                if suffix in NATIVE_SUFFIXES or f in NATIVE_NAMES:
                    native = True
            if seen > MAX_ENTRIES:
                return None
    except OSError:
        return None
    return native, cuda


def source_trees(
    name: str,
    local_dirs: Collection[Path],
    versions: Collection[str],
    git_shas: Collection[str],
    cache: Path | None,
) -> list[Path]:
    """Where the package's sources can be read: local directories, then uv's cache."""
    trees = [d for d in local_dirs if d.is_dir()]
    if cache is None:
        return trees
    from envkey_hook.cache import find_entries, git_checkouts, revisions

    for entry in find_entries(cache, name, git_shas, kinds=()):
        if entry.path.name in versions:
            trees += [rev / "src" for rev in revisions(entry) if (rev / "src").is_dir()]
    trees += git_checkouts(cache, git_shas)
    return trees


def classify(trees: list[Path], cuda_stack: bool, said_cuda: bool) -> Kind:
    """The package's kind from its source trees; the first readable one decides."""
    for tree in trees:
        found = scan(tree)
        if found is not None:
            return Kind(found[0] or said_cuda, found[1] or said_cuda, True)
    return Kind(True, cuda_stack or said_cuda, False)
