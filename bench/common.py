"""Shared benchmark machinery: an isolated environment, and side-by-side process timing.

Every figure is a ratio of medians from one interleaved loop (A, B, B, A, ...), so both
sides see the same machine load. Peak memory is `ru_maxrss` as GNU time reports it, in
separate runs: a process forked from this (large) Python would carry this process's
peak into its own figure through exec, so it must be started by a small one.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable
BIN = Path(sys.executable).parent
ENVKEY_HOOK = str(BIN / ("envkey-hook.exe" if os.name == "nt" else "envkey-hook"))
UV = str(BIN / "uv") if (BIN / "uv").exists() else (shutil.which("uv") or "uv")
# The big-torch locks the tests use (ENVKEY_BENCH_FIXTURE: another before/ + after/ pair).
_BIG_TORCH = Path(__file__).resolve().parents[1] / "tests" / "data" / "big-torch"
FIXTURE = Path(os.environ.get("ENVKEY_BENCH_FIXTURE", str(_BIG_TORCH)))


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
    setup: Callable[[], object] | None = None  # run (untimed) before every timed run
    expect_rc: tuple[int, ...] = (0,)


def isolated_env(base: Path) -> dict[str, str]:
    """The environment every benchmarked process gets: nothing of the user's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "UV_", "XDG_", "PYTHON", "VIRTUAL_ENV", "PRE_COMMIT"))
    }
    for name in ("home", "config", "cache", "pycache", "uv-cache"):  # a named cache must exist
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


TIME = "/usr/bin/time"


def run_once(cmd: Command, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, exit code) of one run, output discarded."""
    if cmd.setup is not None:
        cmd.setup()
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd.argv, cwd=cmd.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rc = proc.wait()
    return time.perf_counter() - start, rc


def peak_rss(cmd: Command, env: dict[str, str]) -> int:
    """Peak resident set of one run in KiB (the largest of the process and its children).

    -1 without GNU time (`/usr/bin/time`): then memory is not measured.
    """
    if not os.path.exists(TIME):
        return -1
    if cmd.setup is not None:
        cmd.setup()
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(
            [TIME, "-f", "%M", "-o", out.name, *cmd.argv],
            cwd=cmd.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return int(out.read().split()[-1])


def side_by_side(
    commands: Sequence[Command],
    env: dict[str, str],
    reps: int,
    warmup: int = 2,
    memory_reps: int = 0,
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
            seconds, rc = run_once(cmd, env)
            if rc not in cmd.expect_rc:
                raise RuntimeError(f"{cmd.argv} exited {rc} in {cmd.cwd}")
            samples[i].seconds.append(seconds)
            if r < memory_reps:
                samples[i].maxrss_kb.append(peak_rss(cmd, env))
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


def git_repo(
    path: Path, env: dict[str, str], files: dict[str, bytes], exist_ok: bool = False
) -> Path:
    """A repository at `path` whose single commit holds `files` (relative POSIX paths)."""
    path.mkdir(parents=True, exist_ok=exist_ok)
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


# The naive baseline of the changed-lock benchmarks: tomllib parsing both locks.
NAIVE = (
    "import sys, tomllib\n"
    "for path in sys.argv[1:]:\n"
    "    with open(path, 'rb') as f:\n"
    "        tomllib.load(f)\n"
)
