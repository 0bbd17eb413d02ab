"""1. No-op: `envkey-hook run` where lock and settings equal the baseline, vs `python -c pass`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from common import (
    ENVKEY_HOOK,
    FIXTURE,
    PYTHON,
    Command,
    git,
    git_repo,
    line,
    side_by_side,
    wait_out_racy_window,
)

TARGET = 2.0


def _assert_fast_path(repo: Path, env: dict[str, str]) -> None:
    """The timed command must take the no-op path: nothing printed, nothing parsed."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "envkey_hook", "run"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in done.stderr.splitlines()}
    heavy = imported & {"argparse", "tomllib", "envkey_hook.run", "envkey_hook.lockfile", "git"}
    if done.returncode != 0 or done.stdout != "No build input changed\n" or heavy:
        raise RuntimeError(f"no-op path not taken (rc {done.returncode}, imported {heavy})")


def main(base: Path, env: dict[str, str], reps: int) -> list[str]:
    before = FIXTURE / "before"
    files = {name: (before / name).read_bytes() for name in ("uv.lock", "pyproject.toml")}
    repo = git_repo(base / "noop", env, files)
    wait_out_racy_window(repo / "uv.lock", repo / "pyproject.toml")
    # The first run takes the full path and leaves the record; the state file it may
    # write is envkey-hook's own, which the record accepts at once.
    subprocess.run([ENVKEY_HOOK, "run"], cwd=repo, env=env, check=True)
    _assert_fast_path(repo, env)

    noop = Command([ENVKEY_HOOK, "run"], repo)
    noop_m = Command([PYTHON, "-m", "envkey_hook", "run"], repo)
    bare = Command([PYTHON, "-c", "pass"], repo)
    hook, module, python = side_by_side([noop, noop_m, bare], env, reps)
    out = [
        line("noop", hook.time / python.time, TARGET),
        line("noop-python-m", module.time / python.time, TARGET),
    ]

    # A commit that leaves the uv files alone: HEAD moved, so the record is checked
    # by blob ids (one `git cat-file`) and content hashes, then refreshed.
    (repo / "README").write_text("docs\n")
    git(repo, env, "add", "README")
    git(repo, env, "commit", "-q", "--no-gpg-sign", "-m", "docs")
    record_dir = repo / ".git" / "envkey-hook"

    def move_head() -> None:
        # Each timed run refreshes the record; put the old HEAD back in it first.
        for record in record_dir.glob("noop-*"):
            text = record.read_text()
            record.write_text(text.replace(f"head {head_now}", f"head {head_before}"))

    head_now = git(repo, env, "rev-parse", "HEAD")
    head_before = git(repo, env, "rev-parse", "HEAD~1")
    subprocess.run([ENVKEY_HOOK, "run"], cwd=repo, env=env, check=True)
    recheck = Command([ENVKEY_HOOK, "run"], repo, setup=move_head)
    tier2, python2 = side_by_side([recheck, bare], env, max(10, reps // 2))
    out.append(
        f"info: noop after a commit that left uv files alone: {tier2.time / python2.time:.2f}x"
        " of python -c pass (record rechecked by content)"
    )
    out.append(_hook_projects(base, env, files, max(10, reps // 2)))
    out.append(_changed_toolchain(repo, env, bare, max(10, reps // 2)))
    return out


def _changed_toolchain(repo: Path, env: dict[str, str], bare: Command, reps: int) -> str:
    """`envkey-hook run --dry-run` after CFLAGS changed (issue 14): the record no longer
    holds, the full run compares with the recorded state; the compiler and CUDA probes
    are answered from their memo (a CFLAGS change does not move them)."""
    subprocess.run([ENVKEY_HOOK, "run"], cwd=repo, env=env, check=True)  # records, memoises
    moved = {**env, "CFLAGS": "-O3 -DBENCH"}
    cmd = Command([ENVKEY_HOOK, "run", "--dry-run"], repo, expect_rc=(0, 1))
    changed, python = side_by_side([cmd, bare], moved, reps)
    return (
        f"info: changed toolchain (CFLAGS moved), dry run on big-torch: "
        f"{changed.time / python.time:.2f}x of python -c pass ({changed.time * 1000:.0f} ms)"
    )


def _hook_projects(base: Path, env: dict[str, str], files: dict[str, bytes], reps: int) -> str:
    """`envkey-hook hook post-checkout` over a commit that left every uv file alone, in a
    repository of 1 project and one of 20: the cost must not grow with the projects."""
    commands = []
    for count in (1, 20):
        layout = {f"p{i}/{name}": data for i in range(count) for name, data in files.items()}
        repo = base / f"projects-{count}"
        for rel in layout:
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        git_repo(repo, env, layout, exist_ok=True)
        old = git(repo, env, "rev-parse", "HEAD")
        (repo / "README").write_text("docs\n")
        git(repo, env, "add", "README")
        git(repo, env, "commit", "-q", "--no-gpg-sign", "-m", "docs")
        new = git(repo, env, "rev-parse", "HEAD")
        commands.append(Command([ENVKEY_HOOK, "hook", "post-checkout", old, new, "1"], repo))
    one, twenty = side_by_side(commands, env, reps)
    return f"info: hook no-op, 20 unchanged projects vs 1: {twenty.time / one.time:.2f}x"
