"""Reading and merging uv's build settings (envkey_hook.settings).

Every rule here was checked against uv's source and uv 0.13.9; the `real uv` tests at the
end compare the merged result with uv's own `--show-settings` output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from envkey_hook.errors import InputError
from envkey_hook.settings import (
    ExtraBuildDep,
    ProjectReader,
    Settings,
    load_settings,
    project_config_candidates,
    system_config_candidates,
    user_config_file,
)

PROJECT = '[project]\nname = "p"\nversion = "0.1"\nrequires-python = ">=3.8"\n'


def tool_uv(body: str) -> str:
    return PROJECT + "[tool.uv]\n" + body


def reader(files: Mapping[str, str]) -> ProjectReader:
    """Project files as they are at some git state (not on disk)."""

    def read(relpath: str) -> bytes | None:
        text = files.get(relpath)
        return None if text is None else text.encode()

    return read


def write(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """User and system config inside tmp_path; /etc/uv is off unless a test asks."""
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_CONFIG_DIRS": str(tmp_path / "sys"),
        "UV_NO_SYSTEM_CONFIG": "1",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != "<unset>"}


def load(
    tmp_path: Path,
    project: Mapping[str, str],
    rel: str = "",
    *,
    user: str | None = None,
    system: str | None = None,
    **env: str,
) -> Settings:
    """Settings for a repo at tmp_path/repo whose files at the examined state are `project`."""
    if user is not None:
        write(tmp_path, {"xdg/uv/uv.toml": user})
    if system is not None:
        write(tmp_path, {"sys/uv/uv.toml": system})
        env.setdefault("UV_NO_SYSTEM_CONFIG", "<unset>")
    (tmp_path / "repo").mkdir(exist_ok=True)
    return load_settings(
        tmp_path / "repo", rel, reader(project), make_env(tmp_path, **env), cwd=tmp_path / "cwd"
    )


# --- where the files are --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("", ["uv.toml", "pyproject.toml"]),
        (".", ["uv.toml", "pyproject.toml"]),
        (
            "sub/pkg",
            [
                "sub/pkg/uv.toml",
                "sub/pkg/pyproject.toml",
                "sub/uv.toml",
                "sub/pyproject.toml",
                "uv.toml",
                "pyproject.toml",
            ],
        ),
        ("./sub/", ["sub/uv.toml", "sub/pyproject.toml", "uv.toml", "pyproject.toml"]),
    ],
)
def test_project_config_candidates(rel: str, expected: list[str]) -> None:
    assert project_config_candidates(rel) == expected


@pytest.mark.parametrize("rel", ["../x", "/abs", "a/../../b"])
def test_project_config_candidates_rejects_paths_outside(rel: str) -> None:
    with pytest.raises(ValueError):
        project_config_candidates(rel)


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/uv/uv.toml"),
        ("linux", {"XDG_CONFIG_HOME": "rel", "HOME": "/h"}, "/h/.config/uv/uv.toml"),
        ("linux", {"XDG_CONFIG_HOME": "", "HOME": "/h"}, "/h/.config/uv/uv.toml"),
        ("linux", {"HOME": "/h"}, "/h/.config/uv/uv.toml"),
        # etcetera's base strategy is XDG on macOS too, not ~/Library/Application Support
        ("darwin", {"HOME": "/Users/u"}, "/Users/u/.config/uv/uv.toml"),
        ("darwin", {"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/uv/uv.toml"),
        (
            "win32",
            {"APPDATA": "C:\\Users\\u\\AppData\\Roaming", "XDG_CONFIG_HOME": "/x"},
            "C:\\Users\\u\\AppData\\Roaming\\uv\\uv.toml",
        ),
        ("win32", {"USERPROFILE": "C:\\Users\\u"}, "C:\\Users\\u\\AppData\\Roaming\\uv\\uv.toml"),
        ("win32", {"HOME": "/h"}, None),
    ],
)
def test_user_config_file(platform: str, env: dict[str, str], expected: str | None) -> None:
    assert user_config_file(env, platform) == expected


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {}, ["/etc/xdg/uv/uv.toml", "/etc/uv/uv.toml"]),
        ("linux", {"XDG_CONFIG_DIRS": ""}, ["/etc/xdg/uv/uv.toml", "/etc/uv/uv.toml"]),
        (
            "darwin",
            {"XDG_CONFIG_DIRS": "/a:/b"},
            ["/a/uv/uv.toml", "/b/uv/uv.toml", "/etc/uv/uv.toml"],
        ),
        # uv stops reading XDG_CONFIG_DIRS at the first empty entry
        ("linux", {"XDG_CONFIG_DIRS": "/a::/b"}, ["/a/uv/uv.toml", "/etc/uv/uv.toml"]),
        ("win32", {"SYSTEMDRIVE": "C:"}, ["C:\\ProgramData\\uv\\uv.toml"]),
        ("win32", {"XDG_CONFIG_DIRS": "/a"}, []),
    ],
)
def test_system_config_candidates(platform: str, env: dict[str, str], expected: list[str]) -> None:
    assert system_config_candidates(env, platform) == expected


def test_windows_user_file_is_read(tmp_path: Path) -> None:
    """On Windows the user layer comes from %APPDATA%, computed from the injected env."""
    env = {"APPDATA": str(tmp_path / "Roaming"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    path = user_config_file(env, "win32")
    assert path is not None
    # On POSIX the backslashes are part of one file name in tmp_path; fine for this test.
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text('config-settings = { a = "win" }\n')
    got = load_settings(tmp_path / "repo", "", reader({}), env, platform="win32")
    assert got.config_settings == {"a": "win"}
    assert got.files == [path]


# --- the project layer ----------------------------------------------------------------


def test_no_files_gives_uv_defaults(tmp_path: Path) -> None:
    got = load(tmp_path, {"pyproject.toml": PROJECT})
    assert got == Settings()
    assert not got.builds_without_isolation("anything")


def test_every_key_is_read_and_names_are_normalized(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        {
            "pyproject.toml": tool_uv(
                """
