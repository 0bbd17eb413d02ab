"""Build the tiny runtime + C-extension project used by the demo and the tests.

`rtlib` is a runtime package (like torch) that ships a header with its version;
`extpkg` is a setuptools C extension compiled against that header, so
`extpkg.built_against()` tells which runtime the binary was really built with.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

EXT_NAME = "extpkg"
RUNTIME_NAME = "rtlib"

_SETUP_PY = """\
import os
import rtlib
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "extpkg._ext",
            ["src/ext.c"],
            include_dirs=[rtlib.get_include()],
            define_macros=[("EXT_FLAVOR", '"' + os.environ.get("EXT_FLAVOR", "plain") + '"')],
        )
    ]
)
"""

_EXT_C = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "rtlib.h"

static PyObject *built_against(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(RTLIB_VERSION);
}

static PyObject *flavor(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(EXT_FLAVOR);
}

/* The runtime header's variant (absent from headers of older fixtures). */
#ifndef RTLIB_VARIANT
#define RTLIB_VARIANT ""
#endif

static PyObject *runtime_variant(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(RTLIB_VARIANT);
}

/* EXT_TAG is set by `build_ext --define=EXT_TAG=7` (distutils appends "=1"). */
#define EXT_STR_(x) #x
#define EXT_STR(x) EXT_STR_(x)

static PyObject *tag(PyObject *self, PyObject *args) {
#ifdef EXT_TAG
    return PyUnicode_FromString(EXT_STR(EXT_TAG));
#else
    return PyUnicode_FromString("none");
#endif
}

/* Values the build environment gave: a macro from CFLAGS (-DEXT_CFLAG=x) and one a
   compiler wrapper script adds (-DEXT_COMPILER=x). */
static PyObject *cflag(PyObject *self, PyObject *args) {
#ifdef EXT_CFLAG
    return PyUnicode_FromString(EXT_STR(EXT_CFLAG));
#else
    return PyUnicode_FromString("none");
#endif
}

static PyObject *compiler(PyObject *self, PyObject *args) {
#ifdef EXT_COMPILER
    return PyUnicode_FromString(EXT_STR(EXT_COMPILER));
#else
    return PyUnicode_FromString("none");
#endif
}

static PyMethodDef methods[] = {
    {"cflag", cflag, METH_NOARGS, "EXT_CFLAG from CFLAGS at compile time."},
    {"compiler", compiler, METH_NOARGS, "EXT_COMPILER from a compiler wrapper."},
    {"built_against", built_against, METH_NOARGS, "Runtime version compiled against."},
    {"flavor", flavor, METH_NOARGS, "EXT_FLAVOR seen at compile time."},
    {"runtime_variant", runtime_variant, METH_NOARGS, "Runtime header variant."},
    {"tag", tag, METH_NOARGS, "EXT_TAG macro as compiled (raw)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&module); }
"""

_EXT_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
dependencies = ["rtlib"]

[tool.setuptools]
packages = ["extpkg"]
"""

_EXT_INIT = """\
from extpkg import _ext
from extpkg._ext import built_against, cflag, compiler, flavor, runtime_variant


def tag():
    \"\"\"EXT_TAG given as `build_ext --define=EXT_TAG=7` at compile time, or "none".\"\"\"
    return _ext.tag().split("=")[0]
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{name},sha256={digest.decode()},{len(data)}"


def runtime_wheel(
    dest: Path,
    version: str,
    name: str = RUNTIME_NAME,
    variant: str = "",
    header_version: str | None = None,
) -> Path:
    """Write a pure-Python wheel of the runtime whose header carries `version`.

    `variant` (e.g. the index it is published on) goes into the header as
    RTLIB_VARIANT and into `rtlib.__variant__`, so two wheels of one version
    from two indexes compile differently. `header_version` puts another version
    in the header (a patch release whose headers did not change).
    """
    header = version if header_version is None else header_version
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": (
            "import os\n"
            f"__version__ = {version!r}\n"
            f"__variant__ = {variant!r}\n"
            "def get_include():\n"
            "    return os.path.join(os.path.dirname(__file__), 'include')\n"
        ).encode(),
        f"{name}/include/rtlib.h": (
            f'#define RTLIB_VERSION "{header}"\n#define RTLIB_VARIANT "{variant}"\n'
        ).encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: envkey-hook\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in files.items():
            zf.writestr(zipfile.ZipInfo(n, (2020, 1, 1, 0, 0, 0)), d)
    return path


