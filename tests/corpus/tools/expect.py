"""Expected answer for one stored project: what uv installs (asked of uv itself: `uv sync
--frozen --dry-run --offline`, once per extra when extras conflict, else with --all-extras;
--all-packages), which of those uv builds (source kind, or no wheel whose tags this target
supports, or no-binary), and each one's runtime build inputs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging import tags
from packaging.utils import canonicalize_name as cn
from packaging.utils import parse_wheel_filename

# uv 0.13.9 (the checkout's venv) and a scratch directory (uv cache, copies of projects).
UV = os.environ.get("CORPUS_UV", str(Path(__file__).resolve().parents[3] / ".venv/bin/uv"))
WORK = Path(os.environ.get("CORPUS_WORK", "/tmp/i12c"))
PY = {
    "3.10": "/root/.pyenv/versions/3.10.13/bin/python3.10",
    "3.11": "/usr/bin/python3.11",
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python3.12",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python3.13",
}
RUNTIMES = (
    "torch",
    "numpy",
    "jax",
    "jaxlib",
    "tensorflow",
)  # watched runtimes that are not build tools
LINE = re.compile(r"^ \+ (\S+?)(?:==(\S+)| @ (\S+))$")


def uv_installed(proj, py, args):
    r = subprocess.run(
        [UV, "sync", "--frozen", "--dry-run", "--offline", "--python", PY[py], *args],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "UV_CACHE_DIR": str(WORK / "uvcache"), "HOME": str(WORK)},
    )
    if r.returncode != 0:
        raise RuntimeError(f"{proj} {args}: {r.stderr[-800:]}")
    out = {}
    for line in r.stdout.splitlines() + r.stderr.splitlines():
        m = LINE.match(line)
        if m:
            out[cn(m.group(1))] = m.group(2) or m.group(3)
    return out


def target_tags(py):
    major, minor = map(int, py.split("."))
    plats = list(tags.platform_tags())  # this machine: linux x86_64, its glibc
    interp = f"cp{major}{minor}"
    return set(tags.cpython_tags((major, minor), platforms=plats)) | set(
        tags.compatible_tags((major, minor), interpreter=interp, platforms=plats)
    )


def scratch(proj, lock):
    """A copy of the project for uv, with an empty directory for each local tree the stored
    files do not hold (git submodules): uv checks they exist, nothing more, for a dry run."""
    import shutil
    import tempfile

    t = Path(tempfile.mkdtemp(prefix="exp-", dir=WORK)) / proj.name
    shutil.copytree(proj, t)
    for p in lock["package"]:
        for kind in ("editable", "directory", "virtual", "path"):
            v = p.get("source", {}).get(kind)
            if v and not v.endswith((".whl", ".tar.gz", ".zip")) and not (t / v).exists():
                (t / v).mkdir(parents=True)
                (t / v / "pyproject.toml").write_text(
                    f'[project]\nname = "{p["name"]}"\nversion = "{p.get("version", "0")}"\n'
                )
    return t


def main(proj, py):
    proj = Path(proj)
    pp = tomllib.loads((proj / "pyproject.toml").read_text())
    lock = tomllib.loads((proj / "uv.lock").read_text())
    proj = scratch(proj, lock)
    uvs = pp.get("tool", {}).get("uv", {})
    runs = [["--all-packages"]]
    extras = set()
    for p in lock["package"]:
        if (
            "editable" in p.get("source", {})
            or "virtual" in p.get("source", {})
            or "directory" in p.get("source", {})
        ):
            extras |= set(p.get("optional-dependencies", {}))
    if lock.get("manifest", {}).get("members") is None and not uvs.get("conflicts"):
        pass
    if uvs.get("conflicts") and extras:
        runs = [["--all-packages", "--extra", e] for e in sorted(extras)]
    elif extras:
        runs = [["--all-packages", "--all-extras"]]
    installed = {}  # name -> set of (version or url)
    per_run = []
    queue = list(runs)
    native = set()  # installed by a run that works on this machine
    while queue:
        args = queue.pop(0)
        try:
            got = uv_installed(proj, py, args)
        except RuntimeError as e:
            per_run.append({"args": args, "error": str(e)[-300:]})
            if "--all-extras" in args:  # one extra is not installable here: take them one by one
                queue += [["--all-packages"]] + [
                    ["--all-packages", "--extra", x] for x in sorted(extras)
                ]
            elif "--python-platform" not in args:
                # a wheel needs a newer glibc than this machine's: what would a glibc 2.39
                # machine install? Packages only found so are not judged (platform-dependent).
                queue.append([*args, "--python-platform", "x86_64-manylinux_2_39"])
            continue
        per_run.append({"args": args, "count": len(got)})
        for n, v in got.items():
            installed.setdefault(n, set()).add(v)
            if "--python-platform" not in args:
                native.add(n)
    ok_tags = target_tags(py)
    nbi = {cn(n) for n in uvs.get("no-build-isolation-package", [])}
    all_nbi = bool(uvs.get("no-build-isolation"))
    nob = {cn(n) for n in uvs.get("no-binary-package", [])}
    nobuild = {cn(n) for n in uvs.get("no-build-package", [])}
    ebd = {cn(k): v for k, v in uvs.get("extra-build-dependencies", {}).items()}
    ebv = {cn(k): v for k, v in uvs.get("extra-build-variables", {}).items()}
    entries = {}
    for p in lock["package"]:
        entries.setdefault(cn(p["name"]), []).append(p)

    def entry(name, ver):
        cands = entries.get(name, [])
        for p in cands:
            if p.get("version") == ver:
                return p
        for p in cands:  # installed from a URL (uv prints `name @ url`): the entry with that URL
            url = p.get("source", {}).get("url")
            if url and ver and url.replace("%2B", "+") == ver.replace("%2B", "+"):
                return p
        for p in cands:
            g = p.get("source", {}).get("git")
            if g and ver and ver.startswith("git+") and g.split("#")[-1] in ver:
                return p
        return cands[0] if cands else None

    def src(p):
        s = p.get("source", {})
        k = next(iter(s))
        return k, s[k]

    runtime_versions = {}
    for name in RUNTIMES + tuple(
        cn(r["requirement"] if isinstance(r, dict) else r)
        for v in ebd.values()
        for r in v
        if isinstance(r, dict)
    ):
        if name in installed:
            runtime_versions[name] = sorted(installed[name])
    built = {}
    for name, vers in sorted(installed.items()):
        for ver in sorted(vers):
            p = entry(name, ver)
            if p is None:
                continue
            kind, val = src(p)
            reason = None
            if kind == "virtual":
                continue
            if kind in ("editable", "directory", "git"):
                reason = f"source kind {kind}"
            elif kind in ("path", "url") and not str(val).endswith(".whl"):
                reason = f"source kind {kind} (not a wheel)"
            elif name in nobuild:
                continue
            elif name in nob:
                reason = "no-binary-package"
            else:
                wheels = [
                    w["url"] if "url" in w else w.get("path", w.get("filename", ""))
                    for w in p.get("wheels", [])
                ]
                fits = False
                for w in wheels:
                    fn = w.rsplit("/", 1)[-1]
                    try:
                        _, _, _, wt = parse_wheel_filename(fn.replace("%2B", "+"))
                    except Exception:
                        continue
                    if wt & ok_tags:
                        fits = True
                        break
                if fits:
                    continue
                if not p.get("sdist") and kind not in ("path", "url"):
                    reason = "NO WHEEL AND NO SDIST?"
                else:
                    tag = "cp" + py.replace(".", "")
                    reason = f"no wheel for {tag} linux x86_64 ({len(wheels)} wheels, sdist)"
            inputs = {}
            for req in ebd.get(name, []):
                if isinstance(req, dict) and req.get("match-runtime"):
                    r = cn(req["requirement"])
                    inputs[r] = runtime_versions.get(r, ["(environment)"])
            if all_nbi or name in nbi:
                deps = {cn(d["name"]) for d in p.get("dependencies", [])}
                for r in RUNTIMES:
                    if r in deps and r not in inputs:
                        inputs[r] = runtime_versions.get(r, ["(environment)"])
            pinned = [
                r for r in ebd.get(name, []) if not (isinstance(r, dict) and r.get("match-runtime"))
            ]
            built[name] = {
                "version": ver,
                "reason": reason,
                "inputs": inputs,
                "pinned": pinned,
                "variables": ebv.get(name, {}),
                "no_build_isolation": all_nbi or name in nbi,
            }
    unjudged = sorted(set(installed) - native)
    return {
        "python": py,
        "runs": per_run,
        "unjudged": unjudged,
        "runtime_versions": runtime_versions,
        "source_built": built,
        "installed_count": len(installed),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), indent=1, default=list))