no-build-isolation-package = ["Fast_JL", "b.c"]
extra-build-dependencies.Flash_Attn = [
    "numpy>=2",
    { requirement = "Torch", match-runtime = true },
]
extra-build-variables = { flash_attn = { CUDA = "12" } }
config-settings = { a = "1", l = ["x", "y"] }
config-settings-package = { Fast_JL = { b = "2" } }
cache-dir = "/abs/cache"
index-url = "https://example.com/simple"  # keys uv has but we do not read are fine
"""
            )
        },
    )
    assert got == Settings(
        no_build_isolation_package=["fast-jl", "b-c"],
        extra_build_dependencies={
            "flash-attn": [
                ExtraBuildDep("numpy>=2", "numpy"),
                ExtraBuildDep("Torch", "torch", match_runtime=True),
            ]
        },
        extra_build_variables={"flash-attn": {"CUDA": "12"}},
        config_settings={"a": "1", "l": ["x", "y"]},
        config_settings_package={"fast-jl": {"b": "2"}},
        cache_dir="/abs/cache",
        files=["pyproject.toml"],
    )
    assert got.builds_without_isolation("FAST.jl")
    assert not got.builds_without_isolation("flash-attn")


def test_uv_toml_beats_pyproject_in_the_same_directory(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        {
            "pyproject.toml": tool_uv('config-settings = { a = "pyproject" }\n'),
            "uv.toml": 'config-settings = { b = "uv.toml" }\n',
        },
    )
    assert got.config_settings == {"b": "uv.toml"}
    assert got.files == ["uv.toml"]


def test_first_project_file_found_wins_alone(tmp_path: Path) -> None:
    """uv's FilesystemOptions::find returns the nearest file; files above are not merged."""
    got = load(
        tmp_path,
        {
            "sub/pyproject.toml": tool_uv('config-settings = { a = "sub" }\n'),
            "uv.toml": 'config-settings = { b = "root" }\nno-build-isolation = true\n',
        },
        "sub",
    )
    assert got.config_settings == {"a": "sub"}
    assert not got.no_build_isolation
    assert got.files == ["sub/pyproject.toml"]


