"""Finding and probing the compilers and the CUDA toolkit a build would use.

`compiler_paths` and `cuda_home` are cheap (environment, PATH lookups, stats): the memo
in `envinputs` is keyed by what they return. `probe` runs the tools (`cc --version`,
`nvcc --version`) and is called only when that moved. Only `os` and `sys` at import:
the cheap part runs on the no-op path.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: this module is on the no-op path
if TYPE_CHECKING:
    from collections.abc import Mapping

# What setuptools, CMake and meson call when CC/CXX are unset: `cc` (uv's managed
# Pythons) or `gcc` (most distribution and pyenv Pythons, their sysconfig CC).
DEFAULT_COMPILERS = {"C compiler": ("cc", "gcc"), "C++ compiler": ("c++", "g++")}
COMPILER_VARS = {"C compiler": "CC", "C++ compiler": "CXX"}
NOT_FOUND = "(not found)"
# A tool that is there but did not answer (a timeout, a broken install): never taken for
# a change, never kept in the memo.
UNKNOWN = "(version unknown)"


def which(name: str, env: Mapping[str, str]) -> str | None:
    """`shutil.which` without importing shutil: the executable `name` on PATH."""
    if os.sep in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for d in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


_LAUNCHERS = frozenset(("ccache", "sccache", "distcc"))


def _first_word(value: str) -> str:
    """The compiler in `CC="ccache gcc -m64"`: the first word that is not a launcher."""
    parts = value.split()
    while len(parts) > 1 and os.path.basename(parts[0]) in _LAUNCHERS:
        parts = parts[1:]
    return parts[0] if parts else ""


def compiler_paths(label: str, env: Mapping[str, str]) -> list[str]:
    """The executables a build would call as the C (C++) compiler, as found on PATH."""
    var = env.get(COMPILER_VARS[label], "").strip()
    names = (_first_word(var),) if var else DEFAULT_COMPILERS[label]
    found = [which(n, env) for n in names]
    return [p if p is not None else f"{n}: {NOT_FOUND}" for n, p in zip(names, found)]


def cuda_home(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(toolkit directory, nvcc): `CUDA_HOME`/`CUDA_PATH` as torch reads them, else the
    `nvcc` on PATH and the directory above its `bin/`."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        home = env.get(var, "").strip()
        if home:
            nvcc = os.path.join(home, "bin", "nvcc")
            return home, nvcc if os.path.isfile(nvcc) else None
    found = which("nvcc", env)
    if found is None:
        return None, None
    return os.path.dirname(os.path.dirname(os.path.realpath(found))), found


def _run(argv: list[str], env: Mapping[str, str]) -> str | None:
    import subprocess

    try:
        done = subprocess.run(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def _read(path: str, limit: int = 16 << 20) -> bytes | None:
    """A regular file's first `limit` bytes; None for anything else (a FIFO never blocks)."""
    from envkey_hook.errors import InputError
    from envkey_hook.readfile import open_regular

    try:
        f = open_regular(path, 1 << 62)
        if f is None:
            return None
        with f:
            return f.read(limit)
    except (OSError, InputError):
        return None


def _is_script(path: str) -> bool:
    return (_read(path, 2) or b"") == b"#!"


def compiler_identity(path: str, env: Mapping[str, str]) -> str:
    """`<real path> (<first line of --version>)`; a wrapper script is also named by
    a hash of its text, since its `--version` is the wrapped compiler's."""
    if path.endswith(NOT_FOUND):
        return path
    real = os.path.realpath(path)
    out = _run([path, "--version"], env)
    version = f"({out.strip().splitlines()[0]})" if out and out.strip() else UNKNOWN
    ident = f"{real} {version}"
    if _is_script(real):
        from envkey_hook.digest import sha256_hex

        ident += f" script {sha256_hex(_read(real) or b'')[:12]}"
    return ident


def cuda_version(env: Mapping[str, str]) -> str:
    """The toolkit's `major.minor`: from `version.json`, else `nvcc --version`."""
    home, nvcc = cuda_home(env)
    if home is None:
        return NOT_FOUND
    version = _version_json(os.path.join(home, "version.json"))
    if version is None and nvcc is not None:
        version = _nvcc_release(_run([nvcc, "--version"], env) or "")
    return version or UNKNOWN


def _version_json(path: str) -> str | None:
    """`cuda.version` of the toolkit's version.json, read without json (not on this path):
    `"cuda" : { "name" : "CUDA SDK", "version" : "12.8.1" }`."""
    try:
        text = (_read(path, 1 << 20) or b"").decode("utf-8")
    except UnicodeDecodeError:
        return None
    at = text.find('"version"', max(text.find('"cuda"'), 0))
    if text.find('"cuda"') < 0 or at < 0:
        return None
    rest = text[at + len('"version"') :].lstrip()
    if not rest.startswith(":"):
        return None
    value = rest[1:].lstrip()
    end = value.find('"', 1)
    return _major_minor(value[1:end]) if value.startswith('"') and end > 0 else None


def _nvcc_release(text: str) -> str | None:
    # "Cuda compilation tools, release 13.0, V13.0.88"
    marker = "release "
    at = text.find(marker)
    if at < 0:
        return None
    return _major_minor(text[at + len(marker) :].split(",")[0].strip())


def _major_minor(version: str) -> str | None:
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return None
    return f"{parts[0]}.{parts[1]}"


def probe(env: Mapping[str, str], cuda: bool) -> dict[str, str]:
    """Run the tools: label -> value for the compilers and, if asked, the CUDA toolkit."""
    out = {
        label: ", ".join(
            dict.fromkeys(compiler_identity(p, env) for p in compiler_paths(label, env))
        )
        for label in DEFAULT_COMPILERS
    }
    if cuda:
        out["CUDA"] = cuda_version(env)
    return out


if __name__ == "__main__":  # pragma: no cover - a manual check: python -m envkey_hook.toolchain
    print(probe(os.environ, cuda=True), file=sys.stdout)
