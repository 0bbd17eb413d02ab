"""End to end: `envkey-hook run` against the real uv, git and a C compiler.

Each scenario starts from a committed project whose extension `extpkg` was
built and installed, then changes one build input in the work tree. The
control shows what plain `uv sync` does (reuses the stale binary); the other
tests show that `envkey-hook run` makes uv compile a correct one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_helpers import (
    Isolation,
    Project,
    build_dirs,
    git_commit_all,
    git_init,
    slot_wheels,
    snapshot,
)
from envkey_hook import fixture

pytestmark = pytest.mark.e2e

# Only the interpreter under test: one resolution, no forks.
REQUIRES_PYTHON = f">={sys.version_info[0]}.{sys.version_info[1]}"
RUNTIME_PROBE = ("extpkg.built_against()", "rtlib.__version__")


@dataclass(frozen=True)
class Scenario:
    """One source kind or trigger: how to set it up, what to change, what to observe."""

    id: str
    source: str = "index"  # index | sdist | directory | git | flat-indexes
    extra_uv: str = ""
    match_runtime: bool = True
    runtime_versions: tuple[str, ...] = ("1.0", "2.0")
    edits: tuple[tuple[str, str], ...] = (("rtlib==1.0", "rtlib==2.0"),)
    probe: tuple[str, ...] = RUNTIME_PROBE
    before: tuple[str, ...] = ("1.0", "1.0")
    stale: tuple[str, ...] = ("1.0", "2.0")
    healed: tuple[str, ...] = ("2.0", "2.0")
    change_line: str = "extpkg: rtlib 1.0 -> 2.0"  # `{tmp}` stands for the test's tmp_path
    pin: str = "1.0"
    # Extra `uv sync` arguments after the change (see runtime-moves-index).
    sync_args: tuple[str, ...] = ()
    # `envkey-hook run` before the sync: 1 when it removed an in-place build.
    rc_before_sync: int = 0


SOURCES = [
    Scenario("index"),
    Scenario("sdist", source="sdist"),
    Scenario("directory", source="directory"),
    Scenario("git", source="git"),
]

TRIGGERS = [
    Scenario(
        "extra-build-variables",
        extra_uv='extra-build-variables = { extpkg = { EXT_FLAVOR = "a" } }\n',
        edits=(('EXT_FLAVOR = "a"', 'EXT_FLAVOR = "b"'),),
        probe=("extpkg.flavor()",),
        before=("a",),
        stale=("a",),
        healed=("b",),
        change_line="extpkg: extra-build-variables EXT_FLAVOR a -> b",
    ),
    Scenario(
        "config-settings-package",
        extra_uv=(
            "config-settings-package = "
            '{ extpkg = { "--build-option" = ["build_ext", "--define=EXT_TAG=1"] } }\n'
        ),
        edits=(("EXT_TAG=1", "EXT_TAG=7"),),
        probe=("extpkg.tag()",),
        before=("1",),
        stale=("1",),
        healed=("7",),
        change_line=(
            'extpkg: config-settings --build-option ["build_ext", "--define=EXT_TAG=1"]'
            ' -> ["build_ext", "--define=EXT_TAG=7"]'
        ),
    ),
    Scenario(
        "pinned-extra-build-dependency",
        match_runtime=False,
        extra_uv='extra-build-dependencies = { extpkg = ["rtlib==1.0"] }\n',
        change_line='extpkg: extra-build-dependencies ["rtlib==1.0"] -> ["rtlib==2.0"]',
    ),
    Scenario(
        "runtime-local-version",
        runtime_versions=("1.0+cpu", "1.0+cu"),
        pin="1.0+cpu",
        edits=(("rtlib==1.0+cpu", "rtlib==1.0+cu"),),
        before=("1.0+cpu", "1.0+cpu"),
        stale=("1.0+cpu", "1.0+cu"),
        healed=("1.0+cu", "1.0+cu"),
        change_line="extpkg: rtlib 1.0+cpu -> 1.0+cu",
    ),
    Scenario(
        "runtime-moves-index",
        source="flat-indexes",
        edits=(('rtlib = { index = "a" }', 'rtlib = { index = "b" }'),),
        probe=("extpkg.runtime_variant()", "rtlib.__variant__"),
        before=("a", "a"),
        stale=("a", "b"),
        healed=("b", "b"),
        change_line="extpkg: rtlib source registry={tmp}/index-a -> registry={tmp}/index-b",
        # uv keeps an installed registry wheel of the same name and version even
        # when the lock moved it to another index: ask for the new one explicitly.
        sync_args=("--reinstall-package", "rtlib"),
    ),
]

SCENARIOS = SOURCES + TRIGGERS


def _flat_index(name: str, path: Path, default: bool = False) -> str:
    """A `[[tool.uv.index]]` table for a flat directory of wheels and sdists."""
    role = "default = true" if default else "explicit = true"
    return (
        f'\n[[tool.uv.index]]\nname = "{name}"\nurl = "{path.as_uri()}"\nformat = "flat"\n{role}\n'
    )


def _pyproject(sc: Scenario, tmp_path: Path, project: Path, wheelhouse: Path) -> str:
    """Write the packages the scenario's project installs from; return its pyproject."""
    links = tmp_path / "links"
    links.mkdir()
    find_links = [str(wheelhouse), str(links)]
    extra_uv = "no-index = true\n" + sc.extra_uv
    sources = ""
    if sc.source == "flat-indexes":
        # `no-index` would hide the indexes too: a default flat index replaces PyPI.
        extra_uv = sc.extra_uv
        for variant in ("a", "b"):
            fixture.runtime_wheel(tmp_path / f"index-{variant}", "1.0", variant=variant)
        fixture.ext_sdist(links)
        sources = (
            _flat_index("local", links, default=True)
            + _flat_index("a", tmp_path / "index-a")
            + _flat_index("b", tmp_path / "index-b")
            + '\n[tool.uv.sources]\nrtlib = { index = "a" }\n'
        )
    else:
        fixture.write_runtime_wheels(links, sc.runtime_versions)
    if sc.source == "index":
        fixture.ext_sdist(links)
    elif sc.source == "sdist":
        fixture.ext_sdist(project / "dist")
        sources = '\n[tool.uv.sources]\nextpkg = { path = "dist/extpkg-0.1.tar.gz" }\n'
    elif sc.source == "directory":
        fixture.ext_source_dir(project / "extpkg")
        sources = '\n[tool.uv.sources]\nextpkg = { path = "extpkg", editable = false }\n'
    elif sc.source == "git":
        repo = fixture.ext_source_dir(tmp_path / "extpkg-repo")
        git_init(repo)
        git_commit_all(repo, "extpkg 0.1")
        sources = f'\n[tool.uv.sources]\nextpkg = {{ git = "{repo.as_uri()}" }}\n'
    return fixture.project_pyproject(
        "extpkg",
        sc.pin,
        find_links=find_links,
        sources=sources,
        extra_uv=extra_uv,
        match_runtime=sc.match_runtime,
        requires_python=REQUIRES_PYTHON,
        dependency_metadata=sc.source != "sdist",
    )


