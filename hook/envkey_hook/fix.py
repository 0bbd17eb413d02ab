"""`envkey-hook fix`: make uv force a clean compile of setuptools extensions.

For every package with an extra build input (extra-build-dependencies,
extra-build-variables) whose backend was read and is setuptools, add
`"--build-option" = ["build_ext", "--force"]` (`"--global-option"` below
setuptools 69.1.1) to `config-settings-package.<name>` in pyproject.toml or
uv.toml; for torch's BuildExtension also `--build-temp build/temp.envkey-<hash>`,
a directory per envkey, which ninja starts empty. The file is edited by `fixedit`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

# Heavier imports wait inside the functions: `cli` imports this module to build its parser.
from envkey_hook import backend
from envkey_hook.cachedir import resolve_cache_dir
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, EXIT_USAGE, InputError
from envkey_hook.fixedit import CSP, Edit
from envkey_hook.names import canonical_name

if TYPE_CHECKING:
    from envkey_hook.envkey import EnvKey

BUILD_OPTION = "--build-option"
GLOBAL_OPTION = "--global-option"
OPTIONS = (BUILD_OPTION, GLOBAL_OPTION)
# A build-temp directory per envkey, under build/ where the purge looks (`temp*`).
BUILD_TEMP_PREFIX = "build/temp.envkey-"
# The envkey inputs fix itself writes: left out of the directory's name.
_OWN_INPUTS = tuple(f"config-settings {opt}" for opt in OPTIONS)
FORCE = ("build_ext", "--force")
# setuptools appends `--build-option` after `bdist_wheel --dist-dir X` from 69.1.1
# on; 69.0.0-69.1.0 fail with `option --dist-dir not recognized`.
MIN_BUILD_OPTION = "69.1.1"
# pre-commit sets these only in the post-checkout, post-merge and post-rewrite
# stages, where a hook must not edit tracked files.
POST_STAGES = {
    "PRE_COMMIT_CHECKOUT_TYPE": "post-checkout",
    "PRE_COMMIT_IS_SQUASH_MERGE": "post-merge",
    "PRE_COMMIT_REWRITE_COMMAND": "post-rewrite",
}

DESCRIPTION = """\
The permanent fix for stale native-extension builds. For every package with an
extra build input (extra-build-dependencies, match-runtime, extra-build-variables)
whose build backend was read from its source (uv's cache, git checkout, local
directory) and is setuptools, add to [tool.uv.config-settings-package] (to
uv.toml instead, when the project has one):

    <package> = { "--build-option" = ["build_ext", "--force"] }

so that setuptools recompiles on every build instead of repackaging the objects an
earlier build configuration left in uv's shared source tree. "--global-option" is
used when the setuptools that builds the package is older than 69.1.1 (it works,
but compiles 2-3 times). Existing settings are merged, never duplicated; comments
and layout of the file are kept.

torch's BuildExtension (flash-attn, xformers, ...) compiles through ninja, which
ignores --force and keeps objects whose headers carry older mtimes: for it, fix
also adds "--build-temp", "build/temp.envkey-<hash>", a directory per envkey. Run
fix again whenever its build inputs move, before `uv sync` (the envkey-hook-fix
pre-commit hook does it at commit time), and keep the purge hook too.

Packages built by another backend (scikit-build-core, meson-python with a
persistent build dir) and packages whose backend is unknown (nothing in uv's
cache yet; --assume-setuptools vouches for setuptools) are reported, not counted
as due: for those only a purge helps (envkey-hook run).
"""

EPILOG = """\
exit codes:
  0  nothing to do
  1  the file was rewritten (stage it again), or with --check: a rewrite is due
  2  input error, or run in a post-* git hook stage; nothing was written
  3  internal error (a bug in envkey-hook); nothing was written

