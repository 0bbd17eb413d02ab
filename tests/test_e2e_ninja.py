"""End to end, issue 16: an extension compiled through ninja the way torch's
`BuildExtension` compiles (flash-attn, xformers, torchsort...), with the real uv.

The oracle: the installed extension reports the runtime header it was compiled
against, and a compiler wrapper counts the compiles of each `uv sync`.

The case ninja gets wrong: the new runtime was unpacked into uv's archive before
the last build (another project, or a branch synced earlier), so its header is
OLDER than the objects in uv's shared source tree. ninja keeps the old object,
setuptools relinks it: stale, whatever `build_ext --force` says.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import ninjaext
from e2e_helpers import Project, build_dirs, run, uv_binary
from envkey_hook import fixture

pytestmark = pytest.mark.e2e

REQUIRES_PYTHON = f">={sys.version_info[0]}.{sys.version_info[1]}"
FORCE_BUILD = '"--build-option" = ["build_ext", "--force"]'
SEED_WORKAROUND = '"--global-option" = ["build_ext", "--force"]'


class NinjaProject(Project):
    """The uv#16850 project with the ninja-built extension, compiles counted."""

    def __init__(
        self,
        tmp_path: Path,
        wheelhouse: Path,
        monkeypatch: pytest.MonkeyPatch,
        ninja: bool = True,
    ) -> None:
        super().__init__(tmp_path / "project", Path(os.environ["UV_CACHE_DIR"]))
        self.links = fixture.write_runtime_wheels(tmp_path / "links")
        self.ninja = ninja
        # The plain setuptools extension, for comparison, is compiled by the same CC.
        (ninjaext.ninja_sdist if ninja else fixture.ext_sdist)(self.links)
        self.wheelhouse = wheelhouse
        self.log = tmp_path / "compiles.log"
        # Every uv below inherits these: ninja from PyPI first on PATH, CC counted.
        monkeypatch.setenv("PATH", f"{ninjaext.ninja_dir()}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("CC", str(ninjaext.compiler_wrapper(tmp_path / "bin")))
        monkeypatch.setenv("NINJAEXT_COMPILE_LOG", str(self.log))

    def pyproject_text(self, runtime: str, config: str = "") -> str:
        extra = "no-index = true\n"
        if config:
            extra += f"config-settings-package = {{ extpkg = {{ {config} }} }}\n"
        return fixture.project_pyproject(
            "extpkg",
            runtime,
            find_links=[str(self.wheelhouse), str(self.links)],
            extra_uv=extra,
            requires_python=REQUIRES_PYTHON,
        )

    def unpack_runtime(self, version: str) -> None:
        """Put the runtime into uv's archive now, as another project using the same
        cache would (its header then carries this moment's mtime)."""
        scratch = self.root.parent / f"scratch-{version}"
        uv = uv_binary()
        run([uv, "venv", "-q", str(scratch)], self.root.parent)
        run(
            [uv, "pip", "install", "-q", "--python", str(scratch), "--no-index"]
            + ["--find-links", str(self.links), f"rtlib=={version}"],
            self.root.parent,
        )

    def sync_counted(self, *args: str) -> int:
        """`uv sync`; the number of compiler invocations it caused."""
        ninjaext.compiles(self.log)
        self.sync(*args)
        return ninjaext.compiles(self.log)


@pytest.fixture
def proj(tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> NinjaProject:
    return NinjaProject(tmp_path, wheelhouse, monkeypatch)


def start(proj: NinjaProject, *, old_mtimes: bool, config: str = "", compiles: int = 1) -> None:
    """Build at rtlib 1.0 (through ninja, but for `plain`); with `old_mtimes`, rtlib
    2.0 was unpacked into uv's archive before that build."""
    if old_mtimes:
        proj.unpack_runtime("2.0")
    proj.create(proj.pyproject_text("1.0", config))
    assert proj.sync_counted() == compiles
    assert proj.built_against() == ("1.0", "1.0")
    (build,) = build_dirs(proj.cache)
    assert bool(list(build.glob("temp*/build.ninja"))) is proj.ninja


@pytest.fixture
def plain(tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> NinjaProject:
    return NinjaProject(tmp_path, wheelhouse, monkeypatch, ninja=False)


@pytest.mark.parametrize(
    "config", ["", FORCE_BUILD, SEED_WORKAROUND], ids=["uv-alone", "build-option", "global-option"]
)
def test_new_header_mtimes_recompile(proj: NinjaProject, config: str) -> None:
    """Table row 1: a runtime unpacked by this sync (newer header) is recompiled by
    ninja, once: the seed's --global-option runs build_ext twice, but ninja finds the
    second run up to date."""
    start(proj, old_mtimes=False, config=config)
    proj.set_runtime("2.0")
    assert proj.sync_counted() == 1
    assert proj.built_against() == ("2.0", "2.0")


@pytest.mark.parametrize(
    ("config", "compiles"),
    [(FORCE_BUILD, 1), (SEED_WORKAROUND, 2)],
    ids=["build-option", "global-option"],
)
def test_plain_setuptools_forced_compiles(plain: NinjaProject, config: str, compiles: int) -> None:
    """Without ninja, `--force` recompiles on every build: the seed's --global-option
    twice per build (build_ext runs in two PEP 517 hooks), `fix`'s --build-option once."""
    start(plain, old_mtimes=True, config=config, compiles=compiles)
    plain.set_runtime("2.0")
    assert plain.sync_counted() == compiles
    assert plain.built_against() == ("2.0", "2.0")


@pytest.mark.parametrize("config", ["", FORCE_BUILD], ids=["uv-alone", "fix-build-option"])
def test_old_header_mtimes_stay_stale(proj: NinjaProject, config: str) -> None:
    """Table row 2: the header is older than the objects: 0 compiles, relinked, stale
    with uv alone and with today's `fix` (`--build-option build_ext --force`)."""
    start(proj, old_mtimes=True, config=config)
    proj.set_runtime("2.0")
    assert proj.sync_counted() == 0
    assert proj.built_against() == ("1.0", "2.0")


def test_old_header_mtimes_purge_heals(proj: NinjaProject) -> None:
    """The same move with `envkey-hook run` before the sync: compiled fresh, once."""
    start(proj, old_mtimes=True, config=FORCE_BUILD)
    proj.set_runtime("2.0")
    result = proj.run_hook()
    assert result.rc == 0, result.stderr
    assert "extpkg: rtlib 1.0 -> 2.0" in result.stdout
    assert proj.sync_counted() == 1
    assert proj.built_against() == ("2.0", "2.0")


def per_config_temp(name: str) -> str:
    tokens = f'"build_ext", "--force", "--build-temp", "build/temp.envkey-{name}"'
    return f'"--build-option" = [{tokens}]'


def test_old_header_mtimes_build_temp_per_configuration(proj: NinjaProject) -> None:
    """A build-temp directory per build configuration: ninja starts from an empty
    directory for the new configuration and compiles."""
    start(proj, old_mtimes=True, config=per_config_temp("a"))
    proj.edit(per_config_temp("a"), per_config_temp("b"))
    proj.set_runtime("2.0")
    assert proj.sync_counted() == 1
    assert proj.built_against() == ("2.0", "2.0")


def cli(proj: NinjaProject, *args: str) -> tuple[int, str]:
    proc = run([sys.executable, "-m", "envkey_hook", *args], proj.root, check=False)
    assert proc.stderr == "", proc.stderr
    return proc.returncode, proc.stdout


def test_fix_names_a_build_temp_per_envkey(proj: NinjaProject) -> None:
    """`envkey-hook fix` on a BuildExtension package: --force plus a build-temp named
    after the envkey, rewritten when the envkey moves; the old-mtime move compiles."""
    start(proj, old_mtimes=True)
    assert cli(proj, "fix", "--check")[0] == 1  # due: the backend was read from uv's cache
    code, out = cli(proj, "fix")
    assert code == 1 and '"--build-temp", "build/temp.envkey-' in out, out
    assert "BuildExtension" in out
    first = proj.pyproject.read_text()
    assert cli(proj, "fix") == (0, "")  # idempotent
    assert proj.sync_counted() == 1  # a new configuration, in a fresh directory
    assert proj.built_against() == ("1.0", "1.0")

    proj.set_runtime("2.0")
    assert cli(proj, "fix", "--check")[0] == 1
    code, out = cli(proj, "fix")
    assert code == 1 and "changed build/temp.envkey-" in out, out
    assert proj.sync_counted() == 1
    assert proj.built_against() == ("2.0", "2.0")

    # Back to 1.0: the same directory name as before, uv's slot for it is reused.
    proj.set_runtime("1.0")
    assert cli(proj, "fix")[0] == 1
    assert proj.pyproject.read_text() == first
    assert proj.sync_counted() == 0
    assert proj.built_against() == ("1.0", "1.0")


def test_status_names_the_backend(proj: NinjaProject) -> None:
    start(proj, old_mtimes=False)
    code, out = cli(proj, "status")
    assert code == 0
    header, row = out.splitlines()[2:4]
    col = header.index("backend")
    assert row[col:].startswith("setuptools + BuildExtension"), out


STAGES = ["post-checkout", "post-merge", "post-rewrite", "pre-commit"]


@pytest.mark.parametrize("stage", STAGES)
def test_old_header_mtimes_each_hook_stage_heals(proj: NinjaProject, stage: str) -> None:
    """The branch switch with old header mtimes, through the installed git hooks:
    the hook purges, the next `uv sync` compiles against the new runtime."""
    start(proj, old_mtimes=True, config=FORCE_BUILD)
    git = ["git", "-c", "commit.gpgsign=false"]
    assert cli(proj, "install")[0] == 0
    if stage in ("post-checkout", "post-merge"):
        run([*git, "checkout", "-q", "-b", "bump"], proj.root)
        proj.set_runtime("2.0")
        run([*git, "commit", "-qam", "rtlib 2.0"], proj.root)
        run([*git, "checkout", "-q", "main"], proj.root)  # 2.0 -> 1.0: nothing built for 2.0
        assert proj.sync_counted() == 0
        assert proj.built_against() == ("1.0", "1.0")
        if stage == "post-checkout":
            out = run([*git, "checkout", "bump"], proj.root).stderr
        else:
            out = run([*git, "merge", "-q", "--ff-only", "bump"], proj.root).stderr
    else:
        proj.set_runtime("2.0")
        if stage == "post-rewrite":
            out = run([*git, "commit", "-q", "--amend", "-am", "rtlib 2.0"], proj.root).stderr
        else:
            out = run([*git, "commit", "-qam", "rtlib 2.0"], proj.root).stderr
    assert "extpkg: rtlib 1.0 -> 2.0" in out, out
    assert proj.sync_counted() == 1
    assert proj.built_against() == ("2.0", "2.0")
