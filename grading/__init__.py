"""Instructors' tooling: grade a class's lab submissions safely, and prove every lab gradable.

    labsource    a lab's nbgrader source: notebooks, graded cells, points, wrong answers, the nbgrader markers
    submissions  finding and reading what each student handed in (no student code runs here)
    sandbox      bubblewrap around a student's kernel: namespaces, clean environment, cgroup limits, scratch dirs
    demote       as root: each sandbox, or each kernel without one (the course hidden from it), an unprivileged uid
    execute      the trusted side of a sandboxed kernel: cells sent one at a time, outputs collected with limits
    harness      the notebook to run (built from the lab source), the trusted preamble (audit hooks that run each
                 hidden test and sign its evidence), a static scan for tampering, feedback scrubbed of hidden tests
    worker       nbgrader's generate_assignment (release) in its own process
    grade        one student and a whole class: GradingOptions, Result, interpret, grades.csv, feedback
    spreadsheet  CSV cells no spreadsheet runs as a formula (grades.csv holds names students chose)
    feedback     the feedback page: the executed notebook as HTML in which nothing of the student's runs
    validity     the proof for tests/test_labs.py: release, leaks, solution/stub/wrong answers graded
    cli          `python -m grading` (`make grade LAB=...`)

Depends on the course API (`utils`), never the reverse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# What `from grading import X` gives, imported when first asked for (PEP 562): a process that needs one module (the
# harness's test drivers, the release worker) does not import torch, jupyter_client and nbconvert through
# grading.grade (about 4 s of the 7 s `import grading.harness` took).
_EXPORTS = {
    "GradingOptions": "grading.grade", "Result": "grading.grade", "grade_all": "grading.grade",
    "grade_student": "grading.grade", "interpret": "grading.grade", "make_course": "grading.grade",
    "LABS": "grading.labsource", "SOLUTIONS": "grading.labsource", "LabSource": "grading.labsource",
    "list_labs": "grading.labsource", "load_lab": "grading.labsource", "load_wrong_answers": "grading.labsource",
    "Submission": "grading.submissions", "find_submissions": "grading.submissions",
    "LabCheck": "grading.validity", "check_lab": "grading.validity", "release_labs": "grading.validity",
    "student_versions": "grading.validity",
}
__all__ = ["LABS", "SOLUTIONS", "GradingOptions", "LabCheck", "LabSource", "Result", "Submission", "check_lab",
           "find_submissions", "grade_all", "grade_student", "interpret", "list_labs", "load_lab",
           "load_wrong_answers", "make_course", "release_labs", "student_versions"]

if TYPE_CHECKING:
    from grading.grade import GradingOptions, Result, grade_all, grade_student, interpret, make_course
    from grading.labsource import LABS, SOLUTIONS, LabSource, list_labs, load_lab, load_wrong_answers
    from grading.submissions import Submission, find_submissions
    from grading.validity import LabCheck, check_lab, release_labs, student_versions


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'grading' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
