"""The single deletion choke point: allowed shapes only, no symlink ever followed."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envkey_hook.remove import (
    TRASH_PREFIX,
    AllowedSet,
    RefusedRemoval,
    cleanup_leftovers,
    remove_tree,
)
from fakecache import polluted_entry, setuptools_build

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fd-based removal is Unix-only")


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path, AllowedSet]:
    cache, repo = tmp_path / "cache", tmp_path / "repo"
    cache.mkdir()
    repo.mkdir()
    return cache, repo, AllowedSet(cache=cache, repo=repo)


def test_rmtree_is_symlink_safe_here() -> None:
    assert shutil.rmtree.avoids_symlink_attacks


@pytest.mark.parametrize("kind", ["pypi", "index", "url", "path"])
def test_removes_source_tree_build_dir(roots: tuple[Path, Path, AllowedSet], kind: str) -> None:
    cache, _, allowed = roots
    tree = polluted_entry(cache, kind)
    freed = remove_tree(tree["build"], allowed)
    assert freed == 150  # the .so and the .o of setuptools_build
    assert not tree["build"].exists()
    assert (tree["rev"] / "src" / "PKG-INFO").exists()
    assert not list(tree["rev"].glob("src/" + TRASH_PREFIX + "*"))


def test_removes_slot_without_following_its_archive_link(
    roots: tuple[Path, Path, AllowedSet],
) -> None:
    cache, _, allowed = roots
    tree = polluted_entry(cache, "index")
    link = next(p for p in tree["new"].iterdir() if p.is_symlink())
    target = link.resolve()
    assert remove_tree(tree["new"], allowed) > 0
    assert not tree["new"].exists() and tree["old"].exists()
    assert (target / "keep.txt").read_text()  # the unpacked archive survives


def test_removes_git_slot_checkout_build_and_local_build(
    roots: tuple[Path, Path, AllowedSet],
) -> None:
    cache, repo, allowed = roots
    tree = polluted_entry(cache, "git")
    remove_tree(tree["new"], allowed)
    checkout = cache / "git-v2" / "checkouts" / "3e815980bd78015e" / "8b5b5eb"
    checkout.mkdir(parents=True)
    remove_tree(setuptools_build(checkout), allowed)
    (repo / "vendor" / "ext").mkdir(parents=True)
    remove_tree(setuptools_build(repo / "vendor" / "ext"), allowed)
    assert not tree["new"].exists()
    assert not (checkout / "build").exists()
    assert not (repo / "vendor" / "ext" / "build").exists()


def test_removes_whole_entry_but_keeps_its_lock(roots: tuple[Path, Path, AllowedSet]) -> None:
    """Issue 15 item 5: a uv process may hold or wait on `<entry>/.lock`: it stays (the
    same inode), everything else in the entry goes."""
    cache, _, allowed = roots
    tree = polluted_entry(cache, "pypi")
    (tree["entry"] / "revision.http").write_bytes(b"rev")
    lock_inode = os.stat(tree["entry"] / ".lock").st_ino
    remove_tree(tree["entry"], allowed)
    assert os.listdir(tree["entry"]) == [".lock"]
    assert os.stat(tree["entry"] / ".lock").st_ino == lock_inode


def test_symlinked_build_is_refused(roots: tuple[Path, Path, AllowedSet], tmp_path: Path) -> None:
    cache, repo, allowed = roots
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep")
    tree = polluted_entry(cache, "index")
    shutil.rmtree(tree["build"])
    os.symlink(precious, tree["build"])
    os.symlink(precious, repo / "build")
    for link in (tree["build"], repo / "build"):
        with pytest.raises(RefusedRemoval, match="symlink"):
            remove_tree(link, allowed)
        assert link.is_symlink()
    assert (precious / "data").read_text() == "keep"


def test_symlinked_cache_root_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real-cache"
    real.mkdir()
    tree = polluted_entry(real, "index")
    link = tmp_path / "cache"
    os.symlink(real, link)
    build = link / tree["build"].relative_to(real)
    with pytest.raises(RefusedRemoval, match="symlink"):
        remove_tree(build, AllowedSet(cache=link))
    assert tree["build"].exists()


def test_symlinked_intermediate_component_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"
    tree = polluted_entry(elsewhere, "index")
    # The entry's version directory inside the cache points outside it.
    e = cache / tree["entry"].relative_to(elsewhere)
    e.parent.mkdir(parents=True)
    os.symlink(tree["entry"], e)
    build = e / "NY1wkbQIK4PdmLmv" / "src" / "build"
    with pytest.raises(RefusedRemoval, match="is a symlink"):
        remove_tree(build, AllowedSet(cache=cache))
    assert tree["build"].exists()


def test_slot_that_is_a_symlink_is_refused(roots: tuple[Path, Path, AllowedSet]) -> None:
    cache, _, allowed = roots
    tree = polluted_entry(cache, "index")
    archive = cache / "archive-v0" / "uza4T25QDdjLdjnb"
    archive.mkdir(parents=True)
    slot = tree["rev"] / "0123456789abcdef"
    os.symlink(archive, slot)
    with pytest.raises(RefusedRemoval, match="symlink"):
        remove_tree(slot, allowed)
    assert archive.is_dir()


@pytest.mark.parametrize(
    "rel",
    [
        "archive-v0/uza4T25QDdjLdjnb",
        "wheels-v5/pypi/extpkg",
        "sdists-v11",
        "sdists-v11/index",
        "sdists-v11/index/31e99dde752c1be3",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/NY1wkbQIK4PdmLmv",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/NY1wkbQIK4PdmLmv/src",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/NY1wkbQIK4PdmLmv/src/extpkg",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/NY1wkbQIK4PdmLmv/notahexdigest",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1/.x/cace87155b165d5b",
        "sdists-v11/weird/31e99dde752c1be3",
        "git-v2/checkouts/3e815980bd78015e/8b5b5eb",
        "git-v2/db/5bbc8396a251a32a/build",
    ],
)
def test_unexpected_cache_shapes_are_refused(
    roots: tuple[Path, Path, AllowedSet], rel: str
) -> None:
    cache, _, allowed = roots
    (cache / rel).mkdir(parents=True)
    with pytest.raises(RefusedRemoval):
        remove_tree(cache / rel, allowed)
    assert (cache / rel).is_dir()


def test_outside_or_odd_paths_are_refused(
    roots: tuple[Path, Path, AllowedSet], tmp_path: Path
) -> None:
    cache, repo, allowed = roots
    outside = tmp_path / "elsewhere" / "build"
    outside.mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / ".git" / "build").mkdir(parents=True)
    for path, why in [
        (outside, "outside"),
        (repo / "src", "not a `build`"),
        (repo / ".git" / "build", "not a `build`"),
        (repo / "x" / ".." / ".." / "elsewhere" / "build", "outside"),
        (Path("repo/build"), "absolute"),
        (repo, "outside"),
        (cache, "outside"),
    ]:
        with pytest.raises(RefusedRemoval, match=why):
            remove_tree(path, allowed)
    assert outside.is_dir()
    with pytest.raises(RefusedRemoval, match="outside"):
        remove_tree(repo / "build", AllowedSet(cache=cache))


def test_file_named_build_is_refused(roots: tuple[Path, Path, AllowedSet]) -> None:
    _, repo, allowed = roots
    (repo / "build").write_text("a file")
    with pytest.raises(RefusedRemoval, match="not a directory"):
        remove_tree(repo / "build", allowed)


def test_missing_path_raises_file_not_found(roots: tuple[Path, Path, AllowedSet]) -> None:
    _, repo, allowed = roots
    with pytest.raises(FileNotFoundError):
        remove_tree(repo / "build", allowed)


def test_symlinks_inside_the_tree_are_not_followed(
    roots: tuple[Path, Path, AllowedSet], tmp_path: Path
) -> None:
    _, repo, allowed = roots
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep")
    build = setuptools_build(repo)
    os.symlink(precious, build / "lib.linux-x86_64-cpython-311" / "link")
    remove_tree(build, allowed)
    assert (precious / "data").read_text() == "keep"


def test_swap_between_check_and_rename_is_undone(
    roots: tuple[Path, Path, AllowedSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something else put in place of the checked directory is renamed back, not deleted."""
    _, repo, allowed = roots
    build = setuptools_build(repo)
    real_rename = os.rename
    calls: list[str] = []

    def swapping_rename(src: str, dst: str, **kw: int) -> None:
        if not calls:
            real_rename(build, tmp_path / "moved-away")
            (repo / "build").mkdir()
            (repo / "build" / "impostor").write_text("keep")
        calls.append(src)
        real_rename(src, dst, **kw)

    monkeypatch.setattr("envkey_hook.remove.os.rename", swapping_rename)
    with pytest.raises(RefusedRemoval, match="replaced"):
        remove_tree(build, allowed)
    assert (repo / "build" / "impostor").read_text() == "keep"
    assert len(calls) == 2  # renamed to trash, then back


