"""Issue 6: the end-to-end flows against two uv releases with different bucket versions.

uv 0.12.24 (`sdists-v9`) is installed from the registry into this session's temp
directory; the newest 0.13.x is the test dependency next to this interpreter
(`sdists-v11` for 0.13.9). The rest of the e2e suite runs with the newest only; set
ENVKEY_TEST_UV=/path/to/uv to run all of it with another release.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_helpers import Isolation, build_dirs, slot_wheels, uv_binary
from test_e2e_run import SOURCES, Scenario, _in_place_builds, change, start

pytestmark = pytest.mark.e2e

OLD_UV = "0.12.24"
_BY_ID = {sc.id: sc for sc in SOURCES}


@pytest.fixture(scope="session")
def old_uv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """uv 0.12.24, pip-installed from the registry into its own directory (skip if it cannot)."""
    target = tmp_path_factory.mktemp(f"uv-{OLD_UV}")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    proc = subprocess.run([*cmd, f"uv=={OLD_UV}"], capture_output=True, text=True)
    binary = target / "bin" / "uv"
    if proc.returncode != 0 or not binary.exists():
        pytest.skip(f"cannot install uv=={OLD_UV} from the registry: {proc.stderr[-300:]}")
    return str(binary)


def _version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


@pytest.fixture(params=["0.12", "newest"])
def uv_release(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(version, sdists bucket it writes); the e2e harness runs this uv from here on."""
    binary = request.getfixturevalue("old_uv") if request.param == "0.12" else uv_binary()
    version = _version(binary)
    if request.param == "newest" and not version.startswith("0.13."):
        pytest.skip(f"the newest uv here is {version}, not a 0.13.x")
    monkeypatch.setenv("ENVKEY_TEST_UV", binary)
    return version, "sdists-v9" if request.param == "0.12" else r"sdists-v1\d"


def _bucket(cache: Path) -> str:
    (bucket,) = [p.name for p in cache.glob("sdists-v*")]
    return bucket


@pytest.mark.parametrize("source", ["index", "directory", "git"])
def test_stale_sync_healed_with_reinstall(
    uv_release: tuple[str, str],
    source: str,
    tmp_path: Path,
    wheelhouse: Path,
    isolated_env: Isolation,
) -> None:
    """Synced stale with this uv: the hook removes exactly the stale build and the
    polluted slot in this uv's buckets, and the reinstall gets a correct binary."""
    version, bucket = uv_release
    sc: Scenario = _BY_ID[source]
    cache = isolated_env.uv_cache
    project = start(sc, tmp_path, wheelhouse, cache)
    assert project.uv_path != sys.executable and _version(project.uv_path) == version
    assert re.fullmatch(bucket, _bucket(cache)), _bucket(cache)
    old_slot = slot_wheels(cache)
    change(project, sc)
    project.sync()
    assert project.probe(*sc.probe) == sc.stale
    (stale_build,) = build_dirs(cache) + _in_place_builds(project)
    (new_wheel,) = set(slot_wheels(cache)) - set(old_slot)

    result = project.run_hook("--json")

    assert result.rc == 1, result
    (report,) = json.loads(result.stdout)["projects"]
    removed = sorted((r["kind"], r["path"]) for r in report["removals"])
    kind = {"index": "build-dir", "directory": "local-build", "git": "checkout-build"}[source]
    assert removed == sorted([(kind, str(stale_build)), ("polluted-slot", str(new_wheel.parent))])
    assert not stale_build.exists() and slot_wheels(cache) == old_slot
    project.sync("--reinstall-package", "extpkg")
    assert project.probe(*sc.probe) == sc.healed


def test_hook_before_sync_gets_fresh_binary(
    uv_release: tuple[str, str], tmp_path: Path, wheelhouse: Path, isolated_env: Isolation
) -> None:
    """The hook right after the change, before `uv sync`: this uv compiles afresh."""
    version, bucket = uv_release
    sc = _BY_ID["index"]
    cache = isolated_env.uv_cache
    project = start(sc, tmp_path, wheelhouse, cache)
    assert re.fullmatch(bucket, _bucket(cache))
    change(project, sc)
    assert build_dirs(cache)

    result = project.run_hook()

    assert result.rc == 0, result
    assert "extpkg: rtlib 1.0 -> 2.0" in result.stdout.splitlines()
    assert build_dirs(cache) == []
    project.sync()
    assert project.probe(*sc.probe) == sc.healed
