"""The recorded state: where it lives, crash-safe writes, bad records, and `run` using it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lockedproject
from envkey_hook import current, state
from envkey_hook.envkey import Change, EnvKey
from envkey_hook.errors import InputError
from envkey_hook.run import Options, run

KEYS = {
    "extpkg": EnvKey(
        "extpkg", (("rtlib", "1.0"), ("source", "registry=/links"), ("version", "0.1")), frozenset()
    ),
    "fast-jl": EnvKey("fast-jl", (("torch", "2.4.0"), ("version", "0.1")), frozenset({"torch"})),
}


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".git").mkdir()
    return root


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


# --- where it lives ----------------------------------------------------------------------


def test_path_is_in_the_git_dir_per_project(tmp_path: Path) -> None:
    root = repo(tmp_path)
    a = state.state_path(root, root)
    b = state.state_path(root, root / "sub")
    assert a is not None and b is not None
    assert a.parent == root / ".git" / "envkey-hook"
    assert a.name.startswith("state-") and a.suffix == ".json"
    assert a != b


def test_linked_worktree_uses_its_own_git_dir(tmp_path: Path) -> None:
    main = repo(tmp_path)
    wt_git = main / ".git" / "worktrees" / "wt"
    wt_git.mkdir(parents=True)
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {wt_git}\n")
    path = state.state_path(wt, wt)
    assert path is not None and path.parent == wt_git / "envkey-hook"


def test_relative_gitdir_file(tmp_path: Path) -> None:
    (tmp_path / "modules" / "sub").mkdir(parents=True)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".git").write_text("gitdir: ../modules/sub\n")
    assert state.git_dir(sub) == sub / ".." / "modules" / "sub"


def test_outside_git_nothing_is_recorded(tmp_path: Path) -> None:
    assert state.state_path(tmp_path, tmp_path) is None
    assert state.save_for(tmp_path, tmp_path, KEYS) is False
    assert state.load_for(tmp_path, tmp_path) is None


# --- reading and writing -------------------------------------------------------------------


def test_round_trip_and_no_temp_files_left(tmp_path: Path) -> None:
    root = repo(tmp_path)
    assert state.load_for(root, root) is None  # nothing recorded yet: no warning either
    assert state.save_for(root, root, KEYS)
    assert state.load_for(root, root) == KEYS
    path = state.state_path(root, root)
    assert path is not None
    assert os.listdir(path.parent) == [path.name]
    doc = json.loads(path.read_text())
    assert doc["schema"] == state.SCHEMA and doc["project"] == str(root.resolve())


@given(
    st.dictionaries(
        st.text(min_size=1),
        st.tuples(
            st.dictionaries(st.text(), st.text(), max_size=4),
            st.frozensets(st.text(), max_size=2),
        ),
        max_size=4,
    )
)
def test_any_envkeys_round_trip(raw: dict[str, tuple[dict[str, str], frozenset[str]]]) -> None:
    keys = {
        n: EnvKey(n, tuple(sorted(inputs.items())), unkeyed) for n, (inputs, unkeyed) in raw.items()
    }
    project = Path("/nonexistent/project")
    doc = json.loads(
        json.dumps(
            {"schema": 2, "project": state.project_id(project), "envkeys": state._encode(keys)}
        )
    )
    assert state._decode(doc, project) == keys


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "Expecting"),
        (b"\xff\xfe\x00garbage", "utf-8"),
        (b"[]", "not a JSON object"),
        (b'{"schema": 99, "envkeys": {}}', "schema 99"),
        (b"", "Expecting value"),
        (None, "records another project"),
        (b'{"schema": 2, "project": "@P", "envkeys": []}', "`envkeys` is not an object"),
        (b'{"schema": 2, "project": "@P", "envkeys": {"x": {"inputs": [["a"]]}}}', "bad `inputs`"),
        (
            b'{"schema": 2, "project": "@P", "envkeys": {"x": {"inputs": [], "unkeyed": 3}}}',
            "bad `unkeyed`",
        ),
    ],
)
def test_unusable_record_is_absent_with_one_warning(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    root = repo(tmp_path)
    path = state.state_path(root, root)
    assert path is not None
    state.save(path, root, KEYS)
    if content is None:  # a record written for another directory
        doc = json.loads(path.read_text())
        doc["project"] = "/elsewhere"
        content = json.dumps(doc).encode()
    path.write_bytes(content.replace(b"@P", str(root.resolve()).encode()))
    warnings = Warnings()
    assert state.load(path, root, warnings) is None
    assert len(warnings) == 1 and why in warnings[0] and str(path) in warnings[0]


def test_oversized_record_is_ignored(tmp_path: Path) -> None:
    root = repo(tmp_path)
    path = state.state_path(root, root)
    assert path is not None
    path.parent.mkdir()
    path.write_bytes(b" " * (state._MAX_BYTES + 10))
    warnings = Warnings()
    assert state.load(path, root, warnings) is None
    assert warnings and "larger than 4 MiB); ignored" in warnings[0]


def test_unreadable_record_warns(tmp_path: Path) -> None:
    root = repo(tmp_path)
    path = state.state_path(root, root)
    assert path is not None
    path.mkdir(parents=True)  # EISDIR
    warnings = Warnings()
    assert state.load(path, root, warnings) is None
    assert len(warnings) == 1 and "is a directory, expected a file" in warnings[0]


def test_unwritable_record_warns_and_carries_on(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / ".git" / "envkey-hook").write_text("a file where the directory should be")
    warnings = Warnings()
    assert state.save_for(root, root, KEYS, warnings) is False
    assert len(warnings) == 1 and "cannot record" in warnings[0]


def test_crash_before_rename_keeps_the_old_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path)
    assert state.save_for(root, root, KEYS)
    path = state.state_path(root, root)
    assert path is not None
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt  # killed between the write and the rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        state.save_for(root, root, {})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # the temp file was removed


def test_union_reports_each_input_once() -> None:
    git = [Change("extpkg", "rtlib", "1.0", "3.0"), Change("zed", "version", "1", "2")]
    rec = [
        Change("extpkg", "rtlib", "2.0", "3.0"),
        Change("extpkg", "extra-build-variables X", "a", "b"),
    ]
    merged = state.union_changes(git, rec)
    assert [(c.package, c.input, c.old) for c in merged] == [
        ("extpkg", "rtlib", "1.0"),
        ("extpkg", "extra-build-variables X", "a"),
        ("zed", "version", "1"),
    ]


# --- `run` with the record: no uv, a fake project and an empty cache ----------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = lockedproject.write(tmp_path / "project", "1.0")
    lockedproject.init(root)
    lockedproject.commit(root, "rtlib 1.0")
    return root


def go(root: Path, **kw: object) -> list[str]:
    (root.parent / "cache").mkdir(exist_ok=True)  # a named cache must exist
    opts = Options(project=root, cache_dir=str(root.parent / "cache"), **kw)  # type: ignore[arg-type]
    return [c.describe() for c in run(opts).changes]


def recorded(root: Path) -> dict[str, EnvKey] | None:
    return state.load_for(root, root)


def test_run_records_after_success(project: Path) -> None:
    assert recorded(project) is None
    assert go(project) == []
    keys = recorded(project)
    assert keys is not None and keys["extpkg"].as_dict()["rtlib"] == "1.0"


def test_pull_without_hooks_is_caught_by_the_record(project: Path) -> None:
    go(project)  # recorded at rtlib 1.0
    lockedproject.write(project, "2.0")
    lockedproject.commit(project, "rtlib 2.0")  # HEAD moved: git sees no change any more
    assert go(project, state=False) == []
    assert go(project) == ["extpkg: rtlib 1.0 -> 2.0"]
    keys = recorded(project)
    assert keys is not None and keys["extpkg"].as_dict()["rtlib"] == "2.0"
    assert go(project) == []  # reconciled


def test_edit_seen_by_both_baselines_is_reported_once(project: Path) -> None:
    go(project)
    lockedproject.write(project, "2.0")  # not committed
    assert go(project) == ["extpkg: rtlib 1.0 -> 2.0"]


def test_user_uv_toml_change_is_caught(project: Path) -> None:
    go(project)
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "uv" / "uv.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[extra-build-variables]\nextpkg = { EXT_FLAVOR = "b" }\n')
    # The user file is the same for HEAD and the work tree: git cannot see it.
    assert go(project, state=False) == []
    assert go(project) == ["extpkg: extra-build-variables EXT_FLAVOR (none) -> b"]


def test_dry_run_and_save_state_false_do_not_record(project: Path) -> None:
    go(project, dry_run=True)
    assert recorded(project) is None
    go(project, save_state=False)
    assert recorded(project) is None


def test_unchanged_record_is_not_rewritten(project: Path) -> None:
    go(project)
    path = state.state_path(project, project)
    assert path is not None
    before = os.stat(path)
    go(project)
    after = os.stat(path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_record_is_a_baseline_before_the_first_commit(tmp_path: Path) -> None:
    root = lockedproject.write(tmp_path / "fresh", "1.0")
    lockedproject.init(root)  # unborn HEAD: no git baseline
    assert go(root) == []  # nothing compared; the record starts here
    lockedproject.write(root, "2.0")
    assert go(root) == ["extpkg: rtlib 1.0 -> 2.0"]


def test_corrupt_record_warns_once_and_is_replaced(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    go(project)
    path = state.state_path(project, project)
    assert path is not None
    path.write_text("{truncated")
    assert go(project) == []
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "unusable recorded state" in err
    assert recorded(project) is not None


# --- `envkey-hook state` --------------------------------------------------------------------


def state_cmd(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    state.add_parser(parser.add_subparsers(dest="command"))
    return state.run_state(parser.parse_args(["state", *argv]))


def test_state_command_shows_and_forgets(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert state_cmd("--project", str(project)) == 1
    assert "No recorded state" in capsys.readouterr().out
    go(project)
    assert state_cmd("--project", str(project)) == 0
    out = capsys.readouterr().out
    assert "extpkg: " in out and "rtlib 1.0" in out
    assert state_cmd("--project", str(project), "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert ["rtlib", "1.0"] in doc["envkeys"]["extpkg"]["inputs"]
    assert state_cmd("--project", str(project), "--forget") == 0
    assert recorded(project) is None


def test_state_command_outside_git_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not inside a git repository"):
        state_cmd("--project", str(tmp_path))


def test_each_cache_has_its_own_record(tmp_path: Path) -> None:
    """Reconciling one cache says nothing about another (issue 13 item 4): the record
    names its cache and keeps the envkeys last recorded for other caches apart."""
    root = tmp_path / "p"
    lockedproject.write(root, "1.0")
    lockedproject.init(root)
    keys = current.load(root).envkeys
    a, b = state.cache_id(tmp_path / "a"), state.cache_id(tmp_path / "b")
    assert state.save_for(root, root, keys, cache=a)
    assert state.load_for(root, root, cache=b) is None
    lockedproject.write(root, "2.0")
    newer = current.load(root).envkeys
    assert newer != keys
    assert state.save_for(root, root, newer, cache=b)
    assert state.load_for(root, root, cache=a) == keys  # kept, not overwritten
    assert state.load_for(root, root, cache=b) == newer
    assert state.load_for(root, root, cache=state.cache_id(None)) is None


def test_a_record_of_the_old_envkey_format_is_dropped_silently(tmp_path: Path) -> None:
    """Envkeys before issue 12 rendered inputs differently (`a, b` requirement lists,
    every watched runtime): comparing with them would purge what did not change."""
    root = tmp_path
    path = tmp_path / "state.json"
    doc = {"schema": 1, "project": state.project_id(root), "envkeys": {}}
    path.write_text(json.dumps(doc))
    warnings: list[str] = []
    assert state.load(path, root, warnings.append) is None
    assert warnings == []