def test_pyproject_without_tool_uv_does_not_count(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        {
            "sub/pyproject.toml": PROJECT + "[tool.other]\nx = 1\n",
            "pyproject.toml": tool_uv('config-settings = { b = "root" }\n'),
        },
        "sub",
    )
    assert got.config_settings == {"b": "root"}
    assert got.files == ["pyproject.toml"]


def test_an_empty_tool_uv_table_counts(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        {"sub/pyproject.toml": tool_uv(""), "uv.toml": 'config-settings = { b = "root" }\n'},
        "sub",
    )
    assert got == Settings(files=["sub/pyproject.toml"])


def test_walk_continues_above_the_repository_on_disk(tmp_path: Path) -> None:
    write(tmp_path, {"uv.toml": 'config-settings = { a = "outside" }\n'})
    got = load(tmp_path, {"pyproject.toml": PROJECT})
    assert got.config_settings == {"a": "outside"}
    assert got.files == [str(tmp_path.resolve() / "uv.toml")]


def test_project_files_come_from_the_reader_not_the_disk(tmp_path: Path) -> None:
    """The caller reads a git ref: what is on disk in the repo must not leak in."""
    write(tmp_path / "repo", {"pyproject.toml": tool_uv('config-settings = { a = "disk" }\n')})
    got = load(tmp_path, {"pyproject.toml": tool_uv('config-settings = { a = "ref" }\n')})
    assert got.config_settings == {"a": "ref"}


# --- merging layers -------------------------------------------------------------------


def test_layers_merge_like_uv(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        {
            "pyproject.toml": tool_uv(
                """
no-build-isolation-package = ["a"]
extra-build-dependencies = { fast_jl = ["numpy"] }
extra-build-variables = { fast_jl = { X = "project" } }
config-settings = { k = "project" }
config-settings-package = { fast_jl = { k = "project" } }
"""
            )
        },
        user="""
no-build-isolation-package = ["b"]
extra-build-dependencies = { fast-jl = ["cython"], other = ["x"] }
extra-build-variables = { fast-jl = { X = "user", Y = "user" } }
config-settings = { k = "user", u = "user" }
config-settings-package = { Fast-JL = { k = "user", j = "user" } }
cache-dir = "/user/cache"
""",
        system="""
no-build-isolation-package = ["c"]
extra-build-variables = { fast-jl = { Y = "system", Z = "system" } }
config-settings = { k = ["s1", "s2"] }
cache-dir = "/system/cache"
""",
    )
    assert got.no_build_isolation_package == ["a", "b", "c"]
    assert got.extra_build_dependencies == {
        "fast-jl": [ExtraBuildDep("numpy", "numpy"), ExtraBuildDep("cython", "cython")],
        "other": [ExtraBuildDep("x", "x")],
    }
    # extra-build-variables merge per variable; the higher layer keeps its value
    assert got.extra_build_variables == {"fast-jl": {"X": "project", "Y": "user", "Z": "system"}}
    assert got.config_settings == {"k": ["project", "user", "s1", "s2"], "u": "user"}
    assert got.config_settings_package == {"fast-jl": {"k": ["project", "user"], "j": "user"}}
    assert got.cache_dir == "/user/cache"
    assert got.files == [
        "pyproject.toml",
        str(tmp_path / "xdg/uv/uv.toml"),
        str(tmp_path / "sys/uv/uv.toml"),
    ]


@pytest.mark.parametrize(
    ("high", "low", "expected"),
    [
        ('"a"', '"b"', ["a", "b"]),
        ('"a"', '["b", "c"]', ["a", "b", "c"]),
        ('["a", "b"]', '"c"', ["a", "b", "c"]),
        ('["a"]', '["b"]', ["a", "b"]),
        ('["a"]', None, ["a"]),  # a one-element list stays a list (uv hashes them apart)
        (None, '"b"', "b"),
    ],
)
def test_config_settings_key_in_two_layers_becomes_a_list(
    tmp_path: Path, high: str | None, low: str | None, expected: Any
) -> None:
    project = tool_uv(f"config-settings = {{ k = {high} }}\n" if high else "")
    user = f"config-settings = {{ k = {low} }}\n" if low else ""
    got = load(tmp_path, {"pyproject.toml": project}, user=user)
    assert got.config_settings == {"k": expected}


