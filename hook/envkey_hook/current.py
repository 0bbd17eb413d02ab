"""The project as it is in the work tree: its lock, settings, envkeys and uv cache.

For the commands that look at the present only (`status`, `key`, `doctor`). They
work outside git too: the project directory is then where uv's settings discovery
starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envkey_hook import gitstate
from envkey_hook.cachedir import resolve_cache_dir
from envkey_hook.envkey import EnvKey, compute_envkeys
from envkey_hook.errors import InputError
from envkey_hook.purge import Target
from envkey_hook.run import ProjectState, read_state

if TYPE_CHECKING:
    from envkey_hook.installplan import Selection


@dataclass(frozen=True)
class Current:
    project: Path  # resolved
    root: Path  # the git work tree holding it, or the project itself outside git
    state: ProjectState
    envkeys: dict[str, EnvKey]
    cache: Path | None  # None: uv would use a throwaway cache


def project_environment(project: Path, env: Mapping[str, str]) -> Path:
    """The project's virtual environment: `UV_PROJECT_ENVIRONMENT` (relative to the
    project, as uv resolves it) or `.venv`."""
    value = env.get("UV_PROJECT_ENVIRONMENT")
    if value:
        path = Path(value)
        return path if path.is_absolute() else project / path
    return project / ".venv"


def load(
    project: Path,
    cache_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    selection: Selection | None = None,
) -> Current:
    """Read the project in the work tree; InputError when it has no readable uv.lock."""
    env = os.environ if env is None else env
    project = project.resolve()
    if not project.is_dir():
        raise InputError(project, "not a directory")
    root = gitstate.find_repo_root(project) or project
    rel = project.relative_to(root).as_posix()
    rel = "" if rel == "." else rel
    state = read_state(root, rel, gitstate.worktree_source(root), gitstate.WORKTREE)
    if state is None:
        raise InputError(project / "uv.lock", "not found (run `uv lock` first)")
    from envkey_hook import target

    tgt = target.find(project, project_environment(project, env), python, env)
    warning = target.unsatisfied(state.lock.requires_python, tgt, f"{rel or '.'}/uv.lock")
    if warning:
        import sys

        print(warning, file=sys.stderr)
    markers = tgt.env
    settings_file = f"{rel}/pyproject.toml" if rel else "pyproject.toml"
    from envkey_hook.installed import lookup
    from envkey_hook.installplan import UNKNOWN

    installed = lookup(project_environment(project, env))
    keys = compute_envkeys(
        state.lock,
        state.settings,
        markers,
        settings_file,
        state.config.watch,
        selection or UNKNOWN,
        installed,
    )
    cache = resolve_cache_dir(cache_dir, state.settings.cache_dir, env, Path.cwd(), project=project)
    return Current(project, root, state, keys, cache)


def targets(cur: Current, packages: Iterable[str]) -> list[Target]:
    """Where each package's build state can live: its git commits and local directories."""
    found = []
    for name in sorted(set(packages)):
        shas: set[str] = set()
        dirs: set[Path] = set()
        for pkg in cur.state.lock.by_name(name):
            if pkg.source_kind == "git" and "#" in pkg.source_value:
                shas.add(pkg.source_value.rsplit("#", 1)[1])
            elif pkg.source_kind in ("directory", "editable"):
                dirs.add(Path(os.path.normpath(cur.project / pkg.source_value)))
        found.append(Target(name, frozenset(shas), frozenset(dirs)))
    return found


def has_build_inputs(key: EnvKey) -> bool:
    """Whether anything beyond the package's own version and source feeds its build."""
    return any(label not in ("version", "source") for label, _ in key.inputs)
