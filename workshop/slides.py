"""Every lesson as a reveal.js deck: `make slides` (or `python -m workshop.slides --out slides`).

The decks come from the lessons themselves, with their committed outputs (nothing is executed), through
`jupyter nbconvert --to slides`. Each cell's `metadata.slideshow.slide_type` decides where a slide starts
(see docs/CONTRIBUTING.md); a lesson without that metadata becomes one long slide, and this tool says so.

    python -m workshop.slides --out slides                          # every notebooks/NN_*.ipynb
    python -m workshop.slides --out /tmp/deck notebooks/07_lora_by_hand.ipynb
    python -m workshop.slides --out slides --cdn                    # load the JavaScript from CDNs instead

The output folder is self-contained and works with no network: the JavaScript a deck needs (jQuery, require.js,
reveal.js 4, MathJax 2.7 for the formulas) is copied from `vendor/slides/` into `OUT/assets/`, and every deck
points there. Copy the whole folder to the presenting laptop.

A slider has no kernel behind it in a deck, and the renderer of saved widgets is a 3.6 MB online bundle, so the
decks never load it: each saved widget is replaced by its static fallback (`widget_fallbacks`): the images its
saved output holds (an `interact` plot at its default values), or else the text its labels show (a progress bar's
last state). Move the sliders in JupyterLab. A code cell tagged `slides-output-only` (a plot whose code would not
fit next to it) shows only its output in a deck; one tagged `slides-output-apart` (code and output each fit a slide,
not both) shows its code, then its output on the next subslide. `slide_type: notes` cells become reveal.js speaker
notes: press `s` in a deck for the speaker view.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
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
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FALLBACK_CLASS = "widget-fallback"  # the <div> a deck shows in place of a saved widget
FALLBACK_NOTE = "static view at the default values: move the controls in JupyterLab"
OUTPUT_ONLY_TAG = "slides-output-only"  # a code cell tagged so shows only its output in a deck (a plot's long code)
OUTPUT_APART_TAG = "slides-output-apart"  # its code on one slide, its output on the next subslide (too tall together)
MAX_OUTPUT_LINES = 14  # a text output longer than this shows its first lines on a slide (the notebook keeps all)
WRAP_CHARS = 72  # characters of output per line on a slide (measured at 1280 x 720 in Chromium); longer lines wrap
# Added to every deck: code and text outputs wrap at the slide's edge instead of scrolling sideways, and a plot
# never grows taller than a slide.
DECK_CSS = """<style id="course-deck-css">
.reveal .jp-InputArea pre, .reveal .jp-OutputArea pre {
  white-space: pre-wrap; overflow-wrap: anywhere; box-sizing: border-box; }
.reveal .jp-OutputArea-output img { max-height: 560px; width: auto; max-width: 100%; }
.reveal .widget-fallback img { max-height: 480px; }
</style>
"""


def lesson_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The lessons in order: notebooks/NN_topic.ipynb."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def slide_types(notebook: Path) -> list[str]:
    """Each cell's slide type ('-' where a cell has none, which continues the current slide)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") for cell in cells]


def _widget_models(notebook: dict) -> dict:
    """The saved widget models of a notebook (model id -> model), empty when none were saved."""
    return notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _descendants(models: dict, model_id: str) -> list[dict]:
    """A widget model and every model below it (children, in order), depth first; ids not saved are skipped."""
    model = models.get(model_id)
    if model is None:
        return []
    found = [model]
    for child in model.get("state", {}).get("children") or []:
        found += _descendants(models, str(child).removeprefix("IPY_MODEL_"))
    return found


def widget_fallback(models: dict, model_id: str) -> str:
    """The HTML a deck shows for one saved widget: its saved images, else its labels' text ('' if neither)."""
    below = _descendants(models, model_id)
    images = [output["data"]["image/png"] for model in below if model.get("model_name") == "OutputModel"
              for output in model["state"].get("outputs", []) if "image/png" in output.get("data", {})]
    note = FALLBACK_NOTE
    if images:
        body = "".join(f'<img src="data:image/png;base64,{"".join(image).strip()}" alt="{FALLBACK_NOTE}">'
                       for image in images)
    else:
        texts = [re.sub(r"<[^>]+>", "", html.unescape(str(model["state"].get("value", "")))).strip()
                 for model in below if model.get("model_name") in ("HTMLModel", "LabelModel")]
        texts = [text for text in texts if text]
        if not texts:
            return ""
        body, note = f"<pre>{html.escape(' '.join(texts))}</pre>", "the widget's last saved state"
    return f'<div class="{FALLBACK_CLASS}">{body}<p><em>{note}</em></p></div>'


