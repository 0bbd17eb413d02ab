"""`envkey-hook install` / `uninstall` with real git, and every stage through them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import hookrepo
from envkey_hook import githooks


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", hookrepo.SCENARIOS, ids=lambda f: f.__name__)
def test_stage(
    scenario: Callable[[hookrepo.HookRepo], None], template: hookrepo.Template, tmp_path: Path
) -> None:
    scenario(hookrepo.HookRepo(template, tmp_path, "envkey-hook"))


@pytest.mark.e2e
def test_checkout_bump_then_reinstall_builds_against_new_runtime(
    template: hookrepo.Template, tmp_path: Path
) -> None:
    hookrepo.full_round(hookrepo.HookRepo(template, tmp_path, "envkey-hook"))


# --- install / uninstall, real git, no uv ----------------------------------------------


def _repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    env = hookrepo.isolated_env(tmp_path, tmp_path / "uv-cache")
    repo = tmp_path / "repo"
    repo.mkdir()
    hookrepo.git(repo, env, "init", "-q")
    (repo / "f").write_text("1\n")
    hookrepo.git(repo, env, "add", "f")
    hookrepo.git(repo, env, "commit", "-qm", "one")
    return repo, env


def _cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "envkey_hook", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)  # the empty git template has no hooks/
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_install_writes_marked_scripts_and_is_idempotent(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    hooks = repo / ".git" / "hooks"
    assert _cli(repo, env, "install").returncode == 0
    first = {}
    for t in hookrepo.ALL_TYPES:
        text = (hooks / t).read_text()
        assert githooks.MARKER in text and sys.executable in text
        assert os.access(hooks / t, os.X_OK)
        first[t] = text
    again = _cli(repo, env, "install")
    assert again.returncode == 0 and again.stdout.count("already installed") == 4
    assert {t: (hooks / t).read_text() for t in hookrepo.ALL_TYPES} == first
    assert sorted(os.listdir(hooks)) == sorted(hookrepo.ALL_TYPES)


def test_existing_hook_is_chained_and_restored(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    hooks = repo / ".git" / "hooks"
    log = tmp_path / "log"
    original = _script(hooks / "post-checkout", f'echo "old $*" >> {log}\nexit 3\n').read_text()
    proc = _cli(repo, env, "install", "-t", "post-checkout")
    assert "post-checkout.pre-envkey-hook" in proc.stdout
    assert (hooks / "post-checkout.pre-envkey-hook").read_text() == original
    # The chained hook runs, and its status is still the hook's (git makes it 1).
    checkout = subprocess.run(["git", "checkout", "-qb", "x"], cwd=repo, env=env)
    assert checkout.returncode == 1
    assert log.read_text().startswith("old ")
    direct = subprocess.run([hooks / "post-checkout", "HEAD", "HEAD", "1"], cwd=repo, env=env)
    assert direct.returncode == 3

    assert _cli(repo, env, "uninstall").returncode == 0
    assert (hooks / "post-checkout").read_text() == original
    assert not (hooks / "post-checkout.pre-envkey-hook").exists()


def test_post_rewrite_pairs_reach_both_hooks(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    hooks = repo / ".git" / "hooks"
    log = tmp_path / "log"
    _script(hooks / "post-rewrite", f'echo "old $*" >> {log}\ncat >> {log}\n')
    fake = _script(tmp_path / "python", f'echo "ours $*" >> {log}\ncat >> {log}\n')
    githooks.install(["post-rewrite"], cwd=repo, python=str(fake), out=io.StringIO())
    old = hookrepo.git(repo, env, "rev-parse", "HEAD").strip()
    hookrepo.git(repo, env, "commit", "-q", "--amend", "-m", "amended")
    new = hookrepo.git(repo, env, "rev-parse", "HEAD").strip()
    assert log.read_text().splitlines() == [
        "old amend",
        f"{old} {new}",
        "ours -m envkey_hook hook post-rewrite amend",
        f"{old} {new}",
    ]


def test_refuses_hooks_written_by_pre_commit(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    precommit = [sys.executable, "-m", "pre_commit", "install", "-t", "post-checkout"]
    hookrepo.sh(precommit, repo, env)
    proc = _cli(repo, env, "install")
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1
    assert "managed by pre-commit" in proc.stderr
    assert "pre-commit install -t post-checkout" in proc.stderr
    hooks = repo / ".git" / "hooks"
    assert not (hooks / "post-merge").exists()  # all or nothing
    assert not githooks.is_ours(hooks / "post-checkout")


def test_uninstall_after_pre_commit_moved_ours_to_legacy(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    hooks = repo / ".git" / "hooks"
    assert _cli(repo, env, "install", "-t", "post-checkout").returncode == 0
    hookrepo.sh([sys.executable, "-m", "pre_commit", "install", "-t", "post-checkout"], repo, env)
    assert githooks.is_ours(hooks / "post-checkout.legacy")
    assert _cli(repo, env, "uninstall", "-t", "post-checkout").returncode == 0
    assert not (hooks / "post-checkout.legacy").exists()
    assert githooks.is_pre_commits(hooks / "post-checkout")


def test_uninstall_removes_only_what_it_installed(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    hooks = repo / ".git" / "hooks"
    _cli(repo, env, "install")
    foreign = _script(hooks / "post-merge", "exit 0\n").read_text()  # someone replaced ours
    proc = _cli(repo, env, "uninstall")
    assert proc.returncode == 0 and "left alone" in proc.stdout
    assert os.listdir(hooks) == ["post-merge"]
    assert (hooks / "post-merge").read_text() == foreign
    assert "no envkey-hook hooks" in _cli(repo, env, "uninstall").stdout


def test_honours_core_hooks_path(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    hookrepo.git(repo, env, "config", "core.hooksPath", ".githooks")
    _cli(repo, env, "install", "-t", "post-merge")
    assert githooks.is_ours(repo / ".githooks" / "post-merge")
    assert not (repo / ".git" / "hooks" / "post-merge").exists()


def test_worktree_installs_into_the_common_dir(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    wt = tmp_path / "wt"
    hookrepo.git(repo, env, "worktree", "add", "-q", str(wt))
    assert _cli(wt, env, "install", "-t", "post-checkout").returncode == 0
    assert githooks.is_ours(repo / ".git" / "hooks" / "post-checkout")


def test_strict_install_and_missing_interpreter(tmp_path: Path) -> None:
    repo, env = _repo(tmp_path)
    _cli(repo, env, "install", "--strict", "-t", "pre-commit")
    assert "hook --strict pre-commit" in (repo / ".git" / "hooks" / "pre-commit").read_text()
    # A deleted virtualenv must not break checkouts: warn, exit 0.
    githooks.install(["post-checkout"], cwd=repo, python="/nonexistent/python", out=io.StringIO())
    out = hookrepo.git(repo, env, "checkout", "-b", "y")
    assert "envkey-hook: warning: /nonexistent/python not found" in out


def test_outside_a_repository(tmp_path: Path) -> None:
    env = hookrepo.isolated_env(tmp_path, tmp_path / "uv-cache")
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path)
    proc = _cli(tmp_path, env, "install")
    assert proc.returncode == 2 and "not a git repository" in proc.stderr
