"""The C extension fixture built the way torch's `BuildExtension` builds: through ninja.

Like `torch.utils.cpp_extension.BuildExtension` when `ninja --version` works, its
`build_ext` sets `force = True` (setuptools then always relinks) and hands the
compiling to ninja: a `build.ninja` in `build_temp` with `deps = gcc` depfiles,
absolute paths, and `ninja -v` run in that directory. ninja recompiles an object
only when its command line changed or a source or header it depends on is newer
than the object, so a runtime header unpacked before the last build (an older
mtime) leaves the old object in place. Without ninja it falls back to plain
setuptools, as torch does.

The compiler is `CC` (as distutils resolves it), so a test can count compiles with
a wrapper; the extension reports the runtime header it was compiled against.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from envkey_hook import fixture

SETUP_PY = '''\
import os
import shlex
import subprocess

import rtlib
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def ninja_available():
    """torch's test: `ninja --version` runs."""
    try:
        subprocess.check_output(["ninja", "--version"])
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _macro_flags(macros):
    flags = []
    for m in macros:
        if len(m) == 1:
            flags.append("-U" + m[0])
        elif m[1] is None:
            flags.append("-D" + m[0])
        else:
            flags.append("-D%s=%s" % m)
    return flags


class NinjaBuildExt(build_ext):
    """BuildExtension's ninja path, in small."""

    def finalize_options(self):
        super().finalize_options()
        self.use_ninja = ninja_available()
        if self.use_ninja:
            self.force = True  # as BuildExtension: ninja decides what to recompile

    def build_extensions(self):
        if self.use_ninja:
            self.compiler.compile = self._ninja_compile
        super().build_extensions()

    def _ninja_compile(self, sources, output_dir=None, macros=None, include_dirs=None,
                       debug=0, extra_preargs=None, extra_postargs=None, depends=None):
        output_dir = os.path.abspath(output_dir or ".")
        os.makedirs(output_dir, exist_ok=True)
        cc = self.compiler.compiler_so
        flags = list(cc[1:]) + list(extra_preargs or [])
        flags += _macro_flags(list(self.compiler.macros) + list(macros or []))
        incs = list(include_dirs or []) + list(self.compiler.include_dirs)
        flags += ["-I" + os.path.abspath(d) for d in incs] + list(extra_postargs or [])
        objects = [os.path.abspath(o) for o in
                   self.compiler.object_filenames(sources, output_dir=output_dir)]
        esc = lambda s: s.replace("$", "$$").replace(" ", "$ ").replace(":", "$:")
        lines = [
            "ninja_required_version = 1.3",
            "cc = " + shlex.quote(cc[0]),
            "cflags = " + " ".join(shlex.quote(f).replace("$", "$$") for f in flags),
            "rule compile",
            "  depfile = $out.d",
            "  deps = gcc",
            "  command = $cc -MMD -MF $out.d $cflags -c $in -o $out",
        ]
        for src, obj in zip(sources, objects):
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            lines.append("build %s: compile %s" % (esc(obj), esc(os.path.abspath(src))))
        with open(os.path.join(output_dir, "build.ninja"), "w") as f:
            f.write("\\n".join(lines) + "\\n")
        subprocess.run(["ninja", "-v"], cwd=output_dir, check=True)
        return objects


setup(
    cmdclass={"build_ext": NinjaBuildExt},
    ext_modules=[
        Extension(
            "extpkg._ext",
            ["src/ext.c"],
            include_dirs=[rtlib.get_include()],
            define_macros=[("EXT_FLAVOR", '"' + os.environ.get("EXT_FLAVOR", "plain") + '"')],
        )
    ],
)
'''

# The compiler wrapper: logs every compile (`-c`) to $NINJAEXT_COMPILE_LOG.
CC_WRAPPER = """\
#!/bin/sh
case " $* " in *" -c "*) echo "$*" >> "$NINJAEXT_COMPILE_LOG";; esac
exec "${NINJAEXT_REAL_CC:-cc}" "$@"
"""


def ninja_files(version: str = "0.1", name: str = fixture.EXT_NAME) -> dict[str, str]:
    """The extension's source files, with the ninja-building setup.py."""
    files = fixture.ext_files(version, name)
    files["setup.py"] = SETUP_PY
    return files


def ninja_sdist(dest: Path, version: str = "0.1", name: str = fixture.EXT_NAME) -> Path:
    """Write the ninja-built extension as an sdist archive `<name>-<version>.tar.gz`."""
    return fixture.ext_sdist(dest, version, name, ninja_files(version, name))


def compiler_wrapper(dest: Path) -> Path:
    """Write the logging compiler wrapper (set `CC` to it)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "cc-log"
    path.write_text(CC_WRAPPER)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def compiles(log: Path) -> int:
    """How many compiler invocations the log holds (then empties it)."""
    n = len(log.read_text().splitlines()) if log.exists() else 0
    log.write_text("")
    return n


def ninja_dir() -> str:
    """The directory of the `ninja` from PyPI installed beside this interpreter (a test
    dependency), else of any `ninja` on PATH."""
    import shutil
    import sys

    beside = Path(sys.executable).parent
    if (beside / "ninja").exists():
        return str(beside)
    found = shutil.which("ninja")
    if found is None:
        raise RuntimeError("ninja is not installed (it is a test dependency: pip install ninja)")
    return os.path.dirname(found)
