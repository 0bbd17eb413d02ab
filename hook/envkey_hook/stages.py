"""`envkey-hook hook`: baseline and target for each git hook stage, then `run` per project.

This runs on every checkout, merge, rewrite and commit, so the path where no
uv file changed costs one `git diff` and imports nothing heavy (no GitPython).
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from envkey_hook.errors import InputError
from envkey_hook.gitstate import INDEX, WORKTREE, is_null_sha  # gitstate imports git lazily

if TYPE_CHECKING:
    from envkey_hook.run import Outcome

STAGES = ("pre-commit", "post-checkout", "post-merge", "post-rewrite")
WATCHED = ("uv.lock", "pyproject.toml", "uv.toml")
# `top` so the hook's working directory does not matter, `glob` so `**/` also
# matches at the root and `*` does not cross `/`.
_PATHSPECS = tuple(f":(top,glob)**/{name}" for name in WATCHED)


def infer_stage(env: Mapping[str, str]) -> str:
    """The stage pre-commit is running, from the variables it sets (it sets no stage name)."""
    if "PRE_COMMIT_CHECKOUT_TYPE" in env:
        return "post-checkout"
    if "PRE_COMMIT_IS_SQUASH_MERGE" in env:
        return "post-merge"
    if "PRE_COMMIT_REWRITE_COMMAND" in env:
        return "post-rewrite"
    return "pre-commit"


def _arg(argv: Sequence[str], i: int, env: Mapping[str, str], var: str) -> str | None:
    # git's argv wins: a plain git hook may run inside an environment that
    # still carries pre-commit's variables from an outer hook.
    if len(argv) > i:
        return argv[i]
    return env.get(var) or None


def refs_for_stage(
    stage: str, argv: Sequence[str], env: Mapping[str, str], stdin: str | None
) -> tuple[str, str] | None:
    """(baseline, target) for a hook stage, or None when there is no baseline.

    `argv` is what git passed the hook, `env` what pre-commit set, `stdin` the
    post-rewrite sha pairs under plain git (None under pre-commit).  Targets may
    be `WORKTREE` or `INDEX`.
    """
    if stage == "pre-commit":
        # What is about to be committed, not unstaged edits.
        return ("HEAD", INDEX)
    if stage == "post-checkout":
        prev = _arg(argv, 0, env, "PRE_COMMIT_FROM_REF")
        new = _arg(argv, 1, env, "PRE_COMMIT_TO_REF")
        flag = _arg(argv, 2, env, "PRE_COMMIT_CHECKOUT_TYPE")
        if prev is None or new is None or flag is None:
            raise InputError("post-checkout", "expected <previous HEAD> <new HEAD> <flag>")
        if flag == "0":
            # A file checkout: HEAD stays, files in the work tree changed.
            return ("HEAD", WORKTREE)
        if is_null_sha(prev):
            return None  # git clone, git worktree add
        return (prev, new)
    if stage == "post-merge":
        squash = _arg(argv, 0, env, "PRE_COMMIT_IS_SQUASH_MERGE")
        if squash == "1":
            # A squash merge leaves HEAD alone and the result in the work tree.
            return ("HEAD", WORKTREE)
        return ("ORIG_HEAD", "HEAD")
    if stage == "post-rewrite":
        command = _arg(argv, 0, env, "PRE_COMMIT_REWRITE_COMMAND")
        if command == "amend":
            pairs = [line.split() for line in (stdin or "").splitlines() if line.strip()]
            # git's own pair is exact even with reflogs off; pre-commit does
            # not forward it, so fall back to the reflog.
            return (pairs[0][0] if pairs else "HEAD@{1}", "HEAD")
        if command == "rebase":
            # The pre-rebase tip.  Not the last old sha on stdin: an
            # interactive rebase may reorder or drop commits, so the last
            # rewritten commit need not be the old tip.
            return ("ORIG_HEAD", "HEAD")
        raise InputError("post-rewrite", f"unknown rewrite command {command!r}")
    raise InputError(stage, f"unknown hook stage (expected one of: {', '.join(STAGES)})")


def _git(args: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def _fail(what: str, proc: subprocess.CompletedProcess[bytes]) -> InputError:
    msg = proc.stderr.decode(errors="replace").strip().splitlines()
    return InputError(what, msg[-1] if msg else f"git exited with {proc.returncode}")


def _resolves(ref: str, cwd: Path | None) -> bool:
    return _git(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], cwd).returncode == 0


def changed_files(from_ref: str, to_ref: str, cwd: Path | None = None) -> list[str] | None:
    """Watched files (repo-relative) that differ; None when `from_ref` does not exist."""
    if to_ref == INDEX:
        args = ["diff", "--cached", from_ref]
    elif to_ref == WORKTREE:
        args = ["diff", from_ref]
    else:
        args = ["diff", from_ref, to_ref]
    proc = _git([*args, "--name-only", "--no-renames", "-z", "--", *_PATHSPECS], cwd)
    if proc.returncode != 0:
        if not _resolves(from_ref, cwd):
            return None  # unborn HEAD, no ORIG_HEAD, no reflog: no baseline
        raise _fail(f"git diff {from_ref}", proc)
    return sorted(p for p in proc.stdout.decode().split("\0") if p)


def lock_dirs(to_ref: str, root: Path) -> list[str]:
    """Directories (repo-relative, '' for the root) holding a uv.lock in the target state."""
    if to_ref in (INDEX, WORKTREE):
        args = ["ls-files", "-z", "--cached"]
        if to_ref == WORKTREE:
            args += ["--others", "--exclude-standard"]
        proc = _git([*args, "--", ":(top,glob)**/uv.lock"], root)
    else:
        # ls-tree takes no pathspec magic: list the tree and filter.
        proc = _git(["ls-tree", "-r", "-z", "--name-only", to_ref], root)
    if proc.returncode != 0:
        raise _fail(f"git ls-files/ls-tree {to_ref}", proc)
    paths = [p for p in proc.stdout.decode().split("\0") if posixpath.basename(p) == "uv.lock"]
    if to_ref == WORKTREE:
        paths = [p for p in paths if (root / p).is_file()]  # tracked but deleted
    return sorted({posixpath.dirname(p) for p in paths})


def _under(child: str, parent: str) -> bool:
    return parent == "" or child == parent or child.startswith(parent + "/")


def affected_projects(changed: Sequence[str], locks: Sequence[str]) -> list[str]:
    """Project dirs (those holding a uv.lock in `locks`) that a changed file concerns.

    A file concerns the project in its directory and every project below it: uv
    looks for uv.toml and [tool.uv] walking up from a project.  Not the workspace
    above it: uv ignores a member's [tool.uv], and a member's dependencies move the
    workspace's uv.lock, which is then in `changed` itself.
    """
    dirs = {posixpath.dirname(p) for p in changed if posixpath.basename(p) in WATCHED}
    return sorted(p for p in locks if any(_under(p, d) for d in dirs))


def _label(ref: str) -> str:
    if ref == WORKTREE:
        return "work tree"
    if ref == INDEX:
        return "index"
    if len(ref) in (40, 64) and all(c in "0123456789abcdef" for c in ref):
        return ref[:12]
    return ref


def _env_moved() -> list[str]:
    """Projects whose build variables, compilers or CUDA toolkit may have moved since
    their state was recorded (envinputs.py): compared with the recorded state even
    when no uv file changed. A directory listing and a few stats: no git, no parsing."""
    from envkey_hook import envinputs, fastpath

    found = fastpath.locate(".")
    return [] if found is None else envinputs.moved_projects(found[2], os.environ)


def _relative(projects: Sequence[str], root: Path) -> list[str]:
    out = []
    for p in projects:
        try:
            rel = Path(p).relative_to(root.resolve()).as_posix()
        except ValueError:
            continue  # recorded for a project of another work tree layout
        out.append("" if rel == "." else rel)
    return out


def _has_news(o: Outcome) -> bool:
    # Not `message` alone (a project new in the target: nothing compared): -v shows it.
    return bool(o.changes or o.notices or o.busy or o.lock_out_of_date or o.removals)


def run_hook(
    hook_args: Sequence[str],
    *,
    strict: bool = False,
    cache_dir: str | None = None,
    dry_run: bool = False,
    verbosity: int = 0,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`envkey-hook hook [STAGE [ARGS...]]`; the exit code.

    Post-* stages report and exit 0 whatever happens, unless `strict`: a hook must
    not fail a checkout for envkey-hook's own reasons.  The pre-commit stage does
    too, except for bad input (a broken uv.lock or settings file about to be
    committed): that fails the commit, exit 2.  In strict mode errors propagate and
    a needed follow-up exits 1.
    """
    env = os.environ if env is None else env
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if hook_args:
        stage, argv = hook_args[0], list(hook_args[1:])
        if stage not in STAGES:
            raise InputError(stage, f"unknown hook stage (expected one of: {', '.join(STAGES)})")
        # Plain git feeds post-rewrite its sha pairs; pre-commit does not.
        text = None
        if stage == "post-rewrite" and "PRE_COMMIT_REWRITE_COMMAND" not in env:
            src = sys.stdin if stdin is None else stdin
            text = None if src is None or src.isatty() else src.read()
    elif "PRE_COMMIT" in env:  # pre-commit passes no stage name, only its variables
        stage, argv, text = infer_stage(env), [], None
    else:
        raise InputError(
            "envkey-hook hook",
            f"expected a stage ({', '.join(STAGES)}) and git's hook arguments; "
            "only pre-commit (which sets PRE_COMMIT) may omit them",
        )
    try:
        return _hook(stage, argv, env, text, strict, cache_dir, dry_run, verbosity, out, err)
    except Exception as exc:
        if strict or (stage == "pre-commit" and isinstance(exc, InputError)):
            raise
        why = (
            str(exc)
            if isinstance(exc, InputError)
            else f"internal error: {type(exc).__name__}: {exc}"
        )
        print(f"envkey-hook: warning: {stage} hook skipped: {why}", file=err)
        return 0


