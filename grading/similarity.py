"""`python -m grading.similarity --lab LAB --submissions DIR`: pairs of submissions whose answers are close.

For the instructor to read, never a penalty: two students who wrote the same three-line answer to a small question
may well have done so independently, and the course teaches one way to write most answers. The report ranks every
pair of submissions of one lab by how alike their answer code is, and flags the pairs at or above `--threshold`.

How alike: each student's answer cells (the lab's solution cells, found by `grade_id`; with the metadata stripped,
every code cell that is not one of the lab's own) lose the lines the released lab already gives (signatures,
docstrings, `# YOUR CODE HERE`), comments and blank lines; what is left is cut into Python tokens (`tokenize`), and
every name is replaced by its order of first appearance in that submission, so renaming variables or re-spacing
changes nothing. Two submissions' token sequences are compared with `difflib.SequenceMatcher` (the fraction of
tokens in matching runs, 0..1). Submissions with fewer than `--min-tokens` tokens of answer are listed but not
compared (an unanswered lab looks like every other one).

Writes `<out>/similarity_<lab>.csv` (every pair) and `<out>/similarity_<lab>.html` (the flagged pairs side by side).
"""

from __future__ import annotations

import argparse
import builtins
import csv
import html
import io
import itertools
import keyword
import sys
import tokenize
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from grading.labsource import SOLUTION_BEGIN, SOLUTION_END, LabSource, load_lab, strip_region
from grading.spreadsheet import as_spreadsheet_text
from grading.submissions import find_submissions, pick_files, read_notebook

DEFAULT_THRESHOLD = 0.9
DEFAULT_MIN_TOKENS = 30
STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "raise NotImplementedError"}
# Names that mean the same thing in every submission: keywords, builtins. Other names are numbered.
FIXED_NAMES = set(keyword.kwlist) | set(dir(builtins))


@dataclass
class Answer:
    student: str
    code: str  # the answer lines, as handed in (for the report)
    tokens: list[str]  # normalised


@dataclass
class Pair:
    a: str
    b: str
    similarity: float
    flagged: bool


def _lab_cells(lab: LabSource) -> tuple[set[str], set[str], set[str]]:
    """(solution cells' grade_ids, the lines the released lab gives in them, every other code cell's source)."""
    ids, given, fixed = set(), set(STUB_LINES), set()
    for nb in lab.notebooks.values():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code":
                continue
            if meta.get("solution"):
                ids.add(meta["grade_id"])
                released = strip_region(cell.source, SOLUTION_BEGIN, SOLUTION_END)
                given.update(line.strip() for line in released.splitlines() if line.strip())
            else:
                fixed.add(cell.source.strip())
    return ids, given, fixed


def answer_code(nb, lab: LabSource) -> str:
    """The lines a student wrote in their answer cells, without what the released lab gives and without comments."""
    ids, given, fixed = _lab_cells(lab)
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") in ids or (not meta and cell.source.strip() not in fixed):
            lines += [line for line in cell.source.splitlines()
                      if line.strip() and line.strip() not in given and not line.strip().startswith("#")]
    return "\n".join(lines)


def normalise(code: str) -> list[str]:
    """Python tokens of `code`, names numbered by first appearance, comments and layout dropped."""
    names: dict[str, str] = {}
    out = []
    try:
        tokens = [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(_dedent_lines(code)).readline)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = [(tokenize.NAME if w.isidentifier() else tokenize.OP, w) for w in code.split()]
    for kind, text in tokens:
        if kind in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                    tokenize.ENDMARKER) or not text.strip():
            continue
        if kind == tokenize.NAME and text not in FIXED_NAMES:
            text = names.setdefault(text, f"n{len(names)}")
        out.append(text)
    return out


def _dedent_lines(code: str) -> str:
    """Answer lines lose their enclosing `def` (the lab gives it), so tokenize them without their indentation."""
    return "\n".join(line.strip() for line in code.splitlines()) + "\n"


