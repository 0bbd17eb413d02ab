"""`envkey-hook run`: compare two states of a project, then purge what went stale."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from envkey_hook import gitstate
from envkey_hook.buildenv import settle
from envkey_hook.config import Config, parse_config
from envkey_hook.envinputs import is_env_label
from envkey_hook.envkey import (
    Change,
    EnvKey,
    all_as_changed,
    compute_envkeys,
    diff_envkeys,
)
from envkey_hook.errors import InputError
from envkey_hook.installplan import UNKNOWN
from envkey_hook.lockfile import Lock, read_lock_chunks
from envkey_hook.settings import ProjectReader, Settings, load_settings

if TYPE_CHECKING:
    from envkey_hook.hints import Hint
    from envkey_hook.purge import Notice, Removal, Target

# A polluted slot or a whole entry: the installed copy may hold the stale binary, and
# a plain `uv sync` would keep it. (A build/ removed before the sync needs nothing more.)
_NEEDS_REINSTALL = ("polluted-slot", "entry")


class Options(NamedTuple):
    project: Path
    from_ref: str = "HEAD"
    to_ref: str = gitstate.WORKTREE
    cache_dir: str | None = None
    dry_run: bool = False
    all: bool = False
    lock_timeout: float = 10.0
    state: bool = True  # also compare with the recorded state (state.py), and update it
    save_state: bool = True  # False: the caller records it later (sync, once uv succeeded)
    # A cache named explicitly (--cache-dir, UV_CACHE_DIR, cache-dir) must exist: a typo
    # would be "reconciled" while the real cache stays stale. `sync` lets uv create it.
    cache_must_exist: bool = True
    python: str | None = None  # `--python`: the interpreter to evaluate markers for


class Outcome:
    """What one run found and did, for one project; rendered by `report`."""

    def __init__(self, project: str, baseline: str, target: str, dry_run: bool = False) -> None:
        self.project = project
        self.baseline = baseline
        self.target = target
        self.dry_run = dry_run
        self.changes: list[Change] = []
        self.removals: list[Removal] = []
        self.notices: list[Notice] = []
        self.message: str | None = None  # why nothing was compared, if so
        self.busy: str | None = None  # a uv lock that was not free: nothing was deleted
        self.strict = False  # `[tool.envkey-hook] strict`: hooks exit non-zero on problems
        # The target's envkeys, for `sync` to record once `uv sync` succeeded.
        self.envkeys: dict[str, EnvKey] = {}
        # The fingerprint the environment inputs in `envkeys` were observed under.
        self.env_key: list[str] | None = None
        self.cache: Path | None = None  # the uv cache compared and purged
        # Set when the requirements changed but the lock did not (lockcheck.py): what the
        # next sync builds is unknown until `uv lock`; nothing is recorded.
        self.lock_out_of_date: str | None = None
        self.hint: Hint | None = None  # the TOML for `migrations`, merged into the project's
        # Installed copies a plain `uv sync` would keep although they may be stale
        # (reinstall.py): found in the environment now, or recorded by an earlier run.
        self.stale_installs: list[str] = []

    @property
    def reinstall(self) -> list[str]:
        """Packages whose installed copy may be stale: the user must reinstall them."""
        if self.busy or self.dry_run:
            return []
        stale = {r.package for r in self.removals if r.kind in _NEEDS_REINSTALL}
        # Installed with another compiler or toolkit, cached or not: it must be rebuilt.
        stale |= {c.package for c in self.changes if is_env_label(c.input)}
        # Installed copies a plain `uv sync` keeps although they may be stale.
        stale |= set(self.stale_installs)
        return sorted(stale)

    @property
    def migrations(self) -> list[tuple[str, str]]:
        """(package, runtime) pairs uv cannot key by runtime version until the user opts in."""
        from envkey_hook.config import BUILD_TOOLS  # a tool the user watches: not a runtime

        def unkeyed_now(c: Change) -> bool:
            # A change is unkeyed when either state leaves it out of uv's key; the hint is
            # about the target only: a commit that opted in has nothing left to paste.
            key = self.envkeys.get(c.package)
            return key is None or c.input in key.unkeyed

        return sorted(
            {
                (c.package, c.input)
                for c in self.changes
                if not c.keyed
                and " " not in c.input
                and not is_env_label(c.input)
                and c.input not in BUILD_TOOLS
                and unkeyed_now(c)
            }
        )

    @property
    def left_stale(self) -> list[Notice]:
        """Stale build state left where uv will use it (refused, symlinked, foreign)."""
        return [n for n in self.notices if n.blocking]

    @property
    def next_command(self) -> str | None:
        if self.busy:
            return "envkey-hook run"  # again, once uv has finished
        if self.lock_out_of_date:
            return "uv lock"  # a sync now would relock and build in the old objects
        if not self.reinstall:
            return None
        return "uv sync " + " ".join(f"--reinstall-package {p}" for p in self.reinstall)

    @property
    def exit_code(self) -> int:
        stale = self.left_stale or self.lock_out_of_date
        if self.busy or self.reinstall or stale or (self.dry_run and self.removals):
            return 1
        return 0


class ProjectState(NamedTuple):
    lock: Lock
    settings: Settings
    config: Config


def _project_relpath(root: Path, project: Path) -> str:
    rel = project.relative_to(root).as_posix()
    return "" if rel == "." else rel


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def read_state(
    root: Path, rel: str, files: gitstate.Source, label: str, like: ProjectState | None = None
) -> ProjectState | None:
    """Lock and settings of the project in one state; None when it has no uv.lock.

    `like`: the other state of a comparison, whose identical lock blocks are not reread.
    The lock is read in pieces: a large one would otherwise be the most memory the run
    takes.
    """
    lock_rel = _join(rel, "uv.lock")
    chunks = files.chunks(lock_rel)
    if chunks is None:
        return None
    where = lock_rel if label == gitstate.WORKTREE else f"{label}:{lock_rel}"
    lock = read_lock_chunks(
        chunks, where, like.lock if like is not None else None, lambda: files.read(lock_rel) or b""
    )
    settings = load_settings(root, rel, files.read, os.environ)
    return ProjectState(lock, settings, _read_config(files.read, _join(rel, "pyproject.toml")))


def _read_config(read: ProjectReader, relpath: str) -> Config:
    data = read(relpath)
    if data is None or b"envkey-hook" not in data:
        return Config()  # skip a second TOML parse when there is no table
    from envkey_hook.tomlcompat import loads

    return parse_config(loads(data, relpath), relpath)


def _whole_entries(changes: list[Change], config: Config) -> set[str]:
    """Packages whose whole cache entries must go, not just `build/`.

    When only inputs that uv's slot key cannot see moved, uv would reinstall the
    very same cached wheel, so the slots themselves are stale.
    """
    if config.purge == "entries":
        return {c.package for c in changes}
    if config.purge == "build-dirs":
        return set()
    keyed = {c.package for c in changes if c.keyed}
    return {c.package for c in changes if c.package not in keyed}


def _targets(
    project_dir: Path,
    states: list[ProjectState],
    packages: set[str],
    whole: set[str],
    keys: dict[str, EnvKey] | None = None,  # the target's: what its configurations differ in
) -> list[Target]:
    """Where each affected package's build state can live, from every state's lock."""
    from envkey_hook.cache import hash_kinds
    from envkey_hook.purge import Target
    from envkey_hook.reinstall import slot_runtimes

    shas: dict[str, set[str]] = {p: set() for p in packages}
    dirs: dict[str, set[Path]] = {p: set() for p in packages}
    kinds: dict[str, set[str]] = {p: set() for p in packages}
    for state in states:
        for pkg in state.lock.packages:
            if pkg.name not in packages:
                continue
            kinds[pkg.name].add(pkg.source_kind)
            if pkg.source_kind == "git" and "#" in pkg.source_value:
                shas[pkg.name].add(pkg.source_value.rsplit("#", 1)[1])
            elif pkg.source_kind in ("directory", "editable"):
                dirs[pkg.name].add(Path(os.path.normpath(project_dir / pkg.source_value)))
    return [
        Target(
            p,
            frozenset(shas[p]),
            frozenset(dirs[p]),
            whole_entries=p in whole,
            hash_kinds=hash_kinds(kinds[p]),  # never walk url/, path/... for a registry package
            runtimes=slot_runtimes(keys[p]) if keys and p in keys else None,
        )
        for p in sorted(packages)
    ]


def run(opts: Options) -> Outcome:
    """Detect envkey changes between two states and purge their stale build state."""
    project = opts.project.resolve()
    root = gitstate.find_repo_root(project)
    if root is None:
        raise InputError(project, "not inside a git repository (run `git init`, or pass --project)")
    rel = _project_relpath(root, project)
    outcome = Outcome(str(project), opts.from_ref, opts.to_ref, dry_run=opts.dry_run)
    with gitstate.open_repo(root) as repo:
        new, old = _read_states(opts, repo, root, rel, project)
        if old is not None and old.lock._key()[1:] == new.lock._key()[1:]:  # but the label
            # Reported as the run's message (text and --json), acted on by the fields.
            outcome.message = outcome.lock_out_of_date = _stale_lock(opts, repo, rel)

    from envkey_hook import target

    venv = os.environ.get("UV_PROJECT_ENVIRONMENT") or str(project / ".venv")
    tgt = target.find(project, project / venv, opts.python, os.environ)
    warning = target.unsatisfied(new.lock.requires_python, tgt, _join(rel, "uv.lock"))
    if warning:
        import sys

        print(warning, file=sys.stderr)
    env = tgt.env
    settings_file = _join(rel, "pyproject.toml")
    watch = new.config.watch
    outcome.strict = new.config.strict
    cache = cache_for(opts, new.settings, project)
    outcome.cache = cache
    from envkey_hook.installed import lookup

    installed = lookup(project / venv)
    lock_keys = compute_envkeys(
        new.lock, new.settings, env, settings_file, watch, UNKNOWN, installed
    )
    new_keys, outcome.env_key = _with_env_inputs(opts, project, root, new, lock_keys, cache)
    outcome.envkeys = new_keys
    recorded = _recorded(opts, root, project, cache)

    if old is None:
        if not opts.all and recorded is None:
            outcome.message = (
                f"no baseline: {_join(rel, 'uv.lock')} is not in {opts.from_ref}, nothing "
                "compared (pass --all to purge every source-built package)"
            )
            _record(opts, outcome, root, project, recorded)
            return outcome
        outcome.changes = all_as_changed(new_keys.values()) if opts.all else []
        states = [new]
    else:
        old_keys = compute_envkeys(
            old.lock, old.settings, env, settings_file, watch, UNKNOWN, installed
        )
        outcome.changes = settle(diff_envkeys(old_keys, new_keys), new_keys)
        states = [old, new]
        if opts.all:  # every source-built package, whatever changed
            changed = {c.package for c in outcome.changes}
            outcome.changes += [
                c for c in all_as_changed(new_keys.values(), "--all") if c.package not in changed
            ]
    if recorded is not None:
        from envkey_hook.state import union_changes

        since = settle(diff_envkeys(recorded, new_keys), new_keys)
        outcome.changes = union_changes(outcome.changes, since)

    affected = {c.package for c in outcome.changes}
    # (With a lock uv is about to replace, the configuration is unknown: nothing shared.)
    shared = set() if outcome.lock_out_of_date else _with_slot_inputs(new_keys, affected)
    if affected or shared:
        _purge(outcome, opts, project, root, states, new, affected, shared, cache)
    _check_installs(outcome, opts, root, project, recorded)
    if outcome.migrations:
        from envkey_hook import hints

        with gitstate.open_repo(root) as repo:
            files = gitstate.ref_source(repo, opts.to_ref)
            if files is not None:
                outcome.hint = hints.migration(outcome.migrations, files.read, rel)
    _record(opts, outcome, root, project, recorded)
    return outcome


def _with_env_inputs(
    opts: Options,
    project: Path,
    root: Path,
    new: ProjectState,
    keys: dict[str, EnvKey],
    cache: Path | None,
) -> tuple[dict[str, EnvKey], list[str] | None]:
    """`keys` with the environment inputs of native packages, and their fingerprint."""
    if not keys:
        return keys, None
    from envkey_hook import buildenv
    from envkey_hook.fastpath import git_dir

    gitdir = git_dir(str(root))
    obs = buildenv.observe(
        keys,
        new.lock,
        project,
        cache,
        new.config,
        None if gitdir is None else Path(gitdir),
        os.environ,
    )
    return buildenv.with_inputs(keys, obs, new.settings, new.config), obs.key


def save_record(root: Path, project: Path, outcome: Outcome, save: bool = True) -> None:
    """Record the envkeys the cache is reconciled for, and the fingerprint of the
    environment they were observed in (envinputs.mark_seen)."""
    from envkey_hook import envinputs, state
    from envkey_hook.fastpath import git_dir

    if save:
        state.save_for(root, project, outcome.envkeys, cache=state.cache_id(outcome.cache))
    gitdir = git_dir(str(root))
    if gitdir is not None:
        envinputs.mark_seen(gitdir, str(project), outcome.env_key)


def _stale_lock(opts: Options, repo: gitstate.Repo, rel: str) -> str | None:
    """Why the lock (the same in both states) is behind the target's requirements, or None.

    uv would relock at the next sync, so the envkeys of this lock do not show what it
    will build (lockcheck.py).
    """
    from envkey_hook.lockcheck import changed_keys, requirements

    pyproject, uv_toml = _join(rel, "pyproject.toml"), _join(rel, "uv.toml")
    views = []
    for ref in (opts.from_ref, opts.to_ref):
        files = gitstate.ref_source(repo, ref)
        if files is None:
            return None
        views.append(requirements(files.read(pyproject), files.read(uv_toml), pyproject))
    keys = changed_keys(*views)
    if not keys:
        return None
    lock = _join(rel, "uv.lock")
    return (
        f"{lock} is out of date: {pyproject} changed {', '.join(keys)} since {opts.from_ref}, "
        f"{lock} did not; run `uv lock`, then `envkey-hook run` again (until then the next "
        "`uv sync` relocks and builds in what the old lock left)"
    )


def cache_for(opts: Options, settings: Settings, project: Path) -> Path | None:
    """The uv cache this run reconciles; InputError for a named one that is missing."""
    from envkey_hook.cachedir import resolve_cache_dir

    return resolve_cache_dir(
        opts.cache_dir,
        settings.cache_dir,
        os.environ,
        Path.cwd(),
        project=project,
        must_exist=opts.cache_must_exist,
    )


def _with_slot_inputs(keys: dict[str, EnvKey], affected: set[str]) -> set[str]:
    """Unchanged packages whose build configuration is in uv's slot key: another checkout
    sharing the cache may have built another configuration in their source tree."""
    from envkey_hook.reinstall import slot_labels

    return {p for p, k in keys.items() if p not in affected and slot_labels(k)}


def _check_installs(
    outcome: Outcome, opts: Options, root: Path, project: Path, recorded: dict[str, EnvKey] | None
) -> None:
    """Which installed copies must be reinstalled, now and as recorded by earlier runs.

    A changed package installed for its target configuration, from a cache this
    project's record was not reconciled for, may hold a stale binary that a plain
    `uv sync` keeps, even when nothing is left to delete (`uv cache clean`).
    """
    if opts.dry_run or outcome.busy or not opts.state:
        return
    from envkey_hook import reinstall, state

    path = state.pending_path(root, project)
    if path is None:
        return
    venv = reinstall.environment_dir(project)
    before = reinstall.load_pending(path) if path.exists() else {}
    pending = reinstall.still_pending(before, venv)
    for pkg in sorted({c.package for c in outcome.changes} - set(pending)):
        key = outcome.envkeys.get(pkg)
        if key is None or (recorded is not None and recorded.get(pkg) == key):
            continue  # gone from the lock, or the cache was reconciled for it before
        installed = reinstall.find_installed(venv, pkg)
        if installed is not None and reinstall.kept_by_plain_sync(installed, key):
            pending[pkg] = installed.stamp
    pending.update(_removal_stamps(outcome.removals, venv, pending))
    if pending != before:
        _save_pending(path, pending)
    outcome.stale_installs = sorted(pending)


def _removal_stamps(removals: list[Removal], venv: Path, known: dict[str, str]) -> dict[str, str]:
    """The reinstalls that removing `removals` makes due, stamped with the installed copy."""
    from envkey_hook import reinstall

    packages = {r.package for r in removals if r.kind in _NEEDS_REINSTALL} - set(known)
    stamped = reinstall.stamps(venv, sorted(packages))
    return {p: s for p, s in stamped.items() if s}  # not installed: the next sync builds it


def _save_pending(path: Path, pending: dict[str, str]) -> None:
    from envkey_hook import reinstall

    try:
        reinstall.save_pending(path, pending)
    except OSError as exc:
        print(
            f"envkey-hook: warning: {path}: cannot record the reinstalls due "
            f"({exc.strerror or exc}); a crash now would lose the hint",
            file=sys.stderr,
        )


def _read_states(
    opts: Options, repo: gitstate.Repo, root: Path, rel: str, project: Path
) -> tuple[ProjectState, ProjectState | None]:
    """The target state, then the baseline (None when it has no lock)."""
    new_files = gitstate.ref_source(repo, opts.to_ref)
    if new_files is None:
        raise InputError(opts.to_ref, "no such state to compare with")
    if opts.to_ref == gitstate.WORKTREE:  # git unpacks the baseline meanwhile
        gitstate.prefetch(repo, opts.from_ref, _join(rel, "uv.lock"))
    new = read_state(root, rel, new_files, opts.to_ref)
    if new is None:
        raise InputError(project / "uv.lock", "not found (run `uv lock` first)")
    old_files = gitstate.ref_source(repo, opts.from_ref)
    old = read_state(root, rel, old_files, opts.from_ref, like=new) if old_files else None
    return new, old


def _recorded(
    opts: Options, root: Path, project: Path, cache: Path | None
) -> dict[str, EnvKey] | None:
    """The envkeys `cache` was last reconciled for (state.py), if used and recorded."""
    if not opts.state:
        return None
    from envkey_hook import state

    return state.load_for(root, project, cache=state.cache_id(cache))


def _record(
    opts: Options,
    outcome: Outcome,
    root: Path,
    project: Path,
    recorded: dict[str, EnvKey] | None,
) -> None:
    """Record the target's envkeys once nothing stale for them is left behind."""
    refused = any(n.message.startswith("refused:") for n in outcome.notices)
    refused = refused or bool(outcome.left_stale)
    if not opts.state or not opts.save_state or opts.dry_run or outcome.busy or refused:
        return
    if outcome.lock_out_of_date:
        return  # the envkeys of a lock uv is about to replace: not reconciled
    # Unchanged: spare the hook a write and an fsync.
    save_record(root, project, outcome, save=recorded != outcome.envkeys)


