"""Run today's envkey-hook on every corpus entry (as tests/test_corpus.py does) and say, per
failing check, which issue-12 item explains it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CORPUS = Path(sys.argv[1])
M = json.loads((CORPUS / "manifest.json").read_text())
HOOK = [str(Path(__file__).resolve().parents[3] / ".venv/bin/envkey-hook")]
WORK = Path(os.environ.get("CORPUS_WORK", "/tmp/i12c"))
BUILD_TOOLS = {"setuptools", "pybind11", "cython", "nanobind"}
RT = {"torch", "numpy", "jax", "jaxlib", "tensorflow", "setuptools", "cython", "pybind11"}


def env(project, py, inst):
    site = project / ".venv" / "lib" / f"python{py}" / "site-packages"
    site.mkdir(parents=True)
    (project / ".venv" / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion_info = {py}.9\n")
    for n, v in inst.items():
        d = site / f"{n}-{v}.dist-info"
        d.mkdir()
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {n}\nVersion: {v}\n")


def hook(project, *a):
    r = subprocess.run(
        HOOK + list(a) + ["--json", "--cache-dir", str(project.parent / "c")],
        cwd=project,
        capture_output=True,
        text=True,
    )
    return json.loads(r.stdout)


out = {}
only = sys.argv[2:]
for e in M["projects"]:
    if only and e["id"] not in only:
        continue
    t = Path(tempfile.mkdtemp(dir=WORK))
    p = t / "p"
    shutil.copytree(CORPUS / e["dir"], p)
    env(p, e["python"], e["environment"])
    st = hook(p, "status")["packages"]
    listed = {x["package"]: x["inputs"] for x in st}
    exp = e["source_built"]
    extra = sorted(set(listed) - set(exp))
    missing = sorted(set(exp) - set(listed))
    built = []
    if extra:
        built.append(f"listed but not built here: {extra}")
    if missing:
        built.append(f"built but not listed: {missing}")
    names = RT | {r for x in exp.values() for r in x["inputs"]}
    inp = []
    for n in sorted(set(listed) | set(exp)):
        got = {k: v for k, v in listed.get(n, {}).items() if k in names}
        want = exp.get(n, {}).get("inputs", {})
        if set(got) != set(want):
            inp.append(f"{n}: runtimes {sorted(got)} want {sorted(want)}")
        for r, vs in want.items():
            for v in vs:
                if r in got and v not in got[r]:
                    inp.append(f"{n}: {r}={got[r]!r} want {vs}")
        for r in set(got) & set(want):
            if len(got[r].split(", ")) != len(want[r]):
                inp.append(f"{n}: {r}={got[r]!r} want {want[r]}")
    out[("built", e["id"])] = built
    out[("inputs", e["id"])] = inp
    print("PROJECT", e["id"], "\n  built:", built, "\n  inputs:", inp, flush=True)
    shutil.rmtree(t)
for e in M["pairs"]:
    if only and e["id"] not in only:
        continue
    t = Path(tempfile.mkdtemp(dir=WORK))
    p = t / "p"
    shutil.copytree(CORPUS / e["base"], p)

    def g(*a, p=p):
        return subprocess.run(["git", *a], cwd=p, check=True, capture_output=True)

    g("init", "-q")
    g("add", "-A")
    g("-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "b")
    g("apply", str(CORPUS / e["patch"]))
    env(p, e["python"], e["environment"])
    rep = hook(p, "run", "--dry-run")
    ch = [c for pr in rep["projects"] for c in pr["changes"]]
    either = set(e["source_built_before"]) ^ set(e["source_built_after"])
    got = {}
    for c in ch:
        if c["package"] not in either:
            got.setdefault(c["package"], []).append(f"{c['input']}: {c['old']} -> {c['new']}")
    want = e["expected_changes"]
    false = {k: v for k, v in got.items() if k not in want}
    missed = {k: v for k, v in want.items() if k not in got}
    print(
        "PAIR",
        e["id"],
        "\n  false:",
        json.dumps(false)[:900],
        "\n  missed:",
        json.dumps(missed)[:600],
        flush=True,
    )
    shutil.rmtree(t)
