"""Proof that a lab is gradable (tests/test_labs.py): a fresh release equals the committed labs/, no hidden-test or
solution line leaks into labs/, and the solution, the released stub and every wrong answer are graded (by
grading.grade, the same harness as a class).
"""

from __future__ import annotations

import json
import keyword
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading.demote import sandboxed_uids
from grading.grade import DEFAULT_CELL_TIMEOUT, GradingOptions, Result, grade_student, make_course
from grading.labsource import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    LABS,
    SOLUTION_BEGIN,
    SOLUTION_END,
    LabSource,
    WrongAnswer,
    load_lab,
    load_wrong_answers,
    solution_source,
)
from grading.sandbox import clean_stale, kernel_threads, sandbox_problem
from grading.submissions import Submission
from grading.zygote import Zygote, preload_lines
from grading.zygote import enabled as zygote_enabled


def student_versions(lab: LabSource, released: Path, honest: list[WrongAnswer] = ()
                     ) -> dict[str, dict[str, nbformat.NotebookNode]]:
    """The released stub, the solution, each wrong answer (`wrong<k>`) and each of `honest` (`honest<k>`: correct
    but unusual answers, in the wrong answers' format), as submitted notebooks built from the release."""
    wrong = load_wrong_answers(lab)
    stubs = {stem: nbformat.read(released / f"{stem}.ipynb", as_version=4) for stem in lab.notebooks}
    solution_cells = {c.metadata["nbgrader"]["grade_id"]: solution_source(c.source)
                      for nb in lab.notebooks.values() for c in nb.cells
                      if c.metadata.get("nbgrader", {}).get("solution")}

    def filled(replace: dict[str, str]) -> dict[str, nbformat.NotebookNode]:
        unknown = set(replace) - set(solution_cells)
        if unknown:
            raise ValueError(f"{lab.path}: wrong answers name {sorted(unknown)}, not solution cells of {lab.name}")
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
        versions[f"wrong{k}"] = filled(entry.replace)
    for k, entry in enumerate(honest):
        versions[f"honest{k}"] = filled(entry.replace)
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
    return {s for s in secret - public if len(s) >= 8 and not s.startswith("#") and not _keywords_only(s)}


def _keywords_only(line: str) -> bool:
    """A line of Python keywords alone (`continue`, `return None`, `else:`) tells nothing about a solution."""
    words = re.findall(r"\w+", line)
    return bool(words) and all(keyword.iskeyword(w) for w in words) and re.fullmatch(r"[\w\s:]*", line) is not None


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
    honest_names: dict[str, str] = field(default_factory=dict)


def release_labs(names: list[str], workdir: Path, cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> Path:
    """Release `names` at once in a throwaway course at `workdir` (one nbgrader process for all of them); returns
    the folder holding `<lab>/` for each, ready for `check_lab(..., released=...)`."""
    return make_course(workdir, [load_lab(name) for name in names], cell_timeout) / "labs"


def check_lab(name: str, workers: int = 2, cell_timeout: int = DEFAULT_CELL_TIMEOUT,
              released: Path | None = None, honest: list[WrongAnswer] = ()) -> LabCheck:
    """Compare a fresh release of `name` with labs/, and grade solution, stub, wrong answers and the `honest`
    answers (correct but unusual, tests/honest_answers/), each in its own kernel (`workers` at a time, no state
    shared between them). `released`: a folder where `release_labs` already released this lab (several labs
    released in one process are much cheaper); None releases it here.

    These are our own answers, not students': where bubblewrap is missing they run without the sandbox (the same
    harness, limits and scoring otherwise), so the proof also runs on machines without it; and their kernels are
    forked from one pre-imported process per lab (`grading.zygote`; COURSE_GRADING_ZYGOTE=0: a fresh kernel each,
    as a class gets), which saves the ~7 s of imports per kernel."""
    start = time.monotonic()
    lab = load_lab(name)
    wrong = load_wrong_answers(lab)
    clean_stale()
    with tempfile.TemporaryDirectory(prefix=f"check-{name}-") as tmp:
        if released is None:
            released = release_labs([name], Path(tmp) / "course", cell_timeout)
        problems = compare_release(released / name, LABS / name)
        versions = student_versions(lab, released / name, honest)
        subs = []
        for student, nbs in versions.items():
            folder = Path(tmp) / "submitted" / student / name
            folder.mkdir(parents=True)
            for stem, nb in nbs.items():
                nbformat.write(nb, folder / f"{stem}.ipynb")
            subs.append(Submission(student, sorted(folder.glob("*.ipynb"))))
        workers = max(1, min(workers, len(subs)))
        threads, sandbox = kernel_threads(workers), sandbox_problem() is None
        # as root, as `make grade` grades: each sandbox started as a uid of its own
        run_as = sandboxed_uids()[0] if sandbox and os.geteuid() == 0 else None
        zygote = Zygote(preload_lines(lab), threads, sandbox, run_as=run_as) if zygote_enabled() else None
        options = GradingOptions(cell_timeout=cell_timeout, threads=threads, feedback=False, sandbox=sandbox,
                                 zygote=zygote, run_as=run_as)
        try:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(lambda s: grade_student(lab, s, None, options), subs))
        finally:
            if zygote is not None:
                zygote.close()
    return LabCheck(lab, problems, leaked_lines(lab), {r.student: r for r in results},
                    {f"wrong{k}": e.name for k, e in enumerate(wrong)}, time.monotonic() - start,
                    {f"honest{k}": e.name for k, e in enumerate(honest)})