def test_cleanup_leftovers(roots: tuple[Path, Path, AllowedSet], tmp_path: Path) -> None:
    cache, repo, allowed = roots
    tree = polluted_entry(cache, "index")
    src = tree["rev"] / "src"
    stale = src / f"{TRASH_PREFIX}0011223344556677"
    (stale / "deep").mkdir(parents=True)
    (stale / "deep" / "f").write_bytes(b"12345")
    precious = tmp_path / "precious"
    precious.mkdir()
    os.symlink(precious, src / f"{TRASH_PREFIX}link")
    outside = tmp_path / "outside"
    (outside / f"{TRASH_PREFIX}1").mkdir(parents=True)
    freed = cleanup_leftovers([src, tree["rev"], outside, repo], allowed)
    assert freed == 5
    assert not stale.exists()
    assert (src / f"{TRASH_PREFIX}link").is_symlink() and precious.is_dir()
    assert (outside / f"{TRASH_PREFIX}1").is_dir()
    assert tree["build"].is_dir()


_names = st.sampled_from(
    [
        "sdists-v11", "git-v2", "pypi", "index", "url", "path", "git", "editable", "checkouts",
        "extpkg", "0.1", "NY1wkbQIK4PdmLmv", "src", "build", "cace87155b165d5b", "8b5b5eb",
        "..", ".lock", "archive-v0", ".git",
    ]
)  # fmt: skip


