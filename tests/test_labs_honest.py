"""Correct but unusual answers keep full marks (issue 15): each `tests/honest_answers/<lab>.py` holds alternative
solutions in the format of a lab's wrong_answers.py (`# %% [<grade_id>] <name>` starts a cell replacing that
solution cell), written the way an honest student might (einsum instead of matmul, a loop instead of vectorised
code, float64 inside, a class passed as a default argument). Each is graded by grading.grade, the harness that
grades a class, and must score every point. Slow: one kernel per answer.

One lab: `pytest tests/test_labs_honest.py -k lab07`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from grading import GradingOptions, Submission, grade_student, load_lab, release_labs
from grading.labsource import parse_wrong_answers, solution_source
from grading.sandbox import sandbox_problem

HONEST = Path(__file__).parent / "honest_answers"
LAB_FILES = sorted(HONEST.glob("lab*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", LAB_FILES, ids=[p.stem for p in LAB_FILES])
def test_honest_answers_get_full_marks(path: Path):
    lab = load_lab(path.stem)
    answers = parse_wrong_answers(path.read_text(encoding="utf-8"))
    solution = {c.metadata["nbgrader"]["grade_id"]: solution_source(c.source) for nb in lab.notebooks.values()
                for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    assert answers and all(set(a.replace) <= set(solution) for a in answers), "each answer names solution cells"
    with tempfile.TemporaryDirectory(prefix=f"honest-{lab.name}-") as tmp:
        released = release_labs([lab.name], Path(tmp) / "course") / lab.name
        options = GradingOptions(threads=1, feedback=False, sandbox=sandbox_problem() is None)
        failures = []
        for k, answer in enumerate(answers):
            folder = Path(tmp) / "submitted" / f"honest{k}" / lab.name
            folder.mkdir(parents=True)
            for stem in lab.notebooks:
                nb = nbformat.read(released / f"{stem}.ipynb", as_version=4)
                nb = nbformat.from_dict(json.loads(json.dumps(nb)))
                for cell in nb.cells:
                    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                    if gid in solution:
                        cell.source = answer.replace.get(gid, solution[gid])
                nbformat.write(nb, folder / f"{stem}.ipynb")
            r = grade_student(lab, Submission(f"honest{k}", sorted(folder.glob("*.ipynb"))), None, options)
            if not (r.status == "ok" and r.score == r.max_score):
                failures.append(f"'{answer.name}': {r.score}/{r.max_score} {r.status} "
                                f"{ {key: v for key, v in r.cells.items() if v < lab.points[key]} } {r.notes[:2]}")
    assert failures == [], "\n".join(failures)


def test_honest_answers_name_labs():
    names = {p.name for p in (Path(__file__).parents[1] / "solutions").iterdir() if p.name.startswith("lab")}
    assert LAB_FILES and all(p.stem in names for p in LAB_FILES)
    assert os.path.isdir(HONEST)
