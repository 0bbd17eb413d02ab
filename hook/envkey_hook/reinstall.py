"""Whether the installed copy of a package must be reinstalled, remembered across runs.

A plain `uv sync` keeps an installed package whose `uv_build.json` (the build
configuration uv filed its wheel under) matches what the settings demand, whatever
its binary was compiled against. So the environment decides: a copy installed for
the target configuration from a cache that was not reconciled for it may hold a
stale binary, even when nothing is left in the cache to delete (`uv cache clean`).

The need to reinstall is recorded in `<git dir>/envkey-hook/pending-<id>.json`
BEFORE anything is deleted, so a run killed after removing a polluted slot still
leaves the hint to the next run. A pending reinstall is done once the installed
copy is not the one that was there when it was recorded: uv writes a new `RECORD`
for every install (a new inode and ctime), and keeps it on a plain sync.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from envkey_hook.names import canonical_name

if TYPE_CHECKING:
    from envkey_hook.envkey import EnvKey

_MAX_BYTES = 1024 * 1024  # uv_build.json and our record are a few hundred bytes
_NOT_SLOT_KEYED = ("version", "source")  # uv reinstalls by itself when these move


class Installed(NamedTuple):
    """An installed distribution: its dist-info, version and identity of this install."""

    dist_info: Path
    version: str
    stamp: str  # changes with every (re)install


def environment_dir(project: Path, env: Mapping[str, str] = os.environ) -> Path:
    """The project's virtual environment, where `uv sync` installs."""
    chosen = env.get("UV_PROJECT_ENVIRONMENT")
    return project / chosen if chosen else project / ".venv"  # `/` keeps an absolute path


def _site_packages(venv: Path) -> list[Path]:
    found = [*venv.glob("lib*/*/site-packages"), venv / "Lib" / "site-packages"]
    return [d for d in found if d.is_dir() and not d.is_symlink()]


def find_installed(venv: Path, package: str) -> Installed | None:
    """The installed copy of `package` in `venv`, if any."""
    for site in _site_packages(venv):
        try:
            names = os.listdir(site)
        except OSError:
            continue
        for name in sorted(names):
            if not name.endswith(".dist-info"):
                continue
            dist, _, version = name[: -len(".dist-info")].partition("-")
            if version and canonical_name(dist) == package:
                stamp = _stamp(site / name)
                if stamp is not None:
                    return Installed(site / name, version, stamp)
    return None


def _stamp(dist_info: Path) -> str | None:
    try:
        st = os.lstat(dist_info / "RECORD")
    except OSError:
        return None
    return f"{dist_info.name}:{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _read_json(path: Path) -> object:
    """The parsed file; None when absent; ValueError when unreadable or malformed."""
    from envkey_hook.readfile import read_json

    return read_json(path, _MAX_BYTES)


def _format(value: object) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value)


def build_labels(record: object) -> dict[str, str]:
    """uv's `uv_build.json` as envkey inputs (labels as `envkey.compute_envkeys` names them).

    Raises ValueError on a shape uv does not write.
    """
    if record is None:
        return {}  # no file: uv filed the wheel under the empty configuration
    if not isinstance(record, dict):
        raise ValueError("not an object")
    labels: dict[str, str] = {}
    pinned: list[str] = []
    for item in record.get("extra_build_requires") or []:
        req = item.get("requirement") if isinstance(item, dict) else None
        if not isinstance(req, dict) or not isinstance(req.get("name"), str):
            raise ValueError("bad extra_build_requires")
        name, spec = canonical_name(req["name"]), str(req.get("specifier") or "")
        if item.get("match_runtime") is True:
            labels[name] = spec[2:] if spec.startswith("==") else spec
            if isinstance(req.get("index"), str):
                labels[f"{name} source"] = "registry=" + _index_location(req["index"])
        else:
            pinned.append(name + spec)
    if pinned:
        labels["extra-build-dependencies"] = ", ".join(pinned)
    for kind, prefix in (
        ("extra_build_variables", "extra-build-variables"),
        ("config_settings", "config-settings"),
    ):
        table = record.get(kind) or {}
        if not isinstance(table, dict):
            raise ValueError(f"bad {kind}")
        for key, value in table.items():
            labels[f"{prefix} {key}"] = _format(value)
    return labels


def _index_location(url: str) -> str:
    """An index URL as uv.lock spells a registry: a local one as its path."""
    if url.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(url).path).rstrip("/")
    return url.rstrip("/")


