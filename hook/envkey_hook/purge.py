"""What to delete for the packages whose envkey changed, and deleting it under uv's locks.

Stale build state lives in four places: the backend's `build/` in uv's shared source
tree of each cached revision, `build/` in uv's git checkouts, `build/` of local
directory sources, and polluted slots (a newer slot whose wheel repackaged the binary
of an older slot of the same revision). A run that was killed may have left trash
trees (`remove.TRASH_PREFIX`) beside them: the next plan lists them too.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Callable, NamedTuple

from envkey_hook.cache import (
    GIT_BUCKET,
    HASH_KINDS,
    SDIST_BUCKET,
    Entry,
    Slot,
    buckets,
    find_entries,
    git_checkouts,
    revisions,
    slots,
)
from envkey_hook.errors import InputError
from envkey_hook.remove import (
    find_leftovers,
    tree_size,
)

TYPE_CHECKING = False  # not typing's: planning a purge is on the changed-lock path
if TYPE_CHECKING:
    from envkey_hook.wheels import Payload

# setuptools' build/ holds only these: lib.<plat>-<tag> (`lib` for pure Python),
# temp.<plat>-<tag>, bdist.<plat>, scripts-<ver>. Anything else may be the user's
# (or shipped in the sdist), so such a build/ is left alone.
_SETUPTOOLS_OUTPUT = re.compile(r"(lib|temp|bdist)(\..+)?")
_SETUPTOOLS_ANY = re.compile(r"(lib|temp|bdist)(\..+)?|scripts-.+")


class Target(NamedTuple):
    """A package whose build environment changed, and where its sources can be."""

    name: str
    git_shas: frozenset[str] = frozenset()
    local_dirs: frozenset[Path] = frozenset()  # absolute dirs of directory/editable sources
    # Remove the package's cache entries whole (source tree and every slot), as
    # `uv cache clean <name>` would, instead of only build/ and polluted slots.
    whole_entries: bool = False
    # The hash-keyed cache kinds its lock sources can live in (cache.hash_kinds);
    # None: all of them, each entry peeked at to learn its package.
    hash_kinds: frozenset[str] | None = None
    # The runtimes its build configurations differ in, when nothing else is in its slot
    # key (reinstall.slot_runtimes); None: identical payloads are proof of pollution.
    runtimes: frozenset[str] | None = None
    # No build input of it changed here: look only for a build/ in a shared source tree
    # (another worktree or clone may have built there) last built for a configuration
    # the installed copy does not show to be this one (`installed_native`: the native
    # files of the copy installed for this configuration, from its RECORD).
    shared_only: bool = False
    installed_native: frozenset[tuple[str, str]] | None = None


class Removal(NamedTuple):
    path: Path
    kind: str  # "build-dir" | "polluted-slot" | "checkout-build" | "local-build" | "entry"
    package: str
    entry: Path | None  # the cache entry whose .lock must be held, if any
    size: int
    detail: str
    # More entries whose .lock must be held: uv builds a local directory in place
    # under the lock of its `path/` or `editable/` entry.
    extra_locks: tuple[Path, ...] = ()


class Notice(NamedTuple):
    """Something that looks stale but was left alone.

    `blocking`: stale build state stays where uv will use it, so the run has not
    succeeded (exit 1, state not recorded); `fix` is the command that clears it.
    """

    package: str
    path: Path
    message: str
    blocking: bool = False
    fix: str | None = None


# Plans again under the locks: (removals, notices). It may record what the removals
# imply (a reinstall due) before they happen.
Replan = Callable[[], "tuple[list[Removal], list[Notice]]"]


class Result:
    """What `execute` removed, freed and was refused."""

    def __init__(self) -> None:
        self.removed: list[Removal] = []
        self.freed = 0
        self.refused: list[tuple[Removal, str]] = []
        # Renamed out of uv's sight but not fully deleted: the next run finishes them.
        self.partial: list[tuple[Removal, str]] = []
        # The notices of the plan made under the locks (execute's `replan`), if any.
        self.planned: list[Notice] | None = None

    def notices(self) -> list[Notice]:
        """What was refused or half done, as notices (with what clears it)."""
        found = [refusal_notice(r, why) for r, why in self.refused]
        for r, why in self.partial:
            msg = f"renamed away but not fully deleted ({why}): `envkey-hook run` retries"
            found.append(Notice(r.package, r.path.parent, msg))
        return found


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def clear_build_command(build: Path) -> str | None:
    """`rm -rf` of the setuptools output in `build` (what makes it stale), if any; never
    for a path reached through a symlink (a hint must not delete where a link points)."""
    if os.path.realpath(build) != os.path.abspath(build):
        return None
    try:
        with os.scandir(build) as it:
            names = sorted(e.name for e in it if _SETUPTOOLS_ANY.fullmatch(e.name))
    except OSError:
        return None
    if not names:
        return None
    return "rm -rf -- " + " ".join(_quote(build / n) for n in names)


def refusal_notice(r: Removal, why: str) -> Notice:
    """A removal that did not happen: its stale state stays; say what clears it."""
    if r.kind == "local-build" and "mount" not in why:
        fix = clear_build_command(r.path)
    elif r.kind == "local-build":
        fix = None  # a mount in it: the user decides; rm -rf would cross it
    else:
        fix = f"uv cache clean {r.package}"
    return Notice(r.package, r.path, f"refused: {why}", blocking=True, fix=fix)


def is_setuptools_build_dir(path: Path) -> bool:
    """A real directory holding setuptools output, and nothing else."""
    try:
        with os.scandir(path) as it:
            names = [e.name for e in it]
    except OSError:
        return False
    return any(_SETUPTOOLS_OUTPUT.fullmatch(n) for n in names) and all(
        _SETUPTOOLS_ANY.fullmatch(n) for n in names
    )


def _build_dir(
    path: Path, kind: str, package: str, entry: Path | None, detail: str
) -> Removal | Notice | None:
    """A Removal for a setuptools build directory at `path`, a Notice if it is something else."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        # setuptools follows the link and reuses what is there; no command is offered:
        # an `rm` through a link pointing anywhere (`build -> /`) is not a hint to give.
        stale = is_setuptools_build_dir(path)
        return Notice(package, path, "is a symlink: left alone", stale)
    if not stat.S_ISDIR(mode):
        return None
    if not is_setuptools_build_dir(path):
        if not os.path.isdir(path):
            return None  # removed meanwhile (another run, `uv cache clean`)
        fix = clear_build_command(path)
        msg = "not a setuptools build directory: left alone"
        if fix is None:
            return Notice(package, path, msg)  # no setuptools output in it: nothing stale
        return Notice(package, path, msg + " (it holds stale setuptools output)", True, fix)
    return Removal(path, kind, package, entry, tree_size(path), detail)


