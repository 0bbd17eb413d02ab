"""Backend detection (issue 16 item 3) and `fix --fetch-sdists`."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

import ninjaext
from envkey_hook import backend, fix, fixture

TORCH_SETUP = (
    b"from setuptools import setup\nfrom torch.utils import cpp_extension\n"
    b"setup(cmdclass={'build_ext': cpp_extension.BuildExtension})\n"
)


@pytest.mark.parametrize(
    ("pyproject", "setup_py", "name"),
    [
        (None, None, backend.SETUPTOOLS),
        (None, b"from setuptools import setup\nsetup()\n", backend.SETUPTOOLS),
        (None, TORCH_SETUP, backend.BUILD_EXTENSION),
        (
            b'[build-system]\nrequires = ["setuptools", "torch"]\n',
            TORCH_SETUP,
            backend.BUILD_EXTENSION,
        ),
        (
            b'[build-system]\nbuild-backend = "scikit_build_core.build"\n',
            TORCH_SETUP,
            "scikit_build_core.build",
        ),
        (b"[build-system\n", None, backend.UNKNOWN),
    ],
)
def test_from_files(pyproject: bytes | None, setup_py: bytes | None, name: str) -> None:
    assert backend.from_files(pyproject, setup_py, "x").name == name


def test_sdists_and_trees(tmp_path: Path) -> None:
    plain = fixture.ext_sdist(tmp_path / "plain")
    ninja = ninjaext.ninja_sdist(tmp_path / "ninja")
    assert backend.read_sdist(plain) == backend.Backend(
        backend.SETUPTOOLS, ("setuptools",), str(plain)
    )
    assert backend.read_sdist(ninja).name == backend.BUILD_EXTENSION  # type: ignore[union-attr]
    assert backend.read_sdist(tmp_path / "missing.tar.gz") is None
    tree = fixture.ext_source_dir(tmp_path / "tree")
    assert backend.detect([tree, tmp_path / "absent"]).name == backend.SETUPTOOLS
    (tree / "setup.py").write_bytes(TORCH_SETUP)
    assert backend.detect([tree]).name == backend.BUILD_EXTENSION
    assert backend.detect([]).name == backend.UNKNOWN


def test_combine_prefers_what_forces_the_least() -> None:
    st, be = backend.Backend(backend.SETUPTOOLS), backend.Backend(backend.BUILD_EXTENSION)
    other = backend.Backend("mesonpy")
    assert backend.combine([st, be]) == be
    assert backend.combine([st, st]) == st
    assert backend.combine([st, other]) == other
    assert backend.combine([backend.Backend(backend.UNKNOWN)]).name == backend.UNKNOWN


def _project(tmp_path: Path, sdist: Path, digest: str) -> Path:
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\n'
        "[tool.uv.extra-build-dependencies]\n"
        'extpkg = [{ requirement = "rtlib", match-runtime = true }]\n'
    )
    (project / "uv.lock").write_text(
        "version = 1\nrevision = 3\n\n[[package]]\n"
        'name = "extpkg"\nversion = "0.1"\nsource = { registry = "https://example.invalid" }\n'
        f'sdist = {{ url = "{sdist.as_uri()}", hash = "sha256:{digest}" }}\n'
    )
    return project


@pytest.mark.parametrize("good_hash", [True, False])
def test_fix_fetch_sdists(tmp_path: Path, good_hash: bool) -> None:
    sdist = fixture.ext_sdist(tmp_path / "links")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest() if good_hash else "0" * 64
    project = _project(tmp_path, sdist, digest)
    env = {"UV_CACHE_DIR": str(tmp_path / "cache")}
    out = io.StringIO()
    assert fix.fix(project, check=True, env=env, out=out) == 0  # not fetched: unknown
    assert "backend is unknown" in out.getvalue()
    out = io.StringIO()
    code = fix.fix(project, check=True, env=env, out=out, fetch_sdists=True)
    assert code == (1 if good_hash else 0), out.getvalue()
    assert ("would fix" in out.getvalue()) is good_hash
