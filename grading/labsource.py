"""A lab's nbgrader source in solutions/: its notebooks, graded cells and points, its wrong answers, and the
markers it uses. Every other part of the grader reads a lab through `load_lab`; the markers are defined here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from utils import ROOT

SOLUTIONS = ROOT / "solutions"
LABS = ROOT / "labs"
COURSE_CONFIG = ROOT / "nbgrader_config.py"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# Inside a hidden test: what computes the expected values. It runs only in the reference kernel (the lab's own
# solution, graded once per batch), never in a student's: see `grading.expect`.
REFERENCE_BEGIN, REFERENCE_END = "### BEGIN REFERENCE", "### END REFERENCE"
WRONG_ANSWERS = "wrong_answers.py"
# Never copied into a release: the wrong answers and the jupytext .py pair of the lab source (it holds solutions).
NEVER_RELEASED = ("*.py",)


@dataclass
class LabSource:
    """What the grader needs to know about one lab's nbgrader source in solutions/."""

    name: str
    path: Path
    notebooks: dict[str, nbformat.NotebookNode]  # notebook stem -> source notebook
    points: dict[str, float] = field(default_factory=dict)  # "<nb>:<grade_id>" -> max points, in notebook order

    @property
    def max_score(self) -> float:
        return sum(self.points.values())

    def column(self, key: str) -> str:
        """CSV column of a graded cell: its grade_id, prefixed by the notebook when the lab has several."""
        return key if len(self.notebooks) > 1 else key.split(":", 1)[1]


def load_lab(lab: str, solutions: Path = SOLUTIONS) -> LabSource:
    path = solutions / lab
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in sorted(path.glob("*.ipynb"))}
    if not notebooks:
        raise FileNotFoundError(f"no lab '{lab}': {path} has no notebook (labs: {', '.join(list_labs(solutions))})")
    source = LabSource(lab, path, notebooks)
    for stem, nb in notebooks.items():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                source.points[f"{stem}:{meta['grade_id']}"] = float(meta.get("points", 0))
    return source


def list_labs(solutions: Path = SOLUTIONS) -> list[str]:
    return sorted(p.parent.name for p in solutions.glob("*/*.ipynb") if p.parent.name.startswith("lab"))




def strip_region(source: str, begin: str, end: str) -> str:
    """`source` without the lines from the one containing `begin` to the one containing `end` (inclusive)."""
    kept, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def strip_hidden_tests(source: str) -> str:
    """A test cell as released: without the lines from `### BEGIN HIDDEN TESTS` to `### END HIDDEN TESTS`."""
    return strip_region(source, HIDDEN_BEGIN, HIDDEN_END)


def strip_reference(source: str) -> str:
    """A test cell as a student's kernel runs it: without its `### BEGIN REFERENCE` ... `### END REFERENCE` blocks."""
    return strip_region(source, REFERENCE_BEGIN, REFERENCE_END)


def solution_source(source: str) -> str:
    """A solution cell as a student would hand it in: the solution without the nbgrader markers."""
    return "\n".join(line for line in source.splitlines() if SOLUTION_BEGIN not in line and SOLUTION_END not in line)


@dataclass
class WrongAnswer:
    """A plausible-but-wrong answer: `replace` maps solution cells (grade_id) to the wrong cell's whole source."""

    name: str
    replace: dict[str, str]


_WRONG_HEADER = re.compile(r"^# %% \[(?P<cell>[A-Za-z0-9_-]+)\] (?P<name>.+)$")


def parse_wrong_answers(text: str) -> list[WrongAnswer]:
    """Read a `wrong_answers.py`: each line `# %% [<grade_id>] <name>` starts a cell that replaces solution cell
    <grade_id> in wrong answer <name> (two headers with one name make a two-cell wrong answer). Text before the
    first header is the file's preamble (docstring, ruff settings)."""
    answers: dict[str, WrongAnswer] = {}
    cell, lines = None, []

    def close() -> None:
        if cell is not None:
            answers.setdefault(cell[1], WrongAnswer(cell[1], {})).replace[cell[0]] = "\n".join(lines).strip("\n")

    for line in text.splitlines():
        match = _WRONG_HEADER.match(line)
        if match:
            close()
            cell, lines = (match["cell"], match["name"].strip()), []
        elif line.startswith("# %%"):
            raise ValueError(f"not a wrong-answer header (want '# %% [grade_id] name'): {line!r}")
        else:
            lines.append(line)
    close()
    return list(answers.values())


def load_wrong_answers(lab: LabSource) -> list[WrongAnswer]:
    path = lab.path / WRONG_ANSWERS
    return parse_wrong_answers(path.read_text(encoding="utf-8")) if path.is_file() else []
