"""Measure every cell of a lesson's deck in headless Chromium and say where a new subslide must start.

    python scripts/fit_slides.py notebooks/03_positional_encoding.ipynb            # report only
    python scripts/fit_slides.py --apply notebooks/03_positional_encoding.ipynb    # rewrite the .py twin's metadata

The deck is exported as `make slides` does (workshop.slides), opened at 1280 x 720 with every section laid out, and
each cell's rendered height is read. Walking the cells in order, a cell that would push its slide past the slide's
height (reveal.js's 960 x 700) starts a subslide instead of continuing the slide ("fragment" or no type become
"subslide"). `--apply` writes that into the jupytext twin (`NN_x.py`, the cell headers' slideshow metadata only);
then `jupytext --sync` carries it to the .ipynb with its outputs. Cells taller than a slide on their own are listed;
a code cell among them with a plot gets the `slides-output-only` tag (the deck shows the plot, the notebook keeps
the code); the others need a human (split the text, move detail to notes, shorten the output). tests/browser/test_decks.py is the
judge; this only proposes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workshop import slides  # noqa: E402

BUDGET_PX = 660  # of reveal.js's 700: room for the section's padding and the gaps between cells
GAP_PX = 12
HEADER = re.compile(r"^# %%(.*)$")

LAYOUT_ALL = """
() => {
  for (const s of document.querySelectorAll('.reveal .slides section')) {
    s.style.setProperty('display', 'block', 'important'); s.hidden = false; }
  // every shown cell in notebook order (skip cells are not in a deck; notes cells sit in <aside>)
  return [...document.querySelectorAll('.jp-Cell')].filter(cell => !cell.closest('aside.notes'))
    .map(cell => Math.ceil(cell.getBoundingClientRect().height / (window.__scale || 1)));
}
"""


def deck_cells(cells: list[dict]) -> tuple[list[dict], list[int]]:
    """The cells as the deck holds them (a `slides-output-apart` cell is two: its code, then its output opening a
    subslide) and, for each, the index of the notebook cell it comes from."""
    deck = slides.deck_copy({"cells": cells, "metadata": {}})["cells"]
    origin = [i for i, cell in enumerate(cells) for _ in range(2 if slides.shows_output_apart(cell) else 1)]
    return deck, origin


def shown(cells: list[dict]) -> list[int]:
    """Indices of the cells a deck shows, in order (not `skip`, not `notes`)."""
    return [i for i, c in enumerate(cells)
            if c.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") not in ("skip", "notes")]


def measure(deck: Path, chromium: str, cells: list[dict]) -> dict[int, int]:
    """Each shown cell's rendered height in slide pixels, by cell index (the deck lists them in notebook order)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.route(re.compile(r"^https?://"), lambda route: route.abort())
        page.goto(deck.as_uri())
        page.wait_for_selector(".reveal.ready", state="attached", timeout=60_000)
        page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0",
                               timeout=60_000)
        # reveal.js scales the 960 x 700 slide onto the window: measure in the slide's own pixels
        page.evaluate("() => { const s = document.querySelector('.reveal .slides');"
                      " window.__scale = s.getBoundingClientRect().width / s.offsetWidth; }")
        heights = page.evaluate(LAYOUT_ALL)
        browser.close()
    indices = shown(cells)
    if len(heights) != len(indices):
        raise RuntimeError(f"{deck.name}: {len(heights)} cells in the deck, {len(indices)} shown in the notebook")
    return dict(zip(indices, heights, strict=True))


def plan(cells: list[dict], heights: dict[int, int], budget: int = BUDGET_PX) -> tuple[dict[int, str], list[int]]:
    """New slide types by cell index, and the cells taller than a slide on their own."""
    changes, too_tall, used = {}, [], 0
    for index, cell in enumerate(cells):
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in ("skip", "notes"):
            continue
        height = heights.get(index, 0) + GAP_PX
        if height > budget:
            too_tall.append(index)
        if kind in ("slide", "subslide"):
            used = height
        elif used + height > budget and used > 0:
            changes[index] = "subslide"
            used = height
        else:
            used += height
    return changes, too_tall


