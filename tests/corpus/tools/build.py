"""Build tests/corpus from a spec: snapshots (host-replaced), patches for pairs, and manifest.json
with expectations computed by expect.py (uv's own install plan + wheel tags + settings)."""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from expect import WORK
from expect import main as expect
from extract import extract

MIRROR = Path("/work/.mirror")
OUT = Path(sys.argv[1])  # tests/corpus
SPEC = json.loads(Path(sys.argv[2]).read_text())
CACHE = WORK / "expcache"
CACHE.mkdir(parents=True, exist_ok=True)


def git(repo, *a):
    return subprocess.run(
        ["git", "-C", str(repo), *a], capture_output=True, text=True, check=True
    ).stdout.strip()


def meta(repo, c):
    full = git(repo, "rev-parse", c)
    date = git(repo, "log", "-1", "--format=%cs", full)
    subj = git(repo, "log", "-1", "--format=%s", full)
    return full, date, subj


def snapshot(name, repo, commit):
    full, date, subj = meta(repo, commit)
    d = OUT / "snapshots" / f"{name}-{full[:9]}"
    if not d.exists():
        extract(str(repo), full, d)
    return d, full, date, subj


def expected(d, py, env):
    key = CACHE / (d.name + "-" + py + ".json")
    if key.exists():
        return json.loads(key.read_text())
    e = expect(d, py)
    for pkg in e["source_built"].values():
        for r, v in pkg["inputs"].items():
            if v == ["(environment)"] and r in env:
                pkg["inputs"][r] = [env[r]]
    key.write_text(json.dumps(e, default=list))
    return json.loads(key.read_text())


def compact(e):
    return {
        n: {
            "version": "(local tree)" if p["version"].startswith("file://") else p["version"],
            "inputs": p["inputs"],
            "pinned": p["pinned"],
            "variables": p["variables"],
            "reason": p["reason"],
        }
        for n, p in e["source_built"].items()
    }


def changes(a, b, skip=frozenset()):
    out = {}
    for n in sorted(set(a) & set(b) - skip):
        pa, pb = a[n], b[n]
        ch = []
        if pa["version"] != pb["version"]:
            ch.append(f"version {pa['version']} -> {pb['version']}")
        for r in sorted(set(pa["inputs"]) | set(pb["inputs"])):
            if pa["inputs"].get(r) != pb["inputs"].get(r):
                ch.append(f"{r} {pa['inputs'].get(r)} -> {pb['inputs'].get(r)}")
        if pa["pinned"] != pb["pinned"]:
            ch.append(f"extra-build-dependencies {pa['pinned']} -> {pb['pinned']}")
        if pa["variables"] != pb["variables"]:
            ch.append(f"extra-build-variables {pa['variables']} -> {pb['variables']}")
        if ch:
            out[n] = ch
    return out


manifest = {"projects": [], "pairs": []}
for item in SPEC:
    repo = MIRROR / item["mirror"] / "repo"
    py, env = item["python"], item.get("environment", {})
    if item["kind"] == "project":
        d, full, date, subj = snapshot(item["name"], repo, item["commit"])
        e = expected(d, py, env)
        manifest["projects"].append(
            {
                "id": d.name,
                "repo": item["repo"],
                "commit": full,
                "date": date,
                "subject": subj,
                "dir": f"snapshots/{d.name}",
                "python": py,
                "environment": env,
                "uv_runs": [
                    " ".join(r["args"])
                    + (
                        f": {r['count']} packages"
                        if "count" in r
                        else f": ERROR {r['error'][-120:]}"
                    )
                    for r in e["runs"]
                ],
                "source_built": compact(e),
                "unjudged": e.get("unjudged", []),
                "note": item.get("note", ""),
            }
        )
    else:
        parent = git(repo, "rev-parse", item["commit"] + "^")
        d0, p_full, _, _ = snapshot(item["name"], repo, parent)
        full, date, subj = meta(repo, item["commit"])
        d1 = CACHE / "after" / f"{item['name']}-{full[:9]}"
        if not d1.exists():
            extract(str(repo), full, d1)
        patch = OUT / "patches" / f"{item['name']}-{full[:9]}.patch"
        patch.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as t:
            shutil.copytree(d0, Path(t) / "a")
            shutil.copytree(d1, Path(t) / "b")
            r = subprocess.run(
                ["git", "diff", "--no-index", "--no-prefix", "--binary", "a", "b"],
                cwd=t,
                capture_output=True,
            )
            patch.write_bytes(r.stdout)
        e0, e1 = expected(d0, py, env), expected(d1, py, env)
        a, b = compact(e0), compact(e1)
        manifest["pairs"].append(
            {
                "id": f"{item['name']}-{full[:9]}",
                "repo": item["repo"],
                "parent": p_full,
                "commit": full,
                "date": date,
                "subject": subj,
                "base": f"snapshots/{d0.name}",
                "patch": f"patches/{patch.name}",
                "python": py,
                "environment": env,
                "source_built_before": sorted(a),
                "source_built_after": sorted(b),
                "unjudged": sorted(set(e0.get("unjudged", [])) | set(e1.get("unjudged", []))),
                "expected_changes": changes(
                    a, b, set(e0.get("unjudged", [])) | set(e1.get("unjudged", []))
                ),
                "note": item.get("note", ""),
            }
        )
(OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
