"""Issue 6, containment: random trees, random settings, and the one invariant that matters.

Hypothesis builds a uv cache, a repository and a directory outside both, with symlinks
in every position a removal could be led through (the cache root, an entry, a revision,
a slot, `src`, `build`, a checkout's `build`, a local source, a trash name), odd names
(spaces, unicode, newlines), trash trees of an interrupted run, and a random set of
affected packages, local directory sources (`../../..`, absolute paths, links out of
the repository) and purge modes. Between planning and deleting it may swap a planned
path for a symlink, a file or nothing, as a concurrent process could.

Issue 15 adds two positions: a file git tracks inside a local source's `build/` (the
repository is then a real git repository), and a mount inside a `build/` (a tmpfs, or a
bind mount of a directory outside, which has the same st_dev): a tree holding either
must not be removed at all. Mounts are real when this process may mount (root);
otherwise /proc/self/mountinfo is simulated, which is what the removal consults.

Then `purge.plan` + `purgeexec.execute` run, and an oracle written from the issue's text,
not from the code, checks the whole tree: every path that disappeared lies inside the
allowed set, and every other path (the outside directory included) is byte-identical.
Examples: 1,000 by default (`ENVKEY_PROPERTY_EXAMPLES` overrides).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envkey_hook.locks import LockBusy
from envkey_hook.names import canonical_name
from envkey_hook.purge import Result, Target, plan
from envkey_hook.purgeexec import execute
from envkey_hook.remove import TRASH_PREFIX, AllowedSet, RefusedRemoval, remove_tree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fd-based removal is Unix-only")

PACKAGES = ["extpkg", "other", "odd pkg", "ünïcode", "new\nline"]
AFFECTED_POOL = PACKAGES + ["Ext_Pkg"]  # normalizes to an existing entry's name? no: ext-pkg
REVS = ["NY1wkbQIK4PdmLmv", "gB4UU_kv3yz_bj0v", "rev with space", "rév\nnl"]
ODD = ["plain", "with space", "ünï", "new\nline", "-dash", "tab\tname", "x" * 40]
SHAS = [
    "8b5b5eba221b4d0d18fb0189a45c98ce4ca85ae6",
    "2ba8fb0f65be39d4a1b2c3d4e5f60718293a4b5c",
    "ffffffffffffffffffffffffffffffffffffffff",
]
# Local directory sources as a lock could name them, relative to the project (repo/app).
LOCAL_SOURCES = [
    "ext",
    "../vendor/ext two",
    "../vendor/ünï\nsrc",
    "../../outside/src",
    "../../..",
    "..",
    ".",
    "ext-link-out",
    "ext-link-in",
    "../.git",
    "{outside}/abs-src",
    "missing",
]
BUILD_KINDS = ["setuptools", "setuptools", "user", "link-out", "file", "none"]
HEX = "0123456789abcdef"


@dataclass
class World:
    """What the generator built: ground truth for the oracle."""

    base: Path
    cache: Path  # as given to the hook (may be a symlink)
    cache_real: Path
    repo: Path
    project: Path
    outside: Path
    entries: dict[Path, str] = field(default_factory=dict)  # entry path -> normalized package
    git_entries: dict[Path, bool] = field(default_factory=dict)  # git entry -> has a wheel
    made: int = 0
    real_git: bool = False  # the repository is a real git repository (tracked files)
    tracked: set[Path] = field(default_factory=set)
    mounts: list[Path] = field(default_factory=list)

    def fresh(self, prefix: str) -> Path:
        """A new name in the outside directory."""
        self.made += 1
        return self.outside / f"{prefix}-{self.made}"


def _hex(data: st.DataObject, n: int = 16) -> str:
    return data.draw(st.text(HEX, min_size=n, max_size=n))


def _wheel(path: Path, dist: str, payload: bytes | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/__init__.py", b"")
        if payload is not None:
            zf.writestr(f"{dist}/_ext.cpython-311-x86_64-linux-gnu.so", payload)


def _precious(outside: Path, name: str) -> Path:
    """A directory outside every allowed root, shaped like what the hook would delete."""
    d = outside / name
    if not d.exists():
        (d / "lib.linux-x86_64-cpython-311").mkdir(parents=True)
        (d / "lib.linux-x86_64-cpython-311" / "precious.so").write_bytes(b"never delete me")
        (d / "temp.linux-x86_64-cpython-311").mkdir()
    return d


def _build(data: st.DataObject, parent: Path, w: World) -> None:
    """`parent/build` as setuptools leaves it, as a user's directory, or a trap."""
    kind = data.draw(st.sampled_from(BUILD_KINDS), label="build")
    build = parent / "build"
    parent.mkdir(parents=True, exist_ok=True)
    if kind == "setuptools":
        odd = data.draw(st.sampled_from(ODD))
        lib = build / "lib.linux-x86_64-cpython-311" / odd
        lib.mkdir(parents=True)
        (lib / "_ext.so").write_bytes(b"stale binary")
        (build / "temp.linux-x86_64-cpython-311").mkdir()
        if data.draw(st.integers(0, 7), label="mount in build") == 0:
            _mount(data, build / "temp.linux-x86_64-cpython-311" / "mnt", w)
        if data.draw(st.booleans(), label="link inside build"):
            os.symlink(_precious(w.outside, "linked-from-inside"), lib / "escape")
    elif kind == "user":
        build.mkdir()
        (build / f"notes {data.draw(st.sampled_from(ODD))}.txt").write_text("the user's")
    elif kind == "link-out":
        os.symlink(_precious(w.outside, "build-target"), build)
    elif kind == "file":
        build.write_text("a file named build")
    if data.draw(st.integers(0, 5), label="trash") == 0:
        trash = parent / f"{TRASH_PREFIX}{_hex(data, 8)}"
        (trash / "lib.x").mkdir(parents=True, exist_ok=True)
        (trash / "lib.x" / "half-deleted").write_bytes(b"x")
    if data.draw(st.integers(0, 7), label="trash link") == 0:
        os.symlink(_precious(w.outside, "trash-link-target"), parent / f"{TRASH_PREFIX}link")


