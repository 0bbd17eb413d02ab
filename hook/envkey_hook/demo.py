"""`envkey-hook demo`: show the stale build, the purge and the healed build."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from envkey_hook import fixture


def find_uv() -> str | None:
    """The `uv` next to this interpreter (a venv install), else the one on PATH."""
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def toolchain_problem(env: dict[str, str]) -> str | None:
    """One line naming what a C build lacks here (compiler or Python headers), else None."""
    cc = env.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(cc)
    compiler = words[0] if words else "cc"
    if shutil.which(compiler, path=env.get("PATH")) is None:
        return (
            f"no C compiler: `{compiler}` (from {'CC' if env.get('CC') else 'sysconfig'})"
            " is not on PATH; install one (Debian/Ubuntu: `apt-get install gcc`,"
            " Fedora: `dnf install gcc`, macOS: `xcode-select --install`) or set CC"
        )
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not header.is_file():
        return (
            f"no Python headers: {header} is missing; install them (Debian/Ubuntu:"
            " `apt-get install python3-dev`, Fedora: `dnf install python3-devel`)"
        )
    return None


def _say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _check(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{proc.stderr.strip()}")


def _versions(project: Path, env: dict[str, str]) -> tuple[str, str]:
    python = project / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    code = "import extpkg, rtlib; print(extpkg.built_against(), rtlib.__version__)"
    out = subprocess.run(
        [str(python), "-c", code], env=env, capture_output=True, text=True, check=True
    )
    built, runtime = out.stdout.split()
    return built, runtime


def _show(project: Path, env: dict[str, str]) -> bool:
    built, runtime = _versions(project, env)
    ok = built == runtime
    verdict = "OK" if ok else "STALE: the binary does not match the runtime"
    print(f"    extpkg compiled against rtlib {built}; rtlib {runtime} installed -> {verdict}")
    return ok


def scenario(workdir: Path, uv: str) -> int:
    """Run the whole story in `workdir`; 0 when it ends healed after showing the bug."""
    wheels = fixture.write_runtime_wheels(workdir / "wheels")
    fixture.ext_sdist(wheels)
    project = workdir / "project"
    project.mkdir()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(fixture.project_pyproject("extpkg", "1.0", find_links=[str(wheels)]))
    env = fixture.env_for_uv(workdir / "uv-cache")
    env.update(
        GIT_AUTHOR_NAME="demo",
        GIT_AUTHOR_EMAIL="demo@example.invalid",
        GIT_COMMITTER_NAME="demo",
        GIT_COMMITTER_EMAIL="demo@example.invalid",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    git = ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]

    _say("A project whose C extension `extpkg` is built against runtime `rtlib` 1.0")
    print(f"    {project} (uv cache: {env['UV_CACHE_DIR']})")
    _check([uv, "lock", "-q"], project, env)
    _check([*git, "init", "-q"], project, env)
    _check([*git, "add", "pyproject.toml", "uv.lock"], project, env)
    _check([*git, "commit", "-qm", "rtlib 1.0"], project, env)
    _check([uv, "sync", "-q", "--no-active"], project, env)
    _show(project, env)

    _say("Bump rtlib to 2.0 and run plain `uv sync` (the bug, astral-sh/uv#16850)")
    pyproject.write_text(pyproject.read_text().replace("rtlib==1.0", "rtlib==2.0"))
    _check([uv, "lock", "-q"], project, env)
    _check([uv, "sync", "-q", "--no-active"], project, env)
    if _show(project, env):
        print("    (uv rebuilt cleanly here; the bug did not reproduce with this uv)")

    _say("envkey-hook run")
    hook = subprocess.run([sys.executable, "-m", "envkey_hook", "run"], cwd=project, env=env)
    print(f"    (exit code {hook.returncode})")

    _say("uv sync --reinstall-package extpkg")
    _check([uv, "sync", "-q", "--no-active", "--reinstall-package", "extpkg"], project, env)
    healed = _show(project, env)
    _say("Healed." if healed else "Still stale: please report this.")
    return 0 if healed else 1


def main(keep: bool = False) -> int:
    uv = find_uv()
    if uv is None:
        print("error: `uv` not found: install it (`pip install uv`) and run again", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="envkey-hook-demo-"))
    try:
        return scenario(workdir, uv)
    except RuntimeError as exc:
        # Said before uv's log: a missing compiler drowns in it otherwise.
        problem = toolchain_problem(dict(os.environ))
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if keep:
            print(f"\nKept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
