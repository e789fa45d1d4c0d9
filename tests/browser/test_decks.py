"""Every lesson's deck on a 1280 x 720 projector: every slide fits, every formula typesets, notes and fallbacks show.

All fifteen decks (or those `-k` selects) are exported offline (workshop.slides, one nbconvert call) and opened in
headless Chromium with the network cut. The test walks each deck the way a presenter does (Reveal.next() through
every slide, subslide and fragment) and, on every slide, measures its content in reveal.js's own coordinates (the
960 x 700 slide that reveal.js scales onto the screen): a slide whose content is taller or wider than the slide, or
that holds a box scrolling sideways (a code line or table cut at the right edge), fails. MathJax must typeset with
no error (a TeX parse error, a "Math Processing Error", an undefined macro shown in red).

Every slide of every deck must fit: no deck has an allowance. A contact sheet per lesson (every slide as a
thumbnail, overflowing ones framed red) is written to build/decks/ (COURSE_DECK_SHEETS to change it; the folder is
printed): open NN_contact.png to see a whole deck at once. `-k 07_lora` exports and walks that one deck only.
Cost, measured on the shared 2-core machine (30 Nov 2026, load average 1.1-1.8): 200-250 s for the 15 decks and their
473 slides, each walked after its formulas are drawn (the one nbconvert export about 21 s of it).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from utils import ROOT
from workshop import slides

VIEWPORT = {"width": 1280, "height": 720}
SHEETS = Path(os.environ.get("COURSE_DECK_SHEETS") or ROOT / "build" / "decks")
THUMB, COLUMNS = (320, 180), 5
TOLERANCE_PX = 2  # rounding in the layout
NOTES_LESSON = "07_"  # the deck whose speaker notes and widget fallbacks are checked in the browser

# Before MathJax loads: record every error it reports (AuthorInit runs before the first typeset), and count the
# typesetting passes under way: the deck re-renders a slide's formulas each time it is shown (nbconvert's
# `slidechanged` handler calls MathJax.Hub.Rerender, outside MathJax's main queue), with no formula drawn meanwhile.
MATHJAX_HOOKS = """
window.__mathjaxErrors = [];
window.__mathjaxBusy = 0;
window.MathJax = {AuthorInit: function () {
  MathJax.Hub.Register.MessageHook("TeX Jax - parse error",
      function (m) { window.__mathjaxErrors.push("TeX: " + String(m[1])); });
  MathJax.Hub.Register.MessageHook("Math Processing Error",
      function (m) { window.__mathjaxErrors.push("processing: " + String(m[2] || m[1])); });
  MathJax.Hub.Register.MessageHook("Begin Math", function () { window.__mathjaxBusy++; });
  MathJax.Hub.Register.MessageHook("End Math", function () { window.__mathjaxBusy--; });
}};
"""

# Every formula of the slide on screen drawn: MathJax idle, and each TeX script followed by its rendered frame.
MATHJAX_DONE = """
() => {
  if (!(window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 && window.__mathjaxBusy === 0)) return false;
  const slide = window.Reveal && Reveal.getCurrentSlide ? Reveal.getCurrentSlide() : null;
  if (!slide) return true;
  return [...slide.querySelectorAll('script[type^="math/tex"]')].every(script => {
    if (!script.parentElement.checkVisibility()) return true;  // in a closed <details>: not drawn until opened
    const frame = document.getElementById(script.id + '-Frame');
    return frame && frame.getBoundingClientRect().width > 0;
  });
}
"""

# The current slide measured: overflow of the slide itself and of any box inside it that scrolls or clips.
MEASURE = """
() => {
  const slide = Reveal.getCurrentSlide(), config = Reveal.getConfig(), tol = TOLERANCE;
  const [w, h] = [config.width, config.height];
  const problems = [];
  if (slide.scrollHeight > h + tol) problems.push(`content ${slide.scrollHeight}px tall, slide ${h}px`);
  if (slide.scrollWidth > w + tol) problems.push(`content ${slide.scrollWidth}px wide, slide ${w}px`);
  for (const el of slide.querySelectorAll('*')) {
    // MathJax's own inner boxes clip by design; a formula too wide shows as its display box scrolling
    if (el.closest('aside.notes') || el.closest('.MathJax_CHTML') || !el.offsetParent) continue;
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + tol) {
      const text = (el.innerText || el.tagName).trim().split('\\n')[0].slice(0, 60);
      const what = el.tagName.toLowerCase() + (el.classList[0] ? '.' + el.classList[0] : '');
      problems.push(`a ${what} scrolls sideways (${el.scrollWidth}px in ${el.clientWidth}px): "${text}"`);
      break;
    }
  }
  const heading = slide.querySelector('h1, h2, h3');
  return {problems, title: heading ? heading.innerText.replace('\u00b6', '').trim() : ''};
}
""".replace("TOLERANCE", str(TOLERANCE_PX))

MATHJAX_ERRORS = """
() => {
  const shown = [...document.querySelectorAll('.MathJax_Error, .noError, merror, [mathcolor=red], .mjx-merror')]
      .map(el => 'shown: ' + el.textContent.slice(0, 80));
  return window.__mathjaxErrors.concat(shown);
}
"""


@pytest.fixture(scope="module")
def decks(request, tmp_path_factory) -> dict[str, Path]:
    """The decks this session's tests open (all 15, or those `-k` selects), exported in one nbconvert call."""
    out = tmp_path_factory.mktemp("decks")
    chosen = {item.callspec.params["lesson"] for item in request.session.items
              if "lesson" in getattr(getattr(item, "callspec", None), "params", {})}
    if any(item.name == test_speaker_notes_and_widget_fallbacks_show.__name__ for item in request.session.items):
        chosen |= {p.stem for p in slides.lesson_notebooks() if p.stem.startswith(NOTES_LESSON)}
    lessons = [p for p in slides.lesson_notebooks() if p.stem in chosen]
    return {lesson.stem: deck for lesson, deck in zip(lessons, slides.export(lessons, out), strict=True)}


