"""`envkey-hook fix`: make uv force a clean compile of setuptools extensions.

For every package with an extra build input (extra-build-dependencies,
extra-build-variables) built by setuptools, add `"--build-option" = ["build_ext",
"--force"]` (`"--global-option"` below setuptools 69.1.1) to
`config-settings-package.<name>` in pyproject.toml or uv.toml. The file is edited
with tomlkit: everything outside the edited value survives byte for byte.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

# Heavier imports wait inside the functions: `cli` imports this module to build its parser.
from envkey_hook.cachedir import resolve_cache_dir
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, EXIT_USAGE, InputError
from envkey_hook.names import canonical_name

if TYPE_CHECKING:
    from tomlkit.container import Container

BUILD_OPTION = "--build-option"
GLOBAL_OPTION = "--global-option"
FORCE = ("build_ext", "--force")
# setuptools appends `--build-option` after `bdist_wheel --dist-dir X` from 69.1.1
# on; 69.0.0-69.1.0 fail with `option --dist-dir not recognized`.
MIN_BUILD_OPTION = "69.1.1"
CSP = "config-settings-package"
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
whose build backend is setuptools, add to [tool.uv.config-settings-package] (to
uv.toml instead, when the project has one):

    <package> = { "--build-option" = ["build_ext", "--force"] }

so that setuptools recompiles on every build instead of repackaging the objects an
earlier build configuration left in uv's shared source tree. "--global-option" is
used when the setuptools that builds the package is older than 69.1.1 (it works,
but compiles 2-3 times). Existing settings are merged, never duplicated; comments
and layout of the file are kept. Packages built by another backend are left alone.

Prefer this for plain setuptools extensions: a forced build recompiles every
time, which is cheap for small extensions. It does not help torch's
BuildExtension with ninja (ninja ignores --force and keeps objects whose headers
carry old mtimes) nor scikit-build-core/meson-python with a persistent build
dir: for those only a purge helps (envkey-hook run).
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
        return fix(args.project, check=args.check, cache_dir=args.cache_dir, env=os.environ)
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
    ctx = Context(project, settings, str(path))
    pyproject = data if not uv_toml else _pyproject_data(project)
    deps = _table(pyproject.get("project"), "project", path).get("dependencies", [])
    ctx.project_requires = _requirements(deps, "project.dependencies", project / "pyproject.toml")
    ctx.project_requires += _requirements(
        settings.get("constraint-dependencies", []), "constraint-dependencies", path
    )
    ctx.lock = _read_lock(project / "uv.lock")
    configured = settings.get("cache-dir")
    ctx.cache = resolve_cache_dir(
        cache_dir, configured if isinstance(configured, str) else None, env, Path.cwd()
    )

    edits, notes = plan(ctx)
    for note in notes:
        print(f"note: {note}", file=out)
    if not edits:
        return EXIT_OK
    new_text = apply_edits(text, uv_path, edits)
    _verify(new_text, data, uv_path, edits, path)
    for e in edits:
        done = _describe(e, settings, check)
        print(f"{'would fix' if check else 'fixed'} {path}: {e.package}: {done}", file=out)
    if not check:
        try:
            from envkey_hook.atomic import write_atomic

            write_atomic(path, new_text.encode("utf-8"))
        except OSError as exc:
            raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
    return EXIT_ACTION


# --- reading -----------------------------------------------------------------------


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "not found") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    from envkey_hook import tomlcompat

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


@dataclass(frozen=True)
class Edit:
    """Make `config-settings-package.<package>.<option>` force a clean build_ext."""

    package: str  # the key as spelled in the file (existing), or as to be written
    option: str  # BUILD_OPTION or GLOBAL_OPTION
    existing: bool = False  # the package already has a table in config-settings-package


@dataclass
class Context:
    """What decides how packages are built: the project's settings, lock and uv's cache."""

    project: Path
    settings: Mapping[str, Any]  # [tool.uv], or all of uv.toml
    settings_file: str
    lock: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    project_requires: list[str] = field(default_factory=list)
    cache: Path | None = None


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
        for opt in (BUILD_OPTION, GLOBAL_OPTION):
            value = own.get(opt, "")
            if not isinstance(value, str) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise InputError(
                    where, f'{CSP}.{existing}."{opt}": expected a string or a list of strings'
                )
        forced = [opt for opt in (BUILD_OPTION, GLOBAL_OPTION) if _is_forced(own.get(opt))]
        # uv concatenates config-settings with the package's own values.
        forced += [k for k, v in general.items() if _is_forced(v)]
        if forced:
            if forced == [BUILD_OPTION] and decide(spelling, ctx)[0] == GLOBAL_OPTION:
                notes.append(
                    f'{spelling}: "{BUILD_OPTION}" needs setuptools >= {MIN_BUILD_OPTION}; '
                    f'use "{GLOBAL_OPTION}" with older ones'
                )
            continue
        option, why = decide(spelling, ctx)
        notes += [f"{spelling}: {w}" for w in why]
        if option is not None:
            edits.append(Edit(existing or spelling, option, existing is not None))
    return edits, notes


def decide(name: str, ctx: Context) -> tuple[str | None, list[str]]:
    """The option that forces a clean compile of `name` (None: leave it alone), and why."""
    from packaging.version import InvalidVersion, Version

    entries = ctx.lock.get(canonical_name(name), [])
    if entries and all("sdist" not in e and "wheels" in e for e in entries):
        return None, ["left alone: uv.lock has only wheels for it, nothing is built"]
    trees = _source_trees(canonical_name(name), entries, ctx)
    found = [b for b in map(read_backend, trees) if b]
    backends = {b[0] for b in found}
    if found and "setuptools" not in backends:
        return None, [
            f"left alone: its build backend {', '.join(sorted(backends))} is not setuptools; "
            "only a purge helps (envkey-hook run)"
        ]
    notes = [] if found else ["backend unknown (not in cache yet); assuming setuptools"]
    if any(_uses_build_extension(t) for t in trees):
        notes.append(
            "builds with torch's BuildExtension: with ninja it ignores --force, "
            "so keep `envkey-hook run` for it"
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
                return BUILD_OPTION, notes
            return GLOBAL_OPTION, [*notes, _old_note(f"setuptools {min(locked)} (uv.lock)")]
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
        reqs += [r for b in found if b[0] == "setuptools" for r in b[1]]
        limits = "build requirements and constraints"
    specs = _setuptools_specs(reqs, where)
    if allows_build_option(specs):
        return BUILD_OPTION, notes
    return GLOBAL_OPTION, [*notes, _old_note(f"setuptools {','.join(specs)} ({limits})")]


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


def read_backend(tree: Path) -> tuple[str, list[str]] | None:
    """(build backend, build requirements) of a source tree; None when it is not there."""
    from envkey_hook import tomlcompat

    pyproject = tree / "pyproject.toml"
    try:
        data = tomlcompat.loads(pyproject.read_bytes(), pyproject)
    except FileNotFoundError:
        # PEP 517: a tree without pyproject.toml is built by setuptools' legacy backend.
        return ("setuptools", []) if tree.is_dir() else None
    except (OSError, InputError):
        return None
    system = data.get("build-system")
    if not isinstance(system, Mapping):
        return ("setuptools", [])
    requires = [r for r in system.get("requires", []) if isinstance(r, str)]
    backend = system.get("build-backend")
    if not isinstance(backend, str):
        return ("setuptools", requires)
    # An in-tree backend (backend-path) that requires setuptools is a wrapper of it.
    wrapper = "backend-path" in system and any(
        canonical_name(re.split(r"[^A-Za-z0-9._-]", r.strip(), maxsplit=1)[0]) == "setuptools"
        for r in requires
    )
    return ("setuptools" if backend.startswith("setuptools") or wrapper else backend), requires


def _uses_build_extension(tree: Path) -> bool:
    try:
        return "BuildExtension" in (tree / "setup.py").read_text(errors="replace")
    except OSError:
        return False


def _source_trees(name: str, entries: list[Mapping[str, Any]], ctx: Context) -> list[Path]:
    """Where the package's source is: local directories, git checkouts, uv's sdist cache."""
    trees: list[Path] = []
    versions = []
    for entry in entries:
        source = entry.get("source")
        source = source if isinstance(source, Mapping) else {}
        trees += [
            ctx.project / source[k]
            for k in ("directory", "editable")
            if isinstance(source.get(k), str)
        ]
        git = source.get("git")
        if isinstance(git, str) and "#" in git and ctx.cache is not None:
            url, sha = git.rsplit("#", 1)
            sub = re.search(r"[?&]subdirectory=([^&#]+)", url)
            for checkout in sorted(ctx.cache.glob(f"git-v*/checkouts/*/{sha[:7]}*")):
                trees.append(checkout / sub.group(1) if sub else checkout)
        if isinstance(entry.get("version"), str):
            versions.append(entry["version"])
    if ctx.cache is None:
        return trees
    # Prefer the locked versions' trees; any version tells the backend as well as none.
    for version in [*versions, "*"]:
        found = [
            p
            for pattern in (
                f"sdists-v*/pypi/{name}/{version}/*/src",
                f"sdists-v*/index/*/{name}/{version}/*/src",
            )
            for p in sorted(ctx.cache.glob(pattern))
        ]
        if found:
            return trees + found
    return trees


# --- rewriting ---------------------------------------------------------------------


def _describe(e: Edit, settings: Mapping[str, Any], future: bool) -> str:
    own = _table(settings.get(CSP), CSP, "").get(e.package) if e.existing else None
    if isinstance(own, Mapping) and e.option in own:
        return f'{"append" if future else "appended"} "build_ext", "--force" to "{e.option}"'
    return f'{"add" if future else "added"} "{e.option}" = ["build_ext", "--force"]'


def apply_edits(text: str, uv_path: tuple[str, ...], edits: list[Edit]) -> str:
    """`text` with the edits made by tomlkit, keeping everything else as it was."""
    import tomlkit

    doc = tomlkit.parse(text)
    root = list(uv_path)
    force = '["build_ext", "--force"]'
    if CSP not in _node(doc, root):  # then no package has settings yet: one new table
        entries = ", ".join(f'{_key(e.package)} = {{ "{e.option}" = {force} }}' for e in edits)
        _add(doc, root, CSP, f"{{ {entries} }}")
        edits = []
    for e in edits:
        if not e.existing:
            _add(doc, [*root, CSP], e.package, f'{{ "{e.option}" = {force} }}')
        elif e.option not in _node(doc, [*root, CSP, e.package]):
            _add(doc, [*root, CSP, e.package], e.option, force)
        else:
            path = [*root, CSP, e.package, e.option]
            old = _node(doc, path)
            if isinstance(old, list):
                old.extend(FORCE)
            else:  # a string: becomes the first element
                _node(doc, path[:-1])[e.option] = _value(f"[{old.as_string()}, {force[1:]}")
    new = doc.as_string()
    while new.endswith("\n\n") and not text.endswith("\n\n"):
        new = new[:-1]  # the blank line after a new table that ended up last
    if "\r\n" in text and "\n" not in text.replace("\r\n", ""):
        new = re.sub(r"(?<!\r)\n", "\r\n", new)  # tomlkit writes "\n" for new lines
    return new


def _node(doc: Container, path: list[str]) -> Any:
    node: Any = doc
    for key in path:
        node = node[key]
    return node


def _key(name: str) -> str:
    """A key as TOML text: bare when possible."""
    return (
        name if re.fullmatch(r"[A-Za-z0-9_-]+", name) and not name.startswith("--") else f'"{name}"'
    )


def _value(text: str) -> Any:
    """A tomlkit item from TOML text, with the trivia a parsed line has."""
    import tomlkit

    return tomlkit.parse(f"v = {text}\n").item("v")


def _add(doc: Container, path: list[str], key: str, value_text: str) -> None:
    """Add `key = value_text` to the table at `path`, in the style of that table."""
    import tomlkit
    from tomlkit.items import InlineTable, Key, SingleKey, Table

    parent: Any = _node(doc, path[:-1]) if path else None
    node = _node(doc, path)
    if isinstance(node, InlineTable):
        # tomlkit's own insertion loses the spacing before `}`: rebuild the text.
        inner = node.as_string()[1:-1]
        body = inner.rstrip()
        entry = f"{_key(key)} = {value_text}"
        text = f"{{{body}, {entry}{inner[len(body) :]}}}" if body.strip() else f"{{ {entry} }}"
        parent[path[-1]] = _value(text)
        return
    value = _value(value_text)
    # A super table (no header of its own) holds either dotted keys (`a.b = 1`
    # lines under a parent header: add one more) or only `[a.b]` sub-tables.
    super_table = isinstance(node, Table) and node.is_super_table()
    dotted = super_table and any(k and k.is_dotted() for k, _ in node.value.body)
    header_only = super_table and not dotted
    if isinstance(value, InlineTable) and not dotted and (header_only or key == CSP):
        # A new `[...]` table: a key-value here would land under the previous header.
        table = tomlkit.table()
        for k, v in value.value.body:
            if isinstance(k, Key):
                table.add(k, _value(v.as_string()))  # re-parsed: ends its line
        table.add(tomlkit.nl())  # a blank line before whatever follows
        node[SingleKey(key)] = table
        return
    node[_quoted(key) if key.startswith("--") else SingleKey(key)] = value


def _quoted(key: str) -> Any:
    from tomlkit.items import KeyType, SingleKey

    return SingleKey(key, KeyType.Basic)


def _verify(
    new_text: str, data: dict[str, Any], uv_path: tuple[str, ...], edits: list[Edit], path: Path
) -> None:
    """Refuse to write unless the new text parses to the old data plus exactly the edits."""
    import copy

    from envkey_hook import tomlcompat

    expected = copy.deepcopy(data)
    for e in edits:
        node = expected
        for key in (*uv_path, CSP, e.package):
            node = node.setdefault(key, {})
        old = node.get(e.option)
        node[e.option] = ([old] if isinstance(old, str) else list(old or [])) + list(FORCE)
    if tomlcompat.loads(new_text, path) != expected:
        raise RuntimeError(
            f"{path}: the rewrite would change more than the new settings; nothing written"
        )
