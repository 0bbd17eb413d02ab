"""Build inputs no lockfile shows, observed on this machine: build variables, the C and
C++ compilers, the CUDA toolkit.

What the observation depends on is cheap to look at (variables, PATH lookups, stats):
its *key* (`fingerprint`). Running the tools (`toolchain.probe`) is not, so its results
are kept with their key in `<git dir>/envkey-hook/envprobe-<hash>` and reused while the
key holds. A second file, `envseen-<hash>`, holds the key as it was when the recorded
state (state.py) was last written: the no-op path and the git hooks compare it with the
present key to learn, without parsing anything or running a tool, whether an input may
have moved. Only `os` and `sys` are imported here.
"""

from __future__ import annotations

import os

from envkey_hook import toolchain
from envkey_hook.fileid import path_hash, stat_sig

TYPE_CHECKING = False  # not typing's: this module is on the no-op path
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_WATCH_ENV = (
    "CUDA_HOME",
    "CUDA_PATH",
    "TORCH_CUDA_ARCH_LIST",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "CMAKE_ARGS",
    "NVCC_FLAGS",
    "NVCC_APPEND_FLAGS",
)
# Read only by CUDA builds (torch's cpp_extension, nvcc): not an input of plain C packages.
CUDA_VARS = frozenset(
    ("CUDA_HOME", "CUDA_PATH", "TORCH_CUDA_ARCH_LIST", "NVCC_FLAGS", "NVCC_APPEND_FLAGS")
)
CUDA = "CUDA"
COMPILERS = tuple(toolchain.DEFAULT_COMPILERS)  # "C compiler", "C++ compiler"
UNSET = "(unset)"
_HEADER = "envkey-hook-envinputs 1"


def var_label(name: str) -> str:
    """How a variable is named in an envkey and in reports: `CFLAGS` (`env name` when the
    name is all lower case, which package names are)."""
    return name if name != name.lower() else f"env {name}"


def is_env_label(label: str) -> bool:
    """Whether an envkey label is one of this module's (package names are lower case)."""
    if label == CUDA or label in COMPILERS or label.startswith("env "):
        return True
    return " " not in label and label != label.lower()


def quote(value: str | None) -> str:
    return UNSET if value is None else f"'{value}'"


def fingerprint(env: Mapping[str, str], watch: Sequence[str], probe: bool, cuda: bool) -> list[str]:
    """Everything the observation depends on, as lines: equal lines, equal observation."""
    lines = [f"watch {' '.join(watch)}", f"flags probe={int(probe)} cuda={int(cuda)}"]
    lines += [f"var {name} {env.get(name)!r}" for name in watch]
    if probe:
        paths = [p for label in COMPILERS for p in toolchain.compiler_paths(label, env)]
        lines += [f"compiler {p!r}" for p in paths]
        if cuda:
            home, nvcc = toolchain.cuda_home(env)
            lines.append(f"cuda {home!r} {nvcc!r}")
            paths += [os.path.join(home, "version.json")] if home else []
            paths += [nvcc] if nvcc else []
        # Following symlinks: an `update-alternatives` switch shows as another inode.
        lines += [f"file {stat_sig(p)} {p!r}" for p in paths if os.sep in p]
    return lines


def _params(lines: Sequence[str]) -> tuple[list[str], bool, bool] | None:
    """(watch, probe, cuda) as a fingerprint's first two lines state them."""
    if len(lines) < 2 or not lines[0].startswith("watch ") or not lines[1].startswith("flags "):
        return None
    watch = lines[0][len("watch ") :].split()
    flags = dict(f.split("=", 1) for f in lines[1][len("flags ") :].split())
    return watch, flags.get("probe") == "1", flags.get("cuda") == "1"


def _path(gitdir: str, kind: str, project: str) -> str:
    return os.path.join(gitdir, "envkey-hook", f"{kind}-{path_hash(project)}")


