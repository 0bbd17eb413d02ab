"""Run every benchmark of issue 5 and print one line per figure: `name: ratio (target <= X)`.

    python bench/run.py [--reps N] [--only noop,biglock,reallock,purge,doctor] [--keep]

Uses the `envkey-hook` and `uv` installed next to this interpreter, a temporary
directory for every repository and cache, and nothing of the user's (HOME, XDG
directories, uv cache and git config all point into it).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time

import bench_biglock
import bench_doctor
import bench_noop
import bench_purge
import bench_reallock
from common import UV, isolated_env, workdir

BENCHMARKS = {
    "noop": bench_noop.main,
    "biglock": bench_biglock.main,
    "reallock": bench_reallock.main,
    "purge": bench_purge.main,
    "doctor": bench_doctor.main,
}


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "not found"


def machine() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: {os.cpu_count()} cores ({usable} usable), {platform.machine()},"
        f" {platform.system()} {platform.release()}; Python {platform.python_version()};"
        f" {_version([UV, '--version'])}; {_version(['git', '--version'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=30, help="timed runs per command")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    base = workdir()
    env = isolated_env(base / "env")
    print(machine(), flush=True)
    try:
        for name in names:
            started = time.perf_counter()
            for out in BENCHMARKS[name](base, env, args.reps):
                print(out, flush=True)
            print(f"  ({name} took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
