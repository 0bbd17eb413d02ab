"""PEP 508 markers: the environment uv builds for, and `resolution-markers` evaluated in it.

uv writes its fork markers in one normalized shape (`python_full_version >= '3.12' and
sys_platform == 'linux'`). Those are evaluated here without packaging, whose import alone
costs a third of issue 5's memory budget for a changed lock; any other marker, or a
version that is not plain `N(.N)*`, is handed to packaging, so the answer is always its.
"""

from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False  # not typing's: this module is on the changed-lock path
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    _Node = tuple[Any, ...]  # ("cmp", var, op, value) | ("and" | "or", [nodes])
    Residual = bool | _Node  # what `residual` leaves: nodes of ("x", extra, is_equal)

_VERSION_VARS = frozenset(("python_version", "python_full_version", "implementation_version"))
_STRING_VARS = frozenset(
    (
        "os_name",
        "sys_platform",
        "platform_system",
        "platform_machine",
        "platform_python_implementation",
        "implementation_name",
    )
)
_TOKEN = re.compile(
    r"\s*(?:(?P<paren>[()])|(?P<bool>and|or)(?![\w.-])|(?P<var>[a-z_]+)\s*"
    r"(?P<op>==|!=|<=|>=|<|>)\s*'(?P<value>[^'\\]*)')"
)
_RELEASE = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_WILDCARD = re.compile(r"[0-9]+(?:\.[0-9]+)*\.\*")


class _Unsupported(Exception):
    """Outside the shapes evaluated here: packaging decides."""


def evaluate(marker: str, env: Mapping[str, str], extras: frozenset[str] | None = None) -> bool:
    """Whether `marker` holds in `env`, exactly as `packaging.markers.Marker` says.

    `extras`: the set of active extras, for the markers uv writes in a lock with
    `conflicts` (`extra == 'extra-5-proj-a' and extra == 'extra-5-proj-b'` holds only
    when both are active: a set, which packaging's single `extra` value cannot say).
    Raises packaging's InvalidMarker or UndefinedEnvironmentName when it would.
    """
    try:
        return _evaluate(marker, env, extras)
    except _Unsupported:
        if extras is not None and "extra" in marker:
            raise ValueError(f"cannot evaluate {marker!r} with a set of extras") from None
        from packaging.markers import Marker

        return Marker(marker).evaluate(dict(env))


# Each marker text parsed once: a lock's conflict markers are long, and the install plan
# evaluates each one for many sets of extras. None: a shape packaging must decide.
_PARSED: dict[str, _Node | None] = {}


def _evaluate(text: str, env: Mapping[str, str], extras: frozenset[str] | None) -> bool:
    return _eval(_parsed(text), env, extras)


def residual(marker: str, env: Mapping[str, str]) -> Residual:
    """`marker` for many sets of extras: all but its `extra == '...'` tests decided in `env`.

    `holds_for(residual(m, env), [extras])` is `evaluate(m, env, extras)` for every set of
    extras, and this raises where that would (every comparison is made, as in `evaluate`).
    """
    try:
        flat = _flat_residual(marker, env)
        return flat if flat is not None else _reduce(_parsed(marker), env)
    except _Unsupported:
        if "extra" in marker:
            raise ValueError(f"cannot evaluate {marker!r} with a set of extras") from None
        from packaging.markers import Marker

        return Marker(marker).evaluate(dict(env))


def holds_for(node: Residual, sets: Sequence[frozenset[str]]) -> int:
    """The sets of extras a `residual` holds for, as bits (bit i: `sets[i]`); each node is
    looked at once for all of them (nothing left in a residual can raise)."""
    full = (1 << len(sets)) - 1
    having: dict[str, int] = {}

    def bits(n: Residual) -> int:
        if isinstance(n, bool):
            return full if n else 0
        if n[0] == "x":
            if n[1] not in having:
                having[n[1]] = sum(1 << i for i, s in enumerate(sets) if n[1] in s)
            return having[n[1]] if n[2] else full & ~having[n[1]]
        out = full if n[0] == "and" else 0
        for child in n[1]:
            out = out & bits(child) if n[0] == "and" else out | bits(child)
        return out

    return bits(node)


