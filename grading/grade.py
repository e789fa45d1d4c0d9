"""Grading a class: one throwaway course directory per student, the worker run in it, and its outcome read into
a score, a status and notes (`interpret`, a pure function); grades.csv and the notes page written from that.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grading.labsource import COURSE_CONFIG, NEVER_RELEASED, LabSource
from grading.sandbox import run_worker
from grading.submissions import Submission, deduplicate_ids, inspect_notebook, pick_files, read_notebook

DEFAULT_CELL_TIMEOUT = 120
DEFAULT_MEMORY_GB = 6.0


@dataclass(frozen=True)
class GradingOptions:
    """How each student is graded.

    cell_timeout: wall-clock seconds per cell; memory_gb: address-space limit of the worker and its kernel
    (None: no limit); threads: BLAS/OpenMP threads of the kernel; feedback: write nbgrader's feedback HTML.
    """

    cell_timeout: int = DEFAULT_CELL_TIMEOUT
    memory_gb: float | None = DEFAULT_MEMORY_GB
    threads: int = 1
    feedback: bool = True


@dataclass
class Result:
    student: str
    lab: str
    score: float
    max_score: float
    cells: dict[str, float]
    status: str
    notes: list[str]
    seconds: float = 0.0

    def row(self, lab: LabSource) -> dict[str, str]:
        row = {"student": self.student, "lab": self.lab, "score": fmt(self.score),
               "max_score": fmt(self.max_score)}
        row.update({lab.column(k): fmt(self.cells.get(k, 0.0)) for k in lab.points})
        row.update(status=self.status, notes="; ".join(self.notes),
                   graded_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        return row


def fmt(x: float) -> str:
    return f"{x:g}"


def make_course(workdir: Path, lab: LabSource, cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> Path:
    """A course directory with this lab's source, our nbgrader settings and its own gradebook; released."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(lab.path, workdir / "solutions" / lab.name, ignore=shutil.ignore_patterns(*NEVER_RELEASED))
    (workdir / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(COURSE_CONFIG)!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(workdir)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(workdir / 'gradebook.db')!r}\n"
        f"c.Execute.timeout = {int(cell_timeout)}\n"
        "c.Execute.interrupt_on_timeout = True\n"
        "c.OverwriteCells.add_missing_cells = True\n"
        "c.LimitOutput.max_lines = 1000\n"
        "c.LimitOutput.max_traceback = 100\n"
    )
    run_worker(["release", str(workdir), lab.name], timeout=600)
    return workdir


def interpret(lab: LabSource, exit_code: int | None, outcome: dict | None, options: GradingOptions,
              budget: float) -> tuple[str, dict[str, float], list[str]]:
    """(status, points per graded cell, notes) from what the worker left behind.

    exit_code: the worker's exit status, None when it was killed at the notebook's time `budget` (seconds);
    outcome: its result.json (None when it wrote none). Pure: reads nothing else, so it is unit-tested directly.
    """
    cells = {k: 0.0 for k in lab.points}
    notes: list[str] = []
    if exit_code is None:
        notes.append(f"killed after {budget:g} s (the whole notebook's time limit; e.g. a loop that ignores "
                     "interrupts)")
        return "timeout", cells, notes
    if outcome is None:
        notes.append(f"grading process died (exit {exit_code}); memory limit {options.memory_gb} GB exceeded?")
        return "crashed", cells, notes
    if not outcome["autograde_ok"]:
        err = outcome.get("error", "")
        if "DeadKernelError" in err or "kernel died" in err.lower():
            notes.append("the kernel died while running the notebook (os._exit, a segfault or the memory "
                         "limit): no score")
            return "crashed", cells, notes
        last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["unknown error"]
        notes.append(f"autograde failed: {last[0][:200]}")
        return "error", cells, notes
    status = "ok"
    test_ids = {k.split(":", 1)[1] for k in lab.points}
    for key, value in outcome["cells"].items():
        if key in cells:
            cells[key] = value["score"]
    for key, err in outcome["errors"].items():
        cell_id = key.split(":", 1)[1]
        if err["ename"] in ("CellTimeoutError", "KeyboardInterrupt"):
            notes.append(f"cell {cell_id} exceeded the {options.cell_timeout} s time limit")
            status = "timeout"
        elif err["ename"] and cell_id not in test_ids:
            notes.append(f"cell {cell_id} raised {err['ename']}")
        if err["truncated"]:
            notes.append(f"output of cell {cell_id} truncated")
    failed = [lab.column(k) for k in lab.points if cells[k] < lab.points[k]]
    if failed:
        notes.append(f"tests failed: {', '.join(failed)}")
    return status, cells, notes


