"""Autograde a lab for a whole class with nbgrader — safely, one student at a time in a throwaway course directory.

    python -m utils.grading --lab lab00_setup --submissions submitted        # or: make grade LAB=lab00_setup
    python -m utils.grading --lab lab00_setup --submissions ~/Downloads/lab00_export   # loose <student>.ipynb

Submissions come in nbgrader's layout (`DIR/<student>/<lab>/<notebook>.ipynb`) or as a folder of loose
`<student>.ipynb` files. Every student is graded by its own process (`utils._grading_worker`) in its own temporary
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

`check_lab(lab)` is the lab-validity proof used by tests/test_labs.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from utils import ROOT

SOLUTIONS = ROOT / "solutions"
LABS = ROOT / "labs"
COURSE_CONFIG = ROOT / "nbgrader_config.py"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
NEVER_RELEASED = ("wrong_answers.json",)
BIG_FILE_BYTES = 5_000_000

DEFAULT_CELL_TIMEOUT = 120
DEFAULT_MEMORY_GB = 6.0


# ----------------------------------------------------------------------------------------------- the lab source


@dataclass
class LabSource:
    """What the grader needs to know about one lab's nbgrader source in solutions/."""

    name: str
    path: Path
    notebooks: dict[str, nbformat.NotebookNode]  # notebook stem -> source notebook
    points: dict[str, float] = field(default_factory=dict)  # "<nb>:<grade_id>" -> max points, in notebook order

    @property
    def max_score(self) -> float:
        return sum(self.points.values())

    def column(self, key: str) -> str:
        """CSV column of a graded cell: its grade_id, prefixed by the notebook when the lab has several."""
        return key if len(self.notebooks) > 1 else key.split(":", 1)[1]


def load_lab(lab: str, solutions: Path = SOLUTIONS) -> LabSource:
    path = solutions / lab
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in sorted(path.glob("*.ipynb"))}
    if not notebooks:
        raise FileNotFoundError(f"no lab '{lab}': {path} has no notebook (labs: {', '.join(list_labs(solutions))})")
    source = LabSource(lab, path, notebooks)
    for stem, nb in notebooks.items():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                source.points[f"{stem}:{meta['grade_id']}"] = float(meta.get("points", 0))
    return source


def list_labs(solutions: Path = SOLUTIONS) -> list[str]:
    return sorted(p.parent.name for p in solutions.glob("*/*.ipynb") if p.parent.name.startswith("lab"))


# ------------------------------------------------------------------------------------- throwaway course directories


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
    _run_worker(["release", str(workdir), lab.name], timeout=600)
    return workdir


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1",
               MPLBACKEND="Agg", TQDM_DISABLE="1", PYDEVD_DISABLE_FILE_VALIDATION="1",
               CUDA_VISIBLE_DEVICES="", COURSE_DEVICE="cpu")  # a memory limit and CUDA's start-up do not mix
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def _limits(memory_gb: float | None):
    def apply() -> None:
        if memory_gb:
            limit = int(memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _kill_tree(pid: int) -> None:
    """Kill a worker and everything it started: the kernel runs in its own session, so a process group kill misses it."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _run_worker(args: list[str], timeout: float, memory_gb: float | None = None, threads: int = 1,
                log: Path | None = None) -> tuple[int | None, float]:
    """Run `python -m utils._grading_worker ARGS`; returns (exit code or None when killed at `timeout`, seconds)."""
    start = time.monotonic()
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, "-m", "utils._grading_worker", *args], cwd=args[1],
                                env=_worker_env(threads), stdout=out, stderr=subprocess.STDOUT if log else None,
                                stdin=subprocess.DEVNULL, preexec_fn=_limits(memory_gb), start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            proc.wait()
            code = None
        else:
            _kill_tree(proc.pid)  # a kernel left behind (e.g. by a crashed worker) must not outlive its student
    finally:
        if log:
            out.close()
    if code not in (0, None) and args[0] == "release":
        raise RuntimeError(f"nbgrader generate_assignment failed for {args[2]} in {args[1]}")
    return code, time.monotonic() - start


# ------------------------------------------------------------------------------------------------- submissions


@dataclass
class Submission:
    student: str
    files: list[Path]  # what the student handed in for this lab (may be empty)
    loose: bool = False  # a loose <student>.ipynb: its name is the student's, not the notebook's


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
        row = {"student": self.student, "lab": self.lab, "score": _fmt(self.score),
               "max_score": _fmt(self.max_score)}
        row.update({lab.column(k): _fmt(self.cells.get(k, 0.0)) for k in lab.points})
        row.update(status=self.status, notes="; ".join(self.notes),
                   graded_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        return row


def _fmt(x: float) -> str:
    return f"{x:g}"


STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")


def find_submissions(directory: Path, lab: str) -> list[Submission]:
    """nbgrader layout (`<student>/<lab>/*`) or loose `<student>.ipynb` files; sorted by student."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no submissions folder {directory}")
    subs: dict[str, Submission] = {}
    for entry in sorted(directory.iterdir()):
        if entry.is_dir() and STUDENT_RE.match(entry.name):
            lab_dir = entry / lab
            files = sorted(p for p in lab_dir.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts) \
                if lab_dir.is_dir() else []
            subs[entry.name] = Submission(entry.name, files)
        elif entry.is_file() and entry.suffix.lower() == ".ipynb":
            student = re.sub(r"[^A-Za-z0-9_.@+-]", "_", entry.stem)
            subs[student] = Submission(student, [entry], loose=True)
    return [subs[k] for k in sorted(subs)]


