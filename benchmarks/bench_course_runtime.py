"""Figure 1: course run time — wall time of executing every lesson and every lab solution, per notebook and in total.

Each notebook runs top to bottom in a fresh kernel with nbclient (what `jupyter nbconvert --execute` and `make outputs`
use), from its own folder, offline, in its default CI-sized setting (COURSE_FULL unset), into memory — nothing on disk
changes. The time of a notebook includes its kernel start. Target: total ≤ 15 min on this machine.

    python benchmarks/bench_course_runtime.py [--quick]     (--quick runs a one-cell notebook: the machinery only)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import ROOT, cli, device_label, pick_device, row, save_partial

FIGURE = "1 course run time"
TARGET_TOTAL_S = 15 * 60


def course_notebooks() -> list[Path]:
    """Every lesson (notebooks/*.ipynb) and every lab solution (solutions/lab*/*.ipynb), in course order."""
    lessons = sorted((ROOT / "notebooks").glob("*.ipynb"))
    labs = sorted(p for p in (ROOT / "solutions").glob("lab*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return lessons + labs


def execute(path: Path, timeout: int = 600) -> tuple[float, str | None]:
    """Seconds to execute `path` in a fresh kernel (cwd = its folder) and the error, if any."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except Exception as err:  # noqa: BLE001 - a failing notebook is a result, not the end of the benchmark
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"[:200]
    return time.perf_counter() - start, error


def rows_for(runs: dict[str, tuple[float, str | None]], scope: str, dev: str, planned: int) -> list[dict]:
    """The total row first, then one row per notebook; an incomplete total is marked missed and says so."""
    rows = [row(FIGURE, name, seconds, "s", None, dev, f"FAILED: {error}" if error else "kernel start + every cell")
            for name, (seconds, error) in runs.items()]
    total = sum(seconds for seconds, _ in runs.values())
    failed = [name for name, (_, error) in runs.items() if error]
    note = f"{scope}; {total / 60:.1f} min on this machine"
    if failed:
        note += f"; {len(failed)} FAILED ({', '.join(failed)}), so the total is incomplete"
    if len(runs) < planned:
        note += f"; INCOMPLETE: the run was stopped after {len(runs)} of {planned} notebooks, so this is a lower bound"
    total_row = row(FIGURE, "total, every lesson and lab solution", total, "s", ("<=", TARGET_TOTAL_S), dev, note)
    if failed or len(runs) < planned:
        total_row["met"] = False
    return [total_row, *rows]


def main(quick: bool) -> list[dict]:
    import nbformat

    notebooks = course_notebooks()
    dev = device_label(pick_device())
    if quick:
        with tempfile.TemporaryDirectory(prefix="bench-course-") as tmp:
            probe = Path(tmp) / "probe.ipynb"
            nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")]), probe)
            runs = {probe.name: execute(probe)}
        return rows_for(runs, f"quick: one one-cell notebook (found {len(notebooks)} course notebooks, not run)",
                        dev, 1)
    n_lessons = sum(1 for p in notebooks if p.parent.name == "notebooks")
    scope = f"{n_lessons} lessons + {len(notebooks) - n_lessons} lab solutions, executed one after another"
    runs: dict[str, tuple[float, str | None]] = {}
    for path in notebooks:
        name = str(path.relative_to(ROOT))
        runs[name] = execute(path)
        print(f"  {name}: {runs[name][0]:.1f} s", flush=True)
        save_partial(rows_for(runs, scope, dev, len(notebooks)))
    return rows_for(runs, scope, dev, len(notebooks))


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
