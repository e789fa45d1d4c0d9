"""Root pytest plugin: the BLAS threads of each pytest-xdist worker, and the wall time of each part of `make test`
(tests/, notebooks/, solutions/) at the end.

`make test` runs `--dist loadscope`: a notebook (its cells share one kernel), a test module (its module fixtures
are built once) or a class (tests/test_labs.py has one per lab) runs whole on one worker."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

_seconds: dict[str, float] = defaultdict(float)
_counts: dict[str, int] = defaultdict(int)
_ROOT = Path(__file__).resolve().parent


def _part(nodeid: str) -> str:
    top = nodeid.split("/", 1)[0].split("::", 1)[0]
    if top in ("notebooks", "solutions"):
        return "/".join(nodeid.split("::", 1)[0].split("/")[:2])
    return top


def pytest_configure(config) -> None:
    """In an xdist worker, share the cores out: each of N workers gets cores // N BLAS/OpenMP threads (torch here,
    and the lesson kernels nbval starts, which inherit this environment), so workers never oversubscribe the CPU
    (torch slows down 10-20x on 2 cores when two processes both spin 2 threads). An explicit setting wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, threads)


def pytest_collection_modifyitems(items) -> None:
    """nbval: never compare stderr. transformers and PEFT write warnings there that name local paths."""
    for item in items:
        notebook = item.parent
        if hasattr(notebook, "skip_compare") and "stderr" not in notebook.skip_compare:
            notebook.skip_compare = (*notebook.skip_compare, "stderr")


def pytest_runtest_logreport(report) -> None:
    _seconds[_part(report.nodeid)] += report.duration
    if report.when == "call":
        _counts[_part(report.nodeid)] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not _seconds:
        return
    write = terminalreporter.write_line
    terminalreporter.section("wall time by part")
    groups: dict[str, float] = defaultdict(float)
    for part, seconds in sorted(_seconds.items()):
        groups[part.split("/", 1)[0]] += seconds
        if "/" in part:
            write(f"  {part:<55} {seconds:7.1f} s")
    for group, seconds in sorted(groups.items()):
        write(f"{group + ' (total)':<57} {seconds:7.1f} s")
    write(f"{'all parts':<57} {sum(groups.values()):7.1f} s")
