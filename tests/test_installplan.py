"""What uv installs and builds here: locks written by the real uv (offline, find-links).

Issue 12 items 1-3: foreign-platform runtime entries, packages uv never builds, and
watched runtimes a package does not depend on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import uv_binary
from envkey_hook import fixture
from envkey_hook.envkey import compute_envkeys, diff_envkeys
from envkey_hook.lockfile import read_lock
from envkey_hook.markers import environment
from envkey_hook.settings import load_settings

LINUX311 = {
    **environment(),
    "sys_platform": "linux",
    "platform_system": "Linux",
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "implementation_name": "cpython",
}


def links(tmp: Path, versions: dict[str, tuple[str, ...]], sdists: tuple[str, ...] = ()) -> Path:
    dest = tmp / "links"
    for name, vs in versions.items():
        for v in vs:
            fixture.runtime_wheel(dest, v, name=name)
    for name in sdists:
        fixture.ext_sdist(dest, name=name)
    return dest


def locked(tmp: Path, pyproject: str) -> Path:
    """Write the project and lock it with the real uv."""
    proj = tmp / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "pyproject.toml").write_text(pyproject)
    env = fixture.env_for_uv(tmp / "uv-cache")
    proc = subprocess.run(
        [uv_binary(), "lock", "-q", "--offline"], cwd=proj, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proj


def envkeys(proj: Path, env: dict[str, str] = LINUX311, watch: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    lock = read_lock(proj / "uv.lock")
    settings = load_settings(proj, "", _reader(proj), os.environ)
    return compute_envkeys(lock, settings, env, watch=watch)


def _project(deps: str, extras: str = "", uv: str = "", ext: str = "extpkg") -> str:
    return (
        "[project]\nname = 'proj'\nversion = '0.1'\nrequires-python = '>=3.9'\n"
        f"dependencies = [{deps}]\n"
        f"[project.optional-dependencies]\n{extras}\n"
        "[tool.uv]\npackage = false\nno-index = true\nfind-links = ['../links']\n"
        f"{uv}\n"
        "[tool.uv.extra-build-dependencies]\n"
        f"{ext} = [{{ requirement = 'rtlib', match-runtime = true }}]\n"
    )


CONFLICTING = _project(
    '"extpkg"',
    extras=(
        "a = [\"rtlib==1.0; sys_platform != 'win32'\", \"rtlib==0.9; sys_platform == 'win32'\"]\n"
        'b = ["rtlib==2.0"]\n'
    ),
    uv='conflicts = [[{ extra = "a" }, { extra = "b" }]]',
)


def test_a_windows_only_runtime_entry_is_not_a_linux_input(tmp_path: Path) -> None:
    """Item 1: with conflicting extras, the win32-only entry of the runtime is no input
    of the linux build; moving only it changes nothing here."""
    links(tmp_path, {"rtlib": ("0.8", "0.9", "1.0", "2.0")}, sdists=("extpkg",))
    proj = locked(tmp_path, CONFLICTING)
    before = envkeys(proj)
    assert before["extpkg"].as_dict()["rtlib"] == "1.0 | 2.0"
    assert "0.9" in (proj / "uv.lock").read_text()
    proj = locked(tmp_path, CONFLICTING.replace("rtlib==0.9", "rtlib==0.8"))
    assert "0.8" in (proj / "uv.lock").read_text()
    assert diff_envkeys(before, envkeys(proj)) == []
    windows = {**LINUX311, "sys_platform": "win32", "os_name": "nt", "platform_system": "Windows"}
    assert envkeys(proj, windows)["extpkg"].as_dict()["rtlib"] == "0.8 | 2.0"


def test_a_linux_runtime_move_is_still_seen(tmp_path: Path) -> None:
    links(tmp_path, {"rtlib": ("0.9", "1.0", "1.1", "2.0")}, sdists=("extpkg",))
    before = envkeys(locked(tmp_path, CONFLICTING))
    after = envkeys(locked(tmp_path, CONFLICTING.replace("rtlib==1.0", "rtlib==1.1")))
    assert [c.describe() for c in diff_envkeys(before, after)] == [
        "extpkg: rtlib 1.0 | 2.0 -> 1.1 | 2.0"
    ]


def test_a_package_with_an_installable_wheel_is_not_built(tmp_path: Path) -> None:
    """Item 2: build settings alone do not make uv build a package with a wheel for here."""
    d = links(tmp_path, {"rtlib": ("1.0", "2.0"), "extpkg": ("0.1",)}, sdists=("extpkg",))
    assert {p.name for p in d.iterdir()} >= {"extpkg-0.1-py3-none-any.whl", "extpkg-0.1.tar.gz"}
    proj = locked(tmp_path, _project('"extpkg", "rtlib==1.0"'))
    assert "extpkg-0.1-py3-none-any.whl" in (proj / "uv.lock").read_text()
    assert envkeys(proj) == {}
    no_binary = _project('"extpkg", "rtlib==1.0"', uv='no-binary-package = ["extpkg"]')
    assert set(envkeys(locked(tmp_path, no_binary))) == {"extpkg"}
    no_build = _project('"extpkg", "rtlib==1.0"', uv='no-build-package = ["extpkg"]')
    assert envkeys(locked(tmp_path, no_build)) == {}


def test_an_sdist_only_package_without_settings_is_built(tmp_path: Path) -> None:
    """Item 2, conversely: uv builds `plain` (an sdist, and a wheel for Windows only)
    although nothing configures it."""
    d = links(tmp_path, {"rtlib": ("1.0",), "plain": ("0.1",)}, sdists=("plain", "extpkg"))
    (d / "plain-0.1-py3-none-any.whl").rename(d / "plain-0.1-cp311-cp311-win_amd64.whl")
    proj = locked(tmp_path, _project('"plain", "extpkg"'))
    assert "plain-0.1-cp311-cp311-win_amd64.whl" in (proj / "uv.lock").read_text()
    assert sorted(envkeys(proj)) == ["extpkg", "plain"]
    from envkey_hook.installplan import Plan

    plan = Plan(
        read_lock(proj / "uv.lock"), load_settings(proj, "", _reader(proj), os.environ), LINUX311
    )
    assert sorted(plan.built) == ["extpkg", "plain"]


def _reader(proj: Path):  # type: ignore[no-untyped-def]
    return lambda rel: (proj / rel).read_bytes() if (proj / rel).exists() else None


def test_watched_runtime_counts_only_where_it_is_a_dependency(tmp_path: Path) -> None:
    """Item 3: a numpy move flags only the package that depends on numpy; a setuptools
    move flags nothing unless the user watches setuptools."""
    links(
        tmp_path,
        {"rtlib": ("1.0",), "numpy": ("1.0", "2.0"), "setuptools": ("70.0", "71.0")},
        sdists=("extpkg", "npext"),
    )
    # extpkg's sdist requires rtlib only; npext requires rtlib as well, numpy via metadata
    uv = (
        'no-build-isolation-package = ["extpkg", "npext"]\n'
        "[[tool.uv.dependency-metadata]]\nname = 'npext'\nversion = '0.1'\n"
        "requires-dist = ['numpy']\n"
    )
    pyproject = _project('"extpkg", "npext", "numpy==1.0", "setuptools==70.0"', uv=uv)
    watch = ("torch", "numpy", "setuptools")
    before = envkeys(locked(tmp_path, pyproject), watch=("torch", "numpy"))
    after_text = pyproject.replace("numpy==1.0", "numpy==2.0").replace("70.0", "71.0")
    proj = locked(tmp_path, after_text)
    assert [
        c.describe() for c in diff_envkeys(before, envkeys(proj, watch=("torch", "numpy")))
    ] == ["npext: numpy 1.0 -> 2.0"]
    named = diff_envkeys(
        envkeys(locked(tmp_path, pyproject), watch=watch),
        envkeys(locked(tmp_path, after_text), watch=watch),
    )
    assert {(c.package, c.input) for c in named} >= {
        ("extpkg", "setuptools"),
        ("npext", "setuptools"),
    }


def test_uv_agrees_on_what_it_builds(tmp_path: Path) -> None:
    """The packages the model says uv builds are the ones `uv sync --dry-run` would build
    (uv prints no such list; its install plan names each sdist it would build)."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    links(tmp_path, {"rtlib": ("1.0",), "extpkg": ("0.1",)}, sdists=("plain", "extpkg"))
    proj = locked(tmp_path, _project('"plain", "extpkg", "rtlib==1.0"'))
    env = fixture.env_for_uv(tmp_path / "uv-cache")
    proc = subprocess.run(
        [uv_binary(), "sync", "--dry-run", "--offline", "--no-build"],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
    )
    # --no-build makes uv name every package it would have to build
    assert "plain" in proc.stderr and "extpkg" not in proc.stderr.replace("extpkg==0.1", "")
    assert sorted(envkeys(proj)) == ["plain"]