def _hook(
    stage: str,
    argv: list[str],
    env: Mapping[str, str],
    stdin: str | None,
    strict: bool,
    cache_dir: str | None,
    dry_run: bool,
    verbosity: int,
    out: TextIO,
    err: TextIO,
) -> int:
    refs = refs_for_stage(stage, argv, env, stdin)
    if refs is not None and refs[0] == refs[1]:
        changed: list[str] | None = []  # `git checkout -b`: HEAD did not move
    else:
        changed = None if refs is None else changed_files(*refs)
    if refs is None or changed is None:
        if verbosity > 0:
            print(f"envkey-hook: {stage}: no baseline (new clone or worktree?)", file=out)
        return 0
    moved = _env_moved()
    if not changed and not moved:
        if verbosity > 0:
            print(f"envkey-hook: {stage}: no {', '.join(WATCHED)} changed", file=out)
        return 0

    from envkey_hook import report
    from envkey_hook.run import Options, run

    proc = _git(["rev-parse", "--show-toplevel"])
    if proc.returncode != 0:
        raise _fail("git rev-parse --show-toplevel", proc)
    root = Path(proc.stdout.decode().strip())
    from_ref, to_ref = refs
    code = 0
    projects = affected_projects(changed, lock_dirs(to_ref, root)) if changed else []
    for rel in sorted(set(projects) | set(_relative(moved, root))):
        opts = Options(
            project=root / rel,
            from_ref=from_ref,
            to_ref=to_ref,
            cache_dir=cache_dir,
            dry_run=dry_run,
        )
        try:
            outcome = run(opts)
        except InputError as exc:
            if strict or stage == "pre-commit":  # bad input must not be committed
                raise
            print(f"envkey-hook: warning: {stage} hook skipped {rel or '.'}: {exc}", file=err)
            continue
        if (_has_news(outcome) and verbosity >= 0) or verbosity > 0:
            name = posixpath.join(rel, "uv.lock")
            print(f"envkey-hook {stage}: {name} ({_label(from_ref)} -> {_label(to_ref)})", file=out)
            report.render_text([outcome], verbosity, out, err)
            if not outcome.changes and not outcome.message:
                print("No build input changed", file=out)
        if strict or outcome.strict:
            code = max(code, outcome.exit_code)
    return code
