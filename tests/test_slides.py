"""`make slides`: lessons become reveal.js decks whose sections follow the cells' slide metadata."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from workshop import slides


def _cell(kind: str, source: str, slide_type: str):
    make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
    return make(source, metadata={"slideshow": {"slide_type": slide_type}})


def test_slide_metadata_becomes_reveal_sections(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        _cell("md", "# Title slide", "slide"),
        _cell("code", "import os  # plumbing-marker", "skip"),
        _cell("md", "## Second section", "slide"),
        _cell("md", "A new idea inside it", "subslide"),
        _cell("md", "fragment-marker", "fragment"),
        _cell("md", "speaker-notes-marker", "notes"),
    ])
    source = tmp_path / "99_demo.ipynb"
    nbformat.write(notebook, source)
    assert slides.slide_types(source) == ["slide", "skip", "slide", "subslide", "fragment", "notes"]

    (deck,) = slides.export([source], tmp_path / "out")
    assert deck == tmp_path / "out" / "99_demo.slides.html"
    page = deck.read_text(encoding="utf-8")
    assert "Reveal.initialize" in page
    body = page[page.index('<div class="reveal">'):]
    # reveal.js nesting: one outer <section> per slide, one inner per (sub)slide: 2 + (1 + 2)
    assert body.count("<section") == 5
    assert 'class="fragment"' in body and "fragment-marker" in body
    assert '<aside class="notes">' in body and "speaker-notes-marker" in body
    assert "plumbing-marker" not in body


def _deck_of_one_code_cell(tmp_path, tag: str) -> tuple[str, Path]:
    """The deck body of a notebook holding a title and one tagged code cell that prints 'output-marker', and the
    notebook's path."""
    cell = nbformat.v4.new_code_cell("print('code-marker')", metadata={"tags": [tag]},
                                     outputs=[nbformat.v4.new_output("stream", text="output-marker\n")])
    source = tmp_path / "98_demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[_cell("md", "# Title", "slide"), cell]), source)
    (deck,) = slides.export([source], tmp_path / "out")
    page = deck.read_text(encoding="utf-8")
    return page[page.index('<div class="reveal">'):], source


def test_output_only_cells_keep_their_output_and_drop_their_code(tmp_path):
    body, source = _deck_of_one_code_cell(tmp_path, slides.OUTPUT_ONLY_TAG)
    assert "output-marker" in body and "code-marker" not in body
    assert "code-marker" in source.read_text(encoding="utf-8")  # the lesson itself is untouched


def test_output_apart_cells_show_their_code_then_their_output_on_the_next_subslide(tmp_path):
    body, source = _deck_of_one_code_cell(tmp_path, slides.OUTPUT_APART_TAG)
    code, output = body.index("code-marker"), body.index("output-marker")
    assert code < output and "<section" in body[code:output]  # the output opens the next (sub)slide
    assert body.count("code-marker") == 1 and body.count("output-marker") == 1
    assert len(json.loads(source.read_text(encoding="utf-8"))["cells"]) == 2  # the lesson itself is untouched


def _stream_notebook(lines: list[str]) -> dict:
    return {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": "\n".join(lines) + "\n"}]}]}


def test_long_outputs_show_their_first_lines_counting_the_lines_they_wrap_to():
    short = [f"line {n}" for n in range(slides.MAX_OUTPUT_LINES)]
    assert slides.cap_outputs(_stream_notebook(short)) == _stream_notebook(short)  # 14 lines fit
    many = [f"line {n}" for n in range(20)]
    capped = slides.cap_outputs(_stream_notebook(many))["cells"][0]["outputs"][0]["text"].splitlines()
    assert capped == many[:13] + ["… 7 more lines in the notebook"]
    wide = ["x" * (2 * slides.WRAP_CHARS + 1)] * 10  # each wraps to 3 lines on a slide
    capped = slides.cap_outputs(_stream_notebook(wide))["cells"][0]["outputs"][0]["text"].splitlines()
    assert capped == wide[:4] + ["… 6 more lines in the notebook"]
    # one print per stream message: capped as the one output JupyterLab shows
    printed = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout",
                                                             "text": f"line {n}\n"} for n in range(20)]}]}
    (output,) = slides.cap_outputs(printed)["cells"][0]["outputs"]
    assert output["text"].splitlines() == many[:13] + ["… 7 more lines in the notebook"]


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_exports_a_lesson(tmp_path):
    lessons = slides.lesson_notebooks()
    assert lessons, "no lesson found in notebooks/"
    lesson = lessons[-1]
    assert slides.main(["--out", str(tmp_path), str(lesson)]) == 0
    page = slides.deck_path(lesson, tmp_path).read_text(encoding="utf-8")
    assert "Reveal.initialize" in page and re.search(r"<section\b", page)
    assert (tmp_path / "index.html").read_text(encoding="utf-8").count("<li>") == 1