def _paste(pyproject: Path, header: str, line: str) -> None:
    """What a user does with a hint line: replace the entry of that key, or add it."""
    key = line.split(" = ", 1)[0]
    lines = pyproject.read_text().splitlines()
    for i, old in enumerate(lines):
        if old.startswith(f"{key} = "):
            lines[i] = line
            break
    else:
        at = lines.index(header) + 1 if header in lines else len(lines)
        lines[at:at] = [line] if header in lines else [header, line]
    pyproject.write_text("\n".join(lines) + "\n")


def test_migration_hints_paste_into_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 4: the hint keeps the project's spelling (`nv_grouped_gemm`), merges the
    existing entry, proposes only the runtime the package depends on (not setuptools,
    watched but a build tool), and uv reads the pasted result without a warning."""
    from envkey_hook.cli import main

    links(tmp_path, {"rtlib": ("1.0", "2.0")}, sdists=("nv-grouped-gemm",))
    text = (
        "[project]\nname = 'proj'\nversion = '0.1'\nrequires-python = '>=3.9'\n"
        'dependencies = ["nv-grouped-gemm", "rtlib==1.0"]\n'
        "[tool.uv]\npackage = false\nno-index = true\nfind-links = ['../links']\n"
        'no-build-isolation-package = ["nv_grouped_gemm"]\n'
        "[tool.uv.extra-build-dependencies]\n"
        'nv_grouped_gemm = ["setuptools>=40, <100"]\n'
        "[tool.envkey-hook]\nextend-watch = ['rtlib', 'setuptools']\n"
    )
    proj = locked(tmp_path, text)
    env = fixture.env_for_uv(tmp_path / "uv-cache")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"],
    ):
        subprocess.run(["git", *args], cwd=proj, check=True, env=env)
    locked(tmp_path, text.replace("rtlib==1.0", "rtlib==2.0"))
    (tmp_path / "c").mkdir()
    rc = main(["run", "--dry-run", "--project", str(proj), "--cache-dir", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert rc in (0, 1), out
    hint = [ln.strip() for ln in out.splitlines() if ln.startswith("  ") and " = [" in ln]
    assert hint == [
        'nv_grouped_gemm = ["setuptools>=40, <100", '
        '{ requirement = "rtlib", match-runtime = true }]'
    ], out
    _paste(proj / "pyproject.toml", "[tool.uv.extra-build-dependencies]", hint[0])
    proc = subprocess.run(
        [uv_binary(), "lock", "--offline"], cwd=proj, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Failed to parse" not in proc.stderr, proc.stderr
    assert "warning" not in proc.stderr.lower(), proc.stderr
    assert main(["status", "--project", str(proj), "--cache-dir", str(tmp_path / "c")]) == 0


def test_extras_given_mirror_uv_sync(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--extra` says what `uv sync` installs: only that extra's runtime counts; nothing
    said, every extra may be installed (one of the conflicting ones at a time)."""
    import json

    from envkey_hook.cli import main

    links(tmp_path, {"rtlib": ("0.9", "1.0", "2.0")}, sdists=("extpkg",))
    proj = locked(tmp_path, CONFLICTING)

    def rtlib(*args: str) -> str:
        assert main(["status", "--json", "--project", str(proj), *args]) == 0
        (ext,) = json.loads(capsys.readouterr().out)["packages"]
        return str(ext["inputs"]["rtlib"])

    assert rtlib() == "1.0 | 2.0"
    assert rtlib("--extra", "a") == "1.0"
    assert rtlib("--extra", "b") == "2.0"


