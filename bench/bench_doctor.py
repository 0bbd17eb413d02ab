"""4. Doctor on big wheels: 20 packages x 3 slots of 200 MiB sparse wheels.

Times `envkey-hook doctor` when the CLI has it; until then the same scan in one process:
`cachescan.scan_cache` (doctor's scan) when it exists, else every entry of the cache through
`purge.find_polluted` (zip central directories only, in both).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cachegen
from common import ENVKEY_HOOK, PYTHON, Command, side_by_side

TARGET = 1.0  # seconds per 10 GB of wheels
PACKAGES, SLOTS, SIZE = 20, 3, 200 * 1024 * 1024
SCAN = """\
import sys
from pathlib import Path

cache, expected = Path(sys.argv[1]), int(sys.argv[2])
try:
    from envkey_hook.cachescan import scan_cache
except ImportError:
    from envkey_hook.cache import SDIST_BUCKET, buckets, find_entries
    from envkey_hook.purge import find_polluted

    names = {p.name for b in buckets(cache, SDIST_BUCKET) for p in (b / "pypi").iterdir()}
    found, notices = find_polluted([e for n in sorted(names) for e in find_entries(cache, n)])
else:
    scan = scan_cache(cache)
    found, notices = scan.polluted, scan.notices
if len(found) != expected or notices:
    sys.exit(f"found {len(found)} polluted slots, {len(notices)} notices; expected {expected}")
"""


def _doctor_cli(cache: Path, project: Path, env: dict[str, str], expected: int) -> Command | None:
    """`envkey-hook doctor` on the cache, when the CLI has it and it runs here."""
    argv = [ENVKEY_HOOK, "doctor", "--cache-dir", str(cache), "--project", str(project)]
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        return None
    found = sum(ln.startswith("polluted:") for ln in done.stdout.splitlines())
    if found != expected:
        raise RuntimeError(f"doctor found {found} polluted slots, expected {expected}")
    return Command(argv, project, expect_rc=(1,))


def _has_module() -> bool:
    return (
        subprocess.run(
            [PYTHON, "-c", "import envkey_hook.cachescan"], capture_output=True
        ).returncode
        == 0
    )


def main(base: Path, env: dict[str, str], reps: int) -> list[str]:
    cache = base / "cache-wheels"
    total = cachegen.big_wheels(cache, PACKAGES, SLOTS, SIZE)
    expected = PACKAGES * (SLOTS - 1)  # every newer slot repackaged the oldest's binary
    project = base / "doctor-project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    (project / "uv.lock").write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n'
        '[[package]]\nname = "p"\nversion = "0"\nsource = { virtual = "." }\n'
    )
    cmd = _doctor_cli(cache, project, env, expected)
    what = "envkey-hook doctor (whole command)"
    if cmd is None:
        what = (
            "cachescan.scan_cache in one process (no `doctor` command in the CLI yet)"
            if _has_module()
            else "find_polluted over every entry in one process (no doctor yet)"
        )
        cmd = Command([PYTHON, "-c", SCAN, str(cache), str(expected)], base)
    (sample,) = side_by_side([cmd], env, max(5, reps // 4), warmup=1)
    per_10gb = sample.time / (total / 10e9)
    return [
        f"doctor: {per_10gb:.3f} s/10GB (target <= {TARGET:g} s/10GB)"
        f" {'met' if per_10gb <= TARGET else 'NOT met'}",
        f"info: {what}: {sample.time * 1000:.0f} ms for {total / 1e9:.1f} GB in"
        f" {PACKAGES * SLOTS} wheels (sparse files)",
    ]
