"""Grading a class. For each student the trusted grading process builds the notebook to run from the lab source
(`grading.harness.assemble`), runs it cell by cell in a kernel inside the sandbox (`grading.execute`), and scores
it itself from what came back (`interpret`, a pure function): a test cell earns its points only when it ran to its
end untampered and the grader's audit hook signed its evidence line (`grading.harness`). No gradebook, nothing
student code could write, is ever read.
Results are written per student as they finish (grades.csv, notes page, feedback without hidden tests).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from grading.demote import end_uid, sandboxed_uids, take_uid
from grading.execute import MAX_MESSAGE_BYTES, OUTPUT_SILENCE, SandboxedKernel
from grading.expect import judge, read_records
from grading.feedback import render as render_feedback
from grading.harness import EXPECTATIONS, Harness, assemble, hidden_lines, scan, scrub_outputs
from grading.labsource import COURSE_CONFIG, LABS, NEVER_RELEASED, LabSource
from grading.sandbox import DiskWatch, clean_stale, kernel_threads, new_scratch, sandbox_problem
from grading.spreadsheet import as_spreadsheet_text, from_spreadsheet_text
from grading.submissions import Submission, inspect_notebook, pick_files, printable, read_notebook
from grading.zygote import ForkedKernel, for_class

DEFAULT_CELL_TIMEOUT = 120
DEFAULT_MEMORY_GB = 6.0
KERNEL_START_TIMEOUT = 120


class SandboxUnavailable(RuntimeError):
    """Grading refused: no sandbox here, and the instructor did not pass --unsafe-no-sandbox."""


@dataclass(frozen=True)
class GradingOptions:
    """How each student is graded.

    cell_timeout: wall-clock seconds per cell; memory_gb: memory of the student's whole process tree (None: no
    limit); threads: BLAS/OpenMP threads of the kernel; feedback: write feedback HTML; sandbox: run student code
    in bubblewrap (False only with --unsafe-no-sandbox, or for our own answers in `check_lab`); run_as: for a
    grader running as root, the uid a fresh kernel (or its sandbox) runs as: one (the Gradescope runner's
    `nobody`), or a range from which each kernel takes one of its own, whose every process and temporary file ends
    with it (`grade_all` with a sandbox, `make grade --unsafe-no-sandbox`; `grading.demote`); None: this
    process's. A forked kernel runs as its zygote's uid.
    """

    cell_timeout: int = DEFAULT_CELL_TIMEOUT
    memory_gb: float | None = DEFAULT_MEMORY_GB
    threads: int = 1
    feedback: bool = True
    sandbox: bool = True
    zygote: Any = None  # a grading.zygote.Zygote: kernels forked from it (isolated from each other where sandboxed)
    run_as: int | range | None = None


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
    phases: dict[str, float] = field(default_factory=dict)  # seconds: kernel start, cells, feedback (benchmarks)

    def row(self, lab: LabSource) -> dict[str, str]:
        row = {"student": as_spreadsheet_text(self.student), "lab": self.lab, "score": fmt(self.score),
               "max_score": fmt(self.max_score)}
        row.update({lab.column(k): fmt(self.cells.get(k, 0.0)) for k in lab.points})
        row.update(status=self.status, notes=as_spreadsheet_text("; ".join(self.notes)),
                   graded_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        return row


def fmt(x: float) -> str:
    return f"{x:g}"


def make_course(workdir: Path, labs: LabSource | Sequence[LabSource],
                cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> Path:
    """A course directory with these labs' sources, our nbgrader settings and its own gradebook, released to
    `workdir/labs/<lab>` by nbgrader's generate_assignment in one process (our own code only: no student code runs
    here)."""
    labs = [labs] if isinstance(labs, LabSource) else list(labs)
    workdir.mkdir(parents=True, exist_ok=True)
    for lab in labs:
        shutil.copytree(lab.path, workdir / "solutions" / lab.name, ignore=shutil.ignore_patterns(*NEVER_RELEASED))
    (workdir / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(COURSE_CONFIG)!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(workdir)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(workdir / 'gradebook.db')!r}\n"
        f"c.Execute.timeout = {int(cell_timeout)}\n")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "grading.worker", "release", str(workdir),
                           *(lab.name for lab in labs)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        names = ", ".join(lab.name for lab in labs)
        raise RuntimeError(f"nbgrader generate_assignment failed for {names}:\n{proc.stderr[-3000:]}")
    return workdir


def interpret(lab: LabSource, run: dict, options: GradingOptions) -> tuple[str, dict[str, float], list[str]]:
    """(status, points per graded cell, notes) from one run of a student's notebooks. Pure: unit-tested directly.

    run: {"kernel": "ok" | "died" | "memory" | "disk" | "hung" | "lost" | "start_failed" | "preamble_failed",
          "error": str,
          "cells": {key: {"kind", "status", "ename", "verdict", "tamper", "expect", "expect_message",
                          "truncated", "dropped"}}, "flags": [str], "out_of_time": seconds (only when the notebook ran past its budget)}
    with cells in execution order; status per cell: ok | error | timeout | hung | died | lost | not_run; verdict (test
    cells, from the signed evidence line, `Harness.verdict`): ok | fail | tampered | missing; expect (test cells,
    the trusted comparison of the test's expectations with the reference kernel's, `grading.expect.judge`):
    none | ok | wrong | forged. A test cell earns its points only with status ok, verdict ok and expect none or
    ok; a tampered verdict is reported whatever the cell's status.
    """
    cells = {k: 0.0 for k in lab.points}
    notes: list[str] = []
    statuses: set[str] = set()
    kernel = run.get("kernel", "ok")
    if kernel in ("start_failed", "preamble_failed"):
        notes.append(f"the kernel could not be started: {run.get('error', '')[:300]}")
        return "error", cells, notes
    for key, cell in run.get("cells", {}).items():
        gid = key.split(":", 1)[1]
        status, kind = cell.get("status"), cell.get("kind")
        if status == "timeout":
            notes.append(f"cell {gid} exceeded the {options.cell_timeout} s time limit (interrupted)")
            statuses.add("timeout")
        elif status == "hung":
            notes.append(f"cell {gid} exceeded the {options.cell_timeout} s time limit and ignored the interrupt: "
                         "the kernel was stopped, later cells did not run")
            statuses.add("timeout")
        elif status == "died":
            if kernel == "disk":
                notes.append(f"the notebook wrote {run.get('error', 'too much')} in cell {gid}: the kernel was "
                             "stopped, later cells did not run")
                statuses.add("disk")
            elif kernel == "memory":
                notes.append(f"memory limit of {options.memory_gb:g} GB exceeded in cell {gid}: the kernel was "
                             "killed, later cells did not run")
                statuses.add("memory")
            else:
                notes.append(f"the kernel died in cell {gid} (os._exit, a segfault or a signal): later cells did "
                             "not run")
                statuses.add("crashed")
        elif status == "lost":
            notes.append(f"cell {gid} finished but its output never did (no message for {OUTPUT_SILENCE:.0f} s): "
                         "later cells did not run")
            statuses.add("output")
        elif status == "error" and kind != "test":
            notes.append(f"cell {gid} raised {cell.get('ename') or 'an error'}")
        if cell.get("dropped"):
            notes.append(f"cell {gid} sent more than {MAX_MESSAGE_BYTES // 2 ** 20} MB of output in one message: it "
                         "was dropped, with what the cell sent while the output channel was reopened")
            statuses.add("output")
        elif cell.get("truncated"):
            notes.append(f"output of cell {gid} truncated")
        verdict = cell.get("verdict")
        if kind == "test" and key in cells and verdict == "tampered":  # whether or not the test then failed
            notes.append(f"test {gid}: the test machinery was changed around it "
                         f"({cell.get('tamper', '')[:200]}): 0 points")
            statuses.add("tampering")
        elif kind == "test" and key in cells and status == "ok":
            expect = cell.get("expect", "none")
            if verdict == "ok" and expect in ("none", "ok"):
                cells[key] = lab.points[key]
            elif verdict == "ok" and expect == "wrong":
                notes.append(f"test {gid}: {str(cell.get('expect_message', ''))[:200]}")
            elif cell.get("dropped"):  # its evidence, or part of it, may have gone with the dropped output
                notes.append(f"test {gid}: its result was lost with the dropped output: 0 points")
            elif verdict == "ok":
                notes.append(f"test {gid}: {cell.get('expect_message', '')[:200]}: 0 points")
                statuses.add("tampering")
            else:
                notes.append(f"test {gid} reported success without running to its end: 0 points")
                statuses.add("tampering")
    if run.get("out_of_time"):
        notes.append(f"the notebook ran past its {run['out_of_time']:.0f} s budget (the cell limit for each of the "
                     "lab's cells): later cells did not run")
        statuses.add("timeout")
    if kernel == "hung" and "timeout" not in statuses:
        notes.append("the kernel stopped answering: later cells did not run")
        statuses.add("timeout")
    if run.get("flags"):
        notes.append(f"flagged for review: {'; '.join(run['flags'][:8])}")
        statuses.add("tampering")
    failed = [lab.column(k) for k in lab.points if cells[k] < lab.points[k]]
    if failed:
        notes.append(f"tests failed: {', '.join(failed)}")
    status = next((s for s in ("tampering", "memory", "disk", "output", "crashed", "timeout") if s in statuses),
                  "ok")
    return status, cells, notes


def lab_data_files(lab: LabSource) -> list[Path]:
    """The files a student's kernel gets in its working folder: the lab's data, from the lab source (never from the
    student). Not the notebooks, the wrong answers or any .py, and never SHIPPED_EXPECTATIONS, which a Gradescope
    autograder keeps there: the hidden tests' expected values."""
    return sorted(p for p in lab.path.iterdir() if p.is_file() and p.suffix not in (".ipynb", ".py")
                  and p.name != SHIPPED_EXPECTATIONS)