@pytest.fixture(scope="module")
def deck_page(page):
    page.set_viewport_size(VIEWPORT)
    page.add_init_script(MATHJAX_HOOKS)
    page.route(re.compile(r"^https?://"), lambda route: route.abort())  # offline: nothing may come from the net
    yield page
    page.unroute(re.compile(r"^https?://"))


def _open(page, deck: Path) -> None:
    page.goto(deck.as_uri())
    page.wait_for_selector(".reveal.ready", state="attached", timeout=60_000)
    # the deck loads reveal.js through require.js (no global): ask require.js for the same, running instance
    page.evaluate(f"""() => new Promise(done => require(["{slides.LOCAL_URLS['reveal_url_prefix']}/dist/reveal.js"],
        reveal => {{ window.Reveal = reveal; done(); }}))""")
    page.evaluate("() => Reveal.configure({transition: 'none', backgroundTransition: 'none', controls: false})")
    _typeset(page)


def _typeset(page) -> None:
    """Wait until every formula of the slide on screen is drawn (MATHJAX_DONE) and the web fonts it uses have
    loaded: MathJax's fonts load when a slide first shows a formula, and until then Chromium draws them invisible."""
    page.wait_for_function(MATHJAX_DONE, timeout=60_000)
    page.evaluate("() => { document.body.offsetHeight; return document.fonts.ready.then(() => true); }")