GROUPED = (
    _project('"rtlib==1.0"', uv="{default}")
    + '[dependency-groups]\ndev = ["rtlib==1.0"]\nkernels = ["extpkg"]\n'
)


def test_status_lists_what_plain_uv_sync_installs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status` mirrors `uv sync`: a package only in a non-default group is not listed
    (prime-rl's `mamba-ssm` group), unless that group is asked for or is a default one."""
    import json

    from envkey_hook.cli import main

    links(tmp_path, {"rtlib": ("1.0",)}, sdists=("extpkg",))

    def listed(proj: Path, *args: str) -> list[str]:
        assert main(["status", "--json", "--project", str(proj), *args]) == 0
        return [p["package"] for p in json.loads(capsys.readouterr().out)["packages"]]

    proj = locked(tmp_path, GROUPED.replace("{default}", ""))
    assert listed(proj) == []
    assert listed(proj, "--group", "kernels") == ["extpkg"]
    assert listed(proj, "--all-groups") == ["extpkg"]
    proj = locked(tmp_path, GROUPED.replace("{default}", "default-groups = ['kernels']"))
    assert listed(proj) == ["extpkg"]
    assert listed(proj, "--no-default-groups") == []
    proj = locked(tmp_path, GROUPED.replace("{default}", "default-groups = 'all'"))
    assert listed(proj) == ["extpkg"]


def test_conflicting_extras_stay_possible_when_groups_are_given(tmp_path: Path) -> None:
    """Groups known (the default ones), extras not: either conflicting extra may be
    installed, so both of their runtime versions count."""
    from envkey_hook.installplan import Selection

    links(tmp_path, {"rtlib": ("0.9", "1.0", "2.0")}, sdists=("extpkg",))
    proj = locked(tmp_path, CONFLICTING)
    lock = read_lock(proj / "uv.lock")
    settings = load_settings(proj, "", _reader(proj), os.environ)
    chosen = Selection(None, frozenset({"dev"}))
    keys = compute_envkeys(lock, settings, LINUX311, selection=chosen)
    assert keys["extpkg"].as_dict()["rtlib"] == "1.0 | 2.0"


def test_runtime_read_from_the_venvs_metadata_without_its_interpreter(tmp_path: Path) -> None:
    """Item 5: a container venv whose interpreter cannot run here (or is missing) still
    shows the torch installed in its site-packages."""
    from envkey_hook.installed import lookup

    venv = tmp_path / ".venv"
    site = venv / "lib" / "python3.12" / "site-packages"
    info = site / "torch-2.10.0a0+b4e4ee8.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.10.0a0+b4e4ee8\n"
    )
    (site / "numpy-2.0.dist-info").mkdir()  # no METADATA: not trusted
    (venv / "pyvenv.cfg").write_text("home = /opt/container/bin\nversion_info = 3.12.9\n")
    found = lookup(venv)
    assert found("torch") == "2.10.0a0+b4e4ee8"
    assert found("Torch") == "2.10.0a0+b4e4ee8"
    assert found("numpy") is None
    assert found("jax") is None


@pytest.mark.parametrize("how", ["setting", "env"])
def test_global_no_build_isolation_counts_a_package_with_foreign_wheels_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Issue 15 item 10: with `no-build-isolation = true` or UV_NO_BUILD_ISOLATION=1, a
    package whose only wheel is for Windows is built here, without isolation, so a bump
    of the watched runtime it depends on is a change of its build input."""
    d = links(tmp_path, {"rtlib": ("1.0", "2.0"), "plain": ("0.1",)}, sdists=("plain",))
    (d / "plain-0.1-py3-none-any.whl").rename(d / "plain-0.1-cp311-cp311-win_amd64.whl")
    uv = (
        "[[tool.uv.dependency-metadata]]\nname = 'plain'\nversion = '0.1'\n"
        "requires-dist = ['rtlib']\n"
    )
    if how == "setting":
        uv = "no-build-isolation = true\n" + uv
    else:
        monkeypatch.setenv("UV_NO_BUILD_ISOLATION", "1")
    pyproject = _project('"plain", "rtlib==1.0"', uv=uv)
    before = envkeys(locked(tmp_path, pyproject), watch=("rtlib",))
    after = envkeys(
        locked(tmp_path, pyproject.replace("rtlib==1.0", "rtlib==2.0")), watch=("rtlib",)
    )
    changes = [c.describe() for c in diff_envkeys(before, after)]
    assert "plain: rtlib 1.0 -> 2.0" in changes, changes
