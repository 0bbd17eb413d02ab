"""Writing the no-op record after a clean full run, and checking a record by content.

The record says: with this HEAD, these bytes in these files, this environment, a full
run found nothing to do. `save` writes it only when the run's inputs could not have
changed unseen while it ran; `revalidate` accepts a record whose stats moved (a new
commit, a touched file) when the bytes are still the same, and refreshes it.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from envkey_hook import fastpath
from envkey_hook.fileid import stat_sig

if TYPE_CHECKING:
    from envkey_hook.run import Outcome

# A file changed this recently may change again within the same timestamp tick, and
# its stat would not show it (git's "racy clean" problem). 2 s covers FAT and HFS+.
RACY_NS = 2_000_000_000
RACY = "!"  # a stat signature that never matches: always checked by content


class Snapshot(NamedTuple):
    """What a run of `project` depends on, by stat, taken before the run."""

    project: str
    root: str
    gitdir: str
    taken_ns: int
    header: list[str]
    head: str
    rels: list[str]  # the project's files in the repository (at HEAD and in the work tree)
    files: list[tuple[str, str]]  # (absolute path, stat signature) of every file read
    own: list[tuple[str, str]]  # the same for files the run itself writes (state.py's record)


def snapshot(project: str) -> Snapshot | None:
    """The state a default `run` of `project` reads; None when no record can be kept."""
    try:
        return _snapshot(project)
    except Exception:  # the record is only a cache: it never fails a run
        return None


def _snapshot(project: str) -> Snapshot | None:
    found = fastpath.locate(project)
    if found is None:
        return None
    path, root, gitdir = found
    taken = time.time_ns()
    head = fastpath.head_commit(gitdir)
    if head is None:
        return None
    top = fastpath.header(path, root)
    rels = in_repo_files(path, root)
    paths = list(
        dict.fromkeys([os.path.join(root, *r.split("/")) for r in rels] + outside_files(path, root))
    )
    if any("\n" in line for line in [*top, *paths]):
        return None  # the record holds one item a line
    files = [(p, stat_sig(p)) for p in paths]
    own = [(p, stat_sig(p)) for p in own_files(path, root)]
    return Snapshot(path, root, gitdir, taken, top, head, rels, files, own)


def own_files(project: str, root: str) -> list[str]:
    """The recorded envkeys `run` compares with as well (state.py), and rewrites, the
    reinstalls still due (reinstall.py), and the fingerprint of the environment they
    were observed in (envinputs.py)."""
    from envkey_hook import envinputs, state

    paths = [state.state_path(Path(root), Path(project))]
    paths.append(state.pending_path(Path(root), Path(project)))  # reinstall.py's record
    gitdir = fastpath.git_dir(root)
    seen = [] if gitdir is None else [envinputs.seen_path(gitdir, project)]
    return [str(p) for p in paths if p is not None] + seen


def in_repo_files(project: str, root: str) -> list[str]:
    """uv.lock and every project-level config file uv could read, relative to the root."""
    from envkey_hook.settings import project_config_candidates

    rel = Path(project).relative_to(root).as_posix()
    rel = "" if rel == "." else rel
    return [f"{rel}/uv.lock" if rel else "uv.lock", *project_config_candidates(rel)]


def outside_files(project: str, root: str) -> list[str]:
    """Files outside the repository that feed the run: uv's config above the root, the
    user and system files, `UV_CONFIG_FILE`, and the project environment's `pyvenv.cfg`."""
    from envkey_hook.settings import system_config_candidates, user_config_file

    env = os.environ
    out = [str(d / name) for d in Path(root).parents for name in ("uv.toml", "pyproject.toml")]
    user = user_config_file(env)
    out += [user] if user else []
    out += system_config_candidates(env)
    if env.get("UV_CONFIG_FILE"):
        out.append(os.path.join(os.getcwd(), env["UV_CONFIG_FILE"]))
    venv = env.get("UV_PROJECT_ENVIRONMENT") or os.path.join(project, ".venv")
    out.append(os.path.join(os.getcwd(), venv, "pyvenv.cfg"))
    # `.python-version` picks the interpreter when there is no environment (target.py)
    here = Path(project)
    top = Path(root)
    out += [str(d / ".python-version") for d in (here, *here.parents) if d.is_relative_to(top)]
    return out