def _read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, list[str]]:
    """Parse a submitted notebook whatever its encoding; (None, [why]) when it is not a notebook."""
    data = path.read_bytes()
    notes = []
    if len(data) > BIG_FILE_BYTES:
        notes.append(f"{path.name} is {len(data) / 1e6:.0f} MB (saved outputs are cleared before grading)")
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            nb = nbformat.reads(text, as_version=4)
        except Exception:  # noqa: BLE001 - any failure means: try the next encoding
            continue
        if encoding not in ("utf-8", "utf-8-sig"):
            notes.append(f"{path.name} was not UTF-8; read as {encoding}")
        return nb, notes
    return None, notes + [f"{path.name} is not a readable notebook (not JSON in any known encoding)"]


def inspect_notebook(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Status notes for what a student did to the lab's structure (nbgrader repairs most of it when grading)."""
    notes = []
    src_cells = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    ids = [i for i in ids if i]
    dups = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dups:
        notes.append(f"duplicated grade_id {', '.join(dups)}: only the first copy is graded")
    graded = [k for k, c in src_cells.items() if c.metadata["nbgrader"].get("grade")
              or c.metadata["nbgrader"].get("solution")]
    missing = [k for k in graded if k not in ids]
    if missing:
        notes.append(f"missing cell(s) {', '.join(missing)}: test cells restored from the lab source")
    seen = [i for i in dict.fromkeys(ids) if i in src_cells]
    expected = [k for k in src_cells if k in seen]
    if seen != expected:
        notes.append("cells re-ordered: graded in the student's order")
    edited = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in src_cells and src_cells[gid].metadata["nbgrader"].get("locked") \
                and not src_cells[gid].metadata["nbgrader"].get("solution"):
            released = strip_region(src_cells[gid].source, HIDDEN_BEGIN, HIDDEN_END)
            if cell.source.strip() != released.strip() and cell.source.strip() != src_cells[gid].source.strip():
                edited.append(gid)
    if edited:
        notes.append(f"locked/test cell(s) {', '.join(dict.fromkeys(edited))} edited: graded with the original")
    if nb.cells and all(c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"):
        notes.append("never executed before submission")
    return notes


def deduplicate_ids(nb: nbformat.NotebookNode) -> None:
    """Keep the first cell of each grade_id; later copies (and nbgrader metadata without a grade_id) become plain
    cells. nbgrader's own DeduplicateIds keeps the last copy and leaves `nbgrader: {}` behind, which crashes
    OverwriteCells.add_missing_cells (KeyError: 'grade_id')."""
    seen = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if not gid or gid in seen:
            del cell.metadata["nbgrader"]
        else:
            seen.add(gid)


def strip_region(source: str, begin: str, end: str) -> str:
    """`source` without the lines from the one containing `begin` to the one containing `end` (inclusive)."""
    kept, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def _pick_files(sub: Submission, lab: LabSource) -> tuple[dict[str, Path], list[str]]:
    """Map each lab notebook to the student's file; a single wrongly named notebook is accepted (with a note)."""
    notebooks = [p for p in sub.files if p.suffix.lower() == ".ipynb"]
    by_stem = {p.stem: p for p in notebooks}
    chosen: dict[str, Path] = {s: by_stem[s] for s in lab.notebooks if s in by_stem}
    notes = []
    missing = [s for s in lab.notebooks if s not in chosen]
    spare = [p for p in notebooks if p not in chosen.values()]
    if len(missing) == 1 and spare:
        pick = max(spare, key=lambda p: p.stat().st_mtime) if len(spare) > 1 else spare[0]
        chosen[missing[0]] = pick
        if not sub.loose:
                notes.append(f"notebook named '{pick.name}', expected '{missing[0]}.ipynb': graded anyway")
        missing = []
    for stem in missing:
        notes.append(f"missing notebook {stem}.ipynb")
    return chosen, notes


# ----------------------------------------------------------------------------------------------------- grading


def grade_student(template: Path, lab: LabSource, sub: Submission, workroot: Path, out: Path | None,
                  cell_timeout: int, memory_gb: float | None, threads: int, feedback: bool) -> Result:
    """Grade one student in a copy of `template` (a released course directory); never raises."""
    start = time.monotonic()
    notes: list[str] = []
    zero = {k: 0.0 for k in lab.points}
    if out:  # a re-run replaces this student's previous results, whatever happens now
        for kind in ("feedback", "autograded"):
            shutil.rmtree(out / kind / sub.student / lab.name, ignore_errors=True)
    chosen, pick_notes = _pick_files(sub, lab)
    notes += pick_notes
    work = Path(tempfile.mkdtemp(prefix=f"{sub.student}-", dir=workroot))
    try:
        shutil.copytree(template, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("result.json"))
        target = work / "submitted" / sub.student / lab.name
        target.mkdir(parents=True)
        readable = 0
        for stem, path in chosen.items():
            nb, read_notes = _read_notebook(path)
            notes += read_notes
            if nb is None:
                continue
            notes += inspect_notebook(nb, lab.notebooks[stem])
            deduplicate_ids(nb)
            nbformat.write(nb, target / f"{stem}.ipynb")  # UTF-8, the expected name
            readable += 1
        for extra in (lab.path).iterdir():  # data files of the lab come from the source, never from the student
            if extra.is_file() and extra.suffix != ".ipynb" and extra.name not in NEVER_RELEASED:
                shutil.copy2(extra, target / extra.name)
        if not readable:
            status = "missing" if not chosen else "unreadable"
            return Result(sub.student, lab.name, 0.0, lab.max_score, zero, status, notes or ["nothing submitted"],
                          time.monotonic() - start)

        n_cells = sum(len(nb.cells) for nb in lab.notebooks.values())
        budget = cell_timeout * (n_cells + 2) + 120
        log = (out / "logs" / lab.name / f"{sub.student}.log") if out else work / "worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        args = ["grade", str(work), lab.name, sub.student] + (["--feedback"] if feedback else [])
        code, _ = _run_worker(args, timeout=budget, memory_gb=memory_gb, threads=threads, log=log)
        result_file = work / "result.json"
        result = json.loads(result_file.read_text()) if result_file.is_file() else None
        if code is None:
            notes.append(f"killed after {budget} s (the whole notebook's time limit; e.g. a loop that ignores "
                         "interrupts)")
            status = "timeout"
        elif result is None:
            notes.append(f"grading process died (exit {code}); memory limit {memory_gb} GB exceeded?")
            status = "crashed"
        elif not result["autograde_ok"]:
            err = result.get("error", "")
            if "DeadKernelError" in err or "Kernel died" in err or "kernel died" in err.lower():
                notes.append("the kernel died while running the notebook (os._exit, a segfault or the memory "
                             "limit): no score")
                status = "crashed"
            else:
                last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["unknown error"]
                notes.append(f"autograde failed: {last[0][:200]}")
                status = "error"
        else:
            status = "ok"
        cells = dict(zero)
        if result and status == "ok":
            for key, value in result["cells"].items():
                if key in cells:
                    cells[key] = value["score"]
            for key, err in result["errors"].items():
                if err["ename"] in ("CellTimeoutError", "KeyboardInterrupt"):
                    notes.append(f"cell {key.split(':', 1)[1]} exceeded the {cell_timeout} s time limit")
                    status = "timeout"
                elif err["ename"] and key.split(":", 1)[1] not in _test_ids(lab):
                    notes.append(f"cell {key.split(':', 1)[1]} raised {err['ename']}")
                if err["truncated"]:
                    notes.append(f"output of cell {key.split(':', 1)[1]} truncated")
            failed = [lab.column(k) for k in lab.points if cells[k] < lab.points[k]]
            if failed:
                notes.append(f"tests failed: {', '.join(failed)}")
        if out:
            _collect(work, out, lab.name, sub.student)
        score = sum(cells.values())
        return Result(sub.student, lab.name, score, lab.max_score, cells, status, notes, time.monotonic() - start)
    except Exception as err:  # noqa: BLE001 - one student's disaster must not stop the batch
        return Result(sub.student, lab.name, 0.0, lab.max_score, zero, "error",
                      notes + [f"grader error: {type(err).__name__}: {err}"], time.monotonic() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _test_ids(lab: LabSource) -> set[str]:
    return {k.split(":", 1)[1] for k in lab.points}


def _collect(work: Path, out: Path, lab: str, student: str) -> None:
    for kind in ("feedback", "autograded"):
        src = work / kind / student / lab
        dst = out / kind / student / lab
        if src.is_dir():
            shutil.copytree(src, dst)


def grade_all(lab: LabSource, subs: list[Submission], out: Path | None = None, workers: int = 2,
              cell_timeout: int = DEFAULT_CELL_TIMEOUT, memory_gb: float | None = DEFAULT_MEMORY_GB,
              feedback: bool = True, progress: bool = True) -> list[Result]:
    """Grade every submission, `workers` students at a time; results in the order of `subs`."""
    from tqdm.auto import tqdm

    workers = max(1, min(workers, len(subs) or 1))
    threads = max(1, (os.cpu_count() or 1) // workers)
    with tempfile.TemporaryDirectory(prefix=f"grade-{lab.name}-") as tmp:
        template = make_course(Path(tmp) / "course", lab, cell_timeout)
        results: dict[str, Result] = {}
        with ThreadPoolExecutor(workers) as pool, \
                tqdm(total=len(subs), desc=f"grading {lab.name}", unit="student", disable=not progress) as bar:
            futures = {pool.submit(grade_student, template, lab, s, Path(tmp), out, cell_timeout, memory_gb,
                                   threads, feedback): s for s in subs}
            for future in as_completed(futures):
                r = future.result()
                results[r.student] = r
                bar.set_postfix_str(f"{r.student}: {_fmt(r.score)}/{_fmt(r.max_score)} {r.status}")
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
                    f"</title><h1>{html.escape(r.lab)}: {_fmt(r.score)} / {_fmt(r.max_score)}</h1>"
                    f"<p>status: <b>{html.escape(r.status)}</b></p><ul>{notes}</ul>\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------ lab validity


def solution_source(source: str) -> str:
    """A solution cell as a student would hand it in: the solution without the nbgrader markers."""
    return "\n".join(line for line in source.splitlines() if SOLUTION_BEGIN not in line and SOLUTION_END not in line)


def student_versions(lab: LabSource, released: Path) -> dict[str, dict[str, nbformat.NotebookNode]]:
    """The released stub, the solution, and each wrong answer, as submitted notebooks built from the release."""
    wrong_path = lab.path / "wrong_answers.json"
    wrong = json.loads(wrong_path.read_text()) if wrong_path.is_file() else []
    stubs = {stem: nbformat.read(released / f"{stem}.ipynb", as_version=4) for stem in lab.notebooks}
    solution_cells = {c.metadata["nbgrader"]["grade_id"]: solution_source(c.source)
                      for nb in lab.notebooks.values() for c in nb.cells
                      if c.metadata.get("nbgrader", {}).get("solution")}

    def filled(replace: dict[str, str]) -> dict[str, nbformat.NotebookNode]:
        unknown = set(replace) - set(solution_cells)
        if unknown:
            raise ValueError(f"{wrong_path}: {sorted(unknown)} are not solution cells of {lab.name}")
        out = {}
        for stem, stub in stubs.items():
            nb = nbformat.from_dict(json.loads(json.dumps(stub)))
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in solution_cells:
                    cell.source = replace.get(gid, solution_cells[gid])
            out[stem] = nb
        return out

    versions = {"solution": filled({}), "stub": stubs}
    for k, entry in enumerate(wrong):
        versions[f"wrong{k}"] = filled(entry["replace"])
    return versions


def normalized(nb: nbformat.NotebookNode) -> dict:
    """A notebook without what legitimately changes between two releases (checksums, execution metadata)."""
    d = json.loads(json.dumps(nb))
    for cell in d["cells"]:
        cell.get("metadata", {}).get("nbgrader", {}).pop("checksum", None)
        cell.get("metadata", {}).pop("execution", None)
    d.get("metadata", {}).pop("widgets", None)
    return d


def compare_release(fresh: Path, committed: Path) -> list[str]:
    """Differences between a fresh release of a lab and the committed labs/<lab> (empty list: identical)."""
    problems = []
    files_a = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    files_b = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} if committed.is_dir() else set()
    for rel in sorted(files_a ^ files_b):
        problems.append(f"{rel}: only in the {'fresh release' if rel in files_a else 'committed labs/'}")
    for rel in sorted(files_a & files_b):
        if rel.suffix == ".ipynb":
            if normalized(nbformat.read(fresh / rel, 4)) != normalized(nbformat.read(committed / rel, 4)):
                problems.append(f"{rel}: differs from a fresh release (run `make release`)")
        elif (fresh / rel).read_bytes() != (committed / rel).read_bytes():
            problems.append(f"{rel}: differs from a fresh release (run `make release`)")
    return problems


def secret_lines(lab: LabSource) -> set[str]:
    """Lines of hidden tests and solutions that appear nowhere in the lab's public text (stripped, non-trivial)."""
    secret, public = set(), set()
    for nb in lab.notebooks.values():
        for cell in nb.cells:
            region = None
            for line in cell.source.splitlines():
                if HIDDEN_BEGIN in line or SOLUTION_BEGIN in line:
                    region = line
                elif HIDDEN_END in line or SOLUTION_END in line:
                    region = None
                elif region:
                    secret.add(line.strip())
                else:
                    public.add(line.strip())
    return {s for s in secret - public if len(s) >= 8 and not s.startswith("#")}


def leaked_lines(lab: LabSource, labs_dir: Path = LABS) -> list[str]:
    """Secret lines of `lab` found anywhere under labs/ (in any file, any cell source or output)."""
    secrets = secret_lines(lab)
    leaks = []
    for path in sorted(p for p in labs_dir.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.suffix == ".ipynb":
            nb = json.loads(text)
            text = "\n".join("".join(c.get("source", "")) + "\n" + json.dumps(c.get("outputs", []))
                             for c in nb.get("cells", []))
        lines = {line.strip() for line in text.splitlines()}
        for s in sorted(secrets):
            if s in lines or s in text:
                leaks.append(f"{path.relative_to(labs_dir)}: {s}")
    return leaks


@dataclass
class LabCheck:
    lab: LabSource
    release_problems: list[str]
    leaks: list[str]
    results: dict[str, Result]
    wrong_names: dict[str, str]
    seconds: float


def check_lab(name: str, workers: int = 2, cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> LabCheck:
    """Release `name` in a throwaway course, compare with labs/, and autograde solution, stub and wrong answers."""
    start = time.monotonic()
    lab = load_lab(name)
    wrong_path = lab.path / "wrong_answers.json"
    wrong = json.loads(wrong_path.read_text()) if wrong_path.is_file() else []
    with tempfile.TemporaryDirectory(prefix=f"check-{name}-") as tmp:
        course = make_course(Path(tmp) / "course", lab, cell_timeout)
        released = course / "labs" / name
        problems = compare_release(released, LABS / name)
        versions = student_versions(lab, released)
        subs = []
        for student, nbs in versions.items():
            folder = Path(tmp) / "submitted" / student / name
            folder.mkdir(parents=True)
            for stem, nb in nbs.items():
                nbformat.write(nb, folder / f"{stem}.ipynb")
            subs.append(Submission(student, sorted(folder.glob("*.ipynb"))))
        workers = max(1, min(workers, len(subs)))
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda s: grade_student(course, lab, s, Path(tmp), None, cell_timeout,
                                                            DEFAULT_MEMORY_GB, threads, False), subs))
    return LabCheck(lab, problems, leaked_lines(lab), {r.student: r for r in results},
                    {f"wrong{k}": e["name"] for k, e in enumerate(wrong)}, time.monotonic() - start)


# ----------------------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.grading",
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
    results = grade_all(lab, subs, out, workers=args.workers, cell_timeout=args.cell_timeout,
                        memory_gb=args.memory_gb or None, feedback=not args.no_feedback)
    write_grades(out / "grades.csv", lab, results)
    for r in results:
        write_notes(out / "feedback" / r.student / lab.name / "grading_notes.html", r)
    width = max(len(r.student) for r in results)
    for r in results:
        print(f"{r.student:<{width}}  {_fmt(r.score):>5}/{_fmt(r.max_score):<5} {r.status:<10} {'; '.join(r.notes)}")
    times = sorted(r.seconds for r in results)
    print(f"{len(results)} students in {time.monotonic() - start:.0f} s (median {times[len(times) // 2]:.0f} s per "
          f"student, {args.workers} at a time)")
    print(f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
