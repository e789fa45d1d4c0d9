"""Every lab is provably gradable (issue 7): in a throwaway course directory with its own gradebook,

- labs/<lab> equals a fresh `nbgrader generate_assignment` of solutions/<lab> (checksums aside);
- no hidden-test line and no solution line appears anywhere in labs/;
- nbgrader's autograde gives the solution full marks, the released stub 0 on every graded cell, and every
  plausible-but-wrong answer of wrong_answers.py strictly between.

One lab: `pytest tests/test_labs.py -k lab03`. All students of a lab are graded by parallel processes
(COURSE_GRADING_WORKERS, default: the number of CPU cores, at most 4); the first test of a lab pays for them.
"""

from __future__ import annotations

import os

import pytest

from grading import LABS, check_lab, list_labs, load_lab, load_wrong_answers

LAB_NAMES = list_labs()
WORKERS = int(os.environ.get("COURSE_GRADING_WORKERS", min(4, os.cpu_count() or 1)))
_checks: dict = {}


def _check(lab: str):
    if lab not in _checks:
        _checks[lab] = check_lab(lab, workers=WORKERS)
        print(f"\n{lab}: validity check {_checks[lab].seconds:.0f} s "
              f"({', '.join(f'{s} {r.seconds:.0f} s' for s, r in _checks[lab].results.items())})")
    return _checks[lab]


def test_there_are_labs():
    assert "lab00_setup" in LAB_NAMES


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_lab_metadata(lab):
    """Unique grade_ids, points on every test cell, at least two wrong answers, each naming solution cells."""
    source = load_lab(lab)
    for stem, nb in source.notebooks.items():
        ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
        assert len(ids) == len(set(ids)), f"{stem}: duplicated grade_id"
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            assert meta.get("schema_version") == 3, f"{stem}:{meta.get('grade_id')}: schema_version 3"
            if meta.get("grade"):
                assert meta.get("points", 0) > 0 and meta.get("locked"), f"{meta['grade_id']}: points, locked"
            if cell.cell_type == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, \
                    f"{stem}: commit lab sources without outputs"
    wrong = load_wrong_answers(source)
    assert len(wrong) >= 2, "at least two plausible-but-wrong answers"
    assert len({e.name for e in wrong}) == len(wrong), "each wrong answer has its own name"
    solution_ids = {c.metadata["nbgrader"]["grade_id"] for nb in source.notebooks.values() for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("solution")}
    for e in wrong:
        assert e.replace and set(e.replace) <= solution_ids, f"'{e.name}' replaces {sorted(e.replace)}"
    assert (LABS / lab).is_dir(), "run `make release` and commit labs/"


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_release_is_fresh(lab):
    assert _check(lab).release_problems == []


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_no_hidden_test_or_solution_line_in_labs(lab):
    assert _check(lab).leaks == []


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_solution_gets_full_marks(lab):
    r = _check(lab).results["solution"]
    assert r.status == "ok" and r.score == r.max_score > 0, f"{r.score}/{r.max_score} {r.cells} {r.notes}"


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_released_stub_gets_zero_on_every_cell(lab):
    r = _check(lab).results["stub"]
    assert r.status == "ok", r.notes
    assert all(points == 0 for points in r.cells.values()), r.cells


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_wrong_answers_get_partial_marks(lab):
    check = _check(lab)
    for student, name in check.wrong_names.items():
        r = check.results[student]
        assert r.status == "ok", f"{name}: {r.notes}"
        assert 0 < r.score < r.max_score, f"wrong answer '{name}': {r.score}/{r.max_score} {r.cells}"


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_every_graded_cell_can_fail(lab):
    """Each graded cell is failed (scores below its points) by at least one wrong answer: a test that no plausible
    mistake fails measures nothing (issue 15)."""
    check = _check(lab)
    wrong = [check.results[student] for student in check.wrong_names]
    never_failed = [check.lab.column(key) for key, points in check.lab.points.items()
                    if not any(r.cells.get(key, 0.0) < points for r in wrong)]
    assert never_failed == [], f"graded cells no wrong answer fails: {never_failed}"