def nothing_to_do(outcome: Outcome) -> bool:
    """A run that compared both states, found no change and did nothing."""
    return (
        outcome.exit_code == 0
        and not outcome.dry_run
        and outcome.message is None
        and outcome.busy is None
        and not outcome.changes
        and not outcome.removals
        and not outcome.notices
    )


def save(before: Snapshot, outcome: Outcome) -> bool:
    """Record a clean run; nothing is written unless its inputs were stable throughout."""
    try:
        return nothing_to_do(outcome) and _save(before)
    except Exception:  # the record is only a cache: it never fails a run
        return False


def _save(before: Snapshot) -> bool:
    after = _snapshot(before.project)
    if after is None or after[4:8] != before[4:8]:  # header, head, inputs: moved during the run
        return False
    if any(sig == "?" or _racy(sig, before.taken_ns) for _, sig in before.files):
        return False
    if any(sig == "?" for _, sig in after.own):
        return False
    oids = blob_ids(before.root, before.head, before.rels)
    if oids is None:
        return False
    # The run's own record as the run left it: only envkey-hook writes it, always by an
    # atomic rename (a new inode), so its stat vouches for its bytes however recent.
    files = [
        (p, sig, "-" if sig == "-" else content_hash(p)) for p, sig in before.files + after.own
    ]
    return write(before, before.head, list(zip(oids, before.rels)), files)


def revalidate(project: str, root: str, gitdir: str, lines: list[str], head: str | None) -> bool:
    """Whether a record whose stats moved still describes the same bytes; refresh it if so."""
    top = fastpath.header(project, root)
    recorded_head, bases, files = None, [], []
    for line in lines[len(top) : -1]:
        kind, _, rest = line.partition(" ")
        if kind == "head":
            recorded_head = rest
        elif kind == "base":
            oid, _, rel = rest.partition(" ")
            bases.append((oid, rel))
        elif kind == "file":
            sig, digest, path = rest.split(" ", 2)
            files.append((path, sig, digest))
        else:
            return False
    if head is None or recorded_head is None:
        return False
    taken = time.time_ns()
    if head != recorded_head:
        oids = blob_ids(root, head, [rel for _, rel in bases])
        if oids != [oid for oid, _ in bases]:
            return False
    fresh = []
    for path, sig, digest in files:
        now = stat_sig(path)
        if now != sig:
            if now == "?" or (now == "-") != (digest == "-"):
                return False  # appeared, vanished, or no longer a file
            if now != "-" and content_hash(path) != digest:
                return False
        fresh.append((path, RACY if _racy(now, taken) else now, digest))
    snap = Snapshot(project, root, gitdir, taken, top, head, [rel for _, rel in bases], [], [])
    write(snap, head, bases, fresh)
    return True


def _racy(sig: str, now_ns: int) -> bool:
    """Changed too recently for its stat to vouch for its bytes."""
    if sig in ("-", "?"):
        return False
    _, mtime, ctime, _ = sig.split(":")
    return max(int(mtime), int(ctime)) >= now_ns - RACY_NS


def blob_ids(root: str, commit: str, rels: list[str]) -> list[str] | None:
    """The blob id of each path at `commit` (`-` when absent or not a file), by one git call."""
    import subprocess

    names = "".join(f"{commit}:{rel}\n" for rel in rels)
    try:
        done = subprocess.run(
            ["git", "cat-file", "--batch-check"],
            cwd=root,
            input=names.encode("utf-8", "surrogateescape"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    except OSError:
        return None
    out = done.stdout.decode("utf-8", "surrogateescape").split("\n")[: len(rels)]
    if done.returncode != 0 or len(out) != len(rels):
        return None
    ids = []
    for line in out:
        fields = line.split(" ")
        ids.append(fields[0] if len(fields) == 3 and fields[1] == "blob" else "-")
    return ids


def content_hash(path: str) -> str:
    from envkey_hook.digest import sha256_hex

    with open(path, "rb") as f:
        return sha256_hex(f.read())


def write(
    snap: Snapshot, head: str, bases: list[tuple[str, str]], files: list[tuple[str, str, str]]
) -> bool:
    """Replace the record atomically; False when it cannot be written (it is only a cache)."""
    lines = [*snap.header, f"head {head}"]
    lines += [f"base {oid} {rel}" for oid, rel in bases]
    lines += [f"file {sig} {digest} {path}" for path, sig, digest in files]
    target = fastpath.record_path(snap.gitdir, snap.project)
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join([*lines, "end"]) + "\n")
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):  # never created
            os.unlink(tmp)
        return False
    return True
