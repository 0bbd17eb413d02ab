"""Helpers for the end-to-end tests: a git project driven by the real uv and git.

Every command runs with the process environment, which `conftest.isolated_env`
has already pointed at temporary HOME, config, cache and git settings.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from envkey_hook import fixture

GITIGNORE = ".venv/\nbuild/\n*.egg-info/\n"
# A real torch project's lock before and after a torch upgrade (2.3 MB each, 425 -> 440
# packages, index hosts replaced): before/ and after/ hold uv.lock and pyproject.toml.
BIG_TORCH = Path(__file__).resolve().parent / "data" / "big-torch"


def uv_binary() -> str:
    """ENVKEY_TEST_UV if set (another uv release), else the uv installed next to this
    interpreter, else the one on PATH."""
    chosen = os.environ.get("ENVKEY_TEST_UV")
    if chosen:
        return chosen
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is not installed (it is a test dependency: pip install uv)")
    return found


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its output so the test log shows why."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(cmd)}` exited {proc.returncode} in {cwd}\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
        )
    return proc


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return its stdout."""
    return run(["git", *args], cwd).stdout


def git_init(path: Path) -> None:
    """`git init` a repository on branch main, ignoring any template or user config."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "-c", "init.defaultBranch=main", "init", "-q")


def git_commit_all(path: Path, message: str) -> str:
    """Stage everything (respecting .gitignore), commit unsigned, return the sha."""
    git(path, "add", "-A")
    git(path, "commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", message)
    return git(path, "rev-parse", "HEAD").strip()


@dataclass(frozen=True)
class Isolation:
    """Where the current test's HOME, config and caches live (see conftest)."""

    home: Path
    config: Path
    cache: Path
    uv_cache: Path


@dataclass
class HookResult:
    rc: int
    stdout: str
    stderr: str


class Project:
    """A uv project in its own git repository."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        self.uv_path = uv_binary()

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def python(self) -> Path:
        sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
        return self.root / ".venv" / sub

    def create(self, pyproject: str) -> None:
        """Write the pyproject and a .gitignore, lock, `git init` and commit."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.pyproject.write_text(pyproject)
        (self.root / ".gitignore").write_text(GITIGNORE)
        self.lock()
        git_init(self.root)
        self.commit("initial")

    def uv(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.uv_path, *args], self.root, check=check)

    def lock(self) -> None:
        self.uv("lock", "-q")

    def sync(self, *args: str) -> None:
        self.uv("sync", "-q", "--no-active", *args)

    def commit(self, message: str) -> str:
        return git_commit_all(self.root, message)

    def edit(self, old: str, new: str) -> None:
        """Replace every `old` in pyproject.toml by `new` (which must be there)."""
        text = self.pyproject.read_text()
        assert old in text, f"{old!r} not in pyproject.toml:\n{text}"
        self.pyproject.write_text(text.replace(old, new))

    def set_runtime(self, version: str) -> None:
        """Change the pinned runtime version in the dependencies and relock."""
        text = self.pyproject.read_text()
        start = text.index(f'"{fixture.RUNTIME_NAME}==') + 1
        end = text.index('"', start)
        self.edit(text[start:end], f"{fixture.RUNTIME_NAME}=={version}")
        self.lock()

    def probe(self, *exprs: str) -> tuple[str, ...]:
        """Evaluate expressions in the project's venv (extpkg and rtlib imported)."""
        code = "import extpkg, rtlib\n" + "".join(f"print({e})\n" for e in exprs)
        out = run([str(self.python), "-c", code], self.root).stdout
        return tuple(out.splitlines())

    def built_against(self) -> tuple[str, str]:
        """(runtime version the extension was compiled with, runtime version installed)."""
        compiled, installed = self.probe("extpkg.built_against()", "rtlib.__version__")
        return compiled, installed

    def run_hook(self, *args: str) -> HookResult:
        """`envkey-hook run ARGS` as a subprocess in the project directory."""
        cmd = [sys.executable, "-m", "envkey_hook", "run", *args]
        proc = run(cmd, self.root, check=False)
        return HookResult(proc.returncode, proc.stdout, proc.stderr)


REQUIRES_PYTHON = f">={sys.version_info[0]}.{sys.version_info[1]}"


def offline_pyproject(
    tmp_path: Path, wheelhouse: Path, runtime: str = "1.0", **options: bool
) -> str:
    """The fixture project's pyproject.toml at `runtime`, resolved offline from the test
    wheelhouse (setuptools) and `tmp_path/links` (runtime wheels and the extension's sdist,
    written on first use). `options`: `project_pyproject`'s flags (`match_runtime`)."""
    links = tmp_path / "links"
    if not links.is_dir():
        fixture.write_runtime_wheels(links)
        fixture.ext_sdist(links)
    return fixture.project_pyproject(
        "extpkg",
        runtime,
        find_links=[str(wheelhouse), str(links)],
        extra_uv="no-index = true\n",
        # The wheelhouse's setuptools may not support older Pythons.
        requires_python=REQUIRES_PYTHON,
        **options,
    )


def build_dirs(cache: Path) -> list[Path]:
    """setuptools `build/` directories inside uv's shared sdist and git source trees."""
    found = list(cache.glob("sdists-v*/**/src/build"))
    found += cache.glob("git-v*/checkouts/*/*/build")
    return sorted(found)


def slot_wheels(cache: Path, name: str = fixture.EXT_NAME) -> list[Path]:
    """Every built wheel of `name` filed in uv's sdist bucket (one per slot)."""
    return sorted(cache.glob(f"sdists-v*/**/{name.replace('-', '_')}-*.whl"))


def snapshot(*roots: Path) -> set[str]:
    """Every path under `roots` (symlinks not followed): compare before and after."""
    paths: set[str] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if ".git" in dirnames:
                dirnames.remove(".git")
            for name in dirnames + filenames:
                paths.add(os.path.join(dirpath, name))
    return paths


def content_snapshot(*roots: Path) -> dict[str, tuple[str, bytes]]:
    """Every path under `roots` but `.git`: type and bytes or link target."""
    out: dict[str, tuple[str, bytes]] = {}
    for root in roots:
        if not os.path.lexists(root):
            out[str(root)] = ("absent", b"")
            continue
        for top, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in dirs + files:
                p = os.path.join(top, name)
                if os.path.islink(p):
                    out[p] = ("l", os.readlink(p).encode())
                elif os.path.isdir(p):
                    out[p] = ("d", b"")
                elif not os.path.isfile(p):
                    out[p] = ("special", b"")  # a FIFO or device: reading it would block
                else:
                    out[p] = ("f", hashlib.sha256(Path(p).read_bytes()).digest())
    return out