@given(st.lists(_names, min_size=0, max_size=9))
def test_classify_accepts_only_known_shapes(parts: list[str]) -> None:
    root = Path("/c")
    path = root.joinpath(*parts)
    try:
        _, rel, shape = AllowedSet(cache=root).classify(path)
    except RefusedRemoval:
        return
    assert ".." not in rel and not any(p.startswith(".") for p in rel)
    assert rel[0] in ("sdists-v11", "git-v2")
    if shape in ("build-dir", "checkout-build"):
        assert rel[-1] == "build"
    elif shape == "slot":
        assert rel[-1] == "cace87155b165d5b"
    else:
        assert shape == "entry" and rel[1] in ("pypi", "index", "url", "path", "git", "editable")


def test_entry_shape_depends_on_kind() -> None:
    allowed = AllowedSet(cache=Path("/c"))
    ok = [
        "sdists-v9/pypi/extpkg/0.1",
        "sdists-v11/index/31e99dde752c1be3/extpkg/0.1",
        "sdists-v11/url/04318d2ea8efe4c8",
        "sdists-v11/git/df948d441cd1dd5d/8b5b5eba221b4d0d",
        "sdists-v11/git/df948d441cd1dd5d/8b5b5eba221b4d0d/2ba8fb0f65be39d4",
        "sdists-v11/path/97d22a59d1d76064/oZahEPvN7golSsQf/src/build",
        "sdists-v11/editable/a39e8ea1fbf3cc61/a5bGMQU1yVuJaUPV/2ba8fb0f65be39d4",
    ]
    for rel in ok:
        allowed.classify(Path("/c") / rel)
    for rel in [
        "sdists-v11/git/df948d441cd1dd5d/8b5b5eba221b4d0d/x/src/build",
        "sdists-v11/pypi/x",
    ]:
        with pytest.raises(RefusedRemoval):
            allowed.classify(Path("/c") / rel)