def ext_files(version: str = "0.1", name: str = EXT_NAME) -> dict[str, str]:
    """The source files of the extension package, relative to its root."""
    return {
        "pyproject.toml": _EXT_PYPROJECT.format(name=name, version=version),
        "setup.py": _SETUP_PY,
        "src/ext.c": _EXT_C,
        "extpkg/__init__.py": _EXT_INIT,
    }


def ext_source_dir(dest: Path, version: str = "0.1", name: str = EXT_NAME) -> Path:
    """Write the extension as a plain source directory."""
    for rel, text in ext_files(version, name).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dest


def ext_sdist(
    dest: Path, version: str = "0.1", name: str = EXT_NAME, files: dict[str, str] | None = None
) -> Path:
    """Write the extension (or `files`) as an sdist archive `<name>-<version>.tar.gz`."""
    base = f"{name.replace('-', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\nRequires-Dist: rtlib\n"
    members = {**(ext_files(version, name) if files is None else files), "PKG-INFO": pkg_info}
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for rel, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size = len(data)
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return path


def project_pyproject(
    ext_requirement: str,
    runtime_version: str,
    *,
    find_links: list[str],
    sources: str = "",
    extra_uv: str = "",
    match_runtime: bool = True,
    requires_python: str = ">=3.9",
    dependency_metadata: bool = True,
) -> str:
    """A project wired like the uv#16850 scenario.

    `dependency_metadata` declares extpkg's metadata statically; turn it off for
    a local sdist archive (uv then wants the archive's hash, which it only
    records when it reads the archive's own metadata).
    """
    ebd = (
        "[tool.uv.extra-build-dependencies]\n"
        f'{EXT_NAME} = [{{ requirement = "{RUNTIME_NAME}", match-runtime = true }}]\n'
        if match_runtime
        else ""
    )
    links = ", ".join(f'"{p}"' for p in find_links)
    metadata = (
        f'\n[[tool.uv.dependency-metadata]]\nname = "{EXT_NAME}"\nversion = "0.1"\n'
        'requires-dist = ["rtlib"]\n'
        if dependency_metadata
        else ""
    )
    return (
        "[project]\n"
        'name = "demo-app"\n'
        'version = "0.1.0"\n'
        f'requires-python = "{requires_python}"\n'
        f'dependencies = ["{RUNTIME_NAME}=={runtime_version}", "{ext_requirement}", "setuptools"]\n'
        "\n[tool.uv]\n"
        "package = false\n"
        f'no-build-isolation-package = ["{EXT_NAME}"]\n'
        f"find-links = [{links}]\n"
        f"{extra_uv}"
        "\n"
        f"{ebd}"
        f"{metadata}"
        f"{sources}"
    )


def write_runtime_wheels(
    dest: Path, versions: tuple[str, ...] = ("1.0", "2.0"), variant: str = ""
) -> Path:
    """A find-links directory holding the runtime in each version."""
    for v in versions:
        runtime_wheel(dest, v, variant=variant)
    return dest


def env_for_uv(cache_dir: Path) -> dict[str, str]:
    """Environment that keeps uv away from the user's cache and config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env["UV_CACHE_DIR"] = str(cache_dir)
    # UV_NO_CONFIG would also hide the project's own [tool.uv]; point the
    # user-level config somewhere empty instead.
    env["XDG_CONFIG_HOME"] = str(cache_dir.parent / "xdg-config")
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env
