"""Fetch the JavaScript a reveal.js deck needs into vendor/slides/, so `make slides` works with no network.

`jupyter nbconvert --to slides` writes HTML that loads jQuery, require.js, reveal.js and MathJax from CDNs; in a
room without internet the decks then show raw TeX and never turn into slides. This script takes those four
packages from the npm registry (`npm pack`, pinned versions) and keeps only the files a deck loads, about 1.5 MB
in all. It is run once by a maintainer and the result is committed; nobody needs npm to build the slides.

    python scripts/vendor_slide_assets.py          # rewrites vendor/slides/
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "vendor" / "slides"

# package -> (version, files or folders kept, relative to the package root); reveal.js 4 is what nbconvert 7's
# reveal template is written for, MathJax 2.7.7 is the version and configuration nbconvert loads by default.
PACKAGES = {
    "jquery": ("3.7.1", ["dist/jquery.min.js", "LICENSE.txt"]),
    "requirejs": ("2.3.7", ["require.js"]),
    "reveal.js": ("4.0.2", ["dist/reveal.js", "dist/reveal.css", "dist/theme/simple.css", "plugin/notes/notes.js",
                            "LICENSE"]),
    "mathjax": ("2.7.7", ["MathJax.js", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "jax/input/TeX",
                          "jax/element/mml", "jax/output/CommonHTML", "fonts/HTML-CSS/TeX/woff", "extensions/TeX", "extensions/Safe.js",
                          "extensions/MathMenu.js", "extensions/MathZoom.js", "extensions/MathEvents.js",
                          "extensions/CHTML-preview.js", "extensions/fast-preview.js",
                          "extensions/AssistiveMML.js", "extensions/HelpDialog.js", "extensions/tex2jax.js",
                          "LICENSE"]),
}


def npm_pack(name: str, version: str, into: Path) -> tuple[Path, dict]:
    """Download one package tarball with `npm pack`; returns the unpacked package folder and npm's metadata."""
    run = subprocess.run(["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(into)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"npm pack {name}@{version} failed; vendor/slides is left as it was:\n{run.stderr}")
    meta = json.loads(run.stdout)[0]
    unpacked = into / name
    with tarfile.open(into / meta["filename"]) as tar:
        tar.extractall(unpacked, filter="data")
    return unpacked / "package", meta


def copy_kept(package: Path, kept: list[str], dest: Path) -> int:
    """Copy the kept files and folders; returns the bytes copied."""
    size = 0
    for item in kept:
        source, target = package / item, dest / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
            size += sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        else:
            shutil.copy2(source, target)
            size += target.stat().st_size
    return size


def main() -> None:
    """Build the new folder aside and swap it in only when every package came through."""
    manifest = {}
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        fresh = Path(tmp) / "slides"
        for name, (version, kept) in PACKAGES.items():
            package, meta = npm_pack(name, version, Path(tmp))
            license_name = json.loads((package / "package.json").read_text(encoding="utf-8")).get("license", "?")
            size = copy_kept(package, kept, fresh / name)
            manifest[name] = {"version": version, "license": license_name, "integrity": meta["integrity"],
                              "files": kept, "bytes": size}
            print(f"{name} {version} ({license_name}): {size / 1e3:.0f} kB")
        (fresh / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(OUT, ignore_errors=True)
        shutil.copytree(fresh, OUT)


if __name__ == "__main__":
    main()
