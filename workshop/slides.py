"""Every lesson as a reveal.js deck: `make slides` (or `python -m workshop.slides --out slides`).

The decks come from the lessons themselves, with their committed outputs (nothing is executed), through
`jupyter nbconvert --to slides`. Each cell's `metadata.slideshow.slide_type` decides where a slide starts
(see docs/CONTRIBUTING.md); a lesson without that metadata becomes one long slide, and this tool says so.

    python -m workshop.slides --out slides                          # every notebooks/NN_*.ipynb
    python -m workshop.slides --out /tmp/deck notebooks/07_lora_by_hand.ipynb
    python -m workshop.slides --out slides --cdn                    # load the JavaScript from CDNs instead

The output folder is self-contained and works with no network: the JavaScript a deck needs (jQuery, require.js,
reveal.js 4, MathJax 2.7 for the formulas) is copied from `vendor/slides/` into `OUT/assets/`, and every deck
points there. Copy the whole folder to the presenting laptop. Saved widgets are the one thing left online (their
renderer is a 3.6 MB bundle, and a slider in a deck has no kernel behind it anyway): show those from JupyterLab.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

from utils import ROOT

NOTEBOOKS = ROOT / "notebooks"
VENDORED = ROOT / "vendor" / "slides"  # written by scripts/vendor_slide_assets.py; see MANIFEST.json there
ASSETS = "assets"  # the folder next to the decks that holds the copy
# nbconvert option -> the vendored file it should load (paths relative to the decks)
LOCAL_URLS = {
    "jquery_url": f"{ASSETS}/jquery/dist/jquery.min.js",
    "require_js_url": f"{ASSETS}/requirejs/require.js",
    "mathjax_url": f"{ASSETS}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "reveal_url_prefix": f"{ASSETS}/reveal.js",
}


def lesson_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The lessons in order: notebooks/NN_topic.ipynb."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def slide_types(notebook: Path) -> list[str]:
    """Each cell's slide type ('-' where a cell has none, which continues the current slide)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") for cell in cells]


def deck_path(notebook: Path, out_dir: Path) -> Path:
    """Where nbconvert writes a notebook's deck: OUT/NN_topic.slides.html."""
    return out_dir / f"{notebook.stem}.slides.html"


def missing_assets(folder: Path | None = None) -> list[str]:
    """Files or folders that MANIFEST.json lists but the vendored folder lacks (the manifest itself if absent)."""
    folder = folder or VENDORED
    manifest = folder / "MANIFEST.json"
    if not manifest.is_file():
        return [str(manifest)]
    listed = [f"{package}/{item}" for package, entry in json.loads(manifest.read_text(encoding="utf-8")).items()
              for item in entry["files"]]
    return [item for item in listed if not (folder / item).exists()]


def copy_assets(out_dir: Path) -> Path:
    """Copy the vendored JavaScript next to the decks (OUT/assets), replacing an older copy."""
    missing = missing_assets()
    if missing:
        raise FileNotFoundError(f"{VENDORED} lacks {', '.join(missing[:3])}: restore it with "
                                "`git checkout -- vendor`, or export with --cdn")
    target = out_dir / ASSETS
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(VENDORED, target)
    return target


def export(notebooks: list[Path], out_dir: Path, cdn: bool = False) -> list[Path]:
    """Export notebooks to reveal.js HTML in out_dir with one `jupyter nbconvert --to slides` call.

    By default the decks load their JavaScript from out_dir/assets (copied there), so they work offline;
    `cdn=True` leaves nbconvert's CDN links. Raises FileNotFoundError for a notebook (or the vendored assets)
    that does not exist, RuntimeError when nbconvert fails.
    """
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
    if not notebooks:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", "--no-prompt",
               "--SlidesExporter.reveal_theme=simple", "--SlidesExporter.reveal_scroll=True",
               "--output-dir", str(out_dir), "--log-level=WARN"]
    if not cdn:
        copy_assets(out_dir)
        command += [f"--SlidesExporter.{option}={url}" for option, url in LOCAL_URLS.items()]
    run = subprocess.run([*command, *map(str, notebooks)], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"jupyter nbconvert --to slides failed:\n{run.stderr.strip()}")
    return [deck_path(p, out_dir) for p in notebooks]


def write_index(decks: list[Path], out_dir: Path) -> Path:
    """A plain index.html linking every deck, for the presenter's browser tab."""
    items = "\n".join(f'<li><a href="{html.escape(d.name)}">{html.escape(d.name.removesuffix(".slides.html"))}'
                      f"</a></li>" for d in decks)
    index = out_dir / "index.html"
    index.write_text("<!doctype html>\n<meta charset=\"utf-8\">\n<title>LoRA from first principles: slides"
                     f"</title>\n<h1>LoRA from first principles: slides</h1>\n<ol>\n{items}\n</ol>\n",
                     encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="lessons to export (default: every lesson)")
    parser.add_argument("--out", type=Path, default=ROOT / "slides", help="output folder (default: slides/)")
    parser.add_argument("--cdn", action="store_true",
                        help="load jQuery, require.js, reveal.js and MathJax from CDNs (default: a local copy)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or lesson_notebooks()
    if not notebooks:
        print(f"no lessons found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    try:
        decks = export(notebooks, args.out, args.cdn)
    except (FileNotFoundError, RuntimeError) as err:
        print(err, file=sys.stderr)
        return 1
    for notebook, deck in zip(notebooks, decks, strict=True):
        types = slide_types(notebook)
        n_slides = 1 + sum(t in ("slide", "subslide") for t in types[1:])
        note = "" if n_slides > 1 else "  (no slide metadata: one long slide; see docs/CONTRIBUTING.md)"
        print(f"{deck}  {n_slides} slides{note}")
    print(f"index: {write_index(decks, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
