"""`envkey-hook fix`, second part: let uv key CUDA builds by the toolkit (`key-cuda`).

With `key-cuda = true` in `[tool.envkey-hook]`, every package that uses CUDA gets
`CUDA_VERSION_KEY = "<major.minor>"` and `TORCH_CUDA_ARCH_LIST_KEY = "<value>"` in its
`extra-build-variables`, as observed on this machine. uv passes them to the build (nothing
reads them) and hashes them into its build key: after a toolkit change, with the file kept
current by the `envkey-hook-fix` hook, uv builds a new slot instead of reinstalling the
cached wheel. Values machine-specific by nature go into a tracked file: see the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from envkey_hook.buildenv import KEY_VARS
from envkey_hook.envinputs import CUDA, UNSET
from envkey_hook.errors import EXIT_ACTION, EXIT_OK, InputError
from envkey_hook.names import canonical_name
from envkey_hook.toolchain import NOT_FOUND, UNKNOWN

EBV = "extra-build-variables"
ARCH = "TORCH_CUDA_ARCH_LIST"


def wanted_keys(
    project: Path, cache_dir: str | None, env: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """package -> {variable: value} due for each CUDA package; {} without `key-cuda`."""
    from envkey_hook import buildenv, current
    from envkey_hook.fastpath import git_dir

    try:
        if b"key-cuda" not in (project / "pyproject.toml").read_bytes():
            return {}  # not asked for: no lock or cache needed
    except OSError:
        return {}
    cur = current.load(project, cache_dir, env)
    config = cur.state.config
    if not config.key_cuda:
        return {}
    gitdir = git_dir(str(cur.root))
    obs = buildenv.observe(
        cur.envkeys,
        cur.state.lock,
        cur.project,
        cur.cache,
        config._replace(probe_toolchain=True),
        None if gitdir is None else Path(gitdir),
        env,
    )
    version = obs.values.get(CUDA, NOT_FOUND)
    out = {}
    for name, kind in sorted(obs.kinds.items()):
        if not kind.cuda:
            continue
        keys = {} if version in (NOT_FOUND, UNKNOWN) else {KEY_VARS[CUDA]: version}
        keys[KEY_VARS[ARCH]] = env.get(ARCH, UNSET)
        have = cur.state.settings.extra_build_variables.get(name, {})
        due = {var: value for var, value in keys.items() if have.get(var) != value}
        if due:
            out[name] = due
    return out


def apply(text: str, uv_path: tuple[str, ...], due: Mapping[str, Mapping[str, str]]) -> str:
    """`text` with `extra-build-variables.<package>.<var> = value` set for each entry."""
    import tomlkit

    doc = tomlkit.parse(text)
    node: Any = doc
    for key in uv_path:
        if key not in node:
            node[key] = tomlkit.table(is_super_table=True)
        node = node[key]
    fresh = EBV not in node
    table = tomlkit.table() if fresh else node[EBV]
    for name, variables in sorted(due.items()):
        spelling = next((k for k in table if canonical_name(k) == name), name)
        if spelling not in table:
            table[spelling] = tomlkit.inline_table()
        for var, value in sorted(variables.items()):
            table[spelling][var] = value
    if fresh:
        table.add(tomlkit.nl())  # a blank line before whatever header follows
        node[EBV] = table
    new = doc.as_string()
    while new.endswith("\n\n") and not text.endswith("\n\n"):
        new = new[:-1]  # the blank line after a new table that ended up last
    if "\r\n" in text and "\n" not in text.replace("\r\n", ""):
        new = new.replace("\r\n", "\n").replace("\n", "\r\n")  # tomlkit writes "\n"
    return new


def _expected(data: Any, uv_path: tuple[str, ...], due: Mapping[str, Mapping[str, str]]) -> Any:
    import copy

    expected = copy.deepcopy(data)
    table = expected
    for key in (*uv_path, EBV):
        table = table.setdefault(key, {})
    for name, variables in due.items():
        spelling = next((k for k in table if canonical_name(k) == name), name)
        table.setdefault(spelling, {}).update(variables)
    return expected


def _verify(
    text: str, new: str, path: Path, uv_path: tuple[str, ...], due: Mapping[str, Mapping[str, str]]
) -> None:
    """Refuse to write unless the new text parses to the old data plus exactly the keys."""
    from envkey_hook.tomlcompat import loads

    if loads(new, path) != _expected(loads(text, path), uv_path, due):
        raise InputError(
            path, f"the {EBV} rewrite would change more than the keys; nothing written"
        )


def fix_keys(
    project: Path, *, check: bool, cache_dir: str | None, env: Mapping[str, str], out: TextIO
) -> int:
    """Write the due keys into the project's uv settings; EXIT_ACTION after (would-)editing."""
    due = wanted_keys(project, cache_dir, env)
    if not due:
        return EXIT_OK
    uv_toml = (project / "uv.toml").is_file()
    path = project / ("uv.toml" if uv_toml else "pyproject.toml")
    uv_path: tuple[str, ...] = () if uv_toml else ("tool", "uv")
    from envkey_hook import readfile

    raw = readfile.read(path, readfile.TOML_LIMIT)  # a FIFO there is an error, not a hang
    if raw is None:
        raise InputError(path, "not found")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    new = apply(text, uv_path, due)
    _verify(text, new, path, uv_path, due)
    for name, variables in sorted(due.items()):
        for var, value in sorted(variables.items()):
            verb = "would fix" if check else "fixed"
            print(f'{verb} {path}: {name}: {EBV} {var} = "{value}"', file=out)
    if not check:
        from envkey_hook.atomic import replace_config

        replace_config(path, new)
    return EXIT_ACTION
