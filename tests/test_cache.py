"""Locating a package's entries in uv's cache without walking it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envkey_hook.cache import Entry, find_entries, git_checkouts, revisions, slots
from fakecache import add_slot, entry, polluted_entry

SHA = "8b5b5eba221b4d0d18fb0189a45c98ce4ca85ae6"


def paths(entries: list[Entry]) -> set[Path]:
    return {e.path for e in entries}


def test_pypi_and_index_entries_in_every_bucket_version(tmp_path: Path) -> None:
    old = entry(tmp_path, "pypi", bucket="sdists-v10")
    new = entry(tmp_path, "pypi", bucket="sdists-v11")
    idx = entry(tmp_path, "index")
    (tmp_path / "sdists-v11" / "pypi" / "extpkg" / "0.2").mkdir()
    entry(tmp_path, "pypi", name="other")
    (tmp_path / "sdists-vX").mkdir()  # not a bucket
    found = find_entries(tmp_path, "extpkg")
    assert paths(found) == {old, new, idx, new.parent / "0.2"}
    assert {e.kind for e in found} == {"pypi", "index"}
    assert all(e.package == "extpkg" and e.bucket.name.startswith("sdists-v") for e in found)


def test_normalized_names(tmp_path: Path) -> None:
    e = entry(tmp_path, "pypi", name="fast-jl")
    assert paths(find_entries(tmp_path, "fast-jl")) == {e}
    u = entry(tmp_path, "url", name="x")
    add_slot(u / "rev", "0123456789abcdef", dist="Fast_JL")
    assert paths(find_entries(tmp_path, "fast-jl")) == {e, u}


@pytest.mark.parametrize("kind", ["url", "path", "editable"])
def test_hash_keyed_entries_by_wheel_name(tmp_path: Path, kind: str) -> None:
    mine = entry(tmp_path, kind, name="extpkg")
    add_slot(mine / "rev1", "0123456789abcdef")
    other = entry(tmp_path, kind, name="other")
    add_slot(other / "rev1", "0123456789abcdef", dist="other")
    found = find_entries(tmp_path, "extpkg")
    assert [(e.kind, e.path) for e in found] == [(kind, mine)]


def test_hash_keyed_entry_by_pkg_info_or_pyproject(tmp_path: Path) -> None:
    a = entry(tmp_path, "url", name="a")
    (a / "rev" / "src").mkdir(parents=True)
    (a / "rev" / "src" / "PKG-INFO").write_text(
        "Metadata-Version: 2.2\nName: Ext_Pkg\nVersion: 1\n"
    )
    b = entry(tmp_path, "path", name="b")
    (b / "rev" / "src").mkdir(parents=True)
    (b / "rev" / "src" / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nname = "nope"\n\n[project]\nname = "ext-pkg"\n'
    )
    c = entry(tmp_path, "path", name="c")
    (c / "rev" / "src").mkdir(parents=True)
    (c / "rev" / "src" / "pyproject.toml").write_text('[tool.x]\nname = "ext-pkg"\n')
    assert paths(find_entries(tmp_path, "ext-pkg")) == {a, b}


def test_git_entries_by_name_or_by_locked_sha(tmp_path: Path) -> None:
    by_name = entry(tmp_path, "git")
    add_slot(by_name, "0123456789abcdef")
    assert paths(find_entries(tmp_path, "extpkg")) == {by_name}

    bare = tmp_path / "sdists-v11" / "git" / "aaaaaaaaaaaaaaaa" / SHA[:16]
    bare.mkdir(parents=True)  # no wheel yet: only the commit identifies it
    assert paths(find_entries(tmp_path, "extpkg", {SHA})) == {by_name, bare}
    assert paths(find_entries(tmp_path, "extpkg", {"f" * 40})) == {by_name}

    # Same commit, another package of the same repository: not ours.
    other = tmp_path / "sdists-v11" / "git" / "bbbbbbbbbbbbbbbb" / SHA[:16]
    add_slot(other, "0123456789abcdef", dist="sibling")
    assert other not in paths(find_entries(tmp_path, "extpkg", {SHA}))


def test_git_checkouts_by_sha_prefix(tmp_path: Path) -> None:
    repo = tmp_path / "git-v2" / "checkouts" / "3e815980bd78015e"
    (repo / SHA[:7]).mkdir(parents=True)
    (repo / f"{SHA[:7]}.ok").touch()
    (repo / "0000000").mkdir()
    old = tmp_path / "git-v1" / "checkouts" / "3e815980bd78015e" / SHA[:7]
    old.mkdir(parents=True)
    (repo / SHA[:3]).mkdir()  # too short to identify anything
    assert set(git_checkouts(tmp_path, {SHA})) == {repo / SHA[:7], old}
    assert git_checkouts(tmp_path, set()) == []


def test_revisions_skip_files_and_dot_names(tmp_path: Path) -> None:
    e = entry(tmp_path, "index")
    (e / "NY1wkbQIK4PdmLmv").mkdir()
    (e / "-dflgZdBkFbcGBA7").mkdir()
    (e / ".envkey-hook-trash-1234").mkdir()
    os.symlink(e / "NY1wkbQIK4PdmLmv", e / "linked")
    ent = Entry(e.parents[3], "index", e, "extpkg")
    assert revisions(ent) == [e / "-dflgZdBkFbcGBA7", e / "NY1wkbQIK4PdmLmv"]
    g = entry(tmp_path, "git")
    assert revisions(Entry(tmp_path / "sdists-v11", "git", g, "extpkg")) == [g]


def test_slots_with_root_wheel_and_mtimes(tmp_path: Path) -> None:
    tree = polluted_entry(tmp_path)
    rev = tree["rev"]
    add_slot(rev, "", mtime=1_600_000_000)  # empty build configuration
    (rev / "fedcba9876543210").mkdir()  # interrupted build: no wheel
    got = {s.path.name: s for s in slots(rev)}
    assert set(got) == {rev.name, "cace87155b165d5b", "81a196cb5a99c968", "fedcba9876543210"}
    assert got[rev.name].is_root and got[rev.name].created == 1_600_000_000
    assert got["cace87155b165d5b"].created == 1_700_000_000
    assert not got["81a196cb5a99c968"].is_root
    assert got["fedcba9876543210"].wheel is None


def test_cost_depends_on_the_package_not_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the package's own directories and hash-keyed entries' small dirs are listed."""
    polluted_entry(tmp_path, "index")
    for i in range(50):
        e = entry(tmp_path, "pypi", name=f"noise{i}")
        add_slot(e / "rev", "0123456789abcdef", dist=f"noise{i}")
    (tmp_path / "wheels-v5" / "pypi" / "numpy").mkdir(parents=True)
    listed: list[str] = []
    real = os.scandir

    def spy(path: object = ".") -> object:
        listed.append(str(path))
        return real(path)  # type: ignore[call-overload]

    monkeypatch.setattr("envkey_hook.cache.os.scandir", spy)
    assert len(find_entries(tmp_path, "extpkg")) == 1
    assert not [p for p in listed if "noise" in p or "wheels-v5" in p or "archive-v0" in p]
