"""Feedback pages: a student's executed notebook as HTML in which nothing the student wrote or printed can run.

The page is opened by the instructor (from disk, or in the Formgrader) and by the student. A student controls the
markdown cells (raw HTML passes through the markdown renderer) and every output their code makes. Under `make grade`
`grading.execute` keeps only text/plain and image/png of a display, without metadata (KEPT_MIME); the page treats
every output type as hostile all the same, so that a longer list there, or a notebook executed elsewhere, stays
safe. So (issue 14):

- markdown cells (after rendering), text/html and text/markdown outputs go through an allow-list sanitiser
  (`sanitize`, built on bleach): headings, paragraphs, lists, tables, code, emphasis, details, links to http(s),
  mailto and #anchors, images whose source is a data: URI; every event handler, script, style sheet, frame,
  object, form, base, meta and remote load goes, and a <script> or <style> goes with its content (pandas'
  `<style scoped>` before its table too: the table keeps its rows, not its striping);
- png/jpeg outputs: the template's <img> (whose width and height it writes unquoted) is sanitised as well;
- classes and ids that the page's own style sheets position (jp-, lm-, MathJax...) are not a student's to use;
- image/svg+xml is shown as an <img> with a data: URI, which browsers never script;
- application/javascript and widget outputs are not shown: a one-line note says so; text/vnd.mermaid shows as
  text (the template would paste it unescaped and load mermaid from a CDN);
- text/latex, stream and error outputs are escaped by the template already (MathJax typesets $...$ with its
  Safe extension, which refuses javascript: links and styles in TeX);
- the page loads MathJax 2.7.7 itself and no other script (no require.js: nothing left on the page uses it), and
  says so in a Content-Security-Policy: scripts only from MathJax's folder, images only data: URIs, no frames,
  forms, plugins or <base>. The sanitiser is the defence; the policy is the second one.

The lab template's own sanitising (`HTMLExporter(sanitize_html=True)`, nbconvert's `clean_html`) is not used: its
allow-list escapes <p>, <h1>, <th>, <thead>, <img> into visible text and takes tables apart (nbconvert 7.17).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import bleach
import nbformat
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from bs4 import BeautifulSoup

TEMPLATE = Path(__file__).parent / "templates" / "feedback.html.j2"

# The page's only script. nbconvert's default is MathJax's latest.js, which looks the newest 2.7.x up on the CDN and
# loads it from another folder; a fixed version keeps the policy below to one folder.
MATHJAX_FOLDER = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"
MATHJAX_URL = MATHJAX_FOLDER + "MathJax.js?config=TeX-AMS_CHTML-full,Safe"

# nbconvert's MathJax settings, as the object MathJax 2 reads when it starts: the lab template's
# text/x-mathjax-config block would need the policy to allow eval (MathJax runs such blocks through it).
MATHJAX_CONFIG = ("window.MathJax = {TeX: {equationNumbers: {autoNumber: 'AMS', useLabelIds: true}}, "
                  "tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], "
                  "['\\\\[', '\\\\]']], processEscapes: true, processEnvironments: true}, displayAlign: 'center', "
                  "messageStyle: 'none', CommonHTML: {linebreaks: {automatic: true}}};")

# Scripts: MathJax's folder and this one inline script (by its hash), nothing else; MathJax writes <style> elements
# and style attributes, so inline styles stay allowed (CSS cannot run script; images and fonts stay limited).
_CONFIG_HASH = base64.b64encode(hashlib.sha256(MATHJAX_CONFIG.encode()).digest()).decode()
CSP = "; ".join([
    "default-src 'none'",
    f"script-src {MATHJAX_FOLDER} 'sha256-{_CONFIG_HASH}'",
    "style-src 'unsafe-inline'",
    f"font-src {MATHJAX_FOLDER}",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-src 'none'",
    "object-src 'none'",
])

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "details",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr",
})
# Elements dropped with everything inside them (stripping only their tags would show a script's or a style sheet's
# text on the page). Anything else not allowed loses its tags and keeps its text.
DROPPED_WITH_CONTENT = ("script", "style", "template", "noscript", "iframe", "frame", "frameset", "object",
                        "embed", "applet", "noembed", "noframes", "title", "textarea", "select", "svg", "math",
                        "head")
_DROPPED_START = re.compile(rf"<\s*({'|'.join(DROPPED_WITH_CONTENT)})\b", re.IGNORECASE)
_EVERYWHERE = {"class", "title", "style", "lang", "dir"}
_PER_TAG = {
    "a": {"href"}, "img": {"src", "alt", "width", "height"}, "abbr": set(), "details": {"open"},
    "ol": {"start", "type", "reversed"}, "li": {"value"}, "table": {"border"}, "col": {"span", "width"},
    "colgroup": {"span", "width"}, "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"}, "tr": {"align", "valign"},
    **{f"h{k}": {"id"} for k in range(1, 7)},  # nbconvert's heading anchors, for links to #sections
}
_LINK = re.compile(r"(https?://|mailto:|#)", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*\Z", re.IGNORECASE)
# bleach's CSS allow-list less `cursor`, the one property in it that can load a URL (cursor: url(...))
_CSS = CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES - {"cursor"})


# The page's own style sheets (JupyterLab's, MathJax's) position elements (fixed, absolute) under classes and ids
# with these prefixes: a student's element wearing one could lay a fake score over the page's header.
_PAGE_PREFIXES = ("jp-", "lm-", "p-", "cm-", "codemirror", "mathjax", "mjx", "root__")


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    """bleach's attribute filter: the name must be allowed for the tag; links and image sources are checked here
    on their raw value (bleach checks their scheme once more after decoding entities)."""
    if name in ("class", "id") and any(word.lower().startswith(_PAGE_PREFIXES) for word in value.split()):
        return False
    if name in _EVERYWHERE:
        return True
    if name not in _PER_TAG.get(tag, ()):
        return False
    if (tag, name) == ("a", "href"):
        return bool(_LINK.match(value.strip()))
    if (tag, name) == ("img", "src"):
        return bool(_DATA_IMAGE.match(value.strip()))
    return True


def _image_attribute_allowed(tag: str, name: str, value: str) -> bool:
    """The template's png/jpeg output: its <div class="jp-..."> wrapper, and an <img> whose source must be a data:
    URI (the template takes it from output metadata when `filenames` is set) with its size and classes."""
    if tag == "img":
        return name in ("alt", "width", "height", "class") or (name == "src" and bool(_DATA_IMAGE.match(value)))
    return name == "class"


# html5lib's tree building is quadratic in nesting depth (bleach: 17 s for 50 kB of <ul><li> nested 6,250 deep),
# and a markdown cell has no size limit; the deepest HTML in the course's lessons and labs nests 5 levels.
MAX_DEPTH = 100
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})


class _Depth(HTMLParser):
    """How deep elements nest (an unclosed tag counts as open to the end)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.depth = self.deepest = 0

    def handle_starttag(self, tag, attrs):
        if tag not in _VOID:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag):
        if tag not in _VOID:
            self.depth = max(0, self.depth - 1)


