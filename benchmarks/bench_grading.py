"""Figure 6: autograding — seconds per submission and for a class of 30, with the course's grader (grading).

A class of 30 is built from the lab's own versions (the solution, the released stub, every plausible-but-wrong answer
in solutions/<lab>/wrong_answers.py, in turn), in nbgrader's layout, and graded the way `make grade` does it
(`grading.grade_all`: each student's kernel forked from one process that imported the lab's libraries, each fork
its own sandbox inside the bubblewrap one — `grading.zygote`; the notebook built from the lab source, scored by the
grader from the signed evidence of each test; the CLI's default number of parallel workers, feedback HTML
included; nbgrader only releases the lab once). Where the time goes: the median of each student's phases (kernel
start with the grader's preamble, cells, executed notebook and feedback HTML) and the zygote's own start.
Then a few students of different kinds are graded again one at a time with a fresh kernel each (how a class was
graded before the zygote), with and without the sandbox, alternately: a fresh kernel's cost per student, and the
sandbox's.
Targets: ≤ 20 s per submission (issue 7); a class of 30 in ≤ 120 s on 2 cores (issue 18 item 7; issue 14 asks
≤ 10 min with the sandbox on).

    python benchmarks/bench_grading.py [--quick]     BENCH_LAB=lab04_attention picks another lab
    BENCH_GRADING_SANDBOX=0 python benchmarks/bench_grading.py    the class as --unsafe-no-sandbox grades it
    COURSE_GRADING_ZYGOTE=0 python benchmarks/bench_grading.py    the class with a fresh kernel per student
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import cli, median, row

FIGURE = "6 grading"
CLASS_SIZE = 30
PREFERRED_LAB = "lab07_lora"
FRESH_SAMPLE = 4  # students graded again with fresh kernels, with and without the sandbox


def pick_lab(quick: bool) -> str:
    from grading import list_labs

    labs = list_labs()
    if not labs:
        raise RuntimeError("no lab in solutions/")
    if os.environ.get("BENCH_LAB"):
        return os.environ["BENCH_LAB"]
    if quick:
        return labs[0]
    return PREFERRED_LAB if PREFERRED_LAB in labs else labs[-1]


def main(quick: bool) -> list[dict]:
    import nbformat

    from grading import (
        GradingOptions,
        Submission,
        grade_all,
        grade_student,
        load_lab,
        make_course,
        student_versions,
    )
    from grading.demote import sandboxed_uids
    from grading.zygote import enabled as zygote_enabled
    from grading.zygote import for_class

    name = pick_lab(quick)
    n_students = 1 if quick else CLASS_SIZE
    workers = max(1, min(8, os.cpu_count() or 1))  # the CLI's default (python -m grading)
    sandbox = os.environ.get("BENCH_GRADING_SANDBOX", "1") != "0"
    lab = load_lab(name)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        release_start = time.perf_counter()
        course = make_course(tmp / "release", lab)
        release_seconds = time.perf_counter() - release_start
        versions = student_versions(lab, course / "labs" / name)
        kinds = list(versions)
        subs, kind_of = [], {}
        for k in range(n_students):
            student, kind = f"student{k:02d}", kinds[k % len(kinds)]
            folder = tmp / "submitted" / student / name
            folder.mkdir(parents=True)
            for stem, nb in versions[kind].items():
                nbformat.write(nb, folder / f"{stem}.ipynb")
            subs.append(Submission(student, sorted(folder.glob("*.ipynb"))))
            kind_of[student] = kind
        start = time.perf_counter()  # the class as grade_all grades it, its zygote's start included
        # as root, each sandbox started as a uid of its own, as grade_all does (the probe: once per process)
        run_as = sandboxed_uids()[0] if sandbox and os.geteuid() == 0 else None
        zygote, how = for_class(lab, max(1, (os.cpu_count() or 1) // workers), sandbox, run_as) \
            if zygote_enabled() else (None, "a fresh kernel per student (COURSE_GRADING_ZYGOTE=0)")
        zygote_seconds = time.perf_counter() - start
        try:
            results = grade_all(lab, subs, tmp / "out", workers=workers,
                                options=GradingOptions(sandbox=sandbox, zygote=zygote, run_as=run_as),
                                progress=False)
        finally:
            if zygote is not None:
                zygote.close()
        class_seconds = time.perf_counter() - start
        paired: dict[bool, list[float]] = {True: [], False: []}
        if not quick:  # a few students, fresh kernels, with and without the sandbox, alternately (A B, B A, ...)
            for k, sub in enumerate(subs[:FRESH_SAMPLE]):
                for on in ((True, False) if k % 2 == 0 else (False, True)):
                    start = time.perf_counter()
                    grade_student(lab, sub, None, GradingOptions(sandbox=on, feedback=False,
                                                                 run_as=run_as if on else None))
                    paired[on].append(time.perf_counter() - start)
    per = [r.seconds for r in results]
    by_kind = {kind: median([r.seconds for r in results if kind_of[r.student] == kind]) for kind in kinds
               if any(kind_of[r.student] == kind for r in results)}
    phases = {phase: median([r.phases.get(phase, 0.0) for r in results]) for phase in ("start", "cells", "feedback")}
    full_marks = sum(r.score == r.max_score for r in results if kind_of[r.student] == "solution")
    n_solutions = sum(kind == "solution" for kind in kind_of.values())
    kinds_text = ", ".join(f"{k} {v:.1f} s" for k, v in list(by_kind.items())[:6])
    setup = (f"{name}, {n_students} submissions ({len(kinds)} versions in turn: solution, stub, wrong answers), "
             f"{workers} worker(s), feedback HTML on, "
             f"{'sandbox on' if sandbox else 'NO sandbox (--unsafe-no-sandbox)'}"
             f"{' (started as a uid of its own, not root)' if run_as else ''}, kernels: {how}; "
             f"{full_marks}/{n_solutions} solutions got full marks")
    suffix = "" if sandbox else " (--unsafe-no-sandbox)"
    if zygote is None:
        suffix += " (fresh kernel per student)"
    where = (f"median per student: kernel start and preamble {phases['start']:.1f} s, cells {phases['cells']:.1f} s, "
             f"notebook and feedback HTML {phases['feedback']:.1f} s"
             + (f"; zygote start {zygote_seconds:.1f} s once" if zygote is not None else ""))
    rows = [
        row(FIGURE, f"seconds per autograded submission (median){suffix}", median(per), "s", ("<=", 20.0), "cpu",
            f"{setup}; {where}; median by kind: {kinds_text} … (the stub runs almost no code: its time is the fixed "
            f"cost per student); on this machine"),
        row(FIGURE, f"seconds for a class of {n_students}{suffix}", class_seconds, "s",
            ("<=", 120.0 if n_students == CLASS_SIZE else 20.0 * n_students), "cpu",
            f"{setup}; {where}; plus {release_seconds:.1f} s to release the lab once; on this machine"),
    ]
    if paired[True]:
        overhead = median(paired[True]) - median(paired[False])
        rows.append(row(FIGURE, "seconds per submission with a fresh sandboxed kernel (median)", median(paired[True]),
                        "s", None, "cpu",
                        f"{len(paired[True])} students ({', '.join(kind_of[s.student] for s in subs[:FRESH_SAMPLE])})"
                        f" graded one at a time, each in a fresh kernel in bubblewrap (how a class was graded before "
                        f"the zygote; COURSE_GRADING_ZYGOTE=0 still does), no feedback; on this machine"))
        rows.append(row(FIGURE, "sandbox overhead per student, fresh kernels (median with − without)", overhead, "s",
                        None, "cpu",
                        f"the same {len(paired[True])} students graded one at a time with and without bubblewrap, "
                        f"alternately, a fresh kernel each, no feedback: median {median(paired[True]):.1f} s vs "
                        f"{median(paired[False]):.1f} s; on this machine"))
    return rows


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