def notebook_budget(plan: list, cell_timeout: int) -> float:
    """Wall-clock seconds for a whole notebook: the cell limit for each of the lab's own code cells, and two more
    minutes. Cells a student added do not raise it: else 1,000 added cells that each sleep just under the cell
    limit would hold a worker for 33 hours."""
    lab_cells = sum(p.cell_type == "code" and p.kind not in ("markdown", "extra") for p in plan)
    return cell_timeout * (lab_cells + 2) + 120


def run_notebook(stem: str, lab: LabSource, submitted: nbformat.NotebookNode | None, options: GradingOptions,
                 log: Path | None = None, expected: dict[str, list[dict]] | None = None,
                 reference: bool = False) -> tuple[dict, nbformat.NotebookNode, nbformat.NotebookNode, list[str]]:
    """Run one notebook of a student in its own sandboxed kernel (forked from options.zygote, or fresh).

    expected: the reference kernel's expectations per test cell (`reference_expectations`), which the student's are
    judged against; reference: this is the reference run itself (the lab's solution, REFERENCE blocks in): each
    test cell's expectations are returned in run["expects"].
    Returns (run for `interpret`, the executed notebook for the instructor, the feedback notebook for the student
    (no hidden tests, no grader marker), notes on how the submission was matched to the lab)."""
    stub_path = LABS / lab.name / f"{stem}.ipynb"
    stub = nbformat.read(stub_path, as_version=4) if stub_path.is_file() else None
    plan, notes = assemble(stem, lab.notebooks[stem], submitted, stub)
    harness = Harness.new()
    run: dict = {"kernel": "ok", "error": "", "cells": {}, "flags": [], "phases": {}, "expects": {}}
    for p in plan:
        if p.kind in ("solution", "extra"):
            run["flags"] += scan(p.source)
    executed = nbformat.v4.new_notebook(metadata=lab.notebooks[stem].metadata)
    feedback = nbformat.v4.new_notebook(metadata=lab.notebooks[stem].metadata)
    secret = hidden_lines([c.source for c in lab.notebooks[stem].cells])
    uid = options.zygote.uid if options.zygote is not None else take_uid(options.run_as)
    scratch = new_scratch(f"{stem}-", other_user=uid is not None)
    for extra in lab_data_files(lab):
        shutil.copy2(extra, scratch / "work" / extra.name)
    budget = notebook_budget(plan, options.cell_timeout)

    def fresh() -> SandboxedKernel:
        return SandboxedKernel(scratch, scratch.name, options.memory_gb, cpu_seconds=int(budget),
                               threads=options.threads, sandbox=options.sandbox, marker=harness.marker, log=log,
                               run_as=uid)

    kernel = fresh() if options.zygote is None else \
        ForkedKernel(options.zygote, scratch, scratch.name, options.memory_gb, cpu_seconds=int(budget),
                     threads=options.threads, marker=harness.marker, log=log)
    # `kernel` as it is then (a fallback replaces it); a sandbox's /tmp is its own, in its scratch folder or memory
    disk = DiskWatch(scratch, lambda: kernel.kill(), owner=None if options.sandbox else uid)
    disk.start()
    start = time.monotonic()
    try:
        try:
            try:
                kernel.start(KERNEL_START_TIMEOUT)
            except Exception:
                if not isinstance(kernel, ForkedKernel):
                    raise
                kernel.close()  # no student code ran in it: a fresh kernel instead (the zygote may have died)
                kernel = fresh()
                kernel.start(KERNEL_START_TIMEOUT)
            pre = kernel.run(harness.preamble(), KERNEL_START_TIMEOUT, store_history=False)
            if pre.status != "ok" or not harness.read_key(pre.markers):
                run["kernel"] = "preamble_failed"
                run["error"] = f"{pre.status} {pre.ename}: {pre.evalue}"
        except Exception as err:  # noqa: BLE001 - a kernel that cannot start is this student's error row
            run["kernel"], run["error"] = "start_failed", f"{type(err).__name__}: {err}"
        stopped = run["kernel"] != "ok"
        run["phases"]["start"] = time.monotonic() - start
        for p in plan:
            cell = nbformat.v4.new_code_cell(p.source) if p.cell_type == "code" else \
                nbformat.v4.new_markdown_cell(p.source)
            shown = nbformat.v4.new_code_cell(p.shown) if p.cell_type == "code" else \
                nbformat.v4.new_markdown_cell(p.shown)
            executed.cells.append(cell)
            feedback.cells.append(shown)
            if p.cell_type != "code" or p.kind == "markdown":
                continue
            entry = {"kind": p.kind, "status": "not_run", "ename": "", "truncated": False}
            run["cells"][p.key] = entry
            if not stopped and time.monotonic() - start > budget:
                run["out_of_time"], stopped = budget, True
            if stopped:
                continue
            token = digest = ""
            if p.kind == "test":
                try:
                    code, token, digest = harness.test_code(p.key, p.source, reference)
                except SyntaxError:  # a lab whose test does not parse: it runs as written and cannot pass
                    code = p.source
                result = kernel.run(code, options.cell_timeout, store_history=False)
            else:
                result = kernel.run(p.source, options.cell_timeout)
                locked = harness.locked_code(p.source) if p.kind == "locked" and result.status == "ok" else None
                if locked and kernel.alive():  # the names this lab cell bound, as it bound them, for the tests
                    kernel.run(locked, KERNEL_START_TIMEOUT, store_history=False)
            entry.update(status=result.status, ename=result.ename, truncated=result.truncated,
                         dropped=result.dropped)
            failed = None
            if p.kind == "test":
                entry["verdict"], entry["tamper"] = harness.verdict(result.markers, token, digest)
                records = read_records(result.markers, harness.marker, token)
                if reference:
                    run["expects"][p.key] = records
                elif result.status == "ok" and entry["verdict"] == "ok":
                    entry["expect"], entry["expect_message"] = judge(records, (expected or {}).get(p.key))
                    if entry["expect"] == "wrong":  # shown where the test's own assertion error would be
                        failed = {"output_type": "error", "ename": "AssertionError",
                                  "evalue": entry["expect_message"],
                                  "traceback": [f"AssertionError: {entry['expect_message']}"]}
            cell.outputs = [nbformat.from_dict(o) for o in result.outputs + ([failed] if failed else [])]
            cell.execution_count = shown.execution_count = result.execution_count
            shown.outputs = [nbformat.from_dict(o) for o in
                             scrub_outputs(result.outputs, secret, harness.marker, p.kind == "test")
                             + ([failed] if failed else [])]
            if result.status in ("died", "hung", "lost"):
                run["kernel"] = result.status
                stopped = True
    finally:
        run["phases"]["cells"] = time.monotonic() - start - run["phases"].get("start", 0.0)
        wrote_too_much = disk.stop()
        if kernel.close() and run["kernel"] == "died":
            run["kernel"] = "memory"
        if wrote_too_much:
            run["kernel"], run["error"] = "disk", wrote_too_much
        if isinstance(options.run_as, range) and uid is not None and options.zygote is None:
            end_uid(uid)  # a daemon of the student's (no cgroup ended it), and its files in /tmp
        shutil.rmtree(scratch, ignore_errors=True)
    return run, executed, feedback, notes


