"""Environment inputs: the CUDA and compiler probes, their memo, package classification."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envkey_hook import envinputs, nativesrc, noop_record, toolchain
from envkey_hook.config import parse_config
from envkey_hook.errors import InputError


def _fake_toolkit(root: Path, version_json: str | None, release: str, calls: Path) -> Path:
    """A toolkit directory: optional version.json, and a bin/nvcc that counts its runs."""
    (root / "bin").mkdir(parents=True)
    if version_json is not None:
        (root / "version.json").write_text(
            '{\n   "cuda" : {\n      "name" : "CUDA SDK",\n'
            f'      "version" : "{version_json}"\n   }},\n'
            '   "cuda_nvcc" : { "name" : "CUDA NVCC", "version" : "99.9.1" }\n}\n'
        )
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text(
        f"#!/bin/sh\necho run >> {calls}\n"
        f'echo "Cuda compilation tools, release {release}, V{release}.1"\n'
    )
    nvcc.chmod(0o755)
    return root


def test_real_nvcc_on_path() -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no nvcc on PATH")
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    expected = re.search(r"release (\d+\.\d+)", out)
    assert expected is not None
    env = {"PATH": os.environ["PATH"]}
    assert toolchain.cuda_home(env)[1] == nvcc
    assert toolchain.cuda_version(env) == expected.group(1)


def test_fake_toolkit_version_json_beats_nvcc_on_path(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    home = _fake_toolkit(tmp_path / "cuda-12.8", "12.8.93", "12.8", calls)
    env = {"PATH": os.environ["PATH"], "CUDA_HOME": str(home)}
    assert toolchain.cuda_version(env) == "12.8"
    assert not calls.exists()  # version.json answered: nvcc never ran
    env = {"PATH": os.environ["PATH"], "CUDA_PATH": str(home)}
    assert toolchain.cuda_version(env) == "12.8"


def test_fake_toolkit_without_version_json_asks_nvcc(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    home = _fake_toolkit(tmp_path / "cuda", None, "11.8", calls)
    assert toolchain.cuda_version({"PATH": f"{home}/bin"}) == "11.8"
    assert toolchain.cuda_version({"PATH": "/nonexistent"}) == toolchain.NOT_FOUND


def test_probe_runs_only_when_a_stat_moved(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    home = _fake_toolkit(tmp_path / "cuda", None, "12.4", calls)
    env = {"PATH": f"{home}/bin:{os.environ['PATH']}", "CFLAGS": "-O2"}
    gitdir = tmp_path / "git"
    watch = ("CFLAGS", "CUDA_HOME")
    values, key = envinputs.observe(str(gitdir), "/p", env, watch, True, True)
    assert values["CUDA"] == "12.4" and values["CFLAGS"] == "'-O2'"
    assert values["CUDA_HOME"] == envinputs.UNSET
    assert calls.read_text().count("run") == 1
    again, key2 = envinputs.observe(str(gitdir), "/p", env, watch, True, True)
    assert (again, key2) == (values, key)
    assert calls.read_text().count("run") == 1  # memo: nvcc did not run again

    envinputs.mark_seen(str(gitdir), "/p", key)
    assert envinputs.seen_holds(str(gitdir), "/p", env)
    assert envinputs.moved_projects(str(gitdir), env) == []
    moved_env = {**env, "CFLAGS": "-O3"}
    assert not envinputs.seen_holds(str(gitdir), "/p", moved_env)
    assert envinputs.moved_projects(str(gitdir), moved_env) == ["/p"]

    nvcc = home / "bin" / "nvcc"
    nvcc.write_text(nvcc.read_text().replace("12.4", "13.1"))
    assert not envinputs.seen_holds(str(gitdir), "/p", env)  # nvcc's stat moved
    values, _ = envinputs.observe(str(gitdir), "/p", env, watch, True, True)
    assert values["CUDA"] == "13.1"
    assert calls.read_text().count("run") == 2


def test_compiler_wrapper_is_named_by_its_text(tmp_path: Path) -> None:
    real = shutil.which("gcc") or shutil.which("cc")
    if real is None:
        pytest.skip("no C compiler")
    (tmp_path / "bin").mkdir()
    cc = tmp_path / "bin" / "cc"
    cc.write_text(f'#!/bin/sh\nexec {real} "$@"\n')
    cc.chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    first = toolchain.compiler_identity(str(cc), env)
    cc.write_text(f'#!/bin/sh\nexec {real} -DX=1 "$@"\n')
    assert toolchain.compiler_identity(str(cc), env) != first
    gcc = shutil.which("gcc", path=env["PATH"])
    assert toolchain.compiler_paths("C compiler", {**env, "CC": "gcc -m64"}) == [gcc]
    assert toolchain.compiler_paths("C compiler", {**env, "CC": "ccache gcc"}) == [gcc]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"pkg/__init__.py": "", "setup.py": "from setuptools import setup\nsetup()\n"},
            (False, False),
        ),
        ({"src/a.c": "", "pyproject.toml": ""}, (True, False)),
        ({"csrc/k.cu": "", "setup.py": ""}, (True, True)),
        ({"setup.py": "from torch.utils.cpp_extension import CUDAExtension\n"}, (True, True)),
        ({"CMakeLists.txt": "project(x LANGUAGES CXX)\n"}, (True, False)),
        ({"CMakeLists.txt": "enable_language(CUDA)\n"}, (True, True)),
    ],
)
def test_scan_classifies_source_trees(
    tmp_path: Path, files: dict[str, str], expected: tuple[bool, bool]
) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert nativesrc.scan(tmp_path) == expected


def test_unseen_sources_are_native_and_cuda_only_with_a_cuda_stack() -> None:
    assert nativesrc.classify([], cuda_stack=False, said_cuda=False) == (True, False, False)
    assert nativesrc.classify([], cuda_stack=True, said_cuda=False) == (True, True, False)
    assert nativesrc.has_cuda_runtime(["torch", "nvidia-cuda-runtime-cu12"])


def test_config_keys() -> None:
    cfg = parse_config(
        {
            "tool": {
                "envkey-hook": {
                    "watch-env": ["CFLAGS"],
                    "extend-watch-env": ["FLASH_ATTENTION_FORCE_BUILD"],
                    "probe-toolchain": False,
                    "cuda-packages": ["Flash_Attn"],
                }
            }
        },
        "pyproject.toml",
    )
    assert cfg.watch_env == ("CFLAGS", "FLASH_ATTENTION_FORCE_BUILD")
    assert not cfg.probe_toolchain and cfg.cuda_packages == ("flash-attn",)
    assert parse_config({}, "p").watch_env == envinputs.DEFAULT_WATCH_ENV
    with pytest.raises(InputError, match="watch-env"):
        parse_config({"tool": {"envkey-hook": {"watch-env": ["A=B"]}}}, "p")


def test_labels() -> None:
    for label in ("CUDA", "C compiler", "C++ compiler", "CFLAGS", "env http_proxy"):
        assert envinputs.is_env_label(label)
    for label in ("torch", "torch source", "version", "config-settings cmake.define.X"):
        assert not envinputs.is_env_label(label)
    assert envinputs.var_label("http_proxy") == "env http_proxy"


def test_fixenv_apply_adds_exactly_the_keys() -> None:
    from envkey_hook import fixenv
    from envkey_hook.tomlcompat import loads

    text = (
        '[project]\nname = "x"\n\n[tool.uv]\npackage = false  # kept\n\n'
        '[tool.uv.extra-build-variables]\nFlash_Attn = { A = "1" }\n\n[tool.envkey-hook]\n'
        "key-cuda = true\n"
    )
    due = {"flash-attn": {"CUDA_VERSION_KEY": "13.0"}, "other": {"CUDA_VERSION_KEY": "13.0"}}
    new = fixenv.apply(text, ("tool", "uv"), due)
    assert "package = false  # kept" in new
    ebv = loads(new, "p")["tool"]["uv"]["extra-build-variables"]
    assert ebv == {
        "Flash_Attn": {"A": "1", "CUDA_VERSION_KEY": "13.0"},
        "other": {"CUDA_VERSION_KEY": "13.0"},
    }
    assert loads(fixenv.apply(new, ("tool", "uv"), {}), "p") == loads(new, "p")


def test_a_cuda_key_uv_holds_makes_the_change_keyed() -> None:
    from envkey_hook import buildenv
    from envkey_hook.config import Config
    from envkey_hook.envkey import EnvKey, diff_envkeys
    from envkey_hook.settings import Settings

    obs = buildenv.Observation()
    obs.kinds = {"fa": nativesrc.Kind(True, True, True)}
    obs.values = {"CUDA": "13.0", "CFLAGS": "'-O2'"}
    config = Config(watch_env=("CFLAGS",))
    keys = {"fa": EnvKey("fa", (("version", "1"),))}
    settings = Settings()
    old = buildenv.with_inputs(keys, obs, settings, config)
    obs.values = {"CUDA": "13.1", "CFLAGS": "'-O2'"}
    plain = buildenv.with_inputs(keys, obs, settings, config)
    (change,) = buildenv.settle(diff_envkeys(old, plain), plain)
    assert change.describe() == "fa: CUDA 13.0 -> 13.1" and not change.keyed
    settings.extra_build_variables = {"fa": {"CUDA_VERSION_KEY": "13.1"}}
    keyed = buildenv.with_inputs(keys, obs, settings, config)
    (change,) = buildenv.settle(diff_envkeys(old, keyed), keyed)
    assert change.keyed
    # Observed on one side only (a record from before, sources not at hand): no change.
    assert buildenv.settle(diff_envkeys(keys, plain), plain) == []


def test_a_failed_probe_is_no_change_and_is_not_kept(tmp_path: Path) -> None:
    from envkey_hook import buildenv
    from envkey_hook.envkey import Change

    home = tmp_path / "cuda"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "nvcc").write_text("#!/bin/sh\nexit 1\n")
    (home / "bin" / "nvcc").chmod(0o755)
    env = {"PATH": os.environ["PATH"], "CUDA_HOME": str(home)}
    assert toolchain.cuda_version(env) == toolchain.UNKNOWN
    values, _ = envinputs.observe(str(tmp_path / "git"), "/p", env, (), True, True)
    assert values["CUDA"] == toolchain.UNKNOWN
    assert not os.path.exists(envinputs.probe_path(str(tmp_path / "git"), "/p"))
    failed = Change("fa", "CUDA", "13.0", toolchain.UNKNOWN, False)
    assert buildenv.settle([failed], {}) == []


NATIVE_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.9"

[[package]]
name = "demo"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "native" },
    { name = "nvidia-cuda-runtime-cu12" },
]

[[package]]
name = "native"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://example.org/native-1.0.tar.gz", hash = "sha256:00", size = 1 }

[[package]]
name = "nvidia-cuda-runtime-cu12"
version = "12.4.127"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://example.org/nvrt-12.4.127-py3-none-any.whl", hash = "sha256:00", size = 1 },
]
"""


