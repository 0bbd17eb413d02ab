"""3. Purge one package on a cache of 100,000 unrelated files vs a cache holding only it;
and vs `uv cache clean <pkg>` on the same big cache."""

from __future__ import annotations

import shutil
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path

import cachegen
from common import ENVKEY_HOOK, PYTHON, UV, Command, git_repo, line, side_by_side

TARGET = 1.2
LOCK = f"""\
version = 1
revision = 3
requires-python = ">=3.10"

[[package]]
name = "app"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "{cachegen.PACKAGE}" }},
]

[[package]]
name = "{cachegen.PACKAGE}"
version = "0.1"
source = {{ registry = "https://pypi.org/simple" }}
sdist = {{ url = "https://files.example/extpkg-0.1.tar.gz", hash = "sha256:00", size = 1 }}
"""
# The purge alone (plan + execute under uv's locks), timed inside one process: what the
# cache's size can change, without the startup and lock parsing around it.
CORE = """\
import statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
import cachegen
from envkey_hook import purge, purgeexec
from envkey_hook.cache import hash_kinds
from envkey_hook.remove import AllowedSet
cache, template = Path(sys.argv[1]), Path(sys.argv[2])
times = []
for _ in range(int(sys.argv[4])):
    cachegen.copy_entries(template, cache)
    start = time.perf_counter()
    target = purge.Target(cachegen.PACKAGE, hash_kinds=hash_kinds(["registry"]))  # as `run` does
    removals, _ = purge.plan(cache, [target], cache)
    done = purgeexec.execute(removals, cache, AllowedSet(cache=cache))
    times.append(time.perf_counter() - start)
    assert len(done.removed) == 3, done
print(statistics.median(times))
"""
PYPROJECT = """\
[project]
name = "app"
version = "0.1.0"
dependencies = ["extpkg"]

[tool.uv.extra-build-variables]
extpkg = {{ OPT = "{}" }}
"""


def main(base: Path, env: dict[str, str], reps: int, files: int = 100_000) -> list[str]:
    template = base / "purge-template"
    cachegen.affected(template)
    small, big = base / "cache-small", base / "cache-big"
    cachegen.affected(small)
    cachegen.affected(big)
    cachegen.unrelated(big, files)
    counted = sum(1 for p in big.rglob("*") if p.is_file())

    files_ = {"uv.lock": LOCK.encode(), "pyproject.toml": PYPROJECT.format("1").encode()}
    repo = git_repo(base / "purge", env, files_)
    (repo / "pyproject.toml").write_text(PYPROJECT.format("2"))  # the build input moved

    def refill(cache: Path) -> Callable[[], None]:
        return lambda: cachegen.copy_entries(template, cache)

    run = [ENVKEY_HOOK, "run", "--cache-dir"]
    refill(big)()
    shown = subprocess.run([*run, str(big)], cwd=repo, env=env, capture_output=True, text=True)
    if (
        "Removed 1 build directory of extpkg" not in shown.stdout
        and "Removed 3" not in shown.stdout
    ):
        raise RuntimeError(f"the purge did not happen:\n{shown.stdout}{shown.stderr}")

    on_big = Command([*run, str(big)], repo, setup=refill(big))
    on_small = Command([*run, str(small)], repo, setup=refill(small))
    uv_clean = Command(
        [UV, "cache", "clean", cachegen.PACKAGE, "--cache-dir", str(big)], repo, setup=refill(big)
    )
    b, s, u = side_by_side([on_big, on_small, uv_clean], env, reps)
    core_big, core_small = _core(big, small, template, env, reps)
    shutil.rmtree(big, ignore_errors=True)
    return [
        line("purge-scale", b.time / s.time, TARGET),
        line("purge-scale-core", core_big / core_small, TARGET),
        f"info: the purge alone: {core_big * 1000:.1f} ms on the big cache,"
        f" {core_small * 1000:.1f} ms on the small one",
        f"info: purge on the big cache ({counted} files) vs `uv cache clean {cachegen.PACKAGE}`"
        f" on it: {b.time / u.time:.2f}x (envkey-hook {b.time * 1000:.0f} ms, uv"
        f" {u.time * 1000:.0f} ms)",
    ]


def _core(big: Path, small: Path, template: Path, env: dict[str, str], reps: int) -> list[float]:
    """Median in-process purge time on each cache, from interleaved driver runs."""
    here = str(Path(__file__).parent)
    found: list[list[float]] = [[], []]
    for round_ in range(5):
        order = [(0, big), (1, small)] if round_ % 2 == 0 else [(1, small), (0, big)]
        for i, cache in order:
            argv = [PYTHON, "-c", CORE, str(cache), str(template), here, str(reps)]
            out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
            found[i].append(float(out.stdout))
    return [statistics.median(f) for f in found]
