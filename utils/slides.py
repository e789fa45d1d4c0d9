"""Every lesson as a reveal.js deck: `make slides` (or `python -m utils.slides --out slides`).

The decks come from the lessons themselves, with their committed outputs (nothing is executed), through
`jupyter nbconvert --to slides`. Each cell's `metadata.slideshow.slide_type` decides where a slide starts
(see docs/CONTRIBUTING.md); a lesson without that metadata becomes one long slide, and this tool says so.

    python -m utils.slides --out slides                          # every notebooks/NN_*.ipynb
    python -m utils.slides --out /tmp/deck notebooks/07_lora_by_hand.ipynb
    python -m utils.slides --out slides --reveal-prefix reveal.js   # a local reveal.js copy, for a room offline

The HTML loads reveal.js from a CDN unless `--reveal-prefix` points at a local copy (a folder next to the
decks holding reveal.js 4's `dist/` and `plugin/`).
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
from pathlib import Path

from utils import ROOT

NOTEBOOKS = ROOT / "notebooks"


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


def export(notebooks: list[Path], out_dir: Path, reveal_prefix: str | None = None) -> list[Path]:
    """Export notebooks to reveal.js HTML in out_dir with one `jupyter nbconvert --to slides` call.

    Raises FileNotFoundError for a notebook that does not exist, RuntimeError when nbconvert fails.
    """
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
    if not notebooks:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", "--no-prompt",
               "--SlidesExporter.reveal_theme=simple", "--SlidesExporter.reveal_scroll=True",
               "--output-dir", str(out_dir), "--log-level=WARN", *map(str, notebooks)]
    if reveal_prefix:
        command.insert(-len(notebooks), f"--SlidesExporter.reveal_url_prefix={reveal_prefix}")
    run = subprocess.run(command, capture_output=True, text=True)
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
    parser = argparse.ArgumentParser(prog="python -m utils.slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="lessons to export (default: every lesson)")
    parser.add_argument("--out", type=Path, default=ROOT / "slides", help="output folder (default: slides/)")
    parser.add_argument("--reveal-prefix", help="URL or relative path of a local reveal.js (default: a CDN)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or lesson_notebooks()
    if not notebooks:
        print(f"no lessons found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    try:
        decks = export(notebooks, args.out, args.reveal_prefix)
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