class ReferenceFailed(RuntimeError):
    """The lab's own solution did not pass its tests under grading: no student can be graded against it."""


SHIPPED_EXPECTATIONS = "expectations.json"  # {notebook stem: reference_expectations}, in autograders without solutions
_REFERENCES: dict[tuple, dict[str, list[dict]]] = {}
_REFERENCE_LOCKS: dict[tuple, threading.Lock] = {}
_REFERENCE_LOCK = threading.Lock()


def reference_expectations(lab: LabSource, stem: str, options: GradingOptions) -> dict[str, list[dict]]:
    """The expectations of notebook `stem`'s test cells as the lab's own solution meets them (the REFERENCE blocks
    run), {test cell key: records}: computed once per lab source, kernel settings and process, in a kernel like the
    students' (same sandbox, threads and zygote). Raises ReferenceFailed when a test of the solution fails."""
    if not any(name + "(" in cell.source for cell in lab.notebooks[stem].cells for name in EXPECTATIONS):
        return {}  # a lab whose tests state no expectation: nothing to compute
    shipped = lab.path / SHIPPED_EXPECTATIONS
    if shipped.is_file():  # a Gradescope autograder: no solution in it, the values computed when it was built
        return json.loads(shipped.read_text(encoding="utf-8"))[stem]
    digest = hashlib.sha256(json.dumps(lab.notebooks[stem], sort_keys=True).encode()).hexdigest()
    key = (lab.name, stem, digest, options.threads, options.sandbox, id(options.zygote))
    with _REFERENCE_LOCK:
        lock = _REFERENCE_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _REFERENCES:
            solution = lab.notebooks[stem]
            run, _, _, _ = run_notebook(stem, lab, solution, options, reference=True)
            bad = [k.split(":", 1)[1] for k, c in run["cells"].items()
                   if c["kind"] == "test" and (c["status"] != "ok" or c.get("verdict") != "ok"
                                               or run["expects"].get(k) is None)]
            for k, records in run["expects"].items():
                if records and judge(records, records)[0] != "ok":  # the solution's own values meet them
                    bad.append(k.split(":", 1)[1] + " (its own expectations)")
            if run["kernel"] != "ok" or bad:
                raise ReferenceFailed(f"the lab's solution fails under grading ({run['kernel']} {run['error']}; "
                                      f"tests: {', '.join(bad) or '-'}): check the lab source")
            _REFERENCES[key] = {k: v for k, v in run["expects"].items() if v}
        return _REFERENCES[key]


