"""`python -m grading` (or `make grade LAB=...`): grade every submission of one lab.

    python -m grading --lab lab00_setup --submissions submitted                 # nbgrader's layout
    python -m grading --lab lab00_setup --submissions ~/Downloads/lab00_export  # loose <student>.ipynb files

Submissions come in nbgrader's layout (`DIR/<student>/<lab>/<notebook>.ipynb`) or as a folder of loose
`<student>.ipynb` files; every folder and notebook is a student, whatever its name. Each student's code runs in its
own Jupyter kernel inside a bubblewrap sandbox (no network, no view of solutions/, grades or other students, a clean
environment, memory and process limits on its whole process tree, a time limit per cell and per notebook); the
notebook that runs is built from the lab source (only the student's answer cells come from the submission) and is
scored here, outside the sandbox, from the evidence each test cell prints (see grading.harness). Without bubblewrap
grading refuses to start unless you pass --unsafe-no-sandbox; then, as root, each kernel runs as an unprivileged uid
of its own, without network where it can be cut, and the checkout (but .venv, utils/, data/), the submissions and
the results are made unreadable to it for the batch (`without_sandbox`, grading.demote).

Results, in `--out` (default `grading/`), written as each student finishes (a killed batch keeps them; --resume
skips the students already graded):
    grades.csv                                 one row per (student, lab): score, max_score, points per graded cell,
                                               status, notes; re-running replaces rows, never duplicates them
    feedback/<student>/<lab>/<notebook>.html   the executed notebook with its points, hidden tests removed
    feedback/<student>/<lab>/grading_notes.html   score, status and what the grader noticed (every student)
    autograded/<student>/<lab>/<notebook>.ipynb   the executed notebook, hidden tests included (for you)
    logs/<lab>/<student>.log                   the kernel's own log for that student
    <lab>_canvas.csv, <lab>_moodle.csv         with --lms canvas|moodle --roster EXPORT.csv: the LMS's gradebook
                                               import, keyed by the roster's ids (grading.lms)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from grading import lms
from grading.demote import STUDENT_UIDS, course_secrets, hide, readable_to, restore, unprivileged_uid
from grading.grade import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MEMORY_GB,
    GradingOptions,
    SandboxUnavailable,
    fmt,
    grade_all,
    graded_students,
)
from grading.labsource import load_lab
from grading.sandbox import TreeLimits, limits_note, network_cut, sandbox_problem
from grading.submissions import find_submissions, ignored_entries, printable


def without_sandbox(private: list[Path]) -> tuple[range | None, dict[Path, int]]:
    """--unsafe-no-sandbox where bubblewrap cannot run: as root, each kernel runs as a uid of its own (`grading.demote`)
    that cannot read the checkout (but .venv, utils/, data/) or `private` (the submissions, the results) while the
    batch runs; else as this user. Says which, and why. Returns (GradingOptions.run_as, the modes to restore)."""
    problem = sandbox_problem()
    uid, why = unprivileged_uid(STUDENT_UIDS.start)
    if uid is None:
        print(f"--unsafe-no-sandbox ({problem}): student code runs as {'root' if os.geteuid() == 0 else 'you'} and "
              f"can read and change your files and reach the network ({why})."
              + (" For a uid of its own per student, make the virtualenv from a Python every account can run: "
                 "rm -rf .venv && make setup PYTHON=/usr/bin/python3.11" if os.geteuid() == 0 else ""),
              file=sys.stderr)
        return None, {}
    secrets = course_secrets(private)
    hidden = hide(secrets)
    still = readable_to(uid, secrets)
    print(f"--unsafe-no-sandbox ({problem}): each student's kernel runs as a uid of its own (from {uid}), "
          + ("without network" if network_cut() else "WITH network (no network namespace here)")
          + f"; {len(hidden)} entries of the course and your folders made unreadable to it for this batch "
            "(chmod o-rwx, put back at the end)"
          + (f"; STILL READABLE to student code: {', '.join(map(str, still))}" if still else ""), file=sys.stderr)
    return STUDENT_UIDS, hidden


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grading",
        description="Grade every submission of one lab, each student's code in its own sandboxed kernel; "
                    "writes grades.csv, feedback HTML (without hidden tests) and logs.")
    parser.add_argument("--lab", required=True, help="lab name, e.g. lab00_setup (a folder of solutions/)")
    parser.add_argument("--submissions", default="submitted", type=Path,
                        help="nbgrader layout DIR/<student>/<lab>/*.ipynb, or a folder of <student>.ipynb "
                             "(default: submitted)")
    parser.add_argument("--out", default="grading", type=Path,
                        help="where grades.csv, feedback/, autograded/ and logs/ go (default: grading)")
    parser.add_argument("--students", nargs="*", help="grade only these students")
    parser.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)),
                        help="students graded at the same time (default: the CPU cores, at most 8)")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                        help=f"wall-clock seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("--memory-gb", type=float, default=DEFAULT_MEMORY_GB,
                        help=f"memory of each student's whole process tree, GB (default {DEFAULT_MEMORY_GB:g}; "
                             "0 = none)")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    parser.add_argument("--resume", action="store_true",
                        help="skip students who already have a row for this lab in grades.csv (after a killed run)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="grade even where bubblewrap cannot run (where it can, it is still used). Student "
                             "code then runs as you, can read your files (solutions, grades) and reach the "
                             "network; as root, as an unprivileged uid of its own that cannot read the course, "
                             "where that uid can start the course's Python. Only for trusted notebooks.")
    lms.add_arguments(parser)
    args = parser.parse_args(argv)
    if bool(args.lms) != bool(args.roster):
        parser.error("--lms and --roster go together")
    if args.roster and not args.roster.is_file():
        parser.error(f"no roster {args.roster}: export the gradebook from the LMS first")  # before, not after, grading

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
    for name in ignored_entries(args.submissions):
        print(printable(f"ignored {args.submissions / name}: not a student folder or a notebook"), file=sys.stderr)
    if args.resume:
        done = graded_students(out / "grades.csv", args.lab)
        subs = [s for s in subs if s.student not in done]
        print(f"--resume: {len(done)} already graded, {len(subs)} to go")
        if not subs:
            return lms.run(args.lms, args.lab, out / "grades.csv", args.roster, args.assignment) if args.lms else 0
    probe = TreeLimits(f"course-grading-{os.getpid()}-probe", args.memory_gb or None)
    probe.remove()
    print(f"limits on each student's processes: {limits_note(probe)}", file=sys.stderr)
    start = time.monotonic()
    sandbox, run_as, hidden = True, None, {}
    if args.unsafe_no_sandbox and sandbox_problem():
        sandbox = False
        run_as, hidden = without_sandbox([args.submissions, out])
    elif args.unsafe_no_sandbox:
        print("--unsafe-no-sandbox: bubblewrap runs here, so student code is sandboxed all the same", file=sys.stderr)
    options = GradingOptions(cell_timeout=args.cell_timeout, memory_gb=args.memory_gb or None,
                             feedback=not args.no_feedback, sandbox=sandbox, run_as=run_as)
    try:
        results = grade_all(lab, subs, out, workers=args.workers, options=options)
    except SandboxUnavailable as err:
        print(f"refusing to grade: no sandbox for student code on this machine: {err}.\n"
              "Install bubblewrap, or pass --unsafe-no-sandbox to run student code as yourself, with access to "
              "your files and the network.", file=sys.stderr)
        return 2
    finally:
        restore(hidden)
    width = max(len(r.student) for r in results)
    for r in results:
        print(printable(f"{r.student:<{width}}  {fmt(r.score):>5}/{fmt(r.max_score):<5} {r.status:<10} "
                        f"{'; '.join(r.notes)}"))
    times = sorted(r.seconds for r in results)
    print(f"{len(results)} students in {time.monotonic() - start:.0f} s (median {times[len(times) // 2]:.0f} s per "
          f"student, {args.workers} at a time)")
    print(f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}")
    if args.lms:
        return lms.run(args.lms, args.lab, out / "grades.csv", args.roster, args.assignment)
    return 0