def test_no_op_never_runs_nvcc_and_changes_name_the_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A native package whose sources are not at hand, with a CUDA runtime in the lock."""
    from envkey_hook import cli

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "uv.lock").write_text(NATIVE_LOCK)
    (repo / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1.0"\n')
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    calls = tmp_path / "calls"
    home = _fake_toolkit(tmp_path / "cuda", None, "12.4", calls)
    monkeypatch.setenv("PATH", f"{home / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "uv-cache").mkdir()  # a named cache must exist
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.delenv("CFLAGS", raising=False)
    monkeypatch.setattr(noop_record, "RACY_NS", 0)  # a record for files just written

    assert cli.main(["run", "--project", str(repo)]) == 0  # first run: records only
    assert calls.read_text().count("run") == 1
    noop = [sys.executable, "-X", "importtime", "-m", "envkey_hook", "run"]
    done = subprocess.run(noop, cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0 and "envkey_hook.run" not in done.stderr, done.stderr[-2000:]
    assert calls.read_text().count("run") == 1  # the no-op ran no tool

    monkeypatch.setenv("CFLAGS", "-O3")
    done = subprocess.run(noop[:1] + noop[3:], cwd=repo, capture_output=True, text=True)
    assert "native: CFLAGS (unset) -> '-O3'" in done.stdout, done
    assert calls.read_text().count("run") == 1  # CFLAGS does not move the probes

    nvcc = home / "bin" / "nvcc"
    nvcc.write_text(nvcc.read_text().replace("12.4", "13.1"))
    done = subprocess.run(noop[:1] + noop[3:], cwd=repo, capture_output=True, text=True)
    assert "native: CUDA 12.4 -> 13.1" in done.stdout, done
    assert calls.read_text().count("run") == 2
