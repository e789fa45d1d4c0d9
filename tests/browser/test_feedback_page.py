"""Feedback pages in headless Chromium (issue 14): the hostile page runs nothing, loads nothing and stays where it is;
the honest page typesets its math under the page's Content-Security-Policy with no console error.

MathJax is the page's only script, loaded from its CDN folder (`grading.feedback.MATHJAX_FOLDER`): here those
requests are answered from the copy the slide decks ship (vendor/slides/mathjax, the same 2.7.7), so the policy
is checked against the URLs a connected browser would load; every other request is refused and recorded.
The notebooks are tests/test_feedback_safety.py's.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from grading.feedback import MATHJAX_FOLDER

sys.path.insert(0, str(Path(__file__).parents[1]))
import test_feedback_safety as notebooks  # noqa: E402

VENDOR = Path(__file__).parents[2] / "vendor" / "slides" / "mathjax"
# before the page's own scripts: every policy violation the page meets
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"""
TYPESET = ("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
           "&& document.querySelectorAll('.MathJax_CHTML').length > 0")


def _open(page, html_path: Path) -> dict:
    refused, dialogs, console, errors = [], [], [], []

    def answer(route):
        url = route.request.url
        local = VENDOR / url[len(MATHJAX_FOLDER):].split("?")[0] if url.startswith(MATHJAX_FOLDER) else None
        if local is not None and local.is_file():
            route.fulfill(path=str(local))
        else:
            refused.append(url)
            route.abort()

    page.add_init_script(WATCH)
    page.route(re.compile(r"^https?://"), answer)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(html_path.as_uri())
        try:
            page.wait_for_function(TYPESET, timeout=30_000)
            typeset = True
        except PlaywrightTimeout:
            typeset = False
        page.wait_for_timeout(1000)  # a late handler, refresh or load would show by now
        seen = page.evaluate("""() => ({url: location.href, violations: window.__violations,
            formulas: document.querySelectorAll('.MathJax_CHTML').length,
            active: [...document.querySelectorAll('*')]
                .flatMap(e => [...e.attributes].map(a => [e.tagName, a.name, a.value]))
                .filter(([t, n, v]) => n.startsWith('on') || /^\\s*(javascript:|data:text)/i.test(v)),
            mathErrors: document.querySelectorAll('.MathJax_Error, merror').length,
            images: [...document.images].filter(i => i.getAttribute('src')).map(i => i.naturalWidth)})""")
    finally:
        page.unroute(re.compile(r"^https?://"))
    return dict(seen, typeset=typeset, refused=refused, dialogs=dialogs, console=console, errors=errors)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("feedback")
    made = {}
    for name, nb in (("honest", notebooks.honest_notebook()), ("hostile", notebooks.hostile_notebook())):
        (folder / name).mkdir()
        made[name] = folder / name / "lab99.html"
        notebooks._page(nb, folder / name)
    return made


def test_hostile_page_runs_loads_and_navigates_nothing(page, pages):
    seen = _open(page, pages["hostile"])
    assert seen["dialogs"] == [] and seen["refused"] == [], seen
    assert seen["url"] == pages["hostile"].as_uri(), "the page navigated away"
    assert seen["typeset"] and seen["active"] == [], seen  # nor does MathJax make a link or handler of the TeX
    assert seen["console"] == [] and seen["errors"] == [] and seen["violations"] == [], seen


def test_honest_page_typesets_its_math_under_the_policy(page, pages):
    seen = _open(page, pages["honest"])
    assert seen["typeset"] and seen["formulas"] >= 6 and seen["mathErrors"] == 0, seen
    assert seen["images"] and all(width > 0 for width in seen["images"]), seen
    assert seen["console"] == [] and seen["errors"] == [] and seen["violations"] == [] and seen["refused"] == [], seen
