"""`grading.grade.interpret`: what the worker left behind → status, points per cell, notes. Pure, so tested here
without running a notebook (tests/test_grading.py runs real submissions end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.grade import GradingOptions, interpret
from grading.labsource import LabSource

LAB = LabSource("lab99", Path("."), {"lab99": None}, {"lab99:t1": 2.0, "lab99:t2": 3.0})
OPTIONS = GradingOptions(cell_timeout=30, memory_gb=4.0)


def _outcome(scores, errors=None, ok=True, error=""):
    return {"autograde_ok": ok, "error": error, "errors": errors or {},
            "cells": {f"lab99:{k}": {"score": v, "max_score": 0} for k, v in scores.items()}}


def test_full_marks():
    status, cells, notes = interpret(LAB, 0, _outcome({"t1": 2.0, "t2": 3.0}), OPTIONS, 100)
    assert (status, cells, notes) == ("ok", {"lab99:t1": 2.0, "lab99:t2": 3.0}, [])


def test_failed_tests_are_named_and_solution_errors_noted():
    errors = {"lab99:answer": {"ename": "NameError", "truncated": False},
              "lab99:t2": {"ename": "AssertionError", "truncated": True}}
    status, cells, notes = interpret(LAB, 0, _outcome({"t1": 2.0, "t2": 0.0}, errors), OPTIONS, 100)
    assert status == "ok" and cells["lab99:t2"] == 0.0
    assert notes == ["cell answer raised NameError", "output of cell t2 truncated", "tests failed: t2"]


def test_cells_outside_the_lab_never_add_points():
    status, cells, _ = interpret(LAB, 0, _outcome({"t1": 2.0, "t2": 3.0, "bonus": 900.0}), OPTIONS, 100)
    assert sum(cells.values()) == 5.0


@pytest.mark.parametrize("code, outcome, status, fragment", [
    (None, None, "timeout", "killed after 100 s"),
    (-9, None, "crashed", "grading process died (exit -9)"),
    (0, _outcome({}, ok=False, error="nbclient.exceptions.DeadKernelError: Kernel died"), "crashed", "kernel died"),
    (0, _outcome({}, ok=False, error="Traceback\nValueError: bad notebook\n"), "error", "ValueError: bad notebook"),
])
def test_failures_score_zero_with_a_reason(code, outcome, status, fragment):
    got_status, cells, notes = interpret(LAB, code, outcome, OPTIONS, 100)
    assert got_status == status and sum(cells.values()) == 0 and fragment in notes[0]


def test_a_cell_timeout_is_reported_as_such():
    errors = {"lab99:t1": {"ename": "CellTimeoutError", "truncated": False}}
    status, _, notes = interpret(LAB, 0, _outcome({"t1": 0.0, "t2": 3.0}, errors), OPTIONS, 100)
    assert status == "timeout" and "exceeded the 30 s time limit" in notes[0]
