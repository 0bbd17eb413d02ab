"""2b. A real changed lock: `envkey-hook run --dry-run` on a real commit pair of the corpus
(tests/corpus, about 3 MB a lock) vs parsing both locks with tomllib in one process."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from common import ENVKEY_HOOK, NAIVE, PYTHON, Command, line, side_by_side

TIME_TARGET = 0.25
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"
PAIR = "skyrl-7b9c72b82"


def main(base: Path, env: dict[str, str], reps: int) -> list[str]:
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    pair = next(p for p in manifest["pairs"] if p["id"] == PAIR)
    repo = base / "reallock"
    shutil.copytree(CORPUS / pair["base"], repo)
    baseline = base / "reallock-before.lock"
    shutil.copyfile(repo / "uv.lock", baseline)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    patch = CORPUS / pair["patch"]
    subprocess.run(["git", "apply", str(patch)], cwd=repo, env=env, check=True)
    size = (repo / "uv.lock").stat().st_size

    dry = [ENVKEY_HOOK, "run", "--dry-run"]
    shown = subprocess.run(dry, cwd=repo, env=env, capture_output=True, text=True)
    if shown.returncode not in (0, 1):
        raise RuntimeError(f"envkey-hook failed on {PAIR}:\n{shown.stdout}{shown.stderr}")

    hook = Command(dry, repo, expect_rc=(0, 1))
    naive = Command([PYTHON, "-c", NAIVE, str(baseline), str(repo / "uv.lock")], repo)
    h, n = side_by_side([hook, naive], env, reps, memory_reps=0)
    return [
        line("reallock-time", h.time / n.time, TIME_TARGET),
        f"info: {pair['repo']} {pair['parent'][:9]} -> {pair['commit'][:9]}, lock"
        f" {baseline.stat().st_size / 1e6:.1f} -> {size / 1e6:.1f} MB; envkey-hook"
        f" {h.time * 1000:.0f} ms; naive tomllib {n.time * 1000:.0f} ms",
    ]
