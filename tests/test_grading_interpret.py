"""`grading.grade.interpret`: one run of a student's notebook → status, points per cell, notes. Pure, so tested
here without running a notebook (tests/test_grading.py and tests/test_grading_attacks.py run real submissions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.grade import SHIPPED_EXPECTATIONS, GradingOptions, interpret, lab_data_files, notebook_budget
from grading.harness import Planned
from grading.labsource import LabSource

LAB = LabSource("lab99", Path("."), {"lab99": None}, {"lab99:t1": 2.0, "lab99:t2": 3.0})
OPTIONS = GradingOptions(cell_timeout=30, memory_gb=4.0)


def _test(status="ok", verdict="ok", **kw):
    return dict(kind="test", status=status, verdict=verdict, ename=kw.pop("ename", ""), truncated=False, **kw)


def _run(cells, kernel="ok", flags=()):
    return {"kernel": kernel, "error": "", "cells": cells, "flags": list(flags)}


def test_full_marks():
    status, cells, notes = interpret(LAB, _run({"lab99:t1": _test(), "lab99:t2": _test()}), OPTIONS)
    assert (status, cells, notes) == ("ok", {"lab99:t1": 2.0, "lab99:t2": 3.0}, [])


def test_failed_tests_are_named_and_solution_errors_noted():
    run = _run({"lab99:answer": dict(kind="solution", status="error", ename="NameError", truncated=False),
                "lab99:t1": _test(),
                "lab99:t2": dict(_test("error", "missing", ename="AssertionError"), truncated=True)})
    status, cells, notes = interpret(LAB, run, OPTIONS)
    assert status == "ok" and cells == {"lab99:t1": 2.0, "lab99:t2": 0.0}
    assert notes == ["cell answer raised NameError", "output of cell t2 truncated", "tests failed: t2"]


def test_cells_outside_the_lab_never_add_points():
    run = _run({"lab99:t1": _test(), "lab99:t2": _test(), "lab99:bonus": _test()})
    assert sum(interpret(LAB, run, OPTIONS)[1].values()) == 5.0


def test_a_test_without_evidence_scores_zero_and_is_tampering():
    """Status ok but no token printed: something skipped the end of the test (a cell transformer, say)."""
    status, cells, notes = interpret(LAB, _run({"lab99:t1": _test(verdict="missing"), "lab99:t2": _test()}), OPTIONS)
    assert status == "tampering" and cells["lab99:t1"] == 0 and cells["lab99:t2"] == 3.0
    assert "without running to its end" in notes[0]


def test_tampered_machinery_scores_zero():
    run = _run({"lab99:t1": _test(verdict="tampered", tamper="torch.allclose"), "lab99:t2": _test()})
    status, cells, notes = interpret(LAB, run, OPTIONS)
    assert status == "tampering" and cells["lab99:t1"] == 0 and "torch.allclose" in notes[0]


def test_tampering_around_a_test_that_then_failed_is_still_reported():
    """A student function that read the test's frame makes the test fail (its answer is wrong anyway): the signed
    verdict says tampered, and the instructor sees it."""
    run = _run({"lab99:t1": _test(status="error", verdict="tampered", tamper="student code took a stack frame"),
                "lab99:t2": _test(status="error", verdict="fail")})
    status, cells, notes = interpret(LAB, run, OPTIONS)
    assert status == "tampering" and sum(cells.values()) == 0 and "stack frame" in notes[0]
    assert not any("lab99:t2" in n or "t2: " in n for n in notes[:-1])  # an honest failure is only a failed test


def test_a_failed_verdict_never_scores_even_with_status_ok():
    status, cells, notes = interpret(LAB, _run({"lab99:t1": _test(verdict="fail"), "lab99:t2": _test()}), OPTIONS)
    assert cells["lab99:t1"] == 0 and status == "tampering" and "without running to its end" in notes[0]


def test_static_flags_change_the_status_not_the_score():
    run = _run({"lab99:t1": _test(), "lab99:t2": _test()}, flags=["imports sqlite3"])
    status, cells, notes = interpret(LAB, run, OPTIONS)
    assert status == "tampering" and sum(cells.values()) == 5.0 and "imports sqlite3" in notes[0]


@pytest.mark.parametrize("cell_status, kernel, status, fragment", [
    ("timeout", "ok", "timeout", "exceeded the 30 s time limit (interrupted)"),
    ("hung", "hung", "timeout", "ignored the interrupt"),
    ("died", "died", "crashed", "the kernel died in cell answer"),
    ("died", "memory", "memory", "memory limit of 4 GB exceeded in cell answer"),
])
def test_failures_keep_earlier_points_and_say_what_happened(cell_status, kernel, status, fragment):
    run = _run({"lab99:t1": _test(), "lab99:answer": dict(kind="solution", status=cell_status, ename="",
                                                          truncated=False),
                "lab99:t2": _test("not_run", None)}, kernel=kernel)
    got_status, cells, notes = interpret(LAB, run, OPTIONS)
    assert got_status == status and cells == {"lab99:t1": 2.0, "lab99:t2": 0.0} and fragment in notes[0]


def test_a_notebook_past_its_budget_keeps_earlier_points_and_says_so():
    run = dict(_run({"lab99:t1": _test(), "lab99:extra0": dict(kind="extra", status="ok", ename="", truncated=False),
                     "lab99:t2": _test("not_run", None)}), out_of_time=330)
    status, cells, notes = interpret(LAB, run, OPTIONS)
    assert status == "timeout" and cells == {"lab99:t1": 2.0, "lab99:t2": 0.0}
    assert "ran past its 330 s budget" in notes[0]


def test_cells_a_student_adds_do_not_raise_the_notebooks_budget():
    """Else added cells that each sleep just under the cell limit would hold a worker for days: the budget counts
    the lab's cells only."""
    lab = [Planned(kind, f"lab99:{kind}{i}", "x = 1", "x = 1") for i, kind in enumerate(["locked", "solution", "test"])]
    added = [Planned("extra", f"lab99:extra{i}", "pass", "pass") for i in range(100_000)]
    notes = [Planned("markdown", "lab99:intro", "# hi", "# hi", "markdown")]
    assert notebook_budget(lab + added + notes, 30) == notebook_budget(lab, 30) == 30 * (3 + 2) + 120