def probe_path(gitdir: str, project: str) -> str:
    return _path(gitdir, "envprobe", project)


def seen_path(gitdir: str, project: str) -> str:
    return _path(gitdir, "envseen", project)


def _read(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != _HEADER or lines[-2:] != ["end", ""]:
        return None
    return lines[1:-2]


def _unlink(path: str) -> None:
    # Not contextlib.suppress: contextlib is not loaded yet on the no-op path.
    try:
        os.unlink(path)
    except OSError:
        return


def _write(path: str, lines: Sequence[str]) -> None:
    """Replace atomically; the files are caches, so failing to write is no error."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join([_HEADER, *lines, "end", ""]))
        os.replace(tmp, path)
    except OSError:
        _unlink(tmp)


def observe(
    gitdir: str | None,
    project: str,
    env: Mapping[str, str],
    watch: Sequence[str],
    probe: bool,
    cuda: bool,
) -> tuple[dict[str, str], list[str]]:
    """(label -> value of every input, the fingerprint they were observed under).

    The tools run only when the fingerprint differs from the one their results were
    kept under.
    """
    key = fingerprint(env, watch, probe, cuda)
    values = {var_label(n): quote(env.get(n)) for n in watch}
    if not probe:
        return values, key
    # The tools' answers do not depend on the variables' values (CC and CUDA_HOME act
    # through the paths in the other lines): a CFLAGS change reuses them.
    tools = [line for line in key if not line.startswith("var ")]
    kept = _read(probe_path(gitdir, project)) if gitdir else None
    probed: dict[str, str] = {}
    n = len(tools)
    if kept is not None and kept[:n] == tools and kept[n : n + 1] == [f"project {project!r}"]:
        for line in kept[n + 1 :]:
            label, _, value = line.partition("\t")
            probed[label] = value
    else:
        probed = toolchain.probe(env, cuda)
        failed = any(toolchain.UNKNOWN in v for v in probed.values())
        if gitdir and not failed and not any("\n" in v or "\t" in k for k, v in probed.items()):
            body = [f"{k}\t{v}" for k, v in sorted(probed.items())]
            _write(probe_path(gitdir, project), [*tools, f"project {project!r}", *body])
    values.update(probed)
    return values, key


def mark_seen(gitdir: str, project: str, key: Sequence[str] | None) -> None:
    """Note the fingerprint the recorded state was written under (None: nothing observed)."""
    path = seen_path(gitdir, project)
    if key is None:
        _unlink(path)
    elif _read(path) != [*key, f"project {project!r}"]:
        _write(path, [*key, f"project {project!r}"])


def _seen_holds(lines: list[str], env: Mapping[str, str]) -> bool:
    params = _params(lines)
    return params is not None and fingerprint(env, *params) == lines[:-1]


def seen_holds(gitdir: str, project: str, env: Mapping[str, str]) -> bool:
    """False when an input may have moved since the state was recorded.

    No file: nothing was observed for the project (no native package), or it was
    removed; the no-op record notices the latter by the file's stat.
    """
    lines = _read(seen_path(gitdir, project))
    return lines is None or _seen_holds(lines, env)


def moved_projects(gitdir: str, env: Mapping[str, str]) -> list[str]:
    """Projects of this work tree whose inputs may have moved since their state was recorded."""
    try:
        names = sorted(os.listdir(os.path.join(gitdir, "envkey-hook")))
    except OSError:
        return []
    moved = []
    for name in names:
        if not name.startswith("envseen-") or name.endswith(".tmp"):
            continue
        lines = _read(os.path.join(gitdir, "envkey-hook", name))
        if lines is None or not lines[-1].startswith("project "):
            continue
        import ast  # a project path as repr() wrote it; rare path

        project = ast.literal_eval(lines[-1][len("project ") :])
        if isinstance(project, str) and not _seen_holds(lines, env):
            moved.append(project)
    return moved
