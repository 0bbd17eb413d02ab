"""Ask uv itself which installed packages it would build: for the run(s) that found the install
set, `--no-build-package P` must fail for every expected source-built P, and one run with
`--no-build-package` for every other installed package must succeed."""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import tomllib
from expect import LINE, PY, UV, WORK, cn, scratch


def uv(proj, py, args):
    return subprocess.run(
        [UV, "sync", "--frozen", "--dry-run", "--offline", "--python", PY[py], *args],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "UV_CACHE_DIR": str(WORK / "uvcache"), "HOME": str(WORK)},
    )


def confirm(proj, py, runs, expected):
    """-> (ok, notes)"""
    notes = []
    ok = True
    for args in runs:
        r = uv(proj, py, args)
        if r.returncode:
            return False, [f"{args}: {r.stderr[-200:]}"]
        installed = {
            cn(m.group(1))
            for m in map(LINE.match, r.stdout.splitlines() + r.stderr.splitlines())
            if m
        }
        # uv builds a workspace member or local editable tree whatever --no-build says: those
        # are not asked (their source kind is the answer).
        exp = [
            p
            for p in expected
            if p in installed
            and not str(expected[p]["reason"]).startswith(
                ("source kind editable", "source kind directory")
            )
        ]
        for p in exp:
            e = uv(proj, py, [*args, "--no-build-package", p])
            if e.returncode == 0:
                ok = False
                notes.append(f"{p}: uv installs it without building ({' '.join(args)})")
        others = sorted(installed - set(expected))
        flags = [x for p in others for x in ("--no-build-package", p)]
        e = uv(proj, py, [*args, *flags])
        if e.returncode:
            ok = False
            last = e.stderr.strip().splitlines()[-1][:200]
            notes.append(f"uv would build another package ({' '.join(args)}): {last}")
    return ok, notes


if __name__ == "__main__":
    corpus = Path(sys.argv[1])
    m = json.loads((corpus / "manifest.json").read_text())
    for e in m["projects"]:
        runs = [r.split(":")[0].split() for r in e["uv_runs"] if "ERROR" not in r]
        d = corpus / e["dir"]
        lock = tomllib.loads((d / "uv.lock").read_text())
        ok, notes = confirm(scratch(d, lock), e["python"], runs, e["source_built"])
        e["uv_confirmed_source_built"] = ok
        e["uv_notes"] = notes
        print(e["id"], ok, notes, flush=True)
    (corpus / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