def find_polluted(
    entries: Iterable[Entry], runtimes: frozenset[str] | None = None
) -> tuple[list[Removal], list[Notice]]:
    """Slots whose compiled payload is identical to an older slot's built in the same tree.

    The oldest slot of such a group was compiled in a clean tree; the newer ones of
    another build configuration repackaged its binary. They are removed, except a
    wheel filed directly in the revision (empty build configuration), which is only
    reported. A revision's slots share its `src/`; a local directory's slots share
    the directory itself, whichever revision (a new one when its files change)
    they are filed under. When the configurations differ only in `runtimes` whose
    headers are the same in every version uv holds, a correct rebuild is identical
    too (a patch release): that is not pollution.
    """
    found: list[Removal | Notice] = []
    for entry in entries:
        revs = revisions(entry)
        if _built_in_place(entry, revs):
            found += _polluted_among(entry, [s for rev in revs for s in slots(rev)], runtimes)
        else:
            for rev in revs:
                found += _polluted_among(entry, slots(rev), runtimes)
    return (
        [f for f in found if isinstance(f, Removal)],
        [f for f in found if isinstance(f, Notice)],
    )


def _built_in_place(entry: Entry, revs: list[Path]) -> bool:
    """A local directory's entry: no revision has a source tree of its own (an archive's do)."""
    return entry.kind in ("path", "editable") and not any((r / "src").is_dir() for r in revs)


def _digest(slot: Slot) -> str:
    """The build configuration a slot is filed under ("" for the empty one)."""
    return "" if slot.is_root else slot.path.name


def compiles_alike(cache: Path, runtimes: frozenset[str] | None, configurations: int) -> bool:
    """Whether builds for `configurations` configurations that differ only in the
    versions of `runtimes` read the same headers, so that identical binaries are right.

    Decided from the copies uv holds unpacked (archive-v*): every one must have headers,
    all the same, and there must be enough versions to tell the configurations apart;
    anything less leaves the identical payload as proof of pollution.
    """
    if not runtimes or configurations < 2:
        return False
    from envkey_hook.wheels import header_trees

    trees = header_trees(cache, runtimes)
    spare = 0
    for name in runtimes:
        versions = trees.get(name, {})
        every = set().union(*versions.values()) if versions else set()
        if len(every) != 1 or not next(iter(every)):
            return False  # missing, without headers, or headers that differ
        spare += len(versions) - 1
    return spare >= configurations - 1