def start(sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path) -> Project:
    """Committed project, synced and built against the starting configuration."""
    project = Project(tmp_path / "project", uv_cache)
    project.root.mkdir()
    project.create(_pyproject(sc, tmp_path, project.root, wheelhouse))
    project.sync()
    assert project.probe(*sc.probe) == sc.before
    return project


def change(project: Project, sc: Scenario) -> None:
    """Edit the build input in the work tree (uncommitted) and relock."""
    for old, new in sc.edits:
        project.edit(old, new)
    project.lock()


@pytest.fixture
def uv_cache(isolated_env: Isolation) -> Path:
    return isolated_env.uv_cache


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.id)
def test_control_plain_sync_keeps_stale_binary(
    sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Without envkey-hook, uv reuses the binary compiled for the old configuration."""
    project = start(sc, tmp_path, wheelhouse, uv_cache)
    change(project, sc)
    project.sync(*sc.sync_args)
    assert project.probe(*sc.probe) == sc.stale


def _in_place_builds(project: Project) -> list[Path]:
    return sorted(project.root.glob("*/build"))


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.id)
def test_hook_before_sync_gets_fresh_binary(
    sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """`envkey-hook run` after the change and before `uv sync`: uv compiles afresh."""
    project = start(sc, tmp_path, wheelhouse, uv_cache)
    change(project, sc)
    assert build_dirs(uv_cache) or _in_place_builds(project)  # the stale state is there

    result = project.run_hook()

    assert result.rc == sc.rc_before_sync, result
    assert sc.change_line.format(tmp=tmp_path) in result.stdout.splitlines()
    assert build_dirs(uv_cache) == []
    assert _in_place_builds(project) == []
    project.sync(*sc.sync_args)
    assert project.probe(*sc.probe) == sc.healed


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.id)
def test_hook_after_stale_sync_heals_with_reinstall(
    sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Already synced (stale): the hook purges the polluted slot and says how to reinstall."""
    project = start(sc, tmp_path, wheelhouse, uv_cache)
    old_slot = slot_wheels(uv_cache)
    change(project, sc)
    project.sync(*sc.sync_args)
    assert project.probe(*sc.probe) == sc.stale
    assert len(slot_wheels(uv_cache)) == 2  # the old slot and the polluted new one

    result = project.run_hook()

    assert result.rc == 1, result
    assert sc.change_line.format(tmp=tmp_path) in result.stdout.splitlines()
    assert "uv sync --reinstall-package extpkg" in result.stdout
    assert build_dirs(uv_cache) == []
    assert _in_place_builds(project) == []
    assert slot_wheels(uv_cache) == old_slot  # the polluted slot is gone, the old one kept
    project.sync(*sc.sync_args, "--reinstall-package", "extpkg")
    assert project.probe(*sc.probe) == sc.healed


@pytest.mark.parametrize("sc", [SOURCES[0], SOURCES[2]], ids=lambda s: s.id)
def test_nothing_changed_exits_0_and_deletes_nothing(
    sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Work tree equal to HEAD: no change reported, the cache and the checkout untouched."""
    project = start(sc, tmp_path, wheelhouse, uv_cache)
    before = snapshot(uv_cache, project.root)

    result = project.run_hook()

    assert result.rc == 0, result
    assert "extpkg" not in result.stdout
    assert snapshot(uv_cache, project.root) == before


@pytest.mark.parametrize("sc", [SOURCES[0], SOURCES[2]], ids=lambda s: s.id)
def test_dry_run_deletes_nothing(
    sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """`--dry-run` lists what it would remove; the next plain sync is still stale."""
    project = start(sc, tmp_path, wheelhouse, uv_cache)
    change(project, sc)
    before = snapshot(uv_cache, project.root)

    result = project.run_hook("--dry-run")

    assert result.rc == 1, result
    assert sc.change_line.format(tmp=tmp_path) in result.stdout.splitlines()
    assert "Would remove" in result.stdout
    assert snapshot(uv_cache, project.root) == before
    project.sync()
    assert project.probe(*sc.probe) == sc.stale


# What the polluted state consists of, per source kind (JSON `kind` of each removal).
STALE_BUILD_KIND = {
    "index": "build-dir",
    "sdist": "build-dir",
    "directory": "local-build",
    "git": "checkout-build",
}


@pytest.mark.parametrize("sc", SOURCES, ids=lambda s: s.id)
def test_json_names_exactly_the_stale_build_and_the_polluted_slot(
    sc: Scenario, tmp_path: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """Where the stale state lives for each source kind, as removed and reported."""
    project = start(sc, tmp_path, wheelhouse, uv_cache)
    old_slot = slot_wheels(uv_cache)
    change(project, sc)
    project.sync()
    (new_slot,) = set(slot_wheels(uv_cache)) - set(old_slot)
    (stale_build,) = build_dirs(uv_cache) + _in_place_builds(project)

    result = project.run_hook("--json")

    assert result.rc == 1, result
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 1
    (report,) = doc["projects"]
    assert report["next_command"] == "uv sync --reinstall-package extpkg"
    removed = sorted((r["package"], r["kind"], r["path"]) for r in report["removals"])
    assert removed == sorted(
        [
            ("extpkg", STALE_BUILD_KIND[sc.source], str(stale_build)),
            ("extpkg", "polluted-slot", str(new_slot.parent)),
        ]
    )
    assert not stale_build.exists()
    assert not new_slot.parent.exists()
    assert slot_wheels(uv_cache) == old_slot
