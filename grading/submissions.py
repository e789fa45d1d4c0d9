"""Finding what each student handed in, reading it whatever its encoding, and noting what they did to the
lab's structure. Nothing here runs student code.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading.labsource import LabSource

BIG_FILE_BYTES = 5_000_000
# Above this a file is not read at all: parsing takes about five times its size in memory, in the trusted grading
# process, two students at a time (a 300 MB notebook of saved outputs still grades; a zip bomb's does not).
MAX_NOTEBOOK_BYTES = 1_000_000_000


@dataclass
class Submission:
    student: str
    files: list[Path]  # what the student handed in for this lab (may be empty)
    loose: bool = False  # a loose <student>.ipynb: its name is the student's, not the notebook's
    notes: list[str] = field(default_factory=list)  # what was found but not read (symbolic links)


# Folders that archivers add beside what a student meant to hand in.
NOT_HANDED_IN = (".ipynb_checkpoints", "__MACOSX")


def printable(text: str) -> str:
    """`text` with its control characters escaped (`\\x1b`), for a terminal: a file or folder name handed in could
    carry escape sequences that rewrite what the instructor's terminal shows."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _link_note(path: Path, folder: Path) -> str:
    return (f"{path.relative_to(folder).as_posix() or path.name} is a symbolic link: not followed, not graded "
            "(hand in the notebook file itself)")


