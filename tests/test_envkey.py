"""Envkeys: which inputs count, fork selection, and the change lines users read."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_helpers import BIG_TORCH
from envkey_hook.envkey import (
    EnvKey,
    compute_envkeys,
    diff_envkeys,
    is_source_built,
    select_forks,
)
from envkey_hook.errors import InputError
from envkey_hook.lockfile import Dep, Lock, LockedPackage, parse_lock
from envkey_hook.markers import environment as marker_environment
from envkey_hook.settings import ExtraBuildDep, Settings

PY310 = {"python_full_version": "3.10.4", "python_version": "3.10", "sys_platform": "linux"}
PY311 = {"python_full_version": "3.11.7", "python_version": "3.11", "sys_platform": "linux"}


def pkg(name: str, version: str, markers: tuple[str, ...] = (), **kw: object) -> LockedPackage:
    source = kw.pop("source", (("registry", "https://pypi.org/simple"),))
    return LockedPackage(name, version, source, markers, **kw)  # type: ignore[arg-type]


def lock(*packages: LockedPackage) -> Lock:
    return Lock("uv.lock", 1, 3, ">=3.9", tuple(packages))


def flash_settings(**kw: object) -> Settings:
    return Settings(
        no_build_isolation_package=["flash-attn"],
        extra_build_dependencies={"flash-attn": [ExtraBuildDep("torch", "torch", True)]},
        **kw,  # type: ignore[arg-type]
    )


FLASH = pkg("flash-attn", "2.8.3", has_sdist=True, dependencies=(Dep("torch"),))


def test_runtime_bump_is_one_line_with_local_version() -> None:
    old = compute_envkeys(
        lock(FLASH, pkg("torch", "2.6.0", has_wheels=True)), flash_settings(), PY311
    )
    new = compute_envkeys(
        lock(FLASH, pkg("torch", "2.7.0+cu126", has_wheels=True)), flash_settings(), PY311
    )
    assert [c.describe() for c in diff_envkeys(old, new)] == [
        "flash-attn: torch 2.6.0 -> 2.7.0+cu126"
    ]


def test_runtime_moving_to_another_index_names_the_source() -> None:
    a = pkg("torch", "2.6.0", source=(("registry", "https://a.example/simple"),), has_wheels=True)
    b = pkg("torch", "2.6.0", source=(("registry", "https://b.example/simple"),), has_wheels=True)
    changes = diff_envkeys(
        compute_envkeys(lock(FLASH, a), flash_settings(), PY311),
        compute_envkeys(lock(FLASH, b), flash_settings(), PY311),
    )
    assert [(c.input, c.old, c.new) for c in changes] == [
        ("torch source", "registry=https://a.example/simple", "registry=https://b.example/simple")
    ]


def test_variables_config_settings_and_pinned_requirements_are_inputs() -> None:
    base = Settings(
        extra_build_dependencies={"flash-attn": [ExtraBuildDep("ninja==1.11", "ninja")]}
    )
    moved = Settings(
        extra_build_dependencies={"flash-attn": [ExtraBuildDep("ninja==1.13", "ninja")]},
        extra_build_variables={"flash-attn": {"MAX_JOBS": "4"}},
        config_settings_package={"flash-attn": {"--build-option": ["build_ext", "-j4"]}},
    )
    changes = diff_envkeys(
        compute_envkeys(lock(FLASH), base, PY311), compute_envkeys(lock(FLASH), moved, PY311)
    )
    assert {c.input: (c.old, c.new) for c in changes} == {
        "extra-build-dependencies": ('["ninja==1.11"]', '["ninja==1.13"]'),
        "extra-build-variables MAX_JOBS": (None, "4"),
        "config-settings --build-option": (None, '["build_ext", "-j4"]'),
    }


def test_nothing_changed_means_no_changes() -> None:
    keys = compute_envkeys(
        lock(FLASH, pkg("torch", "2.6.0", has_wheels=True)), flash_settings(), PY311
    )
    assert diff_envkeys(keys, keys) == []


def test_wheel_only_packages_have_no_envkey() -> None:
    keys = compute_envkeys(
        lock(FLASH, pkg("torch", "2.6.0", has_wheels=True)), flash_settings(), PY311
    )
    assert set(keys) == {"flash-attn"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((("git", "https://github.com/x/y?rev=main#abc"),), True),
        ((("directory", "vendor/ext"),), True),
        ((("editable", "."),), True),
        ((("virtual", "."),), False),
        ((("path", "dist/ext-1.0.tar.gz"),), True),
        ((("path", "dist/ext-1.0-py3-none-any.whl"),), False),
    ],
)
def test_source_kinds(source: tuple[tuple[str, str], ...], expected: bool) -> None:
    assert is_source_built(pkg("ext", "1.0", source=source), Settings()) is expected


def test_fork_selection_by_resolution_markers() -> None:
    old = pkg("torch", "2.14.1", ("python_full_version < '3.11'",))
    new = pkg("torch", "2.15.0", ("python_full_version >= '3.11'",))
    assert select_forks([old, new], PY310) == [old]
    assert select_forks([old, new], PY311) == [new]


def test_undecidable_forks_keep_every_candidate() -> None:
    cpu = pkg("torch", "2.6.0+cpu", ("extra == 'extra-4-demo-cpu'",))
    cu = pkg("torch", "2.6.0+cu124", ("extra == 'extra-4-demo-cu124'",))
    assert select_forks([cpu, cu], PY311) == [cpu, cu]


def test_match_runtime_package_missing_from_lock_is_an_input_error() -> None:
    with pytest.raises(InputError, match="match-runtime package 'torch' is not in uv.lock"):
        compute_envkeys(lock(FLASH), flash_settings(), PY311)


def test_marker_environment_reads_the_project_venv(tmp_path: Path) -> None:
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.10.14.final.0\n")
    env = marker_environment(str(tmp_path))
    assert (env["python_full_version"], env["python_version"]) == ("3.10.14", "3.10")


def test_big_torch_fork_moves_only_for_python_311() -> None:
    before = parse_lock((BIG_TORCH / "before" / "uv.lock").read_bytes(), "before/uv.lock")
    after = parse_lock((BIG_TORCH / "after" / "uv.lock").read_bytes(), "after/uv.lock")
    settings = flash_settings()
    for env, expected in ((PY310, []), (PY311, ["flash-attn: torch 2.14.1 -> 2.15.0"])):
        changes = diff_envkeys(
            compute_envkeys(before, settings, env), compute_envkeys(after, settings, env)
        )
        assert [c.describe() for c in changes if c.input == "torch"] == expected


def test_watched_runtime_counts_for_packages_built_without_isolation() -> None:
    settings = Settings(no_build_isolation_package=["flash-attn"])
    old = compute_envkeys(
        lock(FLASH, pkg("torch", "2.6.0", has_wheels=True)), settings, PY311, watch=["torch"]
    )
    new = compute_envkeys(
        lock(FLASH, pkg("torch", "2.7.0", has_wheels=True)), settings, PY311, watch=["torch"]
    )
    changes = diff_envkeys(old, new)
    assert [(c.describe(), c.keyed) for c in changes] == [
        ("flash-attn: torch 2.6.0 -> 2.7.0", False)
    ]


def test_watched_runtime_is_ignored_with_build_isolation() -> None:
    old = compute_envkeys(
        lock(FLASH, pkg("torch", "2.6.0", has_wheels=True)), Settings(), PY311, watch=["torch"]
    )
    new = compute_envkeys(
        lock(FLASH, pkg("torch", "2.7.0", has_wheels=True)), Settings(), PY311, watch=["torch"]
    )
    assert diff_envkeys(old, new) == []


def test_match_runtime_change_stays_keyed_when_also_watched() -> None:
    old = compute_envkeys(
        lock(FLASH, pkg("torch", "2.6.0", has_wheels=True)),
        flash_settings(),
        PY311,
        watch=["torch"],
    )
    new = compute_envkeys(
        lock(FLASH, pkg("torch", "2.7.0", has_wheels=True)),
        flash_settings(),
        PY311,
        watch=["torch"],
    )
    assert [c.keyed for c in diff_envkeys(old, new)] == [True]


def test_version_a_lock_records_for_a_local_tree_is_not_a_build_input() -> None:
    """Real pair nemo-rl-29f588093: `[[manifest.dependency-metadata]]` gave an editable member
    a version in the lock (dynamic -> 0.0.0). uv builds the tree from its own files, so that
    alone moves nothing; a runtime it is built against still does."""
    settings = Settings(no_build_isolation_package=["member"])
    src = (("editable", "3rdparty/member"),)
    dynamic = pkg("member", None, source=src, dependencies=(Dep("torch"),))  # type: ignore[arg-type]
    static = pkg("member", "0.0.0", source=src, dependencies=(Dep("torch"),))
    torch26, torch27 = (
        pkg("torch", "2.6.0", has_wheels=True),
        pkg("torch", "2.7.0", has_wheels=True),
    )

    def keys(member: LockedPackage, torch: LockedPackage) -> dict[str, EnvKey]:
        return compute_envkeys(lock(member, torch), settings, PY311, watch=["torch"])

    assert diff_envkeys(keys(dynamic, torch26), keys(static, torch26)) == []
    moved = diff_envkeys(keys(dynamic, torch26), keys(static, torch27))
    assert [c.describe() for c in moved] == ["member: torch 2.6.0 -> 2.7.0"]