def grade_student(lab: LabSource, sub: Submission, out: Path | None, options: GradingOptions) -> Result:
    """Grade one student; never raises (a disaster is this student's `error` row)."""
    start = time.monotonic()
    notes: list[str] = []
    zero = {k: 0.0 for k in lab.points}
    try:
        if out:  # a re-run replaces this student's previous results, whatever happens now
            for kind in ("feedback", "autograded"):
                shutil.rmtree(out / kind / sub.student / lab.name, ignore_errors=True)
            (out / "logs" / lab.name / f"{sub.student}.log").unlink(missing_ok=True)
        chosen, pick_notes = pick_files(sub, lab)
        notes += sub.notes + pick_notes
        submitted = {}
        for stem, path in chosen.items():
            nb, read_notes = read_notebook(path)
            notes += read_notes
            if nb is not None:
                notes += inspect_notebook(nb, lab.notebooks[stem])
                submitted[stem] = nb
        if not submitted:
            status = "missing" if not chosen else "unreadable"
            return Result(sub.student, lab.name, 0.0, lab.max_score, zero, status, notes or ["nothing submitted"],
                          time.monotonic() - start)
        runs: dict = {"kernel": "ok", "error": "", "cells": {}, "flags": []}
        phases: dict[str, float] = {}
        for stem in lab.notebooks:
            log = None
            if out:
                log = out / "logs" / lab.name / f"{sub.student}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
            expected = reference_expectations(lab, stem, options)
            run, executed, feedback, match_notes = run_notebook(stem, lab, submitted.get(stem), options, log,
                                                                expected)
            for phase, seconds in run["phases"].items():
                phases[phase] = phases.get(phase, 0.0) + seconds
            written = time.monotonic()
            notes += match_notes
            runs["cells"].update(run["cells"])
            runs["flags"] += run["flags"]
            if run["kernel"] != "ok" and runs["kernel"] == "ok":
                runs["kernel"], runs["error"] = run["kernel"], run["error"]
            if out:
                folder = out / "autograded" / sub.student / lab.name
                folder.mkdir(parents=True, exist_ok=True)
                nbformat.write(executed, folder / f"{stem}.ipynb")
                if options.feedback:
                    notes += _write_feedback(out / "feedback" / sub.student / lab.name / f"{stem}.html", feedback,
                                             lab, runs, options)
            phases["feedback"] = phases.get("feedback", 0.0) + time.monotonic() - written
        status, cells, outcome_notes = interpret(lab, runs, options)
        return Result(sub.student, lab.name, sum(cells.values()), lab.max_score, cells, status,
                      notes + outcome_notes, time.monotonic() - start, phases)
    except Exception as err:  # noqa: BLE001 - one student's disaster must not stop the batch
        where = ""
        if out:  # the whole traceback for whoever debugs the grader; the row says where it is
            trace = out / "logs" / lab.name / f"{sub.student}.grader-error.txt"
            trace.parent.mkdir(parents=True, exist_ok=True)
            trace.write_text(traceback.format_exc(), encoding="utf-8")
            where = f" (traceback: {trace.relative_to(out)})"
        return Result(sub.student, lab.name, 0.0, lab.max_score, zero, "error",
                      notes + [f"grader error: {type(err).__name__}: {err}{where}"], time.monotonic() - start)