def contact_sheet(shots: list[tuple[str, bytes, bool]], path: Path) -> Path:
    """A grid of slide thumbnails (label 'h.v', red frame where the slide overflows), written as PNG."""
    from PIL import Image, ImageDraw

    rows = -(-len(shots) // COLUMNS)
    pad, label = 6, 16
    sheet = Image.new("RGB", (COLUMNS * (THUMB[0] + pad) + pad, rows * (THUMB[1] + label + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (name, png, bad) in enumerate(shots):
        thumb = Image.open(io.BytesIO(png)).convert("RGB").resize(THUMB)
        x = pad + (n % COLUMNS) * (THUMB[0] + pad)
        y = pad + (n // COLUMNS) * (THUMB[1] + label + pad)
        sheet.paste(thumb, (x, y + label))
        draw.text((x, y + 2), name + ("  OVERFLOW" if bad else ""), fill="red" if bad else "black")
        draw.rectangle((x - 1, y + label - 1, x + THUMB[0], y + label + THUMB[1]),
                       outline="red" if bad else "#bbbbbb", width=3 if bad else 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def walk(page) -> tuple[list[dict], list[tuple[str, bytes, bool]], int]:
    """Every slide of the open deck, from the first to the last step of Reveal.next()."""
    page.evaluate("() => Reveal.slide(0, 0, 0)")
    seen, report, shots, steps = set(), [], [], 0
    while True:
        steps += 1
        indices = page.evaluate("() => Reveal.getIndices()")
        key = (indices["h"], indices.get("v") or 0)
        last_fragment = page.evaluate("() => !Reveal.availableFragments().next")
        if key not in seen and last_fragment:  # measured and photographed with all its fragments shown
            seen.add(key)
            _typeset(page)
            result = page.evaluate(MEASURE)
            name = f"{key[0]}.{key[1]}"
            report.append({"slide": name, **result})
            shots.append((name, page.screenshot(), bool(result["problems"])))
        if page.evaluate("() => Reveal.isLastSlide() && !Reveal.availableFragments().next"):
            return report, shots, steps
        page.evaluate("() => Reveal.next()")
        if steps > 2000:
            raise AssertionError("Reveal.next() never reached the last slide")


@pytest.mark.parametrize("lesson", [p.stem for p in slides.lesson_notebooks()])
def test_every_slide_fits_and_typesets(deck_page, decks, lesson):
    _open(deck_page, decks[lesson])
    report, shots, steps = walk(deck_page)
    total = deck_page.evaluate("() => Reveal.getTotalSlides()")
    errors = deck_page.evaluate(MATHJAX_ERRORS)
    sheet = contact_sheet(shots, SHEETS / f"{lesson[:2]}_contact.png")
    (SHEETS / f"{lesson[:2]}_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    overflowing = [f"slide {r['slide']} ({r['title'] or 'untitled'}): {'; '.join(r['problems'])}"
                   for r in report if r["problems"]]
    print(f"{lesson}: {len(report)} slides, {steps} steps, {len(overflowing)} overflowing, "
          f"{len(errors)} MathJax errors; contact sheet {sheet}")
    assert len(report) == total, f"walked {len(report)} of {total} slides"
    assert not errors, f"{lesson}: MathJax errors: {errors[:5]}"
    assert not overflowing, f"{lesson}: {len(overflowing)} slides do not fit 1280x720 (every slide must; the fixes: " \
        "docs/CONTRIBUTING.md, Slides):\n" + "\n".join(overflowing)


def test_speaker_notes_and_widget_fallbacks_show(deck_page, decks):
    """Issue 19 item 5 in the browser: reveal.js finds a speaker note on every numbered section's slide (what its
    speaker view, key `s`, shows) and every saved widget shows its static image."""
    lesson = next(name for name in decks if name.startswith(NOTES_LESSON))
    notebook = json.loads((slides.NOTEBOOKS / f"{lesson}.ipynb").read_text(encoding="utf-8"))
    kinds = [c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in notebook["cells"]]
    n_notes = kinds.count("notes")
    n_sections = sum(bool(re.match(r"## \d+\.", "".join(c["source"]).strip().split("\n")[0]))
                     for c in notebook["cells"] if c["cell_type"] == "markdown")
    n_widgets = sum(slides.WIDGET_VIEW in o.get("data", {}) for c in notebook["cells"] for o in c.get("outputs", []))
    _open(deck_page, decks[lesson])
    asides = deck_page.locator("aside.notes").count()
    notes = deck_page.evaluate("() => Reveal.getSlides().map(s => Reveal.getSlideNotes(s) || '')")
    with_notes = [text for text in notes if text.strip()]
    fallbacks = deck_page.evaluate(f"""() => [...document.querySelectorAll('.{slides.FALLBACK_CLASS} img')]
        .map(img => img.complete && img.naturalWidth > 100)""")
    assert n_notes >= n_sections > 0 and asides == n_notes, (n_sections, n_notes, asides)
    assert len(with_notes) >= n_sections, f"{lesson}: {len(with_notes)} slides with notes, {n_sections} sections"
    assert n_widgets > 0 and len(fallbacks) == n_widgets and all(fallbacks), (n_widgets, fallbacks)
    # the notes of the slide on screen: what the speaker view shows next to it
    shown = deck_page.evaluate("""() => { const s = Reveal.getSlides().find(s => Reveal.getSlideNotes(s));
        const i = Reveal.getIndices(s); Reveal.slide(i.h, i.v); return Reveal.getSlideNotes(); }""")
    assert shown and "docs/workshops.md" in shown, shown
    print(f"{lesson}: {len(with_notes)} slides with notes ({n_sections} sections), "
          f"{len(fallbacks)} widget fallback images shown")
