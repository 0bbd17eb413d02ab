"""Baseline and target for each hook stage; which projects a change concerns.

The stage logic is pure (no git); the file listing runs real git on tiny
repositories (no uv).  Every stage driven end to end through real git operations
is in test_githooks.py and test_precommit.py.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from envkey_hook import cli, stages
from envkey_hook.errors import InputError
from envkey_hook.gitstate import INDEX, WORKTREE

A = "a" * 40
B = "b" * 40
NULL1 = "0" * 40
NULL256 = "0" * 64


@pytest.mark.parametrize(
    ("stage", "argv", "env", "stdin", "expected"),
    [
        # pre-commit: what is staged, not what is in the work tree
        ("pre-commit", [], {}, None, ("HEAD", INDEX)),
        # post-checkout: git's argv, or pre-commit's variables
        ("post-checkout", [A, B, "1"], {}, None, (A, B)),
        (
            "post-checkout",
            [],
            {"PRE_COMMIT_FROM_REF": A, "PRE_COMMIT_TO_REF": B, "PRE_COMMIT_CHECKOUT_TYPE": "1"},
            None,
            (A, B),
        ),
        ("post-checkout", [NULL1, B, "1"], {}, None, None),  # git clone / worktree add
        ("post-checkout", [NULL256, B, "1"], {}, None, None),  # SHA-256 repository
        ("post-checkout", [A, A, "0"], {}, None, ("HEAD", WORKTREE)),  # file checkout
        # git's argv wins over variables an outer pre-commit run left behind
        ("post-checkout", [A, B, "1"], {"PRE_COMMIT_FROM_REF": NULL1}, None, (A, B)),
        # post-merge
        ("post-merge", ["0"], {}, None, ("ORIG_HEAD", "HEAD")),
        ("post-merge", ["1"], {}, None, ("HEAD", WORKTREE)),  # squash: HEAD stays
        ("post-merge", [], {"PRE_COMMIT_IS_SQUASH_MERGE": "0"}, None, ("ORIG_HEAD", "HEAD")),
        ("post-merge", [], {"PRE_COMMIT_IS_SQUASH_MERGE": "1"}, None, ("HEAD", WORKTREE)),
        # post-rewrite: plain git gives the sha pairs, pre-commit does not
        ("post-rewrite", ["amend"], {}, f"{A} {B}\n", (A, "HEAD")),
        ("post-rewrite", [], {"PRE_COMMIT_REWRITE_COMMAND": "amend"}, None, ("HEAD@{1}", "HEAD")),
        ("post-rewrite", ["rebase"], {}, f"{A} {B}\n{B} {A}\n", ("ORIG_HEAD", "HEAD")),
        ("post-rewrite", [], {"PRE_COMMIT_REWRITE_COMMAND": "rebase"}, None, ("ORIG_HEAD", "HEAD")),
    ],
)
def test_refs_for_stage(
    stage: str,
    argv: list[str],
    env: dict[str, str],
    stdin: str | None,
    expected: tuple[str, str] | None,
) -> None:
    assert stages.refs_for_stage(stage, argv, env, stdin) == expected


@pytest.mark.parametrize(
    ("stage", "argv"),
    [("post-checkout", [A, B]), ("post-rewrite", ["squash"]), ("pre-push", [])],
)
def test_refs_for_stage_rejects_what_it_cannot_read(stage: str, argv: list[str]) -> None:
    with pytest.raises(InputError):
        stages.refs_for_stage(stage, argv, {}, None)


@pytest.mark.parametrize(
    ("env", "stage"),
    [
        ({}, "pre-commit"),
        ({"PRE_COMMIT": "1"}, "pre-commit"),
        ({"PRE_COMMIT_CHECKOUT_TYPE": "1", "PRE_COMMIT_FROM_REF": A}, "post-checkout"),
        ({"PRE_COMMIT_IS_SQUASH_MERGE": "0"}, "post-merge"),
        ({"PRE_COMMIT_REWRITE_COMMAND": "amend"}, "post-rewrite"),
    ],
)
def test_infer_stage(env: dict[str, str], stage: str) -> None:
    assert stages.infer_stage(env) == stage


LOCKS = ["", "apps/api", "apps/web", "tools"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["apps/api/uv.lock"], ["apps/api"]),
        (["apps/api/uv.lock", "tools/uv.toml"], ["apps/api", "tools"]),
        # a member's own [tool.uv] is ignored; its dependencies move the workspace lock
        (["tools/member/pyproject.toml"], []),
        # uv reads uv.toml walking up: a parent's settings concern every project below
        (["apps/uv.toml"], ["apps/api", "apps/web"]),
        (["pyproject.toml"], LOCKS),
        # a deleted project has no lock in the target: nothing to do
        (["old/uv.lock"], []),
        (["docs/not-uv.lock"], []),
    ],
)
def test_affected_projects(changed: list[str], expected: list[str]) -> None:
    assert stages.affected_projects(changed, LOCKS) == expected


# --- real git, no uv -----------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout


def _write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two projects (root, sub/) with one commit; the cwd is the repository."""
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q")
    _write(r, {"uv.lock": "1\n", "pyproject.toml": "", "sub/uv.lock": "1\n", "README": ""})
    _git(r, "add", "-A")
    _git(r, "commit", "-qm", "one")
    monkeypatch.chdir(r)
    return r