def _write_feedback(path: Path, nb: nbformat.NotebookNode, lab: LabSource, run: dict,
                    options: GradingOptions) -> list[str]:
    """The student's executed notebook as HTML, with a table of points per test cell at the top; nothing the
    student wrote or printed can run in it (`grading.feedback`). A notebook that cannot be rendered costs the student
    nothing: the page then shows the points alone, and the returned note (else []) says why."""
    _, cells, _ = interpret(lab, run, options)
    title = f"{lab.name}: {fmt(sum(cells.values()))} / {fmt(lab.max_score)}"
    points = [(lab.column(k), f"{fmt(cells[k])} / {fmt(lab.points[k])}") for k in lab.points]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        rows = "\n".join(f"| {test} | {score} |" for test, score in points)
        header = nbformat.v4.new_markdown_cell(f"# {title}\n\n| test | points |\n|---|---|\n{rows}")
        nb = nbformat.from_dict(json.loads(json.dumps(nb)))
        nb.cells.insert(0, header)
        path.write_text(render_feedback(nb), encoding="utf-8")
        return []
    except Exception as err:  # noqa: BLE001 - the grade stands whatever the page does
        rows = "".join(f"<tr><td>{html.escape(test)}</td><td>{html.escape(score)}</td></tr>" for test, score in points)
        path.write_text(f"<!DOCTYPE html><meta charset='utf-8'><title>{html.escape(title)}</title>"
                        f"<h1>{html.escape(title)}</h1><table><tr><th>test</th><th>points</th></tr>{rows}</table>"
                        "<p>Your notebook could not be shown here; your instructor has it.</p>", encoding="utf-8")
        return [f"feedback page: the notebook could not be rendered ({type(err).__name__}: {err}); "
                "a page with the points alone was written"]