examples:
  envkey-hook fix
  envkey-hook fix --check --project services/api
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `fix` subcommand."""
    p = subparsers.add_parser(
        "fix",
        help="make uv force a clean compile of setuptools extensions (the permanent fix)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--project",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="project directory (default: .)",
    )
    p.add_argument("--check", action="store_true", help="edit nothing; exit 1 if a rewrite is due")
    p.add_argument(
        "--assume-setuptools",
        action="store_true",
        help="treat a package whose build backend is unknown (no source in uv's cache yet) "
        "as plain setuptools",
    )
    p.add_argument(
        "--fetch-sdists",
        action="store_true",
        help="for a package whose build backend is unknown, download its sdist from the URL "
        "uv.lock gives (hash checked) and read the backend from it",
    )
    p.add_argument(
        "--cache-dir", metavar="DIR", help="uv cache directory, to look up build backends"
    )


def run_fix(args: argparse.Namespace) -> int:
    """`envkey-hook fix`; prints its own errors."""
    stage = next((s for var, s in POST_STAGES.items() if var in os.environ), None)
    if stage is not None:
        print(
            f"error: envkey-hook fix edits tracked files and must not run in the {stage} "
            "stage; run it in the pre-commit stage or by hand",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        rc = fix(
            args.project,
            check=args.check,
            cache_dir=args.cache_dir,
            env=os.environ,
            assume_setuptools=args.assume_setuptools,
            fetch_sdists=args.fetch_sdists,
        )
        from envkey_hook import fixenv  # `key-cuda`: extra-build-variables keying CUDA builds

        keys = fixenv.fix_keys(
            args.project, check=args.check, cache_dir=args.cache_dir, env=os.environ, out=sys.stdout
        )
        return max(rc, keys)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def fix(
    project: Path,
    *,
    check: bool = False,
    cache_dir: str | None = None,
    env: Mapping[str, str],
    out: TextIO | None = None,
    assume_setuptools: bool = False,
    fetch_sdists: bool = False,
) -> int:
    """Rewrite the project's uv settings (or with `check`, only report); the exit code."""
    out = out or sys.stdout
    if not project.is_dir():
        raise InputError(project, "not a directory")
    uv_toml = (project / "uv.toml").is_file()
    path = project / ("uv.toml" if uv_toml else "pyproject.toml")
    text, data = _read_toml(path)
    # uv reads a project's uv.toml instead of [tool.uv], with the same keys at the top.
    uv_path: tuple[str, ...] = () if uv_toml else ("tool", "uv")
    settings: Mapping[str, Any] = data
    for key in uv_path:
        settings = _table(settings.get(key), ".".join(uv_path), path)
    ctx = Context(project, settings, str(path), cache_arg=cache_dir, env=env)
    ctx.assume_setuptools = assume_setuptools
    ctx.fetch_sdists = fetch_sdists
    pyproject = data if not uv_toml else _pyproject_data(project)
    deps = _table(pyproject.get("project"), "project", path).get("dependencies", [])
    ctx.project_requires = _requirements(deps, "project.dependencies", project / "pyproject.toml")
    ctx.project_requires += _requirements(
        settings.get("constraint-dependencies", []), "constraint-dependencies", path
    )
    ctx.lock = _read_lock(project / "uv.lock")
    configured = settings.get("cache-dir")
    ctx.cache = resolve_cache_dir(
        cache_dir,
        configured if isinstance(configured, str) else None,
        env,
        Path.cwd(),
        project=project,
    )

    edits, notes = plan(ctx)
    for note in notes:
        print(f"note: {note}", file=out)
    if not edits:
        return EXIT_OK
    from envkey_hook import fixedit

    new_text = fixedit.apply_edits(text, uv_path, edits)
    fixedit.verify(new_text, data, uv_path, edits, path)
    for e in edits:
        done = e.describe(settings, check)
        print(f"{'would fix' if check else 'fixed'} {path}: {e.package}: {done}", file=out)
    if not check:
        from envkey_hook.atomic import replace_config

        replace_config(path, new_text)
    return EXIT_ACTION


# --- reading -----------------------------------------------------------------------


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    from envkey_hook import readfile, tomlcompat

    raw = readfile.read(path, readfile.limit_for(path))
    if raw is None:
        raise InputError(path, "not found")

    data = tomlcompat.loads(raw, path)  # strict: rejects what tomlkit might let through
    return raw.decode("utf-8"), data


def _pyproject_data(project: Path) -> dict[str, Any]:
    path = project / "pyproject.toml"
    return _read_toml(path)[1] if path.is_file() else {}