def _too_deep(html: str) -> bool:
    if html.count("<") <= MAX_DEPTH:  # most cells: too few tags to nest that deep
        return False
    parser = _Depth()
    parser.feed(html)
    return parser.deepest > MAX_DEPTH


_PER_THREAD = threading.local()


def _cleaners() -> tuple[bleach.Cleaner, bleach.Cleaner]:
    """This thread's (text, image) cleaners. grade_all renders feedback pages on several threads, and a bleach
    Cleaner is not thread-safe (its html5lib parser keeps state while it works): shared, one student's page came out
    with another's markup or failed to render (308 wrong pages and 26 errors in 1,280 on 8 threads)."""
    if not hasattr(_PER_THREAD, "cleaners"):
        _PER_THREAD.cleaners = (
            bleach.Cleaner(tags=ALLOWED_TAGS, attributes=_attribute_allowed,
                           protocols={"http", "https", "mailto", "data"}, strip=True, strip_comments=True,
                           css_sanitizer=_CSS),
            bleach.Cleaner(tags={"div", "img"}, attributes=_image_attribute_allowed, protocols={"data"}, strip=True))
    return _PER_THREAD.cleaners


def sanitize(html: str) -> str:
    """HTML a student wrote or printed, with nothing left that runs script, loads anything or navigates by itself.

    Security is bleach's allow-list (`ALLOWED_TAGS`, `_attribute_allowed`) on the browser-grade html5lib parse.
    The BeautifulSoup pass before it only drops `DROPPED_WITH_CONTENT` elements whole, so that a script's or a style
    sheet's text does not show (and runs only where one of their tags appears: most cells have none); whatever it
    misses, bleach still strips."""
    if not html:
        return ""
    if _too_deep(html):
        return f"<p>[HTML nested more than {MAX_DEPTH} levels deep: shown as text]</p><pre>{escape(html)}</pre>"
    if _DROPPED_START.search(html):
        soup = BeautifulSoup(html, "html.parser")
        for element in soup.find_all(DROPPED_WITH_CONTENT):
            element.decompose()
        html = str(soup)
    return _cleaners()[0].clean(html)


def sanitize_image(html: str) -> str:
    """The template's HTML for a png or jpeg output (student metadata sets its size, which the template writes
    unquoted, and may set its source)."""
    return _cleaners()[1].clean(html)


def _plain_outputs(nb: nbformat.NotebookNode) -> None:
    """Each output's data as the template expects it: text as one string (a raw display message may send a list of
    lines, or a dict, where nbconvert's filters need a string), and no `filenames` metadata (nbconvert's own, for
    extracted images: a kernel's would put its value in an <img> source), in place."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if isinstance(output.get("metadata"), dict):
                output["metadata"].pop("filenames", None)
            data = output.get("data")
            if not isinstance(data, dict):
                continue
            for mime, value in list(data.items()):
                if isinstance(value, list) and all(isinstance(line, str) for line in value):
                    data[mime] = "".join(value)
                elif not isinstance(value, str) and not mime.endswith("json"):
                    del data[mime]


def render(nb: nbformat.NotebookNode) -> str:
    """The feedback page of an executed notebook (the student's, with our header cell first; its outputs' data is
    made plain text in place)."""
    from nbconvert import HTMLExporter

    _plain_outputs(nb)
    exporter = HTMLExporter(template_file=str(TEMPLATE), mathjax_url=MATHJAX_URL)
    exporter.register_filter("sanitize_feedback", sanitize)
    exporter.register_filter("sanitize_feedback_image", sanitize_image)
    body, _ = exporter.from_notebook_node(nb, resources={"feedback_csp": CSP, "feedback_mathjax": MATHJAX_CONFIG})
    return body