def _can_mount() -> bool:
    probe = Path(tempfile.mkdtemp())
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "none", str(probe)], capture_output=True)
        if ok.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    except OSError:
        return False
    finally:
        probe.rmdir()


REAL_MOUNTS = sys.platform == "linux" and _can_mount()
SIMULATED_MOUNTS: list[str] = []  # mountinfo's extra lines when mounting is not possible


def _mount(data: st.DataObject, where: Path, w: World) -> None:
    """A mount point at `where`: a tmpfs, or a bind mount of a directory outside."""
    where.mkdir(parents=True)
    bind = data.draw(st.booleans(), label="bind mount")
    source = _precious(w.outside, "bind-source") if bind else None
    if REAL_MOUNTS:
        args = ["--bind", str(source)] if source else ["-t", "tmpfs", "none"]
        subprocess.run(["mount", *args, str(where)], check=True)
    else:
        SIMULATED_MOUNTS.append(str(where))
    w.mounts.append(where)
    if not bind:
        (where / "on another file system").write_text("never delete me")


def _unmount(base: Path) -> None:
    """Every mount below `base`, wherever a concurrent rename (_mutate) moved it."""
    from envkey_hook.preflight import mount_points

    if REAL_MOUNTS:
        for m in sorted(mount_points() or [], reverse=True):
            if m.startswith(f"{base}/"):
                subprocess.run(["umount", "-l", m], check=False)
    SIMULATED_MOUNTS.clear()


def _track(data: st.DataObject, target: Path, w: World) -> None:
    """Maybe make git track a file of `target/build` (the issue: a vendored build/)."""
    build = target / "build"
    if not w.real_git or data.draw(st.integers(0, 3), label="track") != 0:
        return
    try:
        build.relative_to(w.repo)
    except ValueError:
        return
    if os.path.islink(build) or not build.is_dir() or ".git" in build.relative_to(w.repo).parts:
        return
    files = sorted(p for p in build.rglob("*") if p.is_file() and not p.is_symlink())
    if not files or any(m in f.parents for f in files for m in w.mounts):
        return
    f = data.draw(st.sampled_from(files), label="tracked file")
    subprocess.run(["git", "-C", str(w.repo), "add", "-f", "--", str(f)], check=True)
    w.tracked.add(f)


