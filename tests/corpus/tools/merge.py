"""Add the pairs of a scratch build (`build.py OUT spec`) to the corpus: the base snapshot when
the corpus does not hold it yet, the patch, and the manifest entry (an id already there is kept)."""

import json
import shutil
import sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
new = json.loads((src / "manifest.json").read_text())
manifest = json.loads((dst / "manifest.json").read_text())
have = {p["id"] for p in manifest["pairs"]}
for pair in new["pairs"]:
    if pair["id"] in have:
        print("kept", pair["id"])
        continue
    if not (dst / pair["base"]).exists():
        shutil.copytree(src / pair["base"], dst / pair["base"])
    shutil.copy(src / pair["patch"], dst / pair["patch"])
    manifest["pairs"].append(pair)
    print("added", pair["id"])
(dst / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