def apply(py: Path, changes: dict[int, str], tag: list[int] = ()) -> int:
    """Rewrite the slide_type of the given cells (by index) in a jupytext percent file, and add the output-only tag
    to the cells in `tag`; returns the number of cell headers changed."""
    lines = py.read_text(encoding="utf-8").split("\n")
    headers = [n for n, line in enumerate(lines) if HEADER.match(line)]
    done = 0
    for index in sorted(set(changes) | set(tag)):
        n, new = headers[index], lines[headers[index]]
        if index in changes:
            kind = changes[index]
            new, count = re.subn(r'"slide_type": "[^"]*"', f'"slide_type": "{kind}"', new)
            if not count:  # jupytext writes slideshow= before tags=
                head, sep, tail = new.partition(" tags=[")
                new = f'{head} slideshow={{"slide_type": "{kind}"}}' + (f"{sep}{tail}" if sep else "")
        if index in tag and slides.OUTPUT_ONLY_TAG not in new:
            if "tags=[" in new:
                new = new.replace("tags=[", f'tags=["{slides.OUTPUT_ONLY_TAG}", ', 1)
            else:
                new += f' tags=["{slides.OUTPUT_ONLY_TAG}"]'
        lines[n], done = new, done + 1
    py.write_text("\n".join(lines), encoding="utf-8")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--apply", action="store_true", help="write the new slide types into the .py twins")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--heights", type=Path, help="a folder for the measured heights (NN_x.json): written "
                        "after measuring, or read instead of measuring with --reuse")
    parser.add_argument("--reuse", action="store_true", help="plan from the heights saved in --heights (no browser)")
    args = parser.parse_args(argv)
    status = 0
    with tempfile.TemporaryDirectory() as out:
        decks = ([slides.deck_path(n, Path(out)) for n in args.notebooks] if args.reuse
                 else slides.export(args.notebooks, Path(out)))
        for notebook, deck in zip(args.notebooks, decks, strict=True):
            originals = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            cells, origin = deck_cells(originals)  # measured and planned as the deck holds them
            saved = args.heights / f"{notebook.stem}.json" if args.heights else None
            if args.reuse:
                heights = {int(i): h for i, h in json.loads(saved.read_text(encoding="utf-8")).items()}
            else:
                heights = measure(deck, args.chromium, cells)
                if saved:
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    saved.write_text(json.dumps(heights), encoding="utf-8")
            planned, too_tall = plan(cells, heights)
            changes = {origin[i]: kind for i, kind in planned.items()}  # by notebook cell, as the .py counts them
            py = notebook.with_suffix(".py")
            headers = sum(bool(HEADER.match(line)) for line in py.read_text(encoding="utf-8").split("\n"))
            if headers != len(originals):
                print(f"{notebook.name}: the .py has {headers} cells, the .ipynb {len(originals)}: "
                      "run jupytext --sync")
                status = 1
                continue
            print(f"{notebook.name}: {len(changes)} cells should start a subslide: {sorted(changes)}")
            plots = sorted({origin[i] for i in too_tall if cells[i]["cell_type"] == "code" and any(
                "image/png" in o.get("data", {}) for o in cells[i].get("outputs", []))})
            for index in too_tall:
                first = "".join(cells[index]["source"]).strip().split("\n")[0][:70]
                fix = f" -> tag {slides.OUTPUT_ONLY_TAG}" if origin[index] in plots else ""
                print(f"  cell {origin[index]} alone is {heights.get(index, 0)} px tall: {first!r}{fix}")
            if args.apply and (changes or plots):
                print(f"  {py}: {apply(py, changes, tag=plots)} cell headers rewritten")
    return status


if __name__ == "__main__":
    sys.exit(main())