def _slots(data: st.DataObject, rev: Path, dist: str, w: World) -> bool:
    """Slots of one revision; True when at least one wheel was written."""
    wrote = False
    for i in range(data.draw(st.integers(0, 3), label="slots")):
        payload = data.draw(st.sampled_from([b"A", b"A", b"B", None]), label="payload")
        slot = rev / _hex(data)
        if slot.exists():
            continue
        wheel = slot / f"{dist}-0.1-cp311-cp311-linux_x86_64.whl"
        _wheel(wheel, dist, payload)
        os.utime(wheel, (1_700_000_000 + i * 60, 1_700_000_000 + i * 60))
        (slot / "metadata.msgpack").write_bytes(b"\x80")
        archive = w.cache_real / "archive-v0" / _hex(data)
        archive.mkdir(parents=True, exist_ok=True)
        (archive / "keep.txt").write_text("unpacked wheel, shared with venvs")
        os.symlink(archive, slot / f"{dist}-0.1-cp311-cp311-linux_x86_64")
        wrote = True
    trap = data.draw(st.sampled_from(["none", "none", "archive", "outside"]), label="slot link")
    if trap != "none":
        rev.mkdir(parents=True, exist_ok=True)
        target = (
            w.cache_real / "archive-v0" / "shared-archive"
            if trap == "archive"
            else _precious(w.outside, "slot-target")
        )
        target.mkdir(parents=True, exist_ok=True)
        name = rev / _hex(data)
        if not os.path.lexists(name):
            os.symlink(target, name)
    if data.draw(st.integers(0, 5), label="slot trash") == 0:
        (rev / f"{TRASH_PREFIX}{_hex(data, 8)}" / "x").mkdir(parents=True, exist_ok=True)
    return wrote


def _entry(data: st.DataObject, w: World) -> None:
    bucket = w.cache_real / data.draw(st.sampled_from(["sdists-v9", "sdists-v11"]))
    kind = data.draw(st.sampled_from(["pypi", "index", "url", "path", "editable", "git"]))
    package = canonical_name(data.draw(st.sampled_from(PACKAGES), label="package"))
    version = data.draw(st.sampled_from(["0.1", "2.0+cu1", "1 0"]))
    rel = {
        "pypi": ("pypi", package, version),
        "index": ("index", _hex(data), package, version),
        "git": ("git", _hex(data), data.draw(st.sampled_from([s[:16] for s in SHAS]))),
    }.get(kind, (kind, _hex(data)))
    path = bucket.joinpath(*rel)
    if os.path.lexists(path):
        return
    real = path
    if data.draw(st.integers(0, 6), label="entry link") == 0:
        # The entry is a symlink to a complete entry outside the cache.
        real = w.fresh(f"entry {kind}")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(real, path)
    real.mkdir(parents=True)
    (real / ".lock").touch()
    dist = package.replace("-", "_")
    revs = [real] if kind == "git" else []
    if kind != "git":
        (real / "revision.rev").write_bytes(b"\x92")
        for name in data.draw(st.lists(st.sampled_from(REVS), min_size=1, max_size=2, unique=True)):
            rev = real / name
            if data.draw(st.integers(0, 8), label="rev link") == 0:
                target = w.fresh("rev")
                os.symlink(target, rev)
                rev = target
            rev.mkdir(parents=True, exist_ok=True)
            revs.append(rev)
            src = rev / "src"
            if data.draw(st.integers(0, 8), label="src link") == 0:
                target = w.fresh("src")
                _precious(target, "build")
                os.symlink(target, src)
                continue
            src.mkdir()
            (src / "PKG-INFO").write_text(f"Metadata-Version: 2.2\nName: {package}\nVersion: 0.1\n")
            _build(data, src, w)
    wheels = False
    for rev in revs:
        wheels = _slots(data, rev, dist, w) or wheels
    if path == real:  # entries behind a symlink are not the cache's
        w.entries[path] = package
        if kind == "git":
            w.git_entries[path] = wheels


def _checkouts(data: st.DataObject, w: World) -> None:
    for _ in range(data.draw(st.integers(0, 2), label="checkouts")):
        bucket = w.cache_real / data.draw(st.sampled_from(["git-v0", "git-v2"]))
        short = data.draw(st.sampled_from([s[:7] for s in SHAS] + ["abcdef0"]))
        co = bucket / "checkouts" / _hex(data) / short
        if os.path.lexists(co):
            continue
        co.mkdir(parents=True)
        (co / "setup.py").write_text("# checkout")
        _build(data, co, w)