def _polluted_among(
    entry: Entry, candidates: list[Slot], runtimes: frozenset[str] | None = None
) -> list[Removal | Notice]:
    from envkey_hook.wheels import compiled_payload  # zipfile: only once there are slots

    found: list[Removal | Notice] = []
    groups: dict[Payload, list[Slot]] = {}
    for slot in candidates:
        if slot.wheel is None:
            continue
        payload = compiled_payload(slot.wheel)
        if payload is None and not os.path.lexists(slot.wheel):
            continue  # removed meanwhile (another run, `uv cache clean`)
        if payload is None:
            found.append(Notice(entry.package, slot.wheel, "unreadable wheel: not compared"))
        elif payload:  # pure-Python wheels have nothing to go stale
            groups.setdefault(payload, []).append(slot)
    for group in groups.values():
        configurations = len({_digest(s) for s in group})
        if configurations > 1 and compiles_alike(entry.bucket.parent, runtimes, configurations):
            continue  # a correct rebuild is byte-identical: nothing was repackaged
        oldest, *newer = sorted(group, key=lambda s: (s.created, str(s.path)))
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(oldest.created))
        name = oldest.wheel.name if oldest.is_root and oldest.wheel else oldest.path.name
        detail = f"identical payload to slot {name} (built {built})"
        for slot in newer:
            if _digest(slot) == _digest(oldest):
                continue  # the same configuration in another revision: the same binary is right
            if slot.is_root:
                found.append(
                    Notice(entry.package, slot.wheel or slot.path, f"{detail}: left alone")
                )
            else:
                size = tree_size(slot.path)
                found.append(
                    Removal(slot.path, "polluted-slot", entry.package, entry.path, size, detail)
                )
    return found


def _checkout_entry(checkout: Path, entries: list[Entry], shas: Iterable[str]) -> Path | None:
    """The sdist git entry built from this checkout: both names prefix the same commit."""
    for sha in shas:
        if sha.startswith(checkout.name):
            for e in entries:
                if e.kind == "git" and sha.startswith(e.path.name):
                    return e.path
    return None


def _local_build(
    d: Path, package: str, repo_root: Path, locks: tuple[Path, ...]
) -> list[Removal | Notice | None]:
    build = d / "build"
    try:
        rel = d.resolve(strict=True).relative_to(repo_root.resolve(strict=True))
    except (OSError, ValueError):
        if not os.path.lexists(build):
            return []
        return [Notice(package, build, "source directory outside the repository: left alone")]
    # Spelled under repo_root so that the removal's root check sees no symlink.
    here = repo_root / rel
    detail = f"in-place build directory of {d}"
    found = [_build_dir(here / "build", "local-build", package, None, detail)]
    found += _leftovers(here, "local-build", package, None)
    return [f._replace(extra_locks=locks) if isinstance(f, Removal) else f for f in found]


def _leftovers(directory: Path, kind: str, package: str, entry: Path | None) -> list[Removal]:
    """Trash trees a killed run left where it removes `kind`, reported as what they were
    (a polluted slot half removed still needs the reinstall hint)."""
    return [
        Removal(t, kind, package, entry, tree_size(t), "left behind by an interrupted run")
        for t in find_leftovers(directory)
    ]


def _whole_entry(e: Entry) -> Removal:
    detail = f"whole {e.kind} cache entry (source tree and every slot)"
    return Removal(e.path, "entry", e.package, e.path, tree_size(e.path), detail)


def _in_entries(
    entries: list[Entry], runtimes: frozenset[str] | None = None
) -> list[Removal | Notice | None]:
    """build/ of each revision's shared source tree, and polluted slots."""
    found: list[Removal | Notice | None] = []
    for e in entries:
        for rev in revisions(e):
            detail = f"build directory of the shared source tree of revision {rev.name}"
            found.append(_build_dir(rev / "src" / "build", "build-dir", e.package, e.path, detail))
            found += _leftovers(rev / "src", "build-dir", e.package, e.path)
            found += _leftovers(rev, "polluted-slot", e.package, e.path)
    polluted, seen = find_polluted(entries, runtimes)
    return [*found, *polluted, *seen]


