"""Root pytest plugin: print the wall time of each part of `make test` (tests/, notebooks/, solutions/)."""

from __future__ import annotations

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