def widget_fallbacks(notebook: dict) -> dict:
    """A copy of a notebook (nbformat JSON) for a deck: every saved widget output replaced by its static fallback.

    The copy drops the saved widget state, so the deck never tries to load the online widget renderer. A widget
    with neither images nor label text in its saved state becomes a one-line note.
    """
    notebook = copy.deepcopy(notebook)
    models = _widget_models(notebook)
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            fallback = widget_fallback(models, view.get("model_id", "")) or (
                f'<div class="{FALLBACK_CLASS}"><p><em>an interactive widget: open the lesson in JupyterLab'
                "</em></p></div>")
            output["data"] = {"text/html": fallback}
    notebook.get("metadata", {}).pop("widgets", None)
    return notebook


def _shown_lines(line: str) -> int:
    """How many lines of a slide one line of output takes (it wraps at the slide's edge: DECK_CSS)."""
    return max(1, -(-len(line) // WRAP_CHARS))


def _joined_streams(outputs: list[dict]) -> list[dict]:
    """The outputs with each run of stream outputs to the same stream joined into one (what JupyterLab shows)."""
    joined = []
    for output in outputs:
        previous = joined[-1] if joined else {}
        if output.get("output_type") == "stream" and previous.get("output_type") == "stream" \
                and previous.get("name") == output.get("name"):
            joined[-1] = {**previous, "text": "".join(previous["text"]) + "".join(output["text"])}
        else:
            joined.append(output)
    return joined


def cap_outputs(notebook: dict, max_lines: int = MAX_OUTPUT_LINES) -> dict:
    """A notebook whose long text outputs (streams, plain-text results) keep their first lines and say how many
    more the notebook holds: a slide shows at most `max_lines` lines of one output, counting a long line as the
    lines it wraps to. Consecutive stream outputs (one per print, as a kernel may send them) count as one."""
    for cell in notebook["cells"]:
        if cell.get("outputs"):
            cell["outputs"] = _joined_streams(cell["outputs"])
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                holder, key = output, "text"
            elif "text/plain" in output.get("data", {}) and len(output["data"]) == 1:
                holder, key = output["data"], "text/plain"
            else:
                continue
            lines = "".join(holder[key]).splitlines()
            if sum(map(_shown_lines, lines)) > max_lines:
                kept, used = [], 0
                for line in lines:
                    used += _shown_lines(line)
                    if used > max_lines - 1:
                        break
                    kept.append(line)
                holder[key] = "\n".join([*kept, f"… {len(lines) - len(kept)} more lines in the notebook"]) + "\n"
    return notebook


def shows_output_apart(cell: dict) -> bool:
    """True for a code cell tagged `slides-output-apart` that has outputs: its deck shows it as two cells."""
    return (cell["cell_type"] == "code" and bool(cell.get("outputs"))
            and OUTPUT_APART_TAG in cell.get("metadata", {}).get("tags", []))


def _output_apart(cell: dict) -> list[dict]:
    """A code cell as two deck cells: its code without outputs, then its outputs alone opening a subslide."""
    code, output = copy.deepcopy(cell), copy.deepcopy(cell)
    code["outputs"] = []
    output["metadata"].setdefault("transient", {})["remove_source"] = True
    output["metadata"]["slideshow"] = {"slide_type": "subslide"}
    return [code, output]


def deck_copy(notebook: dict) -> dict:
    """The notebook as its deck shows it: widgets made static (widget_fallbacks), long outputs capped, the code of
    cells tagged `slides-output-only` left out (the notebook keeps it; nbconvert honours `remove_source`), and the
    outputs of cells tagged `slides-output-apart` moved to a subslide of their own after the code."""
    notebook = cap_outputs(widget_fallbacks(notebook))
    cells = []
    for cell in notebook["cells"]:
        tags = cell.get("metadata", {}).get("tags", []) if cell["cell_type"] == "code" else []
        if OUTPUT_ONLY_TAG in tags:
            cell["metadata"].setdefault("transient", {})["remove_source"] = True
        cells += _output_apart(cell) if shows_output_apart(cell) else [cell]
    notebook["cells"] = cells
    return notebook


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
    with tempfile.TemporaryDirectory(prefix="decks-") as scratch:  # the lessons with their widgets made static
        copies = []
        for notebook in notebooks:
            copies.append(Path(scratch) / notebook.name)
            static = deck_copy(json.loads(notebook.read_text(encoding="utf-8")))
            copies[-1].write_text(json.dumps(static, ensure_ascii=False), encoding="utf-8")
        run = subprocess.run([*command, *map(str, copies)], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"jupyter nbconvert --to slides failed:\n{run.stderr.strip()}")
    decks = [deck_path(p, out_dir) for p in notebooks]
    for deck in decks:
        page = deck.read_text(encoding="utf-8")
        deck.write_text(page.replace("</head>", DECK_CSS + "</head>", 1), encoding="utf-8")
    return decks


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
