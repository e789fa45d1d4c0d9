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

from _common import ROOT, cli, device_label, pick_device, row

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


def main(quick: bool) -> list[dict]:
    import nbformat

    notebooks = course_notebooks()
    dev = device_label(pick_device())
    if quick:
        with tempfile.TemporaryDirectory(prefix="bench-course-") as tmp:
            probe = Path(tmp) / "probe.ipynb"
            nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")]), probe)
            runs = {probe.name: execute(probe)}
        scope = f"quick: one one-cell notebook (found {len(notebooks)} course notebooks, not run)"
    else:
        runs = {}
        for path in notebooks:
            runs[str(path.relative_to(ROOT))] = execute(path)
            print(f"  {path.relative_to(ROOT)}: {runs[str(path.relative_to(ROOT))][0]:.1f} s", flush=True)
        n_lessons = sum(1 for p in notebooks if p.parent.name == "notebooks")
        scope = f"{n_lessons} lessons + {len(notebooks) - n_lessons} lab solutions, executed one after another"
    rows = [row(FIGURE, name, seconds, "s", None, dev, f"FAILED: {error}" if error else "kernel start + every cell")
            for name, (seconds, error) in runs.items()]
    total = sum(seconds for seconds, _ in runs.values())
    failed = [name for name, (_, error) in runs.items() if error]
    total_row = row(FIGURE, "total, every lesson and lab solution", total, "s", ("<=", TARGET_TOTAL_S), dev,
                    f"{scope}; {total / 60:.1f} min on this machine"
                    + (f"; {len(failed)} FAILED ({', '.join(failed)}), so the total is incomplete" if failed else ""))
    if failed:
        total_row["met"] = False
    return [total_row, *rows]


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
