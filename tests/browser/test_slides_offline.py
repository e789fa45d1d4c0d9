"""A lesson's slide deck in headless Chromium with the network cut: reveal.js starts and MathJax typesets.

`make slides` copies the JavaScript the decks need next to them (workshop.slides), so a room with no internet still
gets slides and formulas. Here every http(s) request is refused; the deck must still become slides, render its
formulas, and load every local file it asks for.
"""

from __future__ import annotations

import re
from pathlib import Path

from workshop import slides

LESSON_PREFIX = "03_"  # positional encoding: display formulas, code, plots and saved sliders


def test_deck_runs_with_no_network(page, artifacts, tmp_path):
    lesson = next(p for p in slides.lesson_notebooks() if p.name.startswith(LESSON_PREFIX))
    (deck,) = slides.export([lesson], tmp_path)
    refused, missing = [], []
    page.route(re.compile(r"^https?://"), lambda route: (refused.append(route.request.url), route.abort()))
    page.on("requestfailed", lambda request: missing.append(request.url)
            if request.url.startswith("file:") else None)
    page.goto(deck.as_uri())
    page.wait_for_selector(".reveal.ready", state="attached", timeout=60_000)  # reveal.js initialized
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                           "&& document.querySelectorAll('.MathJax_CHTML').length > 0", timeout=60_000)
    page.screenshot(path=str(artifacts / f"{Path(deck).stem}_offline.png"))
    n_slides = page.locator(".slides > section").count()
    formulas = page.locator(".MathJax_CHTML").count()
    displayed = page.locator(".MJXc-display").count()  # $$ ... $$ blocks, in the CommonHTML output
    errors = page.locator(".MathJax_Error, merror").count()
    page.unroute(re.compile(r"^https?://"))
    assert not missing, f"the deck asked for local files that are not there: {missing}"
    assert n_slides > 5 and formulas > 0 and displayed > 0 and errors == 0, (n_slides, formulas, displayed, errors)
    print(f"{deck.name}: {n_slides} slides, {formulas} formulas typeset offline; refused: {sorted(set(refused))}")