def slot_labels(key: EnvKey) -> dict[str, str]:
    """The inputs of `key` that uv's slot key (and so `uv_build.json`) records; a
    runtime's source (its index) only as `registry=<index>`."""
    from envkey_hook.envinputs import is_env_label

    out: dict[str, str] = {}
    for label, value in key.inputs:
        if label in _NOT_SLOT_KEYED or label in key.unkeyed or is_env_label(label):
            continue  # (an environment input uv keys is in its extra-build-variables)
        if label.endswith(" source"):
            if value.startswith("registry=") and " | " not in value:
                out[label] = "registry=" + _index_location(value[len("registry=") :])
            continue
        if label == "extra-build-dependencies":
            value = ", ".join(_bare_requirement(r) for r in value.split(", "))
        out[label] = value
    return out


def slot_runtimes(key: EnvKey) -> frozenset[str] | None:
    """The runtimes `key`'s build configurations are made of, when nothing else is in
    uv's slot key (no build variables or config settings); None otherwise."""
    names: set[str] = set()
    for label, value in slot_labels(key).items():
        if label == "extra-build-dependencies":
            names.update(_requirement_name(r) for r in value.split(", "))
        elif label.endswith(" source"):
            continue
        elif " " in label:
            return None  # extra-build-variables or config-settings: not a runtime
        else:
            names.add(label)
    return frozenset(names) or None


def _requirement_name(req: str) -> str:
    return _bare_requirement(req).split("=")[0].split("<")[0].split(">")[0].split("!")[0]


def _bare_requirement(req: str) -> str:
    """`Rtlib == 2.0` -> `rtlib==2.0`: how uv_build.json spells a pinned requirement."""
    text = "".join(req.split())
    i = next((n for n, ch in enumerate(text) if ch in "<>=!~;[@"), len(text))
    return canonical_name(text[:i]) + text[i:]


def kept_by_plain_sync(installed: Installed, key: EnvKey) -> bool:
    """Whether a plain `uv sync` keeps `installed` for the configuration `key`.

    uv keeps it when its version and its `uv_build.json` match; then only a
    reinstall replaces a stale binary. An unreadable record counts as a match.
    """
    want = dict(key.inputs).get("version", "")
    if installed.version.lower() != want.lower():
        return False  # another version: uv replaces it
    try:
        labels = build_labels(_read_json(installed.dist_info / "uv_build.json"))
    except ValueError:
        return True
    wanted = slot_labels(key)
    for label in set(labels) | set(wanted):
        if label.endswith(" source") and not (label in labels and label in wanted):
            continue  # an index only one side spells: not compared
        if labels.get(label) != wanted.get(label):
            return False
    return True


def installed_native(venv: Path, package: str, key: EnvKey) -> frozenset[tuple[str, str]] | None:
    """The native files (RECORD path and hash) of the copy installed for `key`'s
    configuration; None when none is (another version, configuration or nothing)."""
    installed = find_installed(venv, package)
    if installed is None or not kept_by_plain_sync(installed, key):
        return None
    from envkey_hook.errors import InputError
    from envkey_hook.readfile import read

    try:
        data = read(installed.dist_info / "RECORD", _MAX_BYTES * 64)
        text = "" if data is None else data.decode("utf-8")
    except (InputError, UnicodeDecodeError):
        return None
    from envkey_hook.wheels import native_record

    return native_record(text) or None


# --- the pending record ----------------------------------------------------------------


def load_pending(path: Path) -> dict[str, str]:
    """package -> stamp of the installed copy when the reinstall was recorded ("" if none)."""
    try:
        doc = _read_json(path)
    except ValueError:
        return {}
    raw = doc.get("pending") if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, str)}


def save_pending(path: Path, pending: Mapping[str, str]) -> None:
    """Write (or, when empty, remove) the record; durable before anything is deleted."""
    if not pending:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    import json

    from envkey_hook.atomic import write_atomic

    doc = {"schema": 1, "pending": dict(sorted(pending.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))


def still_pending(pending: Mapping[str, str], venv: Path) -> dict[str, str]:
    """The recorded reinstalls that have not happened: the same copy is still installed."""
    left: dict[str, str] = {}
    for package, stamp in pending.items():
        now = find_installed(venv, package)
        if now is not None and now.stamp == stamp:
            left[package] = stamp
    return left


def stamps(venv: Path, packages: Iterable[str]) -> dict[str, str]:
    """The current install stamp of each package ("" when it is not installed)."""
    out: dict[str, str] = {}
    for p in packages:
        inst = find_installed(venv, p)
        out[p] = inst.stamp if inst is not None else ""
    return out