@pytest.mark.parametrize(
    ("project", "user", "isolated", "packages"),
    [
        # the highest `no-build-isolation` decides and clears every package list
        ("no-build-isolation = false\n", 'no-build-isolation-package = ["c"]\n', False, []),
        ('no-build-isolation = false\nno-build-isolation-package = ["x"]\n', "", False, []),
        ('no-build-isolation-package = ["a"]\n', "no-build-isolation = true\n", True, []),
        ('no-build-isolation-package = ["a"]\n', "no-build-isolation = false\n", False, []),
        ("no-build-isolation = true\n", "no-build-isolation = false\n", True, []),
        ("no-build-isolation = false\n", "no-build-isolation = true\n", False, []),
        (
            'no-build-isolation-package = ["a"]\n',
            'no-build-isolation-package = ["b"]\n',
            False,
            ["a", "b"],
        ),
    ],
)
def test_no_build_isolation_overrides_package_lists(
    tmp_path: Path, project: str, user: str, isolated: bool, packages: list[str]
) -> None:
    got = load(tmp_path, {"pyproject.toml": tool_uv(project)}, user=user)
    assert (got.no_build_isolation, got.no_build_isolation_package) == (isolated, packages)


@pytest.mark.parametrize(
    ("value", "isolated"), [("1", True), ("On", True), ("Y", True), ("0", None), ("false", None)]
)
def test_uv_no_build_isolation_env(tmp_path: Path, value: str, isolated: bool | None) -> None:
    """True wins over every file; false is `flag(false, false)` = unset, not `--build-isolation`."""
    for file_value in (False, True):
        body = f"no-build-isolation = {str(file_value).lower()}\n"
        got = load(tmp_path, {"pyproject.toml": tool_uv(body)}, UV_NO_BUILD_ISOLATION=value)
        assert got.no_build_isolation is (file_value if isolated is None else isolated)


def test_uv_no_build_isolation_package_env_does_not_exist(tmp_path: Path) -> None:
    got = load(tmp_path, {}, UV_NO_BUILD_ISOLATION_PACKAGE="foo")
    assert not got.builds_without_isolation("foo")


def test_duplicate_spellings_later_one_wins_where_uv_allows_them(tmp_path: Path) -> None:
    """uv replaces the earlier entry (BTreeMap insert) in these two tables."""
    got = load(
        tmp_path,
        {
            "uv.toml": """
extra-build-variables = { fast_jl = { A = "1" }, fast-jl = { B = "2" } }
config-settings-package = { fast-jl = { b = "2" }, fast_jl = { a = "1" } }
"""
        },
    )
    assert got.extra_build_variables == {"fast-jl": {"B": "2"}}
    assert got.config_settings_package == {"fast-jl": {"a": "1"}}


# --- the helpers on Settings ----------------------------------------------------------


def test_effective_config_settings_puts_the_package_first() -> None:
    """uv: package_settings.merge(config_settings) (uv-dispatch, uv-distribution)."""
    settings = Settings(
        config_settings={"k": "global", "g": ["g1"], "only": "global"},
        config_settings_package={"fast-jl": {"k": "pkg", "g": "p1", "p": "pkg"}},
    )
    assert settings.effective_config_settings("Fast_JL") == {
        "k": ["pkg", "global"],
        "g": ["p1", "g1"],
        "p": "pkg",
        "only": "global",
    }
    assert settings.effective_config_settings("other") == settings.config_settings
    assert settings.effective_config_settings("other") is not settings.config_settings


def test_builds_without_isolation() -> None:
    assert Settings(no_build_isolation=True).builds_without_isolation("x")
    assert Settings(no_build_isolation_package=["fast-jl"]).builds_without_isolation("fast_JL")
    assert not Settings(no_build_isolation_package=["fast-jl"]).builds_without_isolation("x")


# --- environment ----------------------------------------------------------------------