def _purge(
    outcome: Outcome,
    opts: Options,
    project: Path,
    root: Path,
    states: list[ProjectState],
    new: ProjectState,
    affected: set[str],
    shared: set[str],
    cache: Path | None,
) -> None:
    from envkey_hook import purge, reinstall

    whole = _whole_entries(outcome.changes, new.config)
    targets = _targets(project, states, affected, whole, outcome.envkeys)
    if not new.config.clean_local_sources:
        targets = [t._replace(local_dirs=frozenset()) for t in targets]
    venv = reinstall.environment_dir(project)
    for t in _targets(project, [new], shared, set(), outcome.envkeys):
        native = reinstall.installed_native(venv, t.name, outcome.envkeys[t.name])
        targets.append(t._replace(shared_only=True, installed_native=native))
    removals, notices = purge.plan(cache, targets, root)
    outcome.removals, outcome.notices = list(removals), list(notices)
    if opts.dry_run or not removals:
        return
    from envkey_hook.locks import LockBusy
    from envkey_hook.preflight import virtualenvs
    from envkey_hook.purgeexec import execute
    from envkey_hook.remove import AllowedSet

    def replan() -> tuple[list[Removal], list[Notice]]:
        """Under the locks: what is stale now, and the reinstalls it makes due, recorded
        before anything is deleted (a crash after the removal keeps the hint)."""
        fresh, seen = purge.plan(cache, targets, root)
        _remember_reinstalls(opts, root, project, fresh)
        return fresh, seen

    allowed = AllowedSet(cache=cache, repo=root, venvs=virtualenvs(project, os.environ))
    try:
        result = execute(removals, cache, allowed, lock_timeout=opts.lock_timeout, replan=replan)
    except LockBusy as busy:
        outcome.busy = str(busy)
        return
    outcome.removals = list(result.removed)
    if result.planned is not None:
        outcome.notices = list(result.planned)
    outcome.notices += result.notices()


def _remember_reinstalls(opts: Options, root: Path, project: Path, removals: list[Removal]) -> None:
    """Add the reinstalls `removals` make due to the project's pending record."""
    if not opts.state:
        return
    from envkey_hook import reinstall, state

    path = state.pending_path(root, project)
    if path is None:
        return
    known = reinstall.load_pending(path) if path.exists() else {}
    due = _removal_stamps(removals, reinstall.environment_dir(project), known)
    if due:
        _save_pending(path, {**known, **due})