def submitted_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The regular files in a student's folder (sorted), and a note for each symbolic link in it.

    The grader reads submissions with the instructor's rights, outside the sandbox: a link handed in (a zip or tar
    unpacked with its links) could make it read the lab's solutions, or another student's work, as this student's.
    So no link below `folder` is followed; `folder` itself may be one (an instructor's layout of linked folders)."""
    files, notes = [], []
    for parent, dirs, names in os.walk(folder):  # os.walk never descends into a linked folder
        here = Path(parent)
        for name in sorted(dirs):
            if name in NOT_HANDED_IN:
                dirs.remove(name)
            elif (here / name).is_symlink():
                notes.append(_link_note(here / name, folder))
        for name in sorted(names):
            path = here / name
            if path.is_symlink():
                notes.append(_link_note(path, folder))
            elif path.is_file():
                files.append(path)
    return sorted(files), notes


def notebooks_on_top(folder: Path, lab: str) -> tuple[list[Path], list[str]]:
    """The notebooks directly in a student's folder that has no `<lab>/` folder (handed in without it), links not
    followed, and notes saying so."""
    files, notes = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() != ".ipynb":
            continue
        if path.is_symlink():
            notes.append(_link_note(path, folder))
        elif path.is_file():
            files.append(path)
    if files:
        notes.append(f"no {lab}/ folder: graded from the notebooks directly in the student's folder")
    return files, notes


def find_submissions(directory: Path, lab: str) -> list[Submission]:
    """nbgrader layout (`<student>/<lab>/*`) or loose `<student>.ipynb` files; sorted by student. A student's folder
    without a `<lab>/` folder is graded from the notebooks directly in it (`notebooks_on_top`).

    Every folder and notebook is a student, whatever its name (spaces, accents): the name is kept as it is. Hidden
    entries (`.ipynb_checkpoints`, `.DS_Store`) are not students; `ignored_entries` lists what else is skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no submissions folder {directory}")
    subs: dict[str, Submission] = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            lab_dir = entry / lab
            if lab_dir.is_symlink():
                files, notes = [], [_link_note(lab_dir, entry)]
            elif lab_dir.is_dir():
                files, notes = submitted_files(lab_dir)
            else:
                files, notes = notebooks_on_top(entry, lab)
            student, sub = entry.name, Submission(entry.name, files, notes=notes)
        elif entry.is_file() and entry.suffix.lower() == ".ipynb":
            linked = entry.is_symlink()
            student, sub = entry.stem, Submission(entry.stem, [] if linked else [entry], loose=True,
                                                  notes=[_link_note(entry, directory)] if linked else [])
        else:
            continue
        if student in subs:  # `jo.ipynb` next to a folder `jo`: both are graded, the second under a new name
            k = 2
            while f"{student} ({k})" in subs:
                k += 1
            student = sub.student = f"{student} ({k})"
        subs[student] = sub
    return [subs[k] for k in sorted(subs)]


def ignored_entries(directory: Path) -> list[str]:
    """Entries of a submissions folder that are neither a student folder nor a notebook (said, not graded)."""
    return sorted(p.name for p in Path(directory).iterdir() if not p.name.startswith(".") and p.is_file()
                  and p.suffix.lower() != ".ipynb")


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, list[str]]:
    """Parse a submitted notebook whatever its encoding; (None, [why]) when it is not a notebook."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return None, [f"{path.name} is {size / 1e9:.1f} GB: too big to be read as a notebook "
                      f"(the limit is {MAX_NOTEBOOK_BYTES / 1e9:g} GB; clear its outputs and hand it in again)"]
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
    """Status notes on the submission's cells: duplicated or missing grade_ids, never executed. (How its cells are
    matched to the lab, edited and re-ordered cells included, is noted by `grading.harness.assemble`.)"""
    notes = []
    src_cells = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    metas = [c.get("metadata", {}).get("nbgrader") for c in nb.cells]
    ids = [m.get("grade_id") for m in metas if isinstance(m, dict) and isinstance(m.get("grade_id"), str)]
    if not ids:
        return ["no nbgrader metadata (stripped by an editor?): cells matched to the lab by their text"]
    dups = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dups:
        notes.append(f"duplicated grade_id {', '.join(dups)}: only the first copy is graded")
    graded = [k for k, c in src_cells.items() if c.metadata["nbgrader"].get("grade")
              or c.metadata["nbgrader"].get("solution")]
    missing = [k for k in graded if k not in ids]
    if missing:
        notes.append(f"missing cell(s) {', '.join(missing)}: locked and test cells restored from the lab source")
    if nb.cells and all(c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"):
        notes.append("never executed before submission")
    return notes


def likeness(path: Path, source: nbformat.NotebookNode) -> int:
    """How much of the lab notebook `source` a submitted file holds: its cells that carry one of the lab's
    grade_ids or repeat one of the lab's cells word for word (0 for a file that is not a notebook)."""
    nb, _ = read_notebook(path)
    if nb is None:
        return 0
    ids = {c.metadata["nbgrader"]["grade_id"] for c in source.cells if "nbgrader" in c.metadata}
    texts = {c.source.strip() for c in source.cells if c.source.strip()}
    count = 0
    for cell in nb.cells:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        grader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = grader.get("grade_id") if isinstance(grader, dict) else None
        source = cell.get("source") if isinstance(cell, dict) else None
        count += (isinstance(grade_id, str) and grade_id in ids) or (isinstance(source, str) and source.strip() in texts)
    return count


def pick_files(sub: Submission, lab: LabSource) -> tuple[dict[str, Path], list[str]]:
    """Map each lab notebook to the student's file; a single wrongly named notebook is accepted (with a note):
    among several, the one that holds most of the lab (an empty `Untitled.ipynb` saved later loses), then the
    newest."""
    notebooks = [p for p in sub.files if p.suffix.lower() == ".ipynb"]
    by_stem = {p.stem: p for p in notebooks}
    chosen: dict[str, Path] = {s: by_stem[s] for s in lab.notebooks if s in by_stem}
    notes = []
    missing = [s for s in lab.notebooks if s not in chosen]
    spare = [p for p in notebooks if p not in chosen.values()]
    if len(missing) == 1 and spare:
        source = lab.notebooks[missing[0]]
        pick = max(spare, key=lambda p: (likeness(p, source), p.stat().st_mtime)) if len(spare) > 1 else spare[0]
        chosen[missing[0]] = pick
        if not sub.loose:
            notes.append(f"notebook named '{pick.name}', expected '{missing[0]}.ipynb': graded anyway")
        missing = []
    others = [p.name for p in sub.files if p.suffix.lower() != ".ipynb"]
    for stem in missing:  # a zip, a .py or .html export, a PDF: said, so the student can be asked for the notebook
        found = f" (handed in: {', '.join(others[:5])}{', ...' if len(others) > 5 else ''})" if others else ""
        notes.append(f"missing notebook {stem}.ipynb{found}")
    return chosen, notes

