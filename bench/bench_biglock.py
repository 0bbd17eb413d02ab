"""2. Changed large lock: `envkey-hook run --dry-run` on big-torch vs parsing both locks
with tomllib in one process; peak memory vs `python -c pass`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from common import (
    ENVKEY_HOOK,
    FIXTURE,
    NAIVE,
    PYTHON,
    Command,
    git_repo,
    line,
    side_by_side,
)

TIME_TARGET = 0.25
MEMORY_TARGET = 2.0


def main(base: Path, env: dict[str, str], reps: int) -> list[str]:
    before, after = FIXTURE / "before", FIXTURE / "after"
    files = {name: (before / name).read_bytes() for name in ("uv.lock", "pyproject.toml")}
    repo = git_repo(base / "biglock", env, files)
    for name in files:
        target = repo / name
        target.unlink()
        shutil.copyfile(after / name, target)
    # The naive approach reads the baseline from a file: git is not its cost.
    baseline = base / "biglock-before.lock"
    shutil.copyfile(before / "uv.lock", baseline)

    dry = [ENVKEY_HOOK, "run", "--dry-run"]
    shown = subprocess.run(dry, cwd=repo, env=env, capture_output=True, text=True, check=True)
    if "flash-attn" not in shown.stdout:
        raise RuntimeError(f"the torch move was not detected:\n{shown.stdout}{shown.stderr}")

    hook = Command(dry, repo)
    naive = Command([PYTHON, "-c", NAIVE, str(baseline), str(repo / "uv.lock")], repo)
    bare = Command([PYTHON, "-c", "pass"], repo)
    h, n, b = side_by_side([hook, naive, bare], env, reps, memory_reps=5)
    return [
        line("biglock-time", h.time / n.time, TIME_TARGET),
        line("biglock-memory", h.rss / b.rss, MEMORY_TARGET)
        if b.rss > 0
        else "biglock-memory: not measured (no /usr/bin/time)",
        f"info: envkey-hook {h.time * 1000:.0f} ms, {h.rss / 1024:.1f} MiB; naive tomllib"
        f" {n.time * 1000:.0f} ms, {n.rss / 1024:.1f} MiB; python -c pass {b.time * 1000:.0f} ms,"
        f" {b.rss / 1024:.1f} MiB",
    ]
