"""A registry package's purge never looks into url/, path/, editable/ or git/ entries.

Those entries are hash-keyed: each one is peeked at to learn its package, so their
number, not the package, would set the cost of every purge (issue 5, "Scale").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envkey_hook import cache, purge
from envkey_hook.cache import HASH_KINDS, find_entries, hash_kinds
from envkey_hook.config import Config
from envkey_hook.lockfile import Lock, LockedPackage
from envkey_hook.run import ProjectState, _targets
from envkey_hook.settings import Settings
from fakecache import entry, polluted_entry


@pytest.mark.parametrize(
    ("sources", "kinds"),
    [
        (["registry"], set()),
        (["url"], {"url"}),
        (["path"], {"path"}),
        (["directory"], {"path", "editable"}),
        (["editable"], {"path", "editable"}),
        (["git"], {"git"}),
        (["registry", "git"], {"git"}),
        (["something-new"], set(HASH_KINDS)),  # unknown to us: look everywhere
    ],
)
def test_hash_kinds_of_lock_sources(sources: list[str], kinds: set[str]) -> None:
    assert hash_kinds(sources) == kinds


def test_registry_package_skips_hash_keyed_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    polluted_entry(tmp_path, "pypi")
    for kind in ("url", "path", "editable"):
        entry(tmp_path, kind, name=f"other-{kind}")
    listed: list[str] = []
    real = os.scandir

    def spy(path: object = ".") -> object:
        listed.append(str(path))
        return real(path)  # type: ignore[call-overload]

    monkeypatch.setattr("envkey_hook.cache.os.scandir", spy)
    found = find_entries(tmp_path, "extpkg", kinds=hash_kinds(["registry"]))
    assert [e.kind for e in found] == ["pypi"]
    buckets = [tmp_path / "sdists-v11" / k for k in HASH_KINDS]
    assert not [p for p in listed if any(p.startswith(str(b)) for b in buckets)]


def test_default_still_looks_everywhere(tmp_path: Path) -> None:
    polluted_entry(tmp_path, "url")
    assert [e.kind for e in find_entries(tmp_path, "extpkg")] == ["url"]
    assert find_entries(tmp_path, "extpkg", kinds=hash_kinds(["registry"])) == []


def _state(*packages: LockedPackage) -> ProjectState:
    return ProjectState(Lock("uv.lock", 1, 3, None, packages), Settings(), Config())


def test_targets_carry_the_kinds_of_both_states(tmp_path: Path) -> None:
    old = _state(LockedPackage("extpkg", "1.0", (("registry", "https://pypi.org/simple"),)))
    new = _state(LockedPackage("extpkg", "1.1", (("url", "https://x.invalid/e.tar.gz"),)))
    (target,) = _targets(tmp_path, [old, new], {"extpkg"}, set())
    assert target.hash_kinds == {"url"}


def test_plan_passes_the_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def spy(root: Path, name: str, shas: object = (), kinds: object = HASH_KINDS) -> list[object]:
        seen.append(kinds)
        return []

    monkeypatch.setattr(purge, "find_entries", spy)
    purge.plan(tmp_path, [purge.Target("extpkg", hash_kinds=frozenset())], tmp_path)
    purge.plan(tmp_path, [purge.Target("extpkg")], tmp_path)
    assert seen == [frozenset(), cache.HASH_KINDS]