def _symlinked(cache: Path, package: str, kinds: Iterable[str]) -> list[Notice]:
    from envkey_hook import cachelinks

    return [
        Notice(
            package,
            link,
            cachelinks.message(package),
            True,
            cachelinks.clean_command(package, link),
        )
        for link in cachelinks.symlinked_parts(cache, package, frozenset(kinds))
    ]


def _stale_shared_builds(cache: Path, entries: list[Entry], t: Target) -> list[Removal]:
    """build/ of shared source trees whose newest slot is not shown to be `t`'s build.

    The newest slot of a tree is the configuration its build/ was last built for. Git
    history and a per-worktree record cannot see what another checkout built there;
    the cache can. When the copy installed for this configuration holds the newest
    slot's binary, build/ is this configuration's; otherwise it is stale for it.
    """
    found: list[Removal] = []
    trees: list[tuple[Path, str, Entry, Path]] = []  # (source tree, kind, entry, slots dir)
    for e in entries:
        if e.kind == "git":
            for co in git_checkouts(cache, t.git_shas):
                if _checkout_entry(co, [e], sorted(t.git_shas)) == e.path:
                    trees.append((co, "checkout-build", e, e.path))
        elif not _built_in_place(e, revisions(e)):
            trees += [(rev / "src", "build-dir", e, rev) for rev in revisions(e)]
    for tree, kind, e, rev in trees:
        built = [s for s in slots(rev) if s.wheel is not None]
        if not built or not os.path.isdir(tree / "build"):
            continue
        newest = max(built, key=lambda s: (s.created, str(s.path)))
        if newest.wheel is not None and t.installed_native is not None:
            from envkey_hook.wheels import wheel_native_record

            if wheel_native_record(newest.wheel) == t.installed_native:
                continue  # built/ holds the build of the installed configuration
        detail = (
            f"build directory of a shared source tree, last built for slot {newest.path.name}, "
            "which the installed copy does not show to be this configuration"
        )
        r = _build_dir(tree / "build", kind, e.package, e.path, detail)
        if isinstance(r, Removal):
            found.append(r)
    return found


def check_cache_readable(cache: Path) -> None:
    """InputError when uv's cache (or a bucket in it) cannot be listed: an unreadable
    cache would otherwise look like one with nothing stale in it."""
    try:
        os.scandir(cache).close()
    except FileNotFoundError:
        return  # no cache yet: nothing in it can be stale
    except NotADirectoryError:
        raise InputError(cache, "uv's cache directory is not a directory") from None
    except OSError as exc:
        raise InputError(cache, f"cannot read uv's cache: {exc.strerror or exc}") from None
    for d in buckets(cache, SDIST_BUCKET) + buckets(cache, GIT_BUCKET):
        try:
            os.scandir(d).close()
        except OSError as exc:
            raise InputError(d, f"cannot read uv's cache: {exc.strerror or exc}") from None


def plan(
    cache: Path | None, targets: Sequence[Target], repo_root: Path
) -> tuple[list[Removal], list[Notice]]:
    """Everything to remove for `targets`, and what was seen but left alone."""
    found: list[Removal | Notice | None] = []
    if cache is not None:
        check_cache_readable(cache)
    for t in targets:
        entries: list[Entry] = []
        if cache is not None:
            kinds = HASH_KINDS if t.hash_kinds is None else t.hash_kinds
            entries = find_entries(cache, t.name, t.git_shas, kinds)
            if t.shared_only:
                found += _stale_shared_builds(cache, entries, t)
                continue
            if t.whole_entries:
                found += [_whole_entry(e) for e in entries]
                for parent in sorted({e.path.parent for e in entries}):
                    found += _leftovers(parent, "entry", t.name, None)
            else:
                found += _in_entries(entries, t.runtimes)
            found += _symlinked(cache, t.name, kinds)
            for co in git_checkouts(cache, t.git_shas):
                entry = _checkout_entry(co, entries, sorted(t.git_shas))
                detail = f"build directory of git checkout {co.name}"
                found.append(_build_dir(co / "build", "checkout-build", t.name, entry, detail))
                found += _leftovers(co, "checkout-build", t.name, entry)
        local_locks = tuple(e.path for e in entries if e.kind in ("path", "editable"))
        for d in sorted(t.local_dirs):
            found += _local_build(d, t.name, repo_root, local_locks)
    removals: dict[Path, Removal] = {}
    for f in found:
        if isinstance(f, Removal):
            # One commit's checkout can serve two packages: list each path once.
            removals.setdefault(f.path, f)
    return list(removals.values()), [f for f in found if isinstance(f, Notice)]