def test_uv_config_file_replaces_every_other_layer(tmp_path: Path) -> None:
    write(tmp_path, {"cwd/cfg/my.toml": 'config-settings = { f = "file" }\n'})
    project = {"pyproject.toml": tool_uv('config-settings = { a = "project" }\n')}
    for value in ("cfg/my.toml", str(tmp_path / "cwd/cfg/my.toml")):  # relative to cwd
        got = load(
            tmp_path,
            project,
            user='config-settings = { u = "user" }\n',
            system='config-settings = { s = "system" }\n',
            UV_CONFIG_FILE=value,
        )
        assert got.config_settings == {"f": "file"}
        assert got.files == [str(tmp_path / "cwd/cfg/my.toml")]
    # it also wins over UV_NO_CONFIG
    got = load(tmp_path, project, UV_CONFIG_FILE="cfg/my.toml", UV_NO_CONFIG="1")
    assert got.config_settings == {"f": "file"}


def test_uv_config_file_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load(tmp_path, {}, UV_CONFIG_FILE="nope.toml")
    assert err.value.path == str(tmp_path / "cwd/nope.toml")
    with pytest.raises(InputError, match="^UV_CONFIG_FILE: empty value$"):
        load(tmp_path, {}, UV_CONFIG_FILE="")


def test_uv_no_config_drops_every_file_including_tool_uv(tmp_path: Path) -> None:
    project = {"pyproject.toml": tool_uv('config-settings = { a = "project" }\n')}
    user = "no-build-isolation = true\n"
    system = 'config-settings = { s = "system" }\n'
    got = load(tmp_path, project, user=user, system=system, UV_NO_CONFIG="true")
    assert got == Settings()
    got = load(tmp_path, project, user=user, system=system, UV_NO_CONFIG="0")
    assert got.config_settings == {"a": "project", "s": "system"}
    assert got.no_build_isolation


def test_uv_no_system_config(tmp_path: Path) -> None:
    got = load(tmp_path, {}, system='config-settings = { s = "system" }\n', UV_NO_SYSTEM_CONFIG="1")
    assert got.config_settings == {}


def test_only_the_first_existing_system_file_is_read(tmp_path: Path) -> None:
    write(tmp_path, {"a/uv/uv.toml": 'config-settings = { a = "a" }\n'})
    write(tmp_path, {"b/uv/uv.toml": 'config-settings = { b = "b" }\n'})
    dirs = f"{tmp_path / 'missing'}:{tmp_path / 'a'}:{tmp_path / 'b'}"
    got = load(tmp_path, {}, XDG_CONFIG_DIRS=dirs, UV_NO_SYSTEM_CONFIG="<unset>")
    assert got.config_settings == {"a": "a"}


