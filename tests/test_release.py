"""What a release would ship: `uv build` makes an sdist and a wheel that pass
`twine check --strict`, the sdist holds every file the tests and benchmarks read, and the
wheel, installed in a fresh virtual environment, runs `envkey-hook demo` to the end.

Built from the files git tracks (what a clone holds), not from this work tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from e2e_helpers import uv_binary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_BESIDE_THE_PACKAGE = ("README.md", "CHANGELOG.md", ".pre-commit-hooks.yaml")


def tracked_files() -> list[str]:
    """The repository's files (relative paths); everything when this is no git checkout."""
    proc = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode == 0 and proc.stdout:
        return sorted(p for p in proc.stdout.split("\0") if p and (ROOT / p).is_file())
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist"}
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file()
        and not skip & set(p.relative_to(ROOT).parts)
        and not p.name.endswith(".egg-info")
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """sdist and wheel of a copy of the tracked files; setuptools from the wheelhouse."""
    base = tmp_path_factory.mktemp("release")
    src, out = base / "src", base / "dist"
    for rel in tracked_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    cmd = [uv_binary(), "build", "--no-index", "--find-links", str(wheelhouse), "-o", str(out)]
    proc = subprocess.run([*cmd, str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    files = [str(_one(dist, "*.tar.gz")), str(_one(dist, "*.whl"))]
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_sdist_holds_the_tests_and_their_data(dist: Path) -> None:
    sdist = _one(dist, "*.tar.gz")
    with tarfile.open(sdist) as tar:
        prefix = sdist.name[: -len(".tar.gz")] + "/"
        names = {m.name[len(prefix) :] for m in tar.getmembers() if m.isfile()}
    wanted = {
        p
        for p in tracked_files()
        if p.startswith(("tests/", "bench/", "hook/")) or p in SHIPPED_BESIDE_THE_PACKAGE
    }
    assert "tests/data/big-torch/after/uv.lock" in wanted
    assert wanted - names == set()


def test_wheel_in_a_fresh_venv_runs_the_demo(dist: Path, tmp_path: Path) -> None:
    wheel = _one(dist, "*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if n.startswith("tests/")]  # the package only
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # The dependencies and uv (the demo's) come from the index, as for a user.
    pip = [str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel), "uv"]
    proc = subprocess.run(pip, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    tool = str(bindir / "envkey-hook")
    where = subprocess.run(
        [str(bindir / "python"), "-c", "import envkey_hook; print(envkey_hook.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not this checkout
    demo = subprocess.run([tool, "demo"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "STALE" in demo.stdout and demo.stdout.rstrip().endswith("Healed."), demo.stdout
