"""`make slides`: lessons become reveal.js decks whose sections follow the cells' slide metadata."""

from __future__ import annotations

import re

import nbformat

from utils import slides


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