def read_answers(lab: LabSource, submissions: Path) -> tuple[list[Answer], list[str]]:
    """Every student's normalised answer; notes for submissions that could not be read."""
    answers, notes = [], []
    for sub in find_submissions(submissions, lab.name):
        files, _ = pick_files(sub, lab)
        code = []
        for stem in lab.notebooks:
            if stem in files:
                nb, why = read_notebook(files[stem])
                if nb is None:
                    notes.append(f"{sub.student}: {'; '.join(why)}")
                    continue
                code.append(answer_code(nb, lab))
        text = "\n".join(code)
        answers.append(Answer(sub.student, text, normalise(text)))
    return answers, notes


def compare(answers: list[Answer], threshold: float = DEFAULT_THRESHOLD,
            min_tokens: int = DEFAULT_MIN_TOKENS) -> list[Pair]:
    """Every pair of answers long enough to compare, most alike first."""
    long_enough = [a for a in answers if len(a.tokens) >= min_tokens]
    pairs = []
    for x, y in itertools.combinations(long_enough, 2):
        ratio = SequenceMatcher(None, x.tokens, y.tokens, autojunk=False).ratio()
        pairs.append(Pair(x.student, y.student, round(ratio, 3), ratio >= threshold))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def write_report(out: Path, lab: str, answers: list[Answer], pairs: list[Pair], min_tokens: int) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / f"similarity_{lab}.csv", out / f"similarity_{lab}.html"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student_a", "student_b", "similarity", "flagged"])
        writer.writerows([as_spreadsheet_text(p.a), as_spreadsheet_text(p.b), f"{p.similarity:.3f}",
                          "yes" if p.flagged else ""] for p in pairs)
    code = {a.student: a.code for a in answers}
    short = [a.student for a in answers if len(a.tokens) < min_tokens]
    flagged = [p for p in pairs if p.flagged]
    body = "".join(
        f"<h2>{html.escape(p.a)} ~ {html.escape(p.b)}: {p.similarity:.3f}</h2><table><tr>"
        f"<td><pre>{html.escape(code[p.a])}</pre></td><td><pre>{html.escape(code[p.b])}</pre></td></tr></table>"
        for p in flagged)
    html_path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>similarity: {html.escape(lab)}</title>"
        "<style>td{vertical-align:top;border:1px solid #ccc;padding:4px}pre{font-size:12px}</style>"
        f"<h1>{html.escape(lab)}: {len(flagged)} of {len(pairs)} pairs flagged</h1>"
        "<p>For review only, never a penalty: short or standard answers converge. Names are numbered and comments "
        "and given lines dropped before comparing; the code below is as handed in, without those lines.</p>"
        f"<p>Too little answer to compare: {html.escape(', '.join(short)) or 'none'}.</p>{body}\n",
        encoding="utf-8")
    return csv_path, html_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.similarity",
                                     description="Rank pairs of one lab's submissions by how alike their answer "
                                                 "code is, for the instructor to review (never a penalty).")
    parser.add_argument("--lab", required=True, help="lab name, e.g. lab04_attention")
    parser.add_argument("--submissions", default="submitted", type=Path,
                        help="as for python -m grading (default: submitted)")
    parser.add_argument("--out", default="grading", type=Path, help="where the report goes (default: grading)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"flag pairs at least this alike, 0..1 (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--min-tokens", type=int, default=DEFAULT_MIN_TOKENS,
                        help=f"compare only answers of at least this many tokens (default {DEFAULT_MIN_TOKENS})")
    args = parser.parse_args(argv)
    lab = load_lab(args.lab)
    answers, notes = read_answers(lab, args.submissions)
    for note in notes:
        print(note, file=sys.stderr)
    pairs = compare(answers, args.threshold, args.min_tokens)
    csv_path, html_path = write_report(args.out, args.lab, answers, pairs, args.min_tokens)
    for p in pairs:
        if p.flagged:
            print(f"{p.similarity:.3f}  {p.a} ~ {p.b}")
    print(f"{sum(p.flagged for p in pairs)} of {len(pairs)} pairs at or above {args.threshold}: {csv_path}, "
          f"{html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
