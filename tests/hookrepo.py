"""Helpers for the git hook tests: a repository with two uv projects, hooks installed
through real pre-commit or `envkey-hook install`, driven by real git operations.

The expensive part (locking, and compiling `extpkg` once per project) is done once
per session in a template; each test works on copies of its repository and uv cache.
Every subprocess gets an explicit environment: the session template is built before
the autouse per-test isolation applies.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from envkey_hook import fixture

MAIN = Path(__file__).resolve().parents[1]
MANIFEST = MAIN / ".pre-commit-hooks.yaml"
INSTALLERS = ("pre-commit", "envkey-hook")
ALL_TYPES = ("pre-commit", "post-checkout", "post-merge", "post-rewrite")
GITIGNORE = ".venv/\nbuild/\n*.egg-info/\n"
_CLEARED = ("GIT_", "UV_", "PRE_COMMIT", "VIRTUAL_ENV")
# The repository's two uv projects (dir -> its C extension): the root and sub/.
PROJECTS = {"": "extpkg", "sub": "subext"}


def isolated_env(base: Path, cache: Path) -> dict[str, str]:
    """Git without the machine's config, templates or inherited GIT_*; uv with `cache`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    (base / "git-template").mkdir(parents=True, exist_ok=True)
    (base / "gitconfig").touch()
    cache.mkdir(parents=True, exist_ok=True)  # a named cache must exist (as uv leaves it)
    env.update(
        UV_CACHE_DIR=str(cache),
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        XDG_CONFIG_HOME=str(base / "xdg-config"),
        GIT_CONFIG_GLOBAL=str(base / "gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TEMPLATE_DIR=str(base / "git-template"),
        PRE_COMMIT_HOME=str(base / "pre-commit-home"),
    )
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "envkey-hook tests"
        env[f"GIT_{role}_EMAIL"] = "tests@example.invalid"
    return env


def sh(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True, stdin: str = "") -> str:
    """Run a command, stdout and stderr together (git prints hook output on stderr)."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{shlex.join(cmd)}` exited {proc.returncode} in {cwd}:\n{proc.stdout}"
        )
    return proc.stdout


def git(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> str:
    # Only per-command settings: the global config stays empty.
    pre = [
        "-c",
        "init.defaultBranch=main",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "advice.detachedHead=false",
    ]
    return sh(["git", *pre, *args], cwd, env, check)


def precommit_config() -> str:
    """A `repo: local` config made of the shipped manifest's `envkey-hook` hook.

    `language: system` with this interpreter as entry: `language: python` would make
    pre-commit build a virtualenv and pip-install envkey-hook and its dependencies
    from an index, which is slow and needs the network.  The stages, always_run,
    pass_filenames and verbose settings under test are the manifest's own.
    """
    import yaml

    hooks = yaml.safe_load(MANIFEST.read_text())
    hook = dict(next(h for h in hooks if h["id"] == "envkey-hook"))
    hook["language"] = "system"
    hook["entry"] = f"{shlex.quote(sys.executable)} -m envkey_hook hook"
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}, sort_keys=False)


@dataclass(frozen=True)
class Template:
    base: Path
    repo: Path
    cache: Path
    builds: dict[str, str]  # project ("" or "sub") -> its build dir, relative to the cache


def _uv(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    from e2e_helpers import uv_binary

    sh([uv_binary(), *args], cwd, env)


_TEMPLATES: dict[str, Template] = {}


def template(factory: pytest.TempPathFactory, wheelhouse: Path) -> Template:
    """The session's template, built on first use (shared by the test modules)."""
    if "t" not in _TEMPLATES:
        _TEMPLATES["t"] = build_template(factory.mktemp("hook-template"), wheelhouse)
    return _TEMPLATES["t"]


def build_template(base: Path, wheelhouse: Path) -> Template:
    """Branches: main (rtlib 1.0), bump (2.0), side (lock moves, runtime does not),
    bump-sub (only sub/ bumps), feature (a commit on main that leaves uv alone).  The
    cache holds extpkg (root) and subext (sub/) built against rtlib 1.0.
    """
    cache = base / "cache"
    env = isolated_env(base, cache)
    repo = base / "repo"
    for rel, ext in PROJECTS.items():
        links = base / f"links-{ext}"
        fixture.write_runtime_wheels(links)
        fixture.runtime_wheel(links, "1.0", name="otherlib")
        fixture.ext_sdist(links, name=ext)
        text = fixture.project_pyproject(
            "extpkg",
            "1.0",
            find_links=[str(wheelhouse), str(links)],
            extra_uv="no-index = true\n",
            # The wheelhouse's setuptools may not support older Pythons.
            requires_python=f">={sys.version_info[0]}.{sys.version_info[1]}",
        )
        # The same extension under another name: the purge works per package name,
        # so only a package of its own shows which project a hook handled.
        text = text.replace('"extpkg"', f'"{ext}"').replace("\nextpkg = [", f"\n{ext} = [")
        (repo / rel).mkdir(parents=True, exist_ok=True)
        (repo / rel / "pyproject.toml").write_text(text)
        _uv(["lock", "-q"], repo / rel, env)
    (repo / ".gitignore").write_text(GITIGNORE)
    (repo / "README").write_text("hello\n")
    (repo / ".pre-commit-config.yaml").write_text(precommit_config())
    git(repo, env, "init", "-q")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-qm", "main: rtlib 1.0")

    def branch(name: str, edits: dict[str, tuple[str, str]], note: str = "") -> None:
        git(repo, env, "checkout", "-q", "-b", name, "main")
        for rel, (old, new) in edits.items():
            p = repo / rel / "pyproject.toml"
            assert old in p.read_text()
            p.write_text(p.read_text().replace(old, new))
            _uv(["lock", "-q"], repo / rel, env)
        if note:  # a file of its own: rebasing one such branch onto another never conflicts
            (repo / f"{name}.txt").write_text(note)
            git(repo, env, "add", f"{name}.txt")
        git(repo, env, "commit", "-qam", name)

    branch("bump", {"": ("rtlib==1.0", "rtlib==2.0")})
    branch("side", {"": ('"setuptools"]', '"setuptools", "otherlib==1.0"]')}, note="side\n")
    branch("bump-sub", {"sub": ("rtlib==1.0", "rtlib==2.0")})
    branch("feature", {}, note="feature\n")
    git(repo, env, "checkout", "-q", "main")

    builds: dict[str, str] = {}
    for rel in PROJECTS:
        before = set(build_dirs(cache))
        _uv(["sync", "-q", "--no-active"], repo / rel, env)
        (new,) = set(build_dirs(cache)) - before
        builds[rel] = new
    return Template(base, repo, cache, builds)


def build_dirs(cache: Path) -> list[str]:
    return sorted(p.relative_to(cache).as_posix() for p in cache.glob("sdists-v*/**/src/build"))


class HookRepo:
    """A copy of the template's repository and cache, with hooks from one installer."""

    def __init__(self, tmpl: Template, base: Path, installer: str) -> None:
        self.base = base
        self.repo = base / "repo"
        self.cache = base / "cache"
        self.installer = installer
        self.builds = tmpl.builds
        # With its environments: what is installed decides whether a shared build/ is stale.
        shutil.copytree(tmpl.repo, self.repo, symlinks=True)
        shutil.copytree(tmpl.cache, self.cache, symlinks=True)
        self.env = isolated_env(base, self.cache)

    def git(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        return git(cwd or self.repo, self.env, *args, check=check)

    def install(self, *types: str, cwd: Path | None = None) -> None:
        flags = [a for t in (types or ALL_TYPES) for a in ("-t", t)]
        module = "pre_commit" if self.installer == "pre-commit" else "envkey_hook"
        sh([sys.executable, "-m", module, "install", *flags], cwd or self.repo, self.env)

    def clone(self, dest: Path) -> tuple[str, list[str]]:
        """`git clone` with the hooks active during the clone; (output, git options
        that keep them active in the clone)."""
        if self.installer == "pre-commit":
            tmpl = self.base / "hook-template"
            types = [a for t in ALL_TYPES for a in ("-t", t)]
            cmd = [sys.executable, "-m", "pre_commit", "init-templatedir", str(tmpl), *types]
            sh(cmd, self.repo, self.env)
            out = self.git(
                "clone", "--template", str(tmpl), str(self.repo), str(dest), cwd=self.base
            )
            return out, []
        # Plain git: hooks shared through core.hooksPath, which install must honour.
        hooks = self.base / "shared-hooks"
        self.git("config", "core.hooksPath", str(hooks))
        self.install()
        opt = ["-c", f"core.hooksPath={hooks}"]
        return self.git(*opt, "clone", str(self.repo), str(dest), cwd=self.base), opt

    def present(self, project: str = "") -> bool:
        """Whether the project's stale-able build directory is still in the cache."""
        return (self.cache / self.builds[project]).is_dir()


def assert_purged(
    r: HookRepo, out: str, project: str = "", *, fresh_checkout: bool = False
) -> None:
    """`project`'s stale build went, and no other project's did.

    `fresh_checkout`: a new clone or worktree shares the cache but has nothing installed
    that proves another project's shared build/ was made for its configuration (issue 15
    item 14): that one may go too, never silently.
    """
    assert "envkey-hook: warning" not in out, out
    assert not r.present(project), f"{r.builds[project]} survived:\n{out}"
    assert "Removed" in out, out
    for other in r.builds:
        if other != project and not r.present(other):
            said = f"Removed 1 build directory of {PROJECTS[other]}"
            assert fresh_checkout and said in out, (
                f"{r.builds[other]} ({other or 'root'}) was purged:\n{out}"
            )


def assert_untouched(r: HookRepo, out: str) -> None:
    assert "envkey-hook: warning" not in out, out
    if r.installer == "pre-commit":  # it says it ran; plain git hooks stay silent
        assert "- hook id: envkey-hook" in out, out
    assert "Removed" not in out, out
    for project, path in r.builds.items():
        assert r.present(project), f"{path} ({project or 'root'}) was purged:\n{out}"


# --- scenarios: each drives one stage with real git and checks the cache ---------------


def checkout_branch(r: HookRepo) -> None:
    r.install()
    assert_purged(r, r.git("checkout", "bump"))


def checkout_without_runtime_move(r: HookRepo) -> None:
    r.install()
    out = r.git("checkout", "side")  # uv.lock changes, rtlib does not
    out += r.git("checkout", "-b", "topic")  # HEAD does not move
    assert_untouched(r, out)


def checkout_files(r: HookRepo) -> None:
    r.install()
    assert_purged(r, r.git("checkout", "bump", "--", "pyproject.toml", "uv.lock"))


def checkout_other_project(r: HookRepo) -> None:
    r.install()
    out = r.git("checkout", "bump-sub")
    assert_purged(r, out, "sub")
    assert "sub/uv.lock" in out, out


def merge_fast_forward(r: HookRepo) -> None:
    r.install()
    assert_purged(r, r.git("merge", "--no-edit", "bump"))


def merge_commit(r: HookRepo) -> None:
    r.git("checkout", "-q", "feature")
    r.install()
    assert_purged(r, r.git("merge", "--no-edit", "bump"))


def merge_without_runtime_move(r: HookRepo) -> None:
    r.install()
    assert_untouched(r, r.git("merge", "--no-edit", "side"))


def squash_merge(r: HookRepo) -> None:
    r.install()
    assert_purged(r, r.git("merge", "--squash", "bump"))


def rebase(r: HookRepo) -> None:
    r.git("checkout", "-q", "feature")
    r.install("post-rewrite")  # alone: post-checkout also fires during a rebase
    assert_purged(r, r.git("rebase", "bump"))


def rebase_without_runtime_move(r: HookRepo) -> None:
    r.git("checkout", "-q", "feature")
    r.install()
    assert_untouched(r, r.git("rebase", "side"))


def pull_rebase(r: HookRepo) -> None:
    upstream = r.base / "upstream.git"
    r.git("clone", "-q", "--bare", str(r.repo), str(upstream), cwd=r.base)
    r.git("remote", "add", "upstream", str(upstream))
    r.git("checkout", "-q", "feature")
    r.install()
    assert_purged(r, r.git("pull", "--rebase", "upstream", "bump"))


def amend(r: HookRepo) -> None:
    r.install("post-rewrite")
    r.git("checkout", "bump", "--", "pyproject.toml", "uv.lock")
    assert_purged(r, r.git("commit", "--amend", "--no-edit"))


def amend_without_runtime_move(r: HookRepo) -> None:
    r.install()
    (r.repo / "README").write_text("amended\n")
    assert_untouched(r, r.git("commit", "-a", "--amend", "--no-edit"))


def commit_staged_lock(r: HookRepo) -> None:
    r.install("pre-commit")
    r.git("checkout", "bump", "--", "pyproject.toml", "uv.lock")
    assert_purged(r, r.git("commit", "-m", "bump rtlib"))


def commit_with_unstaged_lock(r: HookRepo) -> None:
    r.install("pre-commit")
    for name in ("pyproject.toml", "uv.lock"):
        (r.repo / name).write_text(r.git("show", f"bump:{name}"))
    (r.repo / "README").write_text("readme only\n")
    r.git("add", "README")
    assert_untouched(r, r.git("commit", "-m", "readme"))
    assert "rtlib==2.0" in (r.repo / "pyproject.toml").read_text()  # still unstaged


def commit_conflicted_lock(r: HookRepo) -> None:
    """Bad input fails the pre-commit stage (one line, exit 2); post-* stages still pass."""
    r.install()
    lock = r.repo / "uv.lock"
    good = lock.read_text()
    head = r.git("rev-parse", "HEAD")
    lock.write_text(good.replace("\n[[package]]\n", "\n<<<<<<< HEAD\n[[package]]\n", 1))
    r.git("add", "uv.lock")
    out = r.git("commit", "-m", "broken lock", check=False)
    assert r.git("rev-parse", "HEAD") == head, out  # the commit failed
    errors = [line for line in out.splitlines() if "error" in line or "warning" in line]
    problem = f"unresolved merge conflict markers (line {_line(lock)})"
    assert errors == [f"error: index:uv.lock: {problem}"], out
    if r.installer == "pre-commit":
        assert "- exit code: 2" in out, out
    assert_untouched(r, out)
    r.git("commit", "--no-verify", "-m", "broken lock")
    out = r.git("checkout", "-q", "HEAD~1")  # the post-checkout hook warns, never fails
    assert "warning: post-checkout hook skipped .: " in out and "conflict markers" in out, out
    assert r.git("rev-parse", "HEAD") == head


def _line(path: Path) -> int:
    return path.read_text().splitlines().index("<<<<<<< HEAD") + 1


def clone(r: HookRepo) -> None:
    dest = r.base / "clone"
    out, opts = r.clone(dest)
    assert_untouched(r, out)  # null previous sha: no baseline
    assert_purged(r, r.git(*opts, "checkout", "bump", cwd=dest), fresh_checkout=True)


def worktree_add(r: HookRepo) -> None:
    r.install()
    wt = r.base / "wt"
    assert_untouched(r, r.git("worktree", "add", str(wt), "bump"))  # no baseline
    out = r.git("checkout", "--detach", "side", cwd=wt)  # rtlib 2.0 -> 1.0
    assert_purged(r, out, fresh_checkout=True)


SCENARIOS = [
    checkout_branch,
    checkout_without_runtime_move,
    checkout_files,
    checkout_other_project,
    merge_fast_forward,
    merge_commit,
    merge_without_runtime_move,
    squash_merge,
    rebase,
    rebase_without_runtime_move,
    pull_rebase,
    amend,
    amend_without_runtime_move,
    commit_staged_lock,
    commit_with_unstaged_lock,
    commit_conflicted_lock,
    clone,
    worktree_add,
]


def full_round(r: HookRepo) -> None:
    """Done means: checkout of a runtime bump purges, and the next reinstall is right."""
    from e2e_helpers import uv_binary

    uv = uv_binary()
    sh([uv, "sync", "-q", "--no-active"], r.repo, r.env)
    r.install()
    out = r.git("checkout", "bump")
    assert_purged(r, out)
    sh([uv, "sync", "-q", "--no-active", "--reinstall-package", "extpkg"], r.repo, r.env)
    code = "import extpkg, rtlib; print(extpkg.built_against(), rtlib.__version__)"
    python = r.repo / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    assert sh([str(python), "-c", code], r.repo, r.env).split() == ["2.0", "2.0"]