def grade_all(lab: LabSource, subs: list[Submission], out: Path | None = None, workers: int = 2,
              options: GradingOptions | None = None, progress: bool = True) -> list[Result]:
    """Grade every submission, `workers` students at a time; results in the order of `subs`. With `out`, each
    student's row of grades.csv and notes page are written as soon as that student is done.

    options.threads is ignored: the CPU cores are shared out between the workers. Raises SandboxUnavailable when
    options.sandbox is set and bubblewrap cannot run here.

    Kernels are forked from one process that imported the lab's libraries (`grading.zygote.for_class`: about 0.3 s
    instead of ~7 s of imports per student), each its own sandbox inside the zygote's; a fresh sandboxed kernel per
    student where that isolation is not available here, or with COURSE_GRADING_ZYGOTE=0. options.zygote: one to
    use instead (the caller closes it).
    """
    from tqdm.auto import tqdm

    options = options or GradingOptions()
    if options.sandbox:
        problem = sandbox_problem()
        if problem:
            raise SandboxUnavailable(problem)
        if options.run_as is None and os.geteuid() == 0:
            run_as, why = sandboxed_uids()
            options = dataclasses.replace(options, run_as=run_as)
            if progress:
                print("student code: " + (f"each sandbox started as a uid of its own (from {run_as.start}), not root"
                                          if run_as else f"sandboxes started as root ({why}), whose uid they have "
                                          "outside their namespaces"), file=sys.stderr)
    clean_stale()
    workers = max(1, min(workers, len(subs) or 1))
    threads = kernel_threads(workers)
    zygote, own = options.zygote, None
    # (one student: the zygote's own start costs what it saves; without the sandbox, each student's kernel must
    # have a uid of its own, and a forked kernel keeps the zygote's)
    if zygote is None and len(subs) > 1 and (options.sandbox or options.run_as is None):
        zygote, how = for_class(lab, threads, options.sandbox, options.run_as if options.sandbox else None)
        own = zygote
        if progress:
            print(f"kernels: {how}", file=sys.stderr)
    options = dataclasses.replace(options, threads=threads, zygote=zygote)
    results: dict[str, Result] = {}
    lock = threading.Lock()
    try:
        with ThreadPoolExecutor(workers) as pool, \
                tqdm(total=len(subs), desc=f"grading {lab.name}", unit="student", disable=not progress) as bar:
            futures = {pool.submit(grade_student, lab, s, out, options): s for s in subs}
            for future in as_completed(futures):
                r = future.result()
                results[r.student] = r
                if out:
                    with lock:
                        write_grades(out / "grades.csv", lab, [r])
                        write_notes(out / "feedback" / r.student / lab.name / "grading_notes.html", r)
                bar.set_postfix_str(printable(f"{r.student}: {fmt(r.score)}/{fmt(r.max_score)} {r.status}"))
                bar.update()
    finally:
        if own is not None:
            own.close()
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
    rows = [r for r in rows if (from_spreadsheet_text(r.get("student") or ""), r.get("lab")) not in new]
    rows += list(new.values())
    base = ["student", "lab", "score", "max_score"]
    tail = ["status", "notes", "graded_at"]
    cell_cols = [c for c in fields if c not in base + tail]
    cell_cols += [c for row in new.values() for c in row if c not in base + tail + cell_cols]
    fields = base + list(dict.fromkeys(cell_cols)) + tail
    rows.sort(key=lambda r: (r.get("lab", ""), r.get("student", "")))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".grades-", suffix=".tmp")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def graded_students(path: Path, lab: str) -> set[str]:
    """Students of `lab` with a row in grades.csv (for --resume)."""
    if not path.is_file():
        return set()
    with open(path, newline="", encoding="utf-8") as f:
        return {from_spreadsheet_text(r["student"]) for r in csv.DictReader(f)
                if r.get("lab") == lab and r.get("status") != "error"}


def write_notes(path: Path, r: Result) -> None:
    """A one-screen page for the student next to the feedback: score, status, what the grader noticed."""
    import html

    notes = "".join(f"<li>{html.escape(n)}</li>" for n in r.notes) or "<li>nothing to report</li>"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(r.lab)}: {html.escape(r.student)}"
                    f"</title><h1>{html.escape(r.lab)}: {fmt(r.score)} / {fmt(r.max_score)}</h1>"
                    f"<p>status: <b>{html.escape(r.status)}</b></p><ul>{notes}</ul>\n", encoding="utf-8")
