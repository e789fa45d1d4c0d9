"""`python -m grading` (or `make grade LAB=...`): autograde every submission of one lab.

    python -m grading --lab lab00_setup --submissions submitted                 # nbgrader's layout
    python -m grading --lab lab00_setup --submissions ~/Downloads/lab00_export  # loose <student>.ipynb files

Submissions come in nbgrader's layout (`DIR/<student>/<lab>/<notebook>.ipynb`) or as a folder of loose
`<student>.ipynb` files. Every student is graded by its own process (`grading.worker`) in its own temporary
course directory holding only that student's notebook and a copy of a freshly generated gradebook, under a memory
limit (RLIMIT_AS), a per-cell time limit (nbgrader's `Execute.timeout`) and a wall-clock limit for the whole notebook.
A broken submission (syntax error, infinite loop, kernel crash, edited or deleted test cells, duplicated grade_ids,
huge outputs, wrong name, wrong encoding, nothing at all) gets a score (possibly 0) and a status line; it never
stops the batch or touches another student's grade.

Results, in `--out` (default `grading/`):
    grades.csv                                 one row per (student, lab): score, max_score, points per graded cell,
                                               status, notes; re-running replaces rows, never duplicates them
    feedback/<student>/<lab>/<notebook>.html   nbgrader feedback, hidden tests removed
    feedback/<student>/<lab>/grading_notes.html   score, status and what the grader noticed (every student)
    autograded/<student>/<lab>/<notebook>.ipynb
    logs/<lab>/<student>.log                   nbgrader's log for that student
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from grading.grade import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MEMORY_GB,
    GradingOptions,
    fmt,
    grade_all,
    write_grades,
    write_notes,
)
from grading.labsource import load_lab
from grading.submissions import find_submissions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grading",
        description="Autograde every submission of one lab with nbgrader, one sandboxed process per student; "
                    "writes grades.csv, feedback HTML (without hidden tests) and logs.")
    parser.add_argument("--lab", required=True, help="lab name, e.g. lab00_setup (a folder of solutions/)")
    parser.add_argument("--submissions", default="submitted", type=Path,
                        help="nbgrader layout DIR/<student>/<lab>/*.ipynb, or a folder of <student>.ipynb "
                             "(default: submitted)")
    parser.add_argument("--out", default="grading", type=Path,
                        help="where grades.csv, feedback/, autograded/ and logs/ go (default: grading)")
    parser.add_argument("--students", nargs="*", help="grade only these students")
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)),
                        help="students graded at the same time (default: half the CPU cores, at most 4)")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                        help=f"wall-clock seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--memory-gb", type=float, default=DEFAULT_MEMORY_GB,
                        help=f"address-space limit of each student's grading process and kernel "
                             f"(default {DEFAULT_MEMORY_GB:g}; 0 = none)")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    args = parser.parse_args(argv)

    lab = load_lab(args.lab)
    subs = find_submissions(args.submissions, args.lab)
    if args.students:
        subs = [s for s in subs if s.student in set(args.students)]
    if not subs:
        print(f"no submissions for {args.lab} in {args.submissions}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / ".gitignore").exists():  # never replace one that is there (e.g. --out .)
        (out / ".gitignore").write_text("# grades and student work never go into git\n*\n")
    start = time.monotonic()
    options = GradingOptions(cell_timeout=args.cell_timeout, memory_gb=args.memory_gb or None,
                             feedback=not args.no_feedback)
    results = grade_all(lab, subs, out, workers=args.workers, options=options)
    write_grades(out / "grades.csv", lab, results)
    for r in results:
        write_notes(out / "feedback" / r.student / lab.name / "grading_notes.html", r)
    width = max(len(r.student) for r in results)
    for r in results:
        print(f"{r.student:<{width}}  {fmt(r.score):>5}/{fmt(r.max_score):<5} {r.status:<10} {'; '.join(r.notes)}")
    times = sorted(r.seconds for r in results)
    print(f"{len(results)} students in {time.monotonic() - start:.0f} s (median {times[len(times) // 2]:.0f} s per "
          f"student, {args.workers} at a time)")
    print(f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}")
    return 0



