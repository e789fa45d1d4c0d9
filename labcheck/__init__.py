"""`python -m labcheck check labs/lab04_attention/lab04_attention.ipynb`: run a lab and its visible tests.

For students, from a terminal, VS Code, Colab or CI (GitHub Classroom's autograding runs it per lab). It executes a
copy of the notebook from top to bottom in a fresh kernel, offline, *continuing past errors* so that every test
cell gets a verdict, and prints one line per test cell: its grade_id, its points, PASS or FAIL, and for a failure
the error's message (an `assert ..., "message"` prints its message). It also says which answer cells are still
unanswered and which locked cells were edited (nbgrader's checksums). The notebook itself is not changed.

Exit status: 0 when every cell ran and every visible test passed, 1 when anything failed, 2 when a notebook cannot
be read. Unlike `nbgrader validate`, which exits 0 whatever the tests say (jupyter/nbgrader#1908), a CI job can
gate on it.

Only the visible tests run here (the lab as released has no hidden tests). Passing them is necessary, not
sufficient: the graded run adds checks on fresh inputs. This is the student's own check, run as the student on
their own machine: it is no sandbox and no grade (the course's grader, `make grade`, is).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
               "MPLBACKEND": "Agg", "TQDM_DISABLE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
DEFAULT_CELL_TIMEOUT = 600
MESSAGE_CHARS = 600


@dataclass
class CellResult:
    """One executed code cell: its nbgrader role and what happened."""

    grade_id: str
    kind: str  # test | answer | locked | other
    points: float
    ok: bool
    error: str = ""  # "Ename: message" of the first error the cell raised


@dataclass
class Report:
    notebook: Path
    cells: list[CellResult]
    edited: list[str]  # locked cells whose source differs from the released lab's

    @property
    def tests(self) -> list[CellResult]:
        return [c for c in self.cells if c.kind == "test"]

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.cells) and not self.edited


def _role(cell: nbformat.NotebookNode) -> tuple[str, str, float]:
    meta = cell.metadata.get("nbgrader", {})
    gid = str(meta.get("grade_id", ""))
    if meta.get("grade") and not meta.get("solution"):
        return gid, "test", float(meta.get("points", 0) or 0)
    if meta.get("solution"):
        return gid, "answer", float(meta.get("points", 0) or 0) if meta.get("grade") else 0.0
    if meta.get("locked"):
        return gid, "locked", 0.0
    return gid, "other", 0.0


def _error(cell: nbformat.NotebookNode) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            message = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip().rstrip(":")
            return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + " ..."
    return ""


def edited_locked_cells(nb: nbformat.NotebookNode) -> list[str]:
    """grade_ids of locked cells (instructions, setup, tests) whose source no longer matches nbgrader's checksum.
    Empty where nbgrader is not installed."""
    try:
        from nbgrader.utils import compute_checksum, is_locked
    except ImportError:
        return []
    edited = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("checksum") and is_locked(cell) and compute_checksum(cell) != meta["checksum"]:
            edited.append(str(meta.get("grade_id", "?")))
    return edited


def course_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds the course package `utils/` (for the kernel's imports)."""
    for folder in (start, *start.parents):
        if (folder / "utils" / "__init__.py").is_file():
            return folder
    return None


def run_lab(path: Path, cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> Report:
    """Execute a copy of the notebook at `path` (in its own folder, offline, every cell even after an error)."""
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    edited = edited_locked_cells(nb)
    env = dict(os.environ, **OFFLINE_ENV)
    root = course_root(path.parent)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(path.parent)}}, record_timing=False)
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid, kind, points = _role(cell)
        error = _error(cell)
        cells.append(CellResult(gid or f"cell {index + 1}", kind, points, not error, error))
    return Report(path, cells, edited)


def _fmt(x: float) -> str:
    return f"{x:g}"


def print_report(report: Report, out=sys.stdout) -> None:
    tests = report.tests
    width = max([len(c.grade_id) for c in tests] + [4])
    print(f"{report.notebook.name}: visible tests", file=out)
    for c in tests:
        unit = "point" if c.points == 1 else "points"
        line = f"  {'PASS' if c.ok else 'FAIL'}  {c.grade_id:<{width}}  {_fmt(c.points):>3} {unit:<6}"
        print(line + (f"  {c.error}" if c.error else ""), file=out)
    for c in report.cells:
        if c.kind == "answer" and not c.ok:
            hint = "not answered yet" if c.error.startswith("NotImplementedError") else "raised"
            print(f"  answer cell {c.grade_id}: {hint} ({c.error})", file=out)
        elif c.kind in ("locked", "other") and not c.ok:
            print(f"  cell {c.grade_id}: {c.error}", file=out)
    for gid in report.edited:
        print(f"  locked cell {gid} was edited: restore it from the released lab (grading uses the original)",
              file=out)
    passed = [c for c in tests if c.ok]
    total, got = sum(c.points for c in tests), sum(c.points for c in passed)
    verdict = "every visible test passed" if report.passed else "NOT all passed"
    print(f"{len(passed)}/{len(tests)} test cells pass ({_fmt(got)} of {_fmt(total)} points if the hidden checks "
          f"agree): {verdict}", file=out)


def _resolve(arg: str) -> Path:
    """A notebook path, or a lab's name (labs/<name>/<name>.ipynb under the current folder)."""
    path = Path(arg)
    if path.is_dir():
        found = sorted(path.glob("*.ipynb"))
        return found[0] if len(found) == 1 else path / f"{path.name}.ipynb"
    if not path.exists() and path.suffix != ".ipynb":
        return Path("labs") / arg / f"{arg}.ipynb"
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labcheck",
                                     description="Run a lab notebook and its visible tests; print a verdict per "
                                                 "test cell; exit 1 when any fails.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run one or more labs' visible tests")
    check.add_argument("notebooks", nargs="+", help="labs/<lab>/<lab>.ipynb (or a lab's name)")
    check.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                       help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    args = parser.parse_args(argv)
    status = 0
    for arg in args.notebooks:
        path = _resolve(arg)
        try:
            nbformat.read(path, as_version=4)
        except Exception as err:  # noqa: BLE001 - any unreadable file is this notebook's answer
            print(f"{arg}: cannot read this notebook: {type(err).__name__}: {err}", file=sys.stderr)
            status = max(status, 2)
            continue
        start = time.monotonic()
        report = run_lab(path, args.cell_timeout)
        print_report(report)
        print(f"({time.monotonic() - start:.0f} s)")
        if not report.passed:
            status = max(status, 1)
    return status