@pytest.mark.parametrize("name", ["UV_NO_CONFIG", "UV_NO_BUILD_ISOLATION", "UV_NO_SYSTEM_CONFIG"])
@pytest.mark.parametrize("value", ["", "maybe", "2", " 1"])
def test_bad_boolean_env_value(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(InputError) as err:
        load(tmp_path, {}, **{name: value})
    assert err.value.path == name
    assert "\n" not in str(err.value)


# --- cache-dir ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["rel/cache", "/abs/cache", "~/cache"])  # uv: no `~`
def test_cache_dir_is_kept_as_written(tmp_path: Path, value: str) -> None:
    """Made absolute where it is used (cachedir.py): uv's working directory decides."""
    got = load(tmp_path, {"sub/pyproject.toml": tool_uv(f'cache-dir = "{value}"\n')}, "sub")
    assert got.cache_dir == value


def test_cache_dir_from_the_user_file(tmp_path: Path) -> None:
    got = load(tmp_path, {}, user='cache-dir = "c"\n')
    assert got.cache_dir == "c"


# --- bad input ------------------------------------------------------------------------

BAD_TOOL_UV = [
    (
        'extra-build-dependencies = { flash-attn = "torch" }',
        "[tool.uv] extra-build-dependencies.flash-attn: expected a list, got str",
    ),
    ('no-build-isolation = "yes"', "[tool.uv] no-build-isolation: expected a boolean, got str"),
    ('no-build-isolation-package = "a"', "[tool.uv] no-build-isolation-package: expected a list"),
    ('no-build-isolation-package = ["-a"]', "no-build-isolation-package[0]: invalid package name"),
    # A name is the whole string: a trailing newline is not allowed after it.
    (r'no-build-isolation-package = ["a\n"]', "no-build-isolation-package[0]: invalid package"),
    ("no-build-isolation-package = [1]", "no-build-isolation-package[0]: expected a string"),
    ("extra-build-dependencies = []", "extra-build-dependencies: expected a table, got list"),
    ('extra-build-dependencies = { "a b" = [] }', "extra-build-dependencies.a b: invalid package"),
    ("extra-build-dependencies = { x = [1] }", "extra-build-dependencies.x[0]: expected a PEP 508"),
    (
        'extra-build-dependencies = { x = [{ requirement = "a" }] }',
        "extra-build-dependencies.x[0]: missing `match-runtime`",
    ),
    (
        "extra-build-dependencies = { x = [{ match-runtime = true }] }",
        "extra-build-dependencies.x[0]: missing `requirement`",
    ),
    (
        'extra-build-dependencies = { x = [{ requirement = "a", match-runtime = "yes" }] }',
        "extra-build-dependencies.x[0].match-runtime: expected a boolean, got str",
    ),
    (
        "extra-build-dependencies = { x = [{ requirement = 1, match-runtime = true }] }",
        "extra-build-dependencies.x[0].requirement: expected a string, got int",
    ),
    ('extra-build-dependencies = { x = ["a >>> 1"] }', "x[0]: invalid requirement 'a >>> 1'"),
    (
        'extra-build-dependencies = { x = [{ requirement = "torch>=2", match-runtime = true }] }',
        "x[0]: match-runtime = true forbids a version or URL in 'torch>=2'",
    ),
    (
        'extra-build-dependencies = { x = [{ requirement = "t @ https://e.com/t.tgz", '
        "match-runtime = true }] }",
        "x[0]: match-runtime = true forbids a version or URL",
    ),
    (
        'extra-build-dependencies = { fast_jl = ["a"], fast-jl = ["b"] }',
        "extra-build-dependencies: 'fast_jl' and 'fast-jl' name the same package",
    ),
    ('extra-build-variables = { x = "A=1" }', "extra-build-variables.x: expected a table, got str"),
    ("extra-build-variables = { x = { A = 1 } }", "extra-build-variables.x.A: expected a string"),
    ('config-settings = "a=1"', "[tool.uv] config-settings: expected a table, got str"),
    ("config-settings = { a = 1 }", "config-settings.a: expected a string or a list of strings"),
    ('config-settings = { a = ["x", 1] }', "config-settings.a[1]: expected a string, got int"),
    ('config-settings-package = { x = "a" }', "config-settings-package.x: expected a table"),
    ("config-settings-package = { x = { a = {} } }", "config-settings-package.x.a: expected a st"),
    ("cache-dir = 1", "[tool.uv] cache-dir: expected a string, got int"),
]


@pytest.mark.parametrize(("body", "problem"), BAD_TOOL_UV)
def test_bad_tool_uv_names_file_and_key(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(InputError) as err:
        load(tmp_path, {"sub/pyproject.toml": tool_uv(body + "\n")}, "sub")
    message = str(err.value)
    assert message.startswith("sub/pyproject.toml: [tool.uv] "), message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"uv.toml": "cache-dir = 1\n"},
            "uv.toml: cache-dir: expected a string, got int",
        ),
        ({"pyproject.toml": "tool = 1\n"}, "pyproject.toml: [tool]: expected a table, got int"),
        ({"pyproject.toml": "[tool]\nuv = 1\n"}, "pyproject.toml: [tool] uv: expected a table"),
        ({"pyproject.toml": "[tool.uv\n"}, "pyproject.toml: invalid TOML"),
        ({"uv.toml": "a = \n"}, "uv.toml: invalid TOML"),
    ],
)
def test_bad_files(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_errors_outside_the_repo_name_the_absolute_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load(tmp_path, {}, user="no-build-isolation = 1\n")
    assert str(err.value) == (
        f"{tmp_path / 'xdg/uv/uv.toml'}: no-build-isolation: expected a boolean, got int"
    )
    write(tmp_path, {"pyproject.toml": "[tool.uv]\nconfig-settings = 1\n"})
    with pytest.raises(InputError) as err:
        load(tmp_path, {})
    assert err.value.path == str(tmp_path.resolve() / "pyproject.toml")


def test_match_runtime_false_allows_a_version(tmp_path: Path) -> None:
    body = 'extra-build-dependencies = { x = [{ requirement = "a>1", match-runtime = false }] }\n'
    got = load(tmp_path, {"uv.toml": body})
    assert got.extra_build_dependencies == {"x": [ExtraBuildDep("a>1", "a")]}


# --- against the real uv --------------------------------------------------------------


def _find_uv() -> str | None:
    here = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    return str(here) if here.is_file() else shutil.which("uv")


_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([{}()\[\]:,])|([^\s{}()\[\]:,"]+))')


def _parse_debug(text: str) -> dict[str, Any]:
    """uv's `--show-settings` output (Rust `{:#?}`): top-level `Name { field: value }`s.

    Structs become dicts, `Name(x)` becomes ("Name", [x]), maps lists of pairs.
    """
    tokens = [
        m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(text) if m.group(0).strip()
    ]
    pos = 0

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def seq(close: str) -> list[Any]:
        items = []
        while tokens[pos] != close:
            items.append(value())
            if tokens[pos] == ":":  # a map entry
                take()
                items[-1] = (items[-1], value())
            if tokens[pos] == ",":
                take()
        take()
        return items

    def value() -> Any:
        tok = take()
        if tok.startswith('"'):
            return tok[1:-1].encode().decode("unicode_escape")
        if tok in "[{(":
            return seq({"[": "]", "{": "}", "(": ")"}[tok])
        if pos < len(tokens) and tokens[pos] == "(":
            take()
            return (tok, seq(")"))
        if pos < len(tokens) and tokens[pos] == "{":
            take()
            return dict(seq("}"))
        return tok

    out: dict[str, Any] = {}
    while pos < len(tokens):
        name = take()
        take()  # "{"
        out[name] = dict(seq("}"))
    return out


def _uv_view(text: str, cwd: Path) -> dict[str, Any]:
    """The parts of uv's resolved settings that we model, in our shapes."""
    parsed = _parse_debug(text)
    resolver = parsed["SyncSettings"]["settings"]["resolver"]

    def config(value: Any) -> dict[str, Any]:
        return {k: v[1][0] for k, v in value[1][0]}

    isolation = resolver["build_isolation"]
    cache = parsed["CacheSettings"]["cache_dir"]
    return {
        "no_build_isolation": isolation == "Shared",
        "no_build_isolation_package": (
            [p[1][0] for p in isolation[1][0]] if isinstance(isolation, tuple) else []
        ),
        "config_settings": config(resolver["config_setting"]),
        "config_settings_package": {
            name[1][0]: config(value) for name, value in resolver["config_settings_package"][1][0]
        },
        "extra_build_dependencies": {
            name[1][0]: [
                (dep["requirement"]["name"][1][0], dep["match_runtime"] == "true") for dep in deps
            ]
            for name, deps in resolver["extra_build_dependencies"][1][0]
        },
        "extra_build_variables": {
            name[1][0]: dict(variables)
            for name, variables in resolver["extra_build_variables"][1][0]
        },
        "cache_dir": cache[1][0] if isinstance(cache, tuple) else None,  # as written
    }


def _our_view(settings: Settings) -> dict[str, Any]:
    return {
        "no_build_isolation": settings.no_build_isolation,
        "no_build_isolation_package": settings.no_build_isolation_package,
        "config_settings": settings.config_settings,
        "config_settings_package": settings.config_settings_package,
        "extra_build_dependencies": {
            name: [(dep.name, dep.match_runtime) for dep in deps]
            for name, deps in settings.extra_build_dependencies.items()
        },
        "extra_build_variables": settings.extra_build_variables,
        "cache_dir": settings.cache_dir,
    }


FULL_PROJECT = tool_uv(
    """
no-build-isolation-package = ["A_b"]
config-settings = { a = "proj", l = ["p1", "p2"] }
config-settings-package = { fast_jl = { a = "pp" } }
extra-build-dependencies.fast_jl = ["numpy>=2"]
extra-build-dependencies.other = [{ requirement = "Rt_Lib", match-runtime = true }]
extra-build-variables = { fast_jl = { X = "proj" } }
"""
)
FULL_USER = """
no-build-isolation-package = ["c"]
config-settings = { a = "user", l = "u1", u = "only-user" }
config-settings-package = { Fast-JL = { a = "up", b = "ub" } }
extra-build-dependencies = { fast-jl = ["cython"] }
extra-build-variables = { fast-jl = { X = "user", Y = "user" }, zz = { Z = "1" } }
cache-dir = "user-cache"
"""
FULL_SYSTEM = """
no-build-isolation-package = ["d"]
config-settings = { a = ["s1", "s2"] }
extra-build-variables = { fast-jl = { Y = "sys", W = "sys" } }
cache-dir = "/system-cache"
"""
REAL_UV_CASES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "three layers": (
        {
            "repo/p/pyproject.toml": FULL_PROJECT,
            "xdg/uv/uv.toml": FULL_USER,
            "sys/uv/uv.toml": FULL_SYSTEM,
        },
        {},
    ),
    "nearest file wins alone": (
        {
            "repo/p/pyproject.toml": PROJECT,
            "repo/uv.toml": 'config-settings = { r = "root" }\n',
            "repo/pyproject.toml": tool_uv('config-settings = { masked = "x" }\n'),
            "uv.toml": 'config-settings = { outside = "x" }\n',
        },
        {},
    ),
    "walks on above the repository": (
        {"repo/p/pyproject.toml": PROJECT, "uv.toml": 'config-settings = { above = "x" }\n'},
        {},
    ),
    "false cancels packages of every layer": (
        {
            "repo/p/pyproject.toml": tool_uv(
                'no-build-isolation = false\nno-build-isolation-package = ["a"]\n'
            ),
            "xdg/uv/uv.toml": 'no-build-isolation-package = ["b"]\n',
        },
        {},
    ),
    "UV_NO_BUILD_ISOLATION": (
        {"repo/p/pyproject.toml": tool_uv("no-build-isolation = false\n")},
        {"UV_NO_BUILD_ISOLATION": "on"},
    ),
    "UV_NO_CONFIG": (
        {
            "repo/p/pyproject.toml": FULL_PROJECT,
            "xdg/uv/uv.toml": FULL_USER,
            "sys/uv/uv.toml": FULL_SYSTEM,
        },
        {"UV_NO_CONFIG": "1"},
    ),
    "UV_CONFIG_FILE": (
        {
            "repo/p/pyproject.toml": FULL_PROJECT,
            "xdg/uv/uv.toml": FULL_USER,
            "repo/p/cfg/my.toml": 'config-settings = { f = "file" }\ncache-dir = "rel"\n',
        },
        {"UV_CONFIG_FILE": "cfg/my.toml"},
    ),
}


@pytest.mark.parametrize("case", list(REAL_UV_CASES))
def test_agrees_with_real_uv(tmp_path: Path, case: str) -> None:
    uv = _find_uv()
    if uv is None:
        pytest.skip("uv not installed")
    files, extra = REAL_UV_CASES[case]
    write(tmp_path, files)
    (tmp_path / "home").mkdir()
    project = tmp_path / "repo" / "p"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "XDG_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        XDG_CONFIG_DIRS=str(tmp_path / "sys"),
        **extra,
    )
    if "cache-dir" not in "".join(files.values()) or "UV_NO_CONFIG" in extra:
        env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")  # never the user's cache
    proc = subprocess.run(
        [uv, "sync", "--offline", "--show-settings"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "--show-settings" in proc.stderr:
        pytest.skip("this uv has no --show-settings")
    assert proc.returncode == 0, proc.stderr
    expected = _uv_view(proc.stdout, project)

    def read(relpath: str) -> bytes | None:
        path = tmp_path / "repo" / relpath
        return path.read_bytes() if path.is_file() else None

    ours = load_settings(tmp_path / "repo", "p", read, env, cwd=project)
    view = _our_view(ours)
    if "UV_CACHE_DIR" in env:  # uv shows UV_CACHE_DIR there, which is not ours to read
        view["cache_dir"] = expected["cache_dir"]
    assert view == expected
