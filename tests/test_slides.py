"""`make slides`: lessons become reveal.js decks whose sections follow the cells' slide metadata."""

from __future__ import annotations

import re

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
