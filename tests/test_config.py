"""`[tool.envkey-hook]`: defaults, and one clear error naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from envkey_hook.config import DEFAULT_WATCH, Config, parse_config
from envkey_hook.errors import InputError


def table(**kw: Any) -> dict[str, Any]:
    return {"tool": {"envkey-hook": kw}}


def test_defaults_without_a_table() -> None:
    assert parse_config({}, "pyproject.toml") == Config()
    assert "torch" in Config().watch and "numpy" in Config().watch


def test_watch_replaces_and_extend_watch_adds_normalized() -> None:
    assert parse_config(table(watch=["Torch"]), "p").watch == ("torch",)
    extended = parse_config(table(**{"extend-watch": ["my_runtime", "torch"]}), "p").watch
    assert extended == (*DEFAULT_WATCH, "my-runtime")


def test_all_keys() -> None:
    cfg = parse_config(
        table(
            purge="entries",
            strict=True,
            lockfiles=["sub/uv.lock"],
            **{"clean-local-sources": False},
        ),
        "p",
    )
    assert (cfg.purge, cfg.strict, cfg.lockfiles, cfg.clean_local_sources) == (
        "entries",
        True,
        ("sub/uv.lock",),
        False,
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (table(wach=["torch"]), r"pyproject.toml: \[tool.envkey-hook\] wach: unknown key"),
        (table(watch="torch"), r"\[tool.envkey-hook\] watch: expected a list of strings"),
        (table(strict="yes"), r"\[tool.envkey-hook\] strict: expected true or false"),
        (table(purge="all"), r"\[tool.envkey-hook\] purge: expected one of build-dirs, entries"),
        ({"tool": {"envkey-hook": 3}}, r"\[tool.envkey-hook\]: expected a table"),
    ],
)
def test_bad_config_names_the_file_and_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_config(doc, "pyproject.toml")