def _local_sources(data: st.DataObject, w: World) -> list[str]:
    """Create what the drawn local sources point at; return them as a lock names them."""
    values = data.draw(st.lists(st.sampled_from(LOCAL_SOURCES), max_size=4, unique=True))
    out = []
    for v in values:
        v = v.format(outside=w.outside)
        target = Path(os.path.normpath(w.project / v))
        if v == "ext-link-out":
            os.symlink(w.outside / "linked-src", w.project / v)
            target = w.outside / "linked-src"
        elif v == "ext-link-in":
            os.symlink(w.repo / "vendor" / "real-ext", w.project / v)
            target = w.repo / "vendor" / "real-ext"
        if v != "missing" and not (target / "build").exists():
            _build(data, target, w)
            _track(data, target, w)
        out.append(v)
    return out


def build_world(data: st.DataObject, base: Path) -> World:
    # One level down, so that `../../..` from the project lands in `base` (snapshotted).
    top = base / "w"
    outside = top / "outside"
    repo = top / "repo"
    w = World(base, top / "cache", top / "cache", repo, repo / "app", outside)
    outside.mkdir(parents=True)
    (outside / f"user data {data.draw(st.sampled_from(ODD))}").write_text("precious")
    if data.draw(st.integers(0, 9), label="cache link") == 0:
        w.cache_real = top / "cache-real"
        w.cache_real.mkdir()
        os.symlink(w.cache_real, w.cache)
    else:
        w.cache.mkdir()
    (w.cache_real / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55")
    repo.mkdir()
    if data.draw(st.booleans(), label="real git"):
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        w.real_git = True
    (repo / ".git" / "build" / "lib").mkdir(parents=True)
    w.project.mkdir()
    (w.project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    for _ in range(data.draw(st.integers(1, 6), label="entries")):
        _entry(data, w)
    _checkouts(data, w)
    return w


# --- the oracle -----------------------------------------------------------------------

Sig = tuple[str, bytes]


def snapshot(root: Path) -> dict[Path, Sig]:
    """Every path under root, never following a symlink: type and bytes (or link target)."""
    out: dict[Path, Sig] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(top) / name
            st_ = os.lstat(p)
            if os.path.islink(p):
                out[p] = ("l", os.readlink(p).encode("utf-8", "surrogateescape"))
            elif os.path.isdir(p):
                out[p] = ("d", b"")
            else:
                out[p] = ("f", hashlib.sha256(p.read_bytes()).digest() + bytes([st_.st_mode & 7]))
    return out


def _real_dir(snap: dict[Path, Sig], root: Path, path: Path) -> bool:
    """`path` is a directory reached from `root` through real directories only."""
    try:
        rel = path.relative_to(root).parts
    except ValueError:
        return False
    return all(snap.get(root.joinpath(*rel[: i + 1]), ("",))[0] == "d" for i in range(len(rel)))


def _children(snap: dict[Path, Sig], d: Path) -> list[Path]:
    return [p for p, sig in snap.items() if p.parent == d and sig[0] == "d"]


def _trash_in(snap: dict[Path, Sig], d: Path) -> set[Path]:
    return {p for p in _children(snap, d) if p.name.startswith(TRASH_PREFIX)}


def _is_hex16(name: str) -> bool:
    return len(name) == 16 and all(c in HEX for c in name)


def allowed_set(w: World, snap: dict[Path, Sig], targets: list[Target]) -> set[Path]:
    """The issue's allowed set, for this tree and these targets, written from the spec.

    In uv's cache (only when its root and every directory down are real): of an
    affected package's entries, `<rev>/src/build`, the slots `<rev>/<16 hex>`, and the
    entry itself when the package is purged whole; `build/` of the git checkouts of an
    affected commit. In the repository: `build/` of an affected local directory source.
    In each of those places, trash trees of an interrupted run.
    """
    allowed = _local_allowed(w, snap, targets)
    if snap.get(w.cache, ("",))[0] != "d":
        return allowed  # a symlinked (or swapped) cache root: nothing in it
    for t in targets:
        shas = t.git_shas
        for entry, package in w.entries.items():
            # A git entry without a wheel is the affected package's when its commit is.
            by_sha = w.git_entries.get(entry) is False and any(
                s.startswith(entry.name) for s in shas
            )
            if package != canonical_name(t.name) and not by_sha:
                continue
            if not _real_dir(snap, w.cache, entry):
                continue
            if t.whole_entries:
                allowed |= {entry} | _trash_in(snap, entry.parent)
            revs = [entry] if entry in w.git_entries else _children(snap, entry)
            for rev in revs:
                allowed |= {p for p in _children(snap, rev) if _is_hex16(p.name)}
                allowed |= _trash_in(snap, rev) | _trash_in(snap, rev / "src")
                allowed.add(rev / "src" / "build")
        for co in [p for p in snap if p.parent.parent.name == "checkouts"]:
            if _real_dir(snap, w.cache, co) and any(s.startswith(co.name) for s in shas):
                allowed |= {co / "build"} | _trash_in(snap, co)
    return allowed


def _local_allowed(w: World, snap: dict[Path, Sig], targets: list[Target]) -> set[Path]:
    """build/ of local directory sources that are inside the repository (not in .git)."""
    out: set[Path] = set()
    if snap.get(w.repo, ("",))[0] != "d":
        return out  # the repository itself was swapped for a symlink
    for d in (d for t in targets for d in t.local_dirs):
        real = Path(os.path.realpath(d))
        try:
            rel = real.relative_to(w.repo)
        except ValueError:
            continue
        if ".git" in rel.parts or not _real_dir(snap, w.repo, real):
            continue
        if any(real / "build" in t.parents for t in w.tracked):
            out |= _trash_in(snap, real)  # git tracks a file in build/: it stays
            continue
        out |= {real / "build"} | _trash_in(snap, real)
    return out


def _mounts_now(base: Path) -> list[Path]:
    """The mount points below `base` where they are now: a concurrent rename (_mutate)
    may have carried one out of the tree it was made in (or into another)."""
    from envkey_hook.preflight import mount_points

    return [Path(m) for m in mount_points() or [] if m.startswith(f"{base}/")]


def _without_mounts(allowed: set[Path], mounts: list[Path]) -> set[Path]:
    """A tree with a mount point in it when it is removed is not removed at all."""
    return {a for a in allowed if not any(m == a or a in m.parents for m in mounts)}


def _mutate(data: st.DataObject, w: World, planned: list[Path]) -> None:
    """What a concurrent process could do between plan and execute."""
    if not planned or data.draw(st.integers(0, 2), label="mutate") != 0:
        return
    victim = data.draw(st.sampled_from(planned), label="victim")
    if data.draw(st.booleans(), label="mutate parent"):
        victim = victim.parent
    if not os.path.lexists(victim):
        return
    how = data.draw(st.sampled_from(["symlink", "file", "delete"]), label="how")
    aside = w.fresh("moved aside")
    os.rename(victim, aside)  # kept (outside): it must come through untouched from here on
    if how == "symlink":
        os.symlink(_precious(w.outside, "swapped-in-target"), victim)
    elif how == "file":
        victim.write_text("swapped in")


STATS = {"examples": 0, "removed": 0, "refused": 0, "trash": 0, "mounts": 0, "tracked": 0}


@settings(
    max_examples=int(os.environ.get("ENVKEY_PROPERTY_EXAMPLES", "1000")),
    # The same examples on every run: CI's verdict must not depend on the draw;
    # ENVKEY_PROPERTY_RANDOM=1 explores new draws. (A random draw once failed on the
    # oracle: it judged mounts where they were made, not where a concurrent rename had
    # moved them by the time of the removal; test_safety_deletion has that case.)
    derandomize=os.environ.get("ENVKEY_PROPERTY_RANDOM") != "1",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def _check_containment(tmp_root: Path, data: st.DataObject) -> None:
    base = Path(tempfile.mkdtemp(dir=tmp_root)).resolve()
    try:
        w = build_world(data, base)
        sources = _local_sources(data, w)
        # Mostly packages the cache holds, so that most examples do remove something.
        pool = sorted(set(w.entries.values())) * 4 + AFFECTED_POOL
        names = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        targets = [
            Target(
                name,
                git_shas=frozenset(data.draw(st.lists(st.sampled_from(SHAS), max_size=2))),
                local_dirs=frozenset(
                    Path(os.path.normpath(w.project / v))
                    for v in (data.draw(st.lists(st.sampled_from(sources))) if sources else [])
                ),
                whole_entries=data.draw(st.booleans(), label="whole"),
            )
            for name in names
        ]
        removals, _ = plan(w.cache, targets, w.repo)
        _mutate(data, w, [r.path for r in removals])
        before = snapshot(base)
        allowed = _without_mounts(allowed_set(w, before, targets), _mounts_now(base))
        try:
            result = execute(removals, w.cache, AllowedSet(cache=w.cache, repo=w.repo), 0.5)
        except LockBusy:
            # A lock guarding an in-place build that cannot be taken (a symlinked entry):
            # nothing may have been deleted; the checks below see to it.
            result = Result()
        after = snapshot(base)

        for p, sig in before.items():
            if p not in after:
                assert any(a == p or a in p.parents for a in allowed), f"removed {p!r}"
            else:
                assert after[p] == sig, f"changed {p!r}"
        for p in after.keys() - before.keys():
            # CacheLocks creates a missing lock file as uv does, in the cache only (at
            # the target of a symlinked cache root, where uv locks it too).
            in_cache = _real_dir(before, w.cache, p.parent) or p.parent == w.cache_real
            assert p.name == ".lock" and in_cache, f"new {p!r}"
        for r in result.removed:
            assert r.path in allowed
            if r.kind == "entry" and not r.path.name.startswith(TRASH_PREFIX):
                # Emptied, its .lock kept: a uv process may hold or wait on it.
                assert sorted(os.listdir(r.path)) in ([".lock"], []), r.path
            else:
                assert not os.path.lexists(r.path)
        for t in w.tracked & before.keys():  # (_mutate may have moved it aside)
            assert after.get(t) == before[t], f"tracked file changed: {t!r}"
        STATS["examples"] += 1
        STATS["mounts"] += len(w.mounts)
        STATS["tracked"] += len(w.tracked)
        STATS["removed"] += len(result.removed)
        STATS["refused"] += len(result.refused)
        STATS["trash"] += sum(1 for r in result.removed if r.path.name.startswith(TRASH_PREFIX))
    finally:
        _unmount(base)
        shutil.rmtree(base, ignore_errors=True)


def test_every_removal_is_inside_the_allowed_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envkey_hook import preflight

    if not REAL_MOUNTS:
        real = preflight.mount_points
        monkeypatch.setattr(preflight, "mount_points", lambda: (real() or []) + SIMULATED_MOUNTS)
    STATS.update(examples=0, removed=0, refused=0, trash=0, mounts=0, tracked=0)
    _check_containment(tmp_path)
    # Not vacuous: the random trees did lead to removals, refusals and leftover cleanup,
    # and mounts and tracked files were among the positions.
    assert STATS["removed"] > STATS["examples"] // 2, STATS
    assert STATS["refused"] > 0 and STATS["trash"] > 0, STATS
    # Mounts and tracked files are rarer positions (a real repository, a local source in
    # it, then a draw in four): 1,000 examples (CI's default interpreter) always reach
    # both; a 200-example run on another interpreter may draw no tracked file.
    if STATS["examples"] >= 500:
        assert STATS["mounts"] > 0 and STATS["tracked"] > 0, STATS


def test_build_symlinked_to_the_filesystem_root_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`build -> /`: refused before any rename; a regression would fail, never delete."""
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink("/", repo / "build")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tried to delete or move: {args}")

    monkeypatch.setattr("envkey_hook.remove._rmtree_at", forbidden)
    monkeypatch.setattr("envkey_hook.remove.os.rename", forbidden)
    forbidden.avoids_symlink_attacks = True  # type: ignore[attr-defined]  # as the real one
    monkeypatch.setattr("shutil.rmtree", forbidden)  # remove.py imports it when deleting
    with pytest.raises(RefusedRemoval, match="symlink"):
        remove_tree(repo / "build", AllowedSet(repo=repo))
    removals, notices = plan(None, [Target("x", local_dirs=frozenset({repo}))], repo)
    assert removals == [] and [n.message for n in notices] == ["is a symlink: left alone"]
    assert os.readlink(repo / "build") == "/"