def _reduce(node: _Node, env: Mapping[str, str]) -> Residual:
    if node[0] == "cmp":
        _, var, op, value = node
        if var == "extra" and op in ("==", "!="):
            return ("x", value, op == "==")
        return _compare(var, op, value, env)
    children = [_reduce(child, env) for child in node[1]]  # all of them: any may raise
    return _settled(node[0], children)


# uv writes a lock's long conflict markers flat: `(a and b) or (c and d) or e`, each
# comparison with single spaces. Split at those words, each piece is a comparison (one
# quoted value, so no split fell inside a value), and the pieces are few and repeat:
# each is read and decided once per environment.
_COMPARISON = re.compile(r"([a-z_]+) (==|!=|<=|>=|<|>) '([^'\\]*)'")
_DECIDED: dict[tuple[tuple[str, str], ...], dict[str, Residual | None]] = {}


def _flat_residual(text: str, env: Mapping[str, str]) -> Residual | None:
    """`_reduce(_parse(text), env)` for a flat marker; None: another shape, or a comparison
    decided elsewhere (packaging's, or an error the general path raises)."""
    decided = _DECIDED.setdefault(tuple(sorted(env.items())), {})
    ors: list[Residual] = []
    for part in text.split(" or "):
        if part[:1] == "(" and part[-1:] == ")":
            part = part[1:-1]
        ands: list[Residual] = []
        for piece in part.split(" and "):
            if piece not in decided:
                decided[piece] = _decide(piece, env)
            value = decided[piece]
            if value is None:
                return None
            ands.append(value)
        ors.append(_settled("and", ands))
    return _settled("or", ors)


def _decide(piece: str, env: Mapping[str, str]) -> Residual | None:
    m = _COMPARISON.fullmatch(piece)
    if m is None:
        return None
    try:
        return _reduce(("cmp", *m.groups()), env)
    except _Unsupported:
        return None


def _settled(kind: str, children: list[Residual]) -> Residual:
    """An `and` / `or` of reduced children, as `_reduce` leaves it."""
    decided: bool = kind == "or"  # the value that settles an `or` (True) or an `and` (False)
    if decided in children:
        return decided
    left = [c for c in children if not isinstance(c, bool)]
    if not left:
        return not decided
    return left[0] if len(left) == 1 else (kind, left)


def _parsed(text: str) -> _Node:
    if text not in _PARSED:
        try:
            _PARSED[text] = _parse(text)
        except _Unsupported:
            _PARSED[text] = None
    node = _PARSED[text]
    if node is None:
        raise _Unsupported
    return node


def _eval(node: _Node, env: Mapping[str, str], extras: frozenset[str] | None) -> bool:
    kind = node[0]
    if kind == "cmp":
        _, var, op, value = node
        if var == "extra" and extras is not None and op in ("==", "!="):
            return bool((value in extras) == (op == "=="))
        return _compare(var, op, value, env)
    results = [_eval(child, env, extras) for child in node[1]]  # no short cut, as packaging
    return all(results) if kind == "and" else any(results)


def _parse(text: str) -> _Node:
    """`or` / `and` / parentheses / `var op 'value'` into nodes, in one pass over the
    tokens: or := and ('or' and)*; and := atom ('and' atom)*; atom := '(' or ')' | cmp."""
    end, at = len(text.rstrip()), 0
    frames: list[list[list[_Node]]] = [[[]]]  # per open parenthesis: `or` parts of `and`s
    operand = True  # what must come next: an operand, or an operator / `)` / the end
    for m in _TOKEN.finditer(text, 0, end):
        if m.start() != at:
            raise _Unsupported
        at = m.end()
        paren, boolean, var, op, value = m.groups()
        if operand and var is not None:
            frames[-1][-1].append(("cmp", var, op, value))
            operand = False
        elif operand and paren == "(":
            frames.append([[]])
        elif operand:
            raise _Unsupported
        elif boolean == "and":
            operand = True
        elif boolean == "or":
            frames[-1].append([])
            operand = True
        elif paren == ")" and len(frames) > 1:
            node = _joined(frames.pop())
            frames[-1][-1].append(node)
        else:
            raise _Unsupported
    if at != end or operand or len(frames) != 1:
        raise _Unsupported
    return _joined(frames[0])


