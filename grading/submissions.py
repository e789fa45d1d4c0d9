"""Finding what each student handed in, reading it whatever its encoding, and noting what they did to the
lab's structure. Nothing here runs student code.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grading.labsource import HIDDEN_BEGIN, HIDDEN_END, LabSource, strip_region

BIG_FILE_BYTES = 5_000_000


@dataclass
class Submission:
    student: str
    files: list[Path]  # what the student handed in for this lab (may be empty)
    loose: bool = False  # a loose <student>.ipynb: its name is the student's, not the notebook's



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


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, list[str]]:
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



def pick_files(sub: Submission, lab: LabSource) -> tuple[dict[str, Path], list[str]]:
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

