"""Extract pyproject.toml + uv.lock (+ workspace members' pyproject.toml) of a repo at a commit,
replacing registry hosts: index URLs -> https://index.example[/<host>]<path>, files on registry
file hosts -> https://files.example[/<host>]/... ; nothing else edited."""

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import tomllib


def show(repo, commit, path):
    r = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"], capture_output=True)
    return r.stdout if r.returncode == 0 else None


def host_maps(lock):
    index, files = {}, set()
    for p in lock.get("package", []):
        reg = p.get("source", {}).get("registry")
        if not reg or not reg.startswith("http"):
            continue
        index[reg] = None
        for art in [p.get("sdist") or {}] + list(p.get("wheels", [])):
            u = art.get("url")
            if u:
                files.add(urlsplit(u).netloc)
    imap = {}
    for reg in index:
        s = urlsplit(reg)
        prefix = "" if s.netloc == "pypi.org" else "/" + s.netloc
        imap[reg] = f"https://index.example{prefix}{s.path}"
    fmap = {
        h: "https://files.example" + ("" if h == "files.pythonhosted.org" else "/" + h)
        for h in files
    }
    return imap, fmap


def replace(text, imap, fmap):
    for reg in sorted(imap, key=len, reverse=True):
        base, new = reg.rstrip("/"), imap[reg].rstrip("/")
        text = re.sub(
            r'"' + re.escape(base) + r'(/?)"', lambda m, new=new: f'"{new}{m.group(1)}"', text
        )
    for host, new in fmap.items():
        text = text.replace(f'"https://{host}/', f'"{new}/')
    return text


def extract(repo, commit, dest):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    lock_b = show(repo, commit, "uv.lock")
    pp_b = show(repo, commit, "pyproject.toml")
    lock = tomllib.loads(lock_b.decode())
    imap, fmap = host_maps(lock)
    set(lock.get("manifest", {}).get("members", []))
    paths = []
    for p in lock.get("package", []):
        src = p.get("source", {})
        for kind in ("editable", "directory", "virtual", "path"):
            v = src.get(kind)
            if v and v != "." and not v.startswith(("/", "..")):
                paths.append(v)
    files = {"pyproject.toml": pp_b, "uv.lock": lock_b}
    for extra in ("uv.toml",):
        b = show(repo, commit, extra)
        if b is not None:
            files[extra] = b
    for m in sorted(set(paths)):
        b = show(repo, commit, f"{m}/pyproject.toml")
        if b is not None:
            files[f"{m}/pyproject.toml"] = b
    for name, data in files.items():
        out = dest / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(replace(data.decode(), imap, fmap), encoding="utf-8", newline="")
    return sorted(files), imap, fmap


if __name__ == "__main__":
    names, imap, fmap = extract(*sys.argv[1:4])
    print(names, imap, fmap)