def _joined(ors: list[list[_Node]]) -> _Node:
    parts = [ands[0] if len(ands) == 1 else ("and", ands) for ands in ors]
    return parts[0] if len(parts) == 1 else ("or", parts)


def _compare(var: str, op: str, value: str, env: Mapping[str, str]) -> bool:
    if var in _STRING_VARS and op in ("==", "!="):
        if var not in env or not value[:1].isalpha() or value[:1] in "vV":
            raise _Unsupported  # packaging would try it as a version, or reports the name
        return (env[var] == value) == (op == "==")
    if var not in _VERSION_VARS or var not in env:
        raise _Unsupported
    have = env[var]
    if not _RELEASE.fullmatch(have):
        raise _Unsupported  # a pre-release or local version: PEP 440's finer rules
    mine = [int(p) for p in have.split(".")]
    if _WILDCARD.fullmatch(value) and op in ("==", "!="):
        prefix = [int(p) for p in value[:-2].split(".")]
        padded = mine + [0] * (len(prefix) - len(mine))
        return (padded[: len(prefix)] == prefix) == (op == "==")
    if not _RELEASE.fullmatch(value):
        raise _Unsupported
    other = [int(p) for p in value.split(".")]
    width = max(len(mine), len(other))
    a, b = mine + [0] * (width - len(mine)), other + [0] * (width - len(other))
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _platform_values() -> dict[str, str]:
    """What `platform` answers; CPython on Linux and macOS asks `os.uname` directly.

    Importing `platform` costs ~3 ms of a command that runs on every checkout; there its
    answers are `os.uname`'s fields and the first word of `sys.version`.
    """
    if sys.implementation.name == "cpython" and sys.platform in ("linux", "darwin"):
        u = os.uname()
        system, release, version, machine = u.sysname, u.release, u.version, u.machine
        python, implementation = sys.version.split()[0], "CPython"
    else:
        import platform

        system, release, version = platform.system(), platform.release(), platform.version()
        machine, python = platform.machine(), platform.python_version()
        implementation = platform.python_implementation()
    return {
        "platform_machine": machine,
        "platform_release": release,
        "platform_system": system,
        "platform_version": version,
        "python_full_version": python,
        "platform_python_implementation": implementation,
    }


def environment(venv: str | None = None) -> dict[str, str]:
    """PEP 508 marker values for the interpreter uv will build for.

    The values packaging's `default_environment` gives for this interpreter, except that
    the hook often runs in pre-commit's own virtualenv: when the project's environment
    exists, its `pyvenv.cfg` decides the Python version.
    """
    impl = sys.implementation
    iver = f"{impl.version.major}.{impl.version.minor}.{impl.version.micro}"
    if impl.version.releaselevel != "final":
        iver += impl.version.releaselevel[0] + str(impl.version.serial)
    env = {
        "implementation_name": impl.name,
        "implementation_version": iver,
        "os_name": os.name,
        **_platform_values(),
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "sys_platform": sys.platform,
    }
    if venv:
        try:
            with open(f"{venv}/pyvenv.cfg", encoding="utf-8") as f:
                cfg = dict(
                    (k.strip(), v.strip()) for k, _, v in (ln.partition("=") for ln in f) if v
                )
        except OSError:
            return env
        full = cfg.get("version_info") or cfg.get("version")
        if full:
            parts = full.split(".")
            env["python_full_version"] = ".".join(parts[:3])
            env["python_version"] = ".".join(parts[:2])
            env["implementation_version"] = env["python_full_version"]
    return env