def test_missing_notebook_is_a_clear_error(tmp_path, capsys):
    assert slides.main(["--out", str(tmp_path), str(tmp_path / "nope.ipynb")]) == 1
    assert "no such notebook" in capsys.readouterr().err


def _local_references(page: str) -> list[str]:
    """Every script, stylesheet and reveal.js module the deck loads, as written in the HTML."""
    attributes = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    required = re.findall(r'"([^"]+\.js)",?\s*$', page, flags=re.MULTILINE)  # reveal.js's require([...]) list
    return [url for url in attributes + required if not url.startswith("data:")]


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_decks_work_offline_from_the_vendored_copy(tmp_path):
    lesson = next(p for p in slides.lesson_notebooks() if p.name.startswith("07_"))  # formulas, code, plots
    (deck,) = slides.export([lesson], tmp_path)
    page = deck.read_text(encoding="utf-8")
    references = _local_references(page)
    assert any("MathJax.js" in url for url in references) and any("reveal.js/dist/reveal.js" in url
                                                                  for url in references)
    assert not [url for url in references if "://" in url], "the deck still loads something from the network"
    for url in references:
        assert (tmp_path / url.split("?")[0]).is_file(), f"the deck loads {url}, which was not copied"


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_cdn_mode_leaves_nbconvert_links(tmp_path):
    lesson = slides.lesson_notebooks()[0]
    (deck,) = slides.export([lesson], tmp_path, cdn=True)
    assert "https://" in deck.read_text(encoding="utf-8") and not (tmp_path / slides.ASSETS).exists()


SECTION = re.compile(r"^## (\d+)\.", re.MULTILINE)  # a numbered section of a lesson: "## 3. The formula"


def section_notes(notebook) -> dict[str, int]:
    """For each numbered section of a lesson ('## n.' heading), how many speaker-notes cells it holds."""
    counts, current = {}, None
    for cell in notebook.cells:
        heading = SECTION.search(cell.source) if cell.cell_type == "markdown" else None
        if heading:
            current = heading.group(1)
            counts[current] = 0
        elif cell.cell_type == "markdown" and re.search(r"^## ", cell.source, re.MULTILINE):
            current = None  # an unnumbered section (Check yourself, Summary) ends the numbered one
        if current and cell.get("metadata", {}).get("slideshow", {}).get("slide_type") == "notes":
            counts[current] += 1
    return counts


def test_section_notes_counts_notes_per_section():
    notebook = nbformat.v4.new_notebook(cells=[
        _cell("md", "# Title", "slide"), _cell("md", "## 1. First", "slide"), _cell("md", "say this", "notes"),
        _cell("md", "## 2. Second", "slide"), _cell("code", "x = 1", "-"),
        _cell("md", "## Summary", "slide"), _cell("md", "not in section 2", "notes")])
    assert section_notes(notebook) == {"1": 1, "2": 0}


@pytest.mark.parametrize("lesson", slides.lesson_notebooks(), ids=lambda p: p.stem)
def test_every_section_has_speaker_notes(lesson):
    """Issue 19 item 5: a presenter finds notes on every section, with the timings docs/workshops.md measured."""
    notebook = nbformat.read(lesson, as_version=4)
    counts = section_notes(notebook)
    assert counts, f"{lesson.name} has no numbered sections"
    assert not [n for n, k in counts.items() if k == 0], \
        f"{lesson.name}: sections without a notes cell: {[n for n, k in counts.items() if k == 0]}"
    notes = [c.source for c in notebook.cells if c.get("metadata", {}).get("slideshow", {}).get("slide_type") == "notes"]
    assert any("docs/workshops.md" in text for text in notes), f"{lesson.name}: no note points to docs/workshops.md"


@pytest.mark.parametrize("lesson", slides.lesson_notebooks(), ids=lambda p: p.stem)
def test_every_saved_widget_has_a_static_fallback_in_the_deck(lesson):
    """Issue 19 item 5: a deck has no kernel, so every saved widget shows its saved image (or its label text);
    the deck keeps no widget view (it would render blank offline) and no widget state (its renderer is online)."""
    notebook = json.loads(lesson.read_text(encoding="utf-8"))
    models = slides._widget_models(notebook)
    views = [o["data"][slides.WIDGET_VIEW]["model_id"] for c in notebook["cells"] for o in c.get("outputs", [])
             if slides.WIDGET_VIEW in o.get("data", {})]
    for model_id in views:  # an interact (sliders over a plot) must bring its plot; others at least a note
        if "widget-interact" in models[model_id]["state"].get("_dom_classes", []):
            assert "<img" in slides.widget_fallback(models, model_id), f"{lesson.name}: {model_id} has no image"
    deck = slides.deck_copy(notebook)
    assert not [o for c in deck["cells"] for o in c.get("outputs", []) if slides.WIDGET_VIEW in o.get("data", {})]
    assert "widgets" not in deck["metadata"]