def _read_lock(path: Path) -> dict[str, list[Mapping[str, Any]]]:
    """uv.lock's `[[package]]` tables by normalized name; empty when there is no lock."""
    if not path.is_file():
        return {}
    data = _read_toml(path)[1]
    packages = data.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, Mapping) for p in packages):
        raise InputError(path, "`package` must be an array of tables")
    lock: dict[str, list[Mapping[str, Any]]] = {}
    for p in packages:
        if not isinstance(p.get("name"), str):
            raise InputError(path, "a [[package]] has no name")
        lock.setdefault(canonical_name(p["name"]), []).append(p)
    return lock


def _table(value: object, where: str, path: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(path, f"{where}: expected a table")
    return value


def _requirements(value: object, where: str, path: object) -> list[str]:
    """PEP 508 strings of a requirement list (of a table: its `requirement`)."""
    if not isinstance(value, list):
        raise InputError(path, f"{where}: expected a list")
    reqs = []
    for item in value:
        req = item.get("requirement") if isinstance(item, Mapping) else item
        if not isinstance(req, str):
            raise InputError(path, f"{where}: expected requirement strings")
        reqs.append(req)
    return reqs


# --- deciding ----------------------------------------------------------------------


@dataclass
class Context:
    """What decides how packages are built: the project's settings, lock and uv's cache."""

    project: Path
    settings: Mapping[str, Any]  # [tool.uv], or all of uv.toml
    settings_file: str
    lock: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    project_requires: list[str] = field(default_factory=list)
    cache: Path | None = None
    cache_arg: str | None = None  # --cache-dir as given
    env: Mapping[str, str] = field(default_factory=dict)
    assume_setuptools: bool = False  # treat an unknown backend as plain setuptools
    fetch_sdists: bool = False  # read unknown backends from the locked sdists' URLs
    _envkeys: dict[str, EnvKey] | None = None

    def envkey(self, name: str) -> EnvKey | None:
        """The package's envkey for the project's interpreter; None without a lock entry."""
        if self._envkeys is None:
            self._envkeys = {}
            if (self.project / "uv.lock").is_file():
                from envkey_hook import current

                self._envkeys = current.load(self.project, self.cache_arg, self.env).envkeys
        return self._envkeys.get(canonical_name(name))


def plan(ctx: Context) -> tuple[list[Edit], list[str]]:
    """The edits due, and notes on the packages left alone or guessed about."""
    s, where = ctx.settings, ctx.settings_file
    names: dict[str, str] = {}  # normalized -> first spelling
    for key in ("extra-build-dependencies", "extra-build-variables"):
        for name in _table(s.get(key), key, where):
            names.setdefault(canonical_name(name), name)
    csp = _table(s.get(CSP), CSP, where)
    general = _table(s.get("config-settings"), "config-settings", where)
    edits: list[Edit] = []
    notes: list[str] = []
    for norm, spelling in sorted(names.items()):
        existing = next((k for k in csp if canonical_name(k) == norm), None)
        own = _table(csp.get(existing) if existing else None, f"{CSP}.{existing}", where)
        for opt in OPTIONS:
            value = own.get(opt, "")
            if not isinstance(value, str) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise InputError(
                    where, f'{CSP}.{existing}."{opt}": expected a string or a list of strings'
                )
        own_forced = [opt for opt in OPTIONS if _is_forced(own.get(opt))]
        # uv concatenates config-settings with the package's own values.
        forced = own_forced + [k for k, v in general.items() if _is_forced(v)]
        choice = decide(spelling, ctx)
        if forced and forced == [BUILD_OPTION] and choice.option == GLOBAL_OPTION:
            notes.append(
                f'{spelling}: "{BUILD_OPTION}" needs setuptools >= {MIN_BUILD_OPTION}; '
                f'use "{GLOBAL_OPTION}" with older ones'
            )
        if choice.option is None or (forced and choice.backend != backend.BUILD_EXTENSION):
            notes += [f"{spelling}: {w}" for w in choice.notes] if not forced else []
            continue
        notes += [f"{spelling}: {w}" for w in choice.notes]
        package = existing or spelling
        if choice.backend != backend.BUILD_EXTENSION:
            edits.append(Edit(package, choice.option, FORCE, existing is not None))
            continue
        option = own_forced[0] if own_forced else choice.option
        more, why = _build_temp_edits(
            spelling, package, existing is not None, own, forced, option, ctx
        )
        edits += more
        notes += [f"{spelling}: {w}" for w in why]
    return edits, notes


class Choice(NamedTuple):
    """How to force a clean compile of one package."""

    option: str | None  # BUILD_OPTION or GLOBAL_OPTION; None: leave it alone (not due)
    notes: list[str]
    backend: str  # backend.SETUPTOOLS, backend.BUILD_EXTENSION, ...


def _build_temp_edits(
    name: str,
    package: str,
    existing: bool,
    own: Mapping[str, Any],
    forced: list[str],
    option: str,
    ctx: Context,
) -> tuple[list[Edit], list[str]]:
    """For a BuildExtension package: `--force`, and a build-temp directory named
    after its envkey, so that ninja starts every build configuration afresh."""
    key = ctx.envkey(name)
    if key is None:
        return [], [
            "not counted: no envkey for it here (not built from source for this interpreter "
            "in uv.lock; run `uv lock` first); `envkey-hook run` purges its stale build state"
        ]
    want = build_temp_dir(key)
    found = _find_build_temp(own)
    edits = []
    if found is not None and found[2] != want:
        edits.append(Edit(package, found[0], (want,), existing, at=found[1]))
    tokens: tuple[str, ...] = () if forced else FORCE
    if found is None:
        tokens += ("--build-temp", want) if tokens else ("build_ext", "--build-temp", want)
    if tokens:
        edits.append(Edit(package, found[0] if found else option, tokens, existing))
    why = [
        "builds with torch's BuildExtension: ninja ignores --force and keeps objects whose "
        "headers carry older mtimes, so each envkey gets its own build-temp directory; run "
        "`envkey-hook fix` again whenever its build inputs move, before `uv sync` (the "
        "envkey-hook-fix pre-commit hook does it at commit time), and keep the purge hook "
        "(envkey-hook run) for moves synced before a commit"
    ]
    return edits, why if edits else []


def build_temp_dir(key: EnvKey) -> str:
    """The build-temp directory for one envkey, relative to the source tree. It leaves
    out the options fix itself writes: the name must not depend on itself."""
    import hashlib
    import json

    inputs = [list(p) for p in key.inputs if p[0] not in _OWN_INPUTS]
    digest = hashlib.sha256(json.dumps([key.package, inputs]).encode()).hexdigest()[:16]
    return BUILD_TEMP_PREFIX + digest


def _find_build_temp(own: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """(option, index, value) of a build-temp directory fix wrote earlier."""
    for opt in OPTIONS:
        value = own.get(opt)
        if not isinstance(value, list):
            continue
        for i, token in enumerate(value):
            if i and value[i - 1] == "--build-temp" and token.startswith(BUILD_TEMP_PREFIX):
                return opt, i, token
    return None


def decide(name: str, ctx: Context) -> Choice:
    """The option that forces a clean compile of `name` (None: leave it alone), and why."""
    from packaging.version import InvalidVersion, Version

    entries = ctx.lock.get(canonical_name(name), [])
    if entries and all("sdist" not in e and "wheels" in e for e in entries):
        return Choice(
            None, ["left alone: uv.lock has only wheels for it, nothing is built"], backend.UNKNOWN
        )
    found = backend.detect(_source_trees(canonical_name(name), entries, ctx))
    if found.name == backend.UNKNOWN and ctx.fetch_sdists:
        found = backend.combine(_fetched(entries))
    if found.name == backend.UNKNOWN and not ctx.assume_setuptools:
        return Choice(
            None,
            [
                "not counted: its build backend is unknown (no source in uv's cache yet: "
                "`uv sync` first, or --assume-setuptools); meanwhile "
                "`envkey-hook run` purges its stale build state"
            ],
            backend.UNKNOWN,
        )
    if found.name != backend.UNKNOWN and not found.setuptools:
        return Choice(
            None,
            [
                f"left alone: its build backend {found.name} is not setuptools; "
                "only a purge helps (envkey-hook run)"
            ],
            found.name,
        )
    kind = backend.SETUPTOOLS if found.name == backend.UNKNOWN else found.name
    notes = (
        ["backend unknown (not in uv's cache yet); --assume-setuptools: plain setuptools"]
        if found.name == backend.UNKNOWN
        else []
    )
    s, where = ctx.settings, ctx.settings_file
    no_isolation = s.get("no-build-isolation") is True or canonical_name(name) in {
        canonical_name(p)
        for p in _requirements(
            s.get("no-build-isolation-package", []), "no-build-isolation-package", where
        )
    }
    if no_isolation:
        # Built in the project's environment: the locked setuptools (lowest fork).
        locked = []
        for entry in ctx.lock.get("setuptools", []):
            try:
                locked.append(Version(str(entry.get("version"))))
            except InvalidVersion:
                continue
        if locked:
            if min(locked) >= Version(MIN_BUILD_OPTION):
                return Choice(BUILD_OPTION, notes, kind)
            return Choice(
                GLOBAL_OPTION, [*notes, _old_note(f"setuptools {min(locked)} (uv.lock)")], kind
            )
        # Not locked yet: uv will pick the newest that the project allows.
        reqs, limits = ctx.project_requires, "project dependencies"
    else:
        # An isolated build gets the newest setuptools its requirements and the
        # project's build constraints allow.
        reqs = _requirements(
            s.get("build-constraint-dependencies", []), "build-constraint-dependencies", where
        )
        for key, value in _table(
            s.get("extra-build-dependencies"), "extra-build-dependencies", where
        ).items():
            if canonical_name(key) == canonical_name(name):
                reqs += _requirements(value, f"extra-build-dependencies.{key}", where)
        reqs += list(found.requires)
        limits = "build requirements and constraints"
    specs = _setuptools_specs(reqs, where)
    if allows_build_option(specs):
        return Choice(BUILD_OPTION, notes, kind)
    return Choice(
        GLOBAL_OPTION, [*notes, _old_note(f"setuptools {','.join(specs)} ({limits})")], kind
    )


def _fetched(entries: list[Mapping[str, Any]]) -> list[backend.Backend]:
    """The backends of the locked sdists, downloaded from where uv.lock says."""
    found = []
    for entry in entries:
        sdist = entry.get("sdist")
        if isinstance(sdist, Mapping) and isinstance(sdist.get("url"), str):
            h = sdist.get("hash")
            b = backend.fetch_sdist(sdist["url"], h if isinstance(h, str) else None)
            if b is not None:
                found.append(b)
    return found


def _source_trees(name: str, entries: list[Mapping[str, Any]], ctx: Context) -> list[Path]:
    """Where the package's source is, from its uv.lock entries."""
    locked = []
    for entry in entries:
        source = entry.get("source")
        items = source.items() if isinstance(source, Mapping) else ()
        kind, value = next(((k, v) for k, v in items if isinstance(v, str)), ("", ""))
        version = entry.get("version")
        locked.append((kind, value, version if isinstance(version, str) else None))
    return backend.source_trees(name, locked, ctx.project, ctx.cache)


def _old_note(setuptools: str) -> str:
    return (
        f'{setuptools} is older than {MIN_BUILD_OPTION}: using "{GLOBAL_OPTION}", '
        "which compiles 2-3 times"
    )


def _setuptools_specs(reqs: list[str], where: str) -> list[str]:
    from packaging.requirements import InvalidRequirement, Requirement

    specs = []
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            why = str(exc).splitlines()[0]  # packaging adds a caret diagram below
            raise InputError(where, f"invalid requirement {text!r}: {why}") from None
        if canonical_name(req.name) == "setuptools" and str(req.specifier):
            specs.append(str(req.specifier))
    return specs


def allows_build_option(specs: list[str]) -> bool:
    """Whether the newest setuptools allowed by `specs` is >= 69.1.1.

    Probes the versions the specifiers name and their successors instead of asking
    an index, so an exclusion right above a bound (`!=69.1.1,<69.2`) can fool it.
    """
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    spec = SpecifierSet(",".join(specs))
    low = Version(MIN_BUILD_OPTION)
    probes = {low, Version("1000000")}
    for one in spec:
        try:
            v = Version(one.version.replace(".*", ""))
        except InvalidVersion:
            continue
        r = [*v.release, 0, 0]
        probes |= {v} | {Version(".".join(map(str, [*r[:i], r[i] + 1]))) for i in range(3)}
    return any(p >= low and spec.contains(p) for p in probes)


def _is_forced(value: object) -> bool:
    """Whether a config-settings value passes `build_ext` with `--force`/`-f`."""
    words = value if isinstance(value, list) else []
    for i, word in enumerate(words):
        if word != "build_ext":
            continue
        for opt in words[i + 1 :]:
            if not isinstance(opt, str) or not opt.startswith("-"):
                break
            if opt in ("--force", "-f"):
                return True
    return False