def test_changed_files_between_commits_index_and_work_tree(repo: Path) -> None:
    _write(repo, {"sub/uv.lock": "2\n", "README": "x", "sub/my-uv.lock": ""})
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "two")
    assert stages.changed_files("HEAD~1", "HEAD") == ["sub/uv.lock"]
    assert stages.changed_files("HEAD", "HEAD") == []

    _write(repo, {"uv.toml": "", "pyproject.toml": "x"})
    _git(repo, "add", "uv.toml")  # staged; the pyproject.toml edit is not
    assert stages.changed_files("HEAD", INDEX) == ["uv.toml"]
    assert stages.changed_files("HEAD", WORKTREE) == ["pyproject.toml", "uv.toml"]


def test_changed_files_from_anywhere_in_the_repository(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(repo, {"uv.lock": "2\n"})
    monkeypatch.chdir(repo / "sub")
    assert stages.changed_files("HEAD", WORKTREE) == ["uv.lock"]


def test_changed_files_without_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _git(tmp_path, "init", "-q")
    _write(tmp_path, {"uv.lock": ""})
    _git(tmp_path, "add", "uv.lock")
    monkeypatch.chdir(tmp_path)
    assert stages.changed_files("HEAD", INDEX) is None  # unborn HEAD: first commit
    assert stages.changed_files("ORIG_HEAD", "HEAD") is None


def test_changed_files_unknown_target_is_an_error(repo: Path) -> None:
    with pytest.raises(InputError):
        stages.changed_files("HEAD", "no-such-branch")


def test_lock_dirs(repo: Path) -> None:
    assert stages.lock_dirs("HEAD", repo) == ["", "sub"]
    (repo / "sub" / "uv.lock").unlink()
    _write(repo, {"new/uv.lock": ""})
    assert stages.lock_dirs(WORKTREE, repo) == ["", "new"]
    assert stages.lock_dirs(INDEX, repo) == ["", "sub"]


# --- run_hook: fast path, warnings, strict mode ------------------------------------


def _hook(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = stages.run_hook(list(args), env=env or {}, out=out, err=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def test_nothing_changed_prints_nothing(repo: Path) -> None:
    _write(repo, {"README": "edited"})
    _git(repo, "commit", "-qam", "readme")
    assert _hook("post-checkout", "HEAD~1", "HEAD", "1") == (0, "", "")
    assert _hook("post-checkout", NULL1, "HEAD", "1") == (0, "", "")
    assert _hook(env={"PRE_COMMIT": "1"}) == (0, "", "")  # inferred: pre-commit, nothing staged


def test_nothing_changed_says_so_with_verbose(repo: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = stages.run_hook(["post-merge", "0"], env={}, verbosity=1, out=out, err=err)
    assert code == 0
    assert "no baseline" in out.getvalue()  # no ORIG_HEAD yet


def test_fast_path_does_not_import_gitpython(repo: Path) -> None:
    code = (
        "import sys\nfrom envkey_hook.cli import main\n"
        "rc = main(['hook', 'post-checkout', 'HEAD', 'HEAD', '1'])\n"
        "print(rc, 'git' in sys.modules, 'envkey_hook.run' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["0", "False", "False"]


def test_post_stage_problems_warn_and_exit_0(repo: Path) -> None:
    code, out, err = _hook("post-checkout", "HEAD")  # missing arguments
    assert code == 0 and out == ""
    assert err.startswith("envkey-hook: warning: post-checkout hook skipped:")
    assert len(err.splitlines()) == 1


def test_internal_errors_warn_unless_strict(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import envkey_hook.run

    def boom(opts: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(envkey_hook.run, "run", boom)
    _write(repo, {"uv.lock": "2\n"})
    _git(repo, "commit", "-qam", "lock")
    args = ["hook", "post-checkout", "HEAD~1", "HEAD", "1"]
    assert cli.main(args) == 0
    assert "warning: post-checkout hook skipped: internal error: RuntimeError: boom" in (
        capsys.readouterr().err
    )
    assert cli.main(["hook", "--strict", *args[1:]]) == cli.EXIT_INTERNAL


def test_usage_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["hook", "pre-push"]) == 2
    assert "unknown hook stage" in capsys.readouterr().err
    assert cli.main(["hook", "--strict", "post-checkout", "HEAD"]) == 2


def test_no_stage_outside_pre_commit_says_what_it_expects(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a silent pre-commit run: git always passes the stage, pre-commit sets PRE_COMMIT."""
    assert cli.main(["hook"]) == 2
    assert capsys.readouterr().err == (
        "error: envkey-hook hook: expected a stage (pre-commit, post-checkout, post-merge, "
        "post-rewrite) and git's hook arguments; only pre-commit (which sets PRE_COMMIT) "
        "may omit them\n"
    )


CONFLICTED = "version = 1\n<<<<<<< HEAD\nrevision = 2\n=======\nrevision = 3\n>>>>>>> other\n"


@pytest.mark.parametrize("env", [{}, {"PRE_COMMIT": "1"}], ids=["git", "pre-commit"])
def test_pre_commit_stage_fails_on_a_broken_staged_lock(
    repo: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input must not be committed: exit 2 and one line, even without --strict."""
    _write(repo, {"uv.lock": CONFLICTED})
    _git(repo, "add", "uv.lock")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert cli.main(["hook"] if env else ["hook", "pre-commit"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "uv.lock" in err[0] and "conflict markers" in err[0], err


def test_post_stages_never_fail_on_a_broken_lock(repo: Path) -> None:
    _write(repo, {"uv.lock": CONFLICTED})
    _git(repo, "commit", "-qam", "broken")
    code, out, err = _hook("post-checkout", "HEAD~1", "HEAD", "1")
    assert (code, out) == (0, "")
    first = err.splitlines()[0]  # (sub/'s lock is no TOML either)
    assert first.startswith("envkey-hook: warning: post-checkout hook skipped .: HEAD:uv.lock")
    assert first.endswith("unresolved merge conflict markers (line 2)")


def test_post_rewrite_reads_stdin_only_under_plain_git(repo: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            raise AssertionError("stdin must not be touched under pre-commit")

    env = {"PRE_COMMIT_REWRITE_COMMAND": "amend"}
    code = stages.run_hook(["post-rewrite", "amend"], env=env, stdin=Tty(), out=io.StringIO())
    assert code == 0


@pytest.mark.parametrize(("config_strict", "expected"), [(False, 0), (True, 1)])
def test_strict_from_config_makes_a_follow_up_fail_the_hook(
    repo: Path, monkeypatch: pytest.MonkeyPatch, config_strict: bool, expected: int
) -> None:
    import envkey_hook.run
    from envkey_hook.envkey import Change
    from envkey_hook.purge import Removal

    def needs_reinstall(opts: envkey_hook.run.Options) -> envkey_hook.run.Outcome:
        o = envkey_hook.run.Outcome(str(opts.project), opts.from_ref, opts.to_ref)
        o.changes = [Change("extpkg", "rtlib", "1.0", "2.0")]
        o.removals = [Removal(Path("/c/slot"), "polluted-slot", "extpkg", None, 1, "d")]
        o.strict = config_strict
        return o

    monkeypatch.setattr(envkey_hook.run, "run", needs_reinstall)
    _write(repo, {"uv.lock": "2\n"})
    _git(repo, "commit", "-qam", "lock")
    assert cli.main(["hook", "post-checkout", "HEAD~1", "HEAD", "1"]) == expected