def test_a_kernel_gets_the_labs_data_but_never_the_expected_values(tmp_path):
    """A Gradescope autograder keeps the hidden tests' expected values beside the lab source: never copied to
    where the student's code runs."""
    for name in ("lab99.ipynb", "lab99.py", "wrong_answers.py", SHIPPED_EXPECTATIONS, "table.csv"):
        (tmp_path / name).write_text("x")
    lab = LabSource("lab99", tmp_path, {"lab99": None}, {})
    assert [p.name for p in lab_data_files(lab)] == ["table.csv"]


def test_a_keyboard_interrupt_raised_by_the_student_is_not_a_timeout():
    run = _run({"lab99:answer": dict(kind="solution", status="error", ename="KeyboardInterrupt", truncated=False),
                "lab99:t1": _test(), "lab99:t2": _test()})
    status, _, notes = interpret(LAB, run, OPTIONS)
    assert status == "ok" and notes == ["cell answer raised KeyboardInterrupt"]


def test_a_kernel_that_never_started_is_an_error():
    status, cells, notes = interpret(LAB, {"kernel": "start_failed", "error": "RuntimeError: boom", "cells": {},
                                           "flags": []}, OPTIONS)
    assert status == "error" and sum(cells.values()) == 0 and "boom" in notes[0]


def test_feedback_code_cells_render_as_nbconvert_lab_template_and_escape_code():
    """The feedback page drops only the lab template's second sanitising of pygments' output: a code cell's input
    is the same HTML as the lab template's, and a code cell that tries to close its tags stays text. (What the
    page does with markdown and outputs: tests/test_feedback_safety.py.)"""
    import nbformat
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    from grading.feedback import render

    code = nbformat.v4.new_code_cell("x = '</div><script>alert(1)</script>'\nprint(x)  # a comment <b>")
    code.outputs = [nbformat.v4.new_output("stream", text="</div>\n"),
                    nbformat.v4.new_output("display_data", data={"text/plain": "t", "text/html": "<b>bold</b>"})]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\n$x^2$ and `code`"), code])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    ours = render(nb)
    lab, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)

    def inputs(html: str) -> list[str]:
        return [str(e) for e in BeautifulSoup(html, "html.parser").select(".jp-CodeCell .jp-InputArea-editor")]

    assert inputs(ours) == inputs(lab) and len(inputs(ours)) == 1
    assert "<script>alert(1)" not in ours and "&lt;script&gt;alert(1)" in ours


def test_a_grader_error_keeps_its_traceback(tmp_path, monkeypatch):
    # A grader bug is the student's `error` row; its message alone ("AssertionError:") was all an instructor had.
    import grading.grade
    from grading.submissions import Submission

    def broken(sub, lab):
        assert 1 + 1 == 3

    monkeypatch.setattr(grading.grade, "pick_files", broken)
    result = grading.grade.grade_student(LAB, Submission("ana", []), tmp_path, GradingOptions())
    assert result.status == "error" and result.score == 0
    trace = tmp_path / "logs" / "lab99" / "ana.grader-error.txt"
    assert "assert 1 + 1 == 3" in trace.read_text() and "ana.grader-error.txt" in result.notes[-1]


def test_a_class_graded_as_another_uid_keeps_it_and_starts_no_zygote(monkeypatch):
    """grade_all hands every student the options it was given (run_as included: it rebuilt them without it), and
    grades as another uid with fresh kernels only (a kernel forked from the zygote would keep the zygote's uid)."""
    import grading.grade
    from grading.submissions import Submission

    seen = []

    def grade(lab, sub, out, options):
        seen.append(options)
        return grading.grade.Result(sub.student, lab.name, 0.0, 5.0, {}, "missing", [])

    def no_zygote(*args):
        raise AssertionError("no zygote for a class graded as another uid")

    monkeypatch.setattr(grading.grade, "grade_student", grade)
    monkeypatch.setattr(grading.grade, "for_class", no_zygote)
    options = GradingOptions(cell_timeout=45, sandbox=False, run_as=65534, feedback=False)
    grading.grade.grade_all(LAB, [Submission("ana", []), Submission("bo", [])], None, 2, options, progress=False)
    assert [(o.run_as, o.zygote, o.cell_timeout, o.feedback) for o in seen] == [(65534, None, 45, False)] * 2
