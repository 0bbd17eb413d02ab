"""Shared benchmark machinery: an isolated environment, and side-by-side process timing.

Every figure is a ratio of medians from one interleaved loop (A, B, B, A, ...), so both
sides see the same machine load. Peak memory is each process's own `ru_maxrss`, from
`wait4`, which also covers children it waited for (git).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable
BIN = Path(sys.executable).parent
ENVKEY_HOOK = str(BIN / ("envkey-hook.exe" if os.name == "nt" else "envkey-hook"))
UV = str(BIN / "uv") if (BIN / "uv").exists() else (shutil.which("uv") or "uv")
FIXTURE = Path(os.environ.get("ENVKEY_BENCH_FIXTURE", "/work/shared/fixtures/big-torch"))


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    maxrss_kb: list[int] = field(default_factory=list)

    @property
    def time(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rss(self) -> float:
        return statistics.median(self.maxrss_kb)


@dataclass
class Command:
    argv: list[str]
    cwd: Path
    setup: object = None  # a callable run (untimed) before every timed run
    expect_rc: tuple[int, ...] = (0,)


def isolated_env(base: Path) -> dict[str, str]:
    """The environment every benchmarked process gets: nothing of the user's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "UV_", "XDG_", "PYTHON", "VIRTUAL_ENV", "PRE_COMMIT"))
    }
    for name in ("home", "config", "cache", "pycache"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(base / "home"),
        XDG_CONFIG_HOME=str(base / "config"),
        XDG_CACHE_HOME=str(base / "cache"),
        UV_CACHE_DIR=str(base / "uv-cache"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        # Bytecode as an installed package has it: compiled once, then read. The prefix
        # keeps .pyc files out of the source tree (the dev venv is an editable install).
        PYTHONPYCACHEPREFIX=str(base / "pycache"),
    )
    return env


def run_once(cmd: Command, env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one run, output discarded."""
    if callable(cmd.setup):
        cmd.setup()
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd.argv, cwd=cmd.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    return elapsed, usage.ru_maxrss, proc.returncode


def side_by_side(
    commands: Sequence[Command], env: dict[str, str], reps: int, warmup: int = 2
) -> list[Sample]:
    """Run the commands interleaved, alternating the order each round."""
    samples = [Sample() for _ in commands]
    for _ in range(warmup):
        for cmd in commands:
            run_once(cmd, env)
    for r in range(reps):
        order = list(enumerate(commands))
        if r % 2:
            order.reverse()
        for i, cmd in order:
            seconds, rss, rc = run_once(cmd, env)
            if rc not in cmd.expect_rc:
                raise RuntimeError(f"{cmd.argv} exited {rc} in {cmd.cwd}")
            samples[i].seconds.append(seconds)
            samples[i].maxrss_kb.append(rss)
    return samples


def line(name: str, ratio: float, target: float, unit: str = "x") -> str:
    """`name: ratio (target <= X)`, the one line every benchmark prints."""
    met = "met" if ratio <= target else "NOT met"
    return f"{name}: {ratio:.2f}{unit} (target <= {target:g}{unit}) {met}"


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def git_repo(path: Path, env: dict[str, str], files: dict[str, bytes]) -> Path:
    """A repository at `path` whose single commit holds `files`."""
    path.mkdir(parents=True)
    git(path, env, "-c", "init.defaultBranch=main", "init", "-q")
    for name, data in files.items():
        (path / name).write_bytes(data)
    git(path, env, "add", "-A")
    git(path, env, "commit", "-q", "--no-gpg-sign", "-m", "baseline")
    return path


def wait_out_racy_window(*paths: Path) -> None:
    """Let freshly written files age past the no-op record's racy window (2 s)."""
    newest = max(max(p.stat().st_mtime, p.stat().st_ctime) for p in paths)
    delay = newest + 2.2 - time.time()
    if delay > 0:
        time.sleep(delay)


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="envkey-bench-"))
