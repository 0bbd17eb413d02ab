"""Planning and executing the purge: fake caches, then a real polluted uv 0.13 cache."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from envkey_hook import fixture
from envkey_hook.cache import Entry
from envkey_hook.purge import (
    Removal,
    Target,
    find_polluted,
    is_setuptools_build_dir,
    plan,
)
from envkey_hook.purgeexec import execute
from envkey_hook.remove import AllowedSet
from fakecache import add_slot, entry, polluted_entry, setuptools_build

SHA = "8b5b5eba221b4d0d18fb0189a45c98ce4ca85ae6"


def kinds(removals: list[Removal]) -> list[tuple[str, Path]]:
    return sorted((r.kind, r.path) for r in removals)


@pytest.mark.parametrize("kind", ["pypi", "index", "url", "path"])
def test_build_dir_and_newer_polluted_slot(tmp_path: Path, kind: str) -> None:
    tree = polluted_entry(tmp_path, kind)
    removals, notices = plan(tmp_path, [Target("extpkg")], tmp_path / "repo")
    assert kinds(removals) == sorted([("build-dir", tree["build"]), ("polluted-slot", tree["new"])])
    assert notices == []
    slot = next(r for r in removals if r.kind == "polluted-slot")
    assert slot.entry == tree["entry"] and slot.package == "extpkg"
    assert slot.detail.startswith("identical payload to slot cace87155b165d5b (built ")
    build = next(r for r in removals if r.kind == "build-dir")
    assert build.size == 150 and build.entry == tree["entry"]


def test_other_packages_untouched(tmp_path: Path) -> None:
    polluted_entry(tmp_path, "index", name="other")
    assert plan(tmp_path, [Target("extpkg")], tmp_path) == ([], [])


def test_different_payloads_are_not_polluted(tmp_path: Path) -> None:
    rev = entry(tmp_path, "index") / "rev"
    add_slot(rev, "cace87155b165d5b", b"built against 1.0", mtime=1)
    add_slot(rev, "81a196cb5a99c968", b"built against 2.0", mtime=2)
    add_slot(rev, "0123456789abcdef", None, mtime=3)  # pure Python: nothing to compare
    add_slot(rev, "fedcba9876543210", None, mtime=4)
    assert plan(tmp_path, [Target("extpkg")], tmp_path) == ([], [])


def test_oldest_of_each_group_is_kept(tmp_path: Path) -> None:
    e = entry(tmp_path, "index")
    rev = e / "rev"
    for i, digest in enumerate(["1" * 16, "2" * 16, "3" * 16]):
        add_slot(rev, digest, b"A", mtime=100 - i)  # "3"*16 is the oldest
    add_slot(rev, "4" * 16, b"B", mtime=50)
    add_slot(rev, "5" * 16, b"B", mtime=60)
    removals, _ = find_polluted([Entry(e.parents[3], "index", e, "extpkg")])
    assert sorted(r.path.name for r in removals) == ["1" * 16, "2" * 16, "5" * 16]


def test_polluted_root_slot_and_unreadable_wheel_are_notices(tmp_path: Path) -> None:
    rev = entry(tmp_path, "index") / "rev"
    add_slot(rev, "cace87155b165d5b", b"A", mtime=1)
    add_slot(rev, "", b"A", mtime=2)  # wheel directly in the revision: newer, identical
    bad = add_slot(rev, "81a196cb5a99c968", b"A", mtime=3)
    next(bad.glob("*.whl")).write_bytes(b"truncated")
    removals, notices = plan(tmp_path, [Target("extpkg")], tmp_path)
    assert removals == []
    messages = sorted(n.message for n in notices)
    assert messages[0].startswith("identical payload to slot cace87155b165d5b")
    assert messages[0].endswith("left alone")
    assert messages[1] == "unreadable wheel: not compared"


def test_build_dir_that_is_not_setuptools_output_is_a_notice(tmp_path: Path) -> None:
    tree = polluted_entry(tmp_path, "index")
    (tree["build"] / "shipped-with-the-sdist.txt").write_text("x")
    other = polluted_entry(tmp_path, "url")
    shutil.rmtree(other["build"])
    os.symlink(tmp_path, other["build"])
    removals, notices = plan(tmp_path, [Target("extpkg")], tmp_path)
    assert {r.kind for r in removals} == {"polluted-slot"}
    stale = "not a setuptools build directory: left alone (it holds stale setuptools output)"
    assert sorted((n.path, n.message) for n in notices) == sorted(
        [(tree["build"], stale), (other["build"], "is a symlink: left alone")]
    )
    # Issue 15 item 17: the stale output stays, so the run has not succeeded: say what
    # clears it (the setuptools output only: the sdist's file stays).
    (foreign,) = [n for n in notices if n.path == tree["build"]]
    outputs = sorted(p for p in os.listdir(tree["build"]) if not p.endswith(".txt"))
    assert foreign.blocking and foreign.fix == "rm -rf -- " + " ".join(
        str(tree["build"] / p) for p in outputs
    )


def test_git_entry_slot_and_checkout_build(tmp_path: Path) -> None:
    tree = polluted_entry(tmp_path, "git")
    checkout = tmp_path / "git-v2" / "checkouts" / "3e815980bd78015e" / SHA[:7]
    checkout.mkdir(parents=True)
    build = setuptools_build(checkout)
    removals, _ = plan(tmp_path, [Target("extpkg", git_shas=frozenset({SHA}))], tmp_path)
    assert kinds(removals) == [("checkout-build", build), ("polluted-slot", tree["new"])]
    assert all(r.entry == tree["entry"] for r in removals)
    # Without the locked commit the checkout is not ours to touch.
    removals, _ = plan(tmp_path, [Target("extpkg")], tmp_path)
    assert kinds(removals) == [("polluted-slot", tree["new"])]


def test_whole_entries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    index = polluted_entry(cache, "index")
    git = polluted_entry(cache, "git")
    checkout = cache / "git-v2" / "checkouts" / "3e815980bd78015e" / SHA[:7]
    checkout.mkdir(parents=True)
    build = setuptools_build(checkout)
    target = Target("extpkg", git_shas=frozenset({SHA}), whole_entries=True)
    removals, _ = plan(cache, [target], tmp_path)
    assert kinds(removals) == sorted(
        [("entry", index["entry"]), ("entry", git["entry"]), ("checkout-build", build)]
    )
    assert all(r.entry == r.path for r in removals if r.kind == "entry")
    result = execute(removals, cache, AllowedSet(cache=cache))
    assert result.refused == [] and len(result.removed) == 3
    # Emptied, not removed: a uv process may hold or wait on the entry's .lock.
    assert os.listdir(index["entry"]) == os.listdir(git["entry"]) == [".lock"]
    assert not build.exists()
    assert (cache / "sdists-v11" / "index").is_dir()


def test_checkout_shared_by_two_packages_is_listed_once(tmp_path: Path) -> None:
    checkout = tmp_path / "git-v2" / "checkouts" / "3e815980bd78015e" / SHA[:7]
    checkout.mkdir(parents=True)
    setuptools_build(checkout)
    targets = [Target(n, git_shas=frozenset({SHA})) for n in ("a", "b")]
    removals, _ = plan(tmp_path, targets, tmp_path)
    assert [(r.kind, r.package) for r in removals] == [("checkout-build", "a")]


def test_is_setuptools_build_dir(tmp_path: Path) -> None:
    for names, expected in [
        (["lib"], True),  # pure Python
        (["lib.linux-x86_64-cpython-311", "temp.linux-x86_64-cpython-311"], True),
        (["bdist.linux-x86_64", "scripts-3.11"], True),
        (["scripts-3.11"], False),
        ([], False),
        (["lib.linux-x86_64-cpython-311", "CMakeCache.txt"], False),
        (["library"], False),
    ]:
        d = tmp_path / "-".join(names or ["empty"]) / "build"
        d.mkdir(parents=True)
        for n in names:
            (d / n).mkdir()
        assert is_setuptools_build_dir(d) is expected, names


def test_local_directory_builds(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    inside = repo / "vendor" / "ext"
    build = setuptools_build(inside)
    outside = tmp_path / "outside"
    setuptools_build(outside)
    escape = repo / "escape"
    os.symlink(outside, escape)
    mixed = repo / "mixed"
    setuptools_build(mixed)
    (mixed / "build" / "notes.txt").write_text("mine")
    clean = repo / "clean"
    clean.mkdir()
    target = Target("extpkg", local_dirs=frozenset({inside, outside, escape, mixed, clean}))
    removals, notices = plan(None, [target], repo)
    assert kinds(removals) == [("local-build", build)]
    assert removals[0].entry is None
    assert sorted((n.path, n.message.split(":")[0]) for n in notices) == sorted(
        [
            (outside / "build", "source directory outside the repository"),
            (escape / "build", "source directory outside the repository"),
            (mixed / "build", "not a setuptools build directory"),
        ]
    )


def test_local_dir_is_spelled_under_the_repo_root(tmp_path: Path) -> None:
    """A symlink inside the repo to a dir inside the repo: removal path has no symlink."""
    repo = tmp_path / "repo"
    real = repo / "third_party" / "ext"
    setuptools_build(real)
    os.symlink(real, repo / "ext")
    removals, _ = plan(None, [Target("extpkg", local_dirs=frozenset({repo / "ext"}))], repo)
    assert [r.path for r in removals] == [real / "build"]


def test_execute_removes_and_reports(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    repo = tmp_path / "repo"
    tree = polluted_entry(cache, "index")
    build = setuptools_build(repo / "ext")
    removals, _ = plan(cache, [Target("extpkg", local_dirs=frozenset({repo / "ext"}))], repo)
    assert len(removals) == 3
    result = execute(removals, cache, AllowedSet(cache=cache, repo=repo))
    assert result.refused == []
    assert {r.path for r in result.removed} == {tree["build"], tree["new"], build}
    assert result.freed == sum(r.size for r in result.removed) > 0
    assert not tree["build"].exists() and not tree["new"].exists() and not build.exists()
    assert tree["old"].is_dir()
    assert (cache / ".lock").exists() and (tree["entry"] / ".lock").exists()
    assert not list(cache.rglob(".envkey-hook-trash-*")) and not list(repo.rglob(".envkey-*"))


def test_execute_records_refusals_and_goes_on(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    stray = tmp_path / "stray" / "build"
    stray.mkdir(parents=True)
    bad = Removal(stray, "local-build", "extpkg", None, 0, "")
    gone = Removal(tree["rev"] / "0123456789abcdef", "polluted-slot", "extpkg", None, 0, "")
    result = execute([bad, gone, *removals], cache, AllowedSet(cache=cache))
    assert [(r.path, why.split(" ")[0]) for r, why in result.refused] == [(stray, "outside")]
    assert len(result.removed) == 2
    assert stray.is_dir() and not tree["build"].exists()


def test_execute_cleans_leftovers_of_an_interrupted_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = polluted_entry(cache, "index")
    leftover = tree["rev"] / "src" / ".envkey-hook-trash-0123456789abcdef"
    (leftover / "lib.x").mkdir(parents=True)
    removals, _ = plan(cache, [Target("extpkg")], tmp_path)
    execute(removals, cache, AllowedSet(cache=cache))
    assert not leftover.exists()


# --- the real thing -------------------------------------------------------------


@pytest.mark.e2e
def test_real_uv_polluted_cache_is_found_removed_and_heals(
    tmp_path: Path, wheelhouse: Path
) -> None:
    from e2e_helpers import Project

    cache = Path(os.environ["UV_CACHE_DIR"])  # a temp dir: conftest's isolated_env
    wheels = fixture.write_runtime_wheels(tmp_path / "wheels")
    fixture.ext_sdist(wheels)
    project = Project(tmp_path / "project", cache)
    project.create(
        fixture.project_pyproject(
            "extpkg",
            "1.0",
            find_links=[str(wheels), str(wheelhouse)],
            requires_python=f">={sys.version_info[0]}.{sys.version_info[1]}",
        )
    )
    project.sync()
    assert project.built_against() == ("1.0", "1.0")
    project.set_runtime("2.0")
    project.sync()
    assert project.built_against() == ("1.0", "2.0")  # the bug: uv#16850

    removals, notices = plan(cache, [Target("extpkg")], project.root)
    assert notices == []
    [build] = [r.path for r in removals if r.kind == "build-dir"]
    [slot] = [r.path for r in removals if r.kind == "polluted-slot"]
    assert len(removals) == 2
    assert build.parts[-2:] == ("src", "build") and build.parent.parent == slot.parent
    wheels_by_age = sorted(slot.parent.glob("*/*.whl"), key=lambda w: w.stat().st_mtime)
    assert [w.parent for w in wheels_by_age][-1] == slot  # the newer slot goes

    result = execute(removals, cache, AllowedSet(cache=cache, repo=project.root))
    assert result.refused == [] and len(result.removed) == 2
    assert not build.exists() and not slot.exists()
    assert wheels_by_age[0].exists()

    project.sync("--reinstall-package", "extpkg")
    assert project.built_against() == ("2.0", "2.0")
    # Rebuilt in a clean tree: a new build/, and two slots with different binaries.
    assert [r.kind for r in plan(cache, [Target("extpkg")], project.root)[0]] == ["build-dir"]