def grade_student(template: Path, lab: LabSource, sub: Submission, workroot: Path, out: Path | None,
                  options: GradingOptions) -> Result:
    """Grade one student in a copy of `template` (a released course directory); never raises."""
    start = time.monotonic()
    notes: list[str] = []
    zero = {k: 0.0 for k in lab.points}
    if out:  # a re-run replaces this student's previous results, whatever happens now
        for kind in ("feedback", "autograded"):
            shutil.rmtree(out / kind / sub.student / lab.name, ignore_errors=True)
    chosen, pick_notes = pick_files(sub, lab)
    notes += pick_notes
    work = Path(tempfile.mkdtemp(prefix=f"{sub.student}-", dir=workroot))
    try:
        shutil.copytree(template, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("result.json"))
        target = work / "submitted" / sub.student / lab.name
        target.mkdir(parents=True)
        readable = 0
        for stem, path in chosen.items():
            nb, read_notes = read_notebook(path)
            notes += read_notes
            if nb is None:
                continue
            notes += inspect_notebook(nb, lab.notebooks[stem])
            deduplicate_ids(nb)
            nbformat.write(nb, target / f"{stem}.ipynb")  # UTF-8, the expected name
            readable += 1
        for extra in lab.path.iterdir():  # data files of the lab come from the source, never from the student
            if extra.is_file() and extra.suffix not in (".ipynb", ".py"):
                shutil.copy2(extra, target / extra.name)
        if not readable:
            status = "missing" if not chosen else "unreadable"
            return Result(sub.student, lab.name, 0.0, lab.max_score, zero, status, notes or ["nothing submitted"],
                          time.monotonic() - start)

        n_cells = sum(len(nb.cells) for nb in lab.notebooks.values())
        budget = options.cell_timeout * (n_cells + 2) + 120
        log = (out / "logs" / lab.name / f"{sub.student}.log") if out else work / "worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        args = ["grade", str(work), lab.name, sub.student] + (["--feedback"] if options.feedback else [])
        code, _ = run_worker(args, timeout=budget, memory_gb=options.memory_gb, threads=options.threads, log=log)
        result_file = work / "result.json"
        outcome = json.loads(result_file.read_text()) if result_file.is_file() else None
        status, cells, outcome_notes = interpret(lab, code, outcome, options, budget)
        if out:
            _collect(work, out, lab.name, sub.student)
        return Result(sub.student, lab.name, sum(cells.values()), lab.max_score, cells, status,
                      notes + outcome_notes, time.monotonic() - start)
    except Exception as err:  # noqa: BLE001 - one student's disaster must not stop the batch
        return Result(sub.student, lab.name, 0.0, lab.max_score, zero, "error",
                      notes + [f"grader error: {type(err).__name__}: {err}"], time.monotonic() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _collect(work: Path, out: Path, lab: str, student: str) -> None:
    for kind in ("feedback", "autograded"):
        src = work / kind / student / lab
        dst = out / kind / student / lab
        if src.is_dir():
            shutil.copytree(src, dst)


def grade_all(lab: LabSource, subs: list[Submission], out: Path | None = None, workers: int = 2,
              options: GradingOptions | None = None, progress: bool = True) -> list[Result]:
    """Grade every submission, `workers` students at a time; results in the order of `subs`.

    options.threads is ignored: the CPU cores are shared out between the workers.
    """
    from tqdm.auto import tqdm

    options = options or GradingOptions()
    workers = max(1, min(workers, len(subs) or 1))
    options = GradingOptions(options.cell_timeout, options.memory_gb, max(1, (os.cpu_count() or 1) // workers),
                             options.feedback)
    with tempfile.TemporaryDirectory(prefix=f"grade-{lab.name}-") as tmp:
        template = make_course(Path(tmp) / "course", lab, options.cell_timeout)
        results: dict[str, Result] = {}
        with ThreadPoolExecutor(workers) as pool, \
                tqdm(total=len(subs), desc=f"grading {lab.name}", unit="student", disable=not progress) as bar:
            futures = {pool.submit(grade_student, template, lab, s, Path(tmp), out, options): s for s in subs}
            for future in as_completed(futures):
                r = future.result()
                results[r.student] = r
                bar.set_postfix_str(f"{r.student}: {fmt(r.score)}/{fmt(r.max_score)} {r.status}")
                bar.update()
    return [results[s.student] for s in subs]


def write_grades(path: Path, lab: LabSource, results: list[Result]) -> None:
    """Merge into `path`: rows of (student, lab) graded now replace old ones; every other row is kept."""
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    new = {(r.student, r.lab): r.row(lab) for r in results}
    rows = [r for r in rows if (r.get("student"), r.get("lab")) not in new] + list(new.values())
    base = ["student", "lab", "score", "max_score"]
    tail = ["status", "notes", "graded_at"]
    cell_cols = [c for c in fields if c not in base + tail]
    cell_cols += [c for row in new.values() for c in row if c not in base + tail + cell_cols]
    fields = base + list(dict.fromkeys(cell_cols)) + tail
    rows.sort(key=lambda r: (r.get("lab", ""), r.get("student", "")))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def write_notes(path: Path, r: Result) -> None:
    """A one-screen page for the student next to nbgrader's feedback: score, status, what the grader noticed."""
    import html

    notes = "".join(f"<li>{html.escape(n)}</li>" for n in r.notes) or "<li>nothing to report</li>"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(r.lab)}: {html.escape(r.student)}"
                    f"</title><h1>{html.escape(r.lab)}: {fmt(r.score)} / {fmt(r.max_score)}</h1>"
                    f"<p>status: <b>{html.escape(r.status)}</b></p><ul>{notes}</ul>\n", encoding="utf-8")

