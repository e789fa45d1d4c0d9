"""grading.lms: Canvas's and Moodle's gradebook import files, keyed by the ids of the roster the LMS exported."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from grading import cli, lms

CANVAS_ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,Lab 4 attention (4411),Current Score
Points Possible,,,,,10,
"Lovelace, Ada",1001,S-17,ada@uni.example,Sec A,,
"Turing, Alan",1002,S-18,alan@uni.example,Sec A,,
"Hopper, Grace",1003,S-19,grace@uni.example,Sec B,,
"Student, Test",9999,,,Sec A,,
"""

MOODLE_ROSTER = """\
First name,Last name,ID number,Institution,Department,Email address,Last downloaded from this course
Ada,Lovelace,S-17,,,ada@uni.example,1764460800
Alan,Turing,S-18,,,alan@uni.example,1764460800
Grace,Hopper,S-19,,,grace@uni.example,1764460800
"""


def _grades(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "grades.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lab", "score", "max_score", "status", "notes", "graded_at"])
        writer.writerows([s, lab, score, "10", "ok", "", "2026-11-30 03:00:00"] for s, lab, score in rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_canvas_import_uses_the_rosters_columns_and_assignment_id(tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    # Ada by Canvas ID, Alan by SIS login (other case), Grace not graded; a lab03 row must not leak in.
    grades = _grades(tmp_path, [("1001", "lab04_attention", "7.5"), ("ALAN@uni.example ", "lab04_attention", "10"),
                                ("1001", "lab03_positional", "3")])
    path, export = lms.export_grades("canvas", "lab04_attention", grades, roster, assignment="Lab 4 attention")
    assert path == tmp_path / "lab04_attention_canvas.csv"
    rows = _read(path)
    assert list(rows[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 4 attention (4411)"]
    assert [(r["ID"], r["Lab 4 attention (4411)"]) for r in rows] == [("1001", "7.5"), ("1002", "10"), ("1003", "")]
    assert export.not_in_roster == [] and export.ambiguous == {}
    assert export.without_grade == ["Hopper, Grace (1003)"]


def test_graded_students_missing_from_the_roster_are_reported_and_fail_the_command(tmp_path, capsys):
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    grades = _grades(tmp_path, [("S-17", "lab04_attention", "4"), ("mallory", "lab04_attention", "9")])
    assert lms.main(["--lab", "lab04_attention", "--lms", "canvas", "--roster", str(roster),
                     "--grades", str(grades)]) == 1
    err = capsys.readouterr().err
    assert "NOT IN THE ROSTER" in err and "mallory" in err
    rows = _read(tmp_path / "lab04_attention_canvas.csv")
    assert [r["lab04_attention"] for r in rows] == ["4", "", ""]  # no column for it in the export: a new one


def test_a_student_matching_two_roster_rows_is_left_out_and_reported(tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER.replace("S-18", "1001"), encoding="utf-8")  # Alan's SIS id = Ada's Canvas id
    grades = _grades(tmp_path, [("1001", "lab04_attention", "5")])
    _, export = lms.export_grades("canvas", "lab04_attention", grades, roster)
    assert export.ambiguous == {"1001": [1, 2]}
    assert all(r["lab04_attention"] == "" for r in export.rows)


def test_moodle_import_keys_by_email_or_id_number(tmp_path):
    roster = tmp_path / "moodle.csv"
    roster.write_text("\ufeff" + MOODLE_ROSTER, encoding="utf-8")  # Moodle's export starts with a BOM
    grades = _grades(tmp_path, [("grace@uni.example", "lab04_attention", "6"), ("S-17", "lab04_attention", "8")])
    path, export = lms.export_grades("moodle", "lab04_attention", grades, roster, assignment="Lab 4")
    rows = _read(path)
    assert list(rows[0]) == ["First name", "Last name", "ID number", "Email address", "Lab 4"]
    assert [(r["Email address"], r["Lab 4"]) for r in rows] == [
        ("ada@uni.example", "8"), ("alan@uni.example", ""), ("grace@uni.example", "6")]
    assert export.without_grade == ["Alan Turing (S-18)"]


def test_a_roster_of_the_other_lms_is_refused(tmp_path):
    roster = tmp_path / "moodle.csv"
    roster.write_text(MOODLE_ROSTER, encoding="utf-8")
    grades = _grades(tmp_path, [("S-17", "lab04_attention", "8")])
    with pytest.raises(ValueError, match="canvas gradebook export"):
        lms.export_grades("canvas", "lab04_attention", grades, roster)


def test_grading_cli_wants_lms_and_roster_together(tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--lab", "lab00_setup", "--lms", "canvas"])
    assert exit_.value.code == 2


def test_grading_cli_writes_the_import_after_grading(tmp_path):
    # --resume with everyone graded reaches the export without starting a kernel.
    subs = tmp_path / "submitted"
    subs.mkdir()
    (subs / "1002.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    out = tmp_path / "out"
    out.mkdir()
    _grades(out, [("1002", "lab00_setup", "3")])
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    assert cli.main(["--lab", "lab00_setup", "--submissions", str(subs), "--out", str(out), "--resume",
                     "--lms", "canvas", "--roster", str(roster)]) == 0
    rows = _read(out / "lab00_setup_canvas.csv")
    assert [r["lab00_setup"] for r in rows] == ["", "3", ""]


def test_grading_cli_checks_the_roster_before_grading(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--lab", "lab00_setup", "--submissions", str(tmp_path), "--lms", "moodle",
                  "--roster", str(tmp_path / "missing.csv")])
    assert exit_.value.code == 2 and "no roster" in capsys.readouterr().err


GRADESCOPE_EXPORT = """\
First Name,Last Name,SID,Email,Sections,Total Score,Max Points,Status,Submission ID,Submission Time,Lateness (H:M:S)
Ada,Lovelace,S-17,ada@uni.example,Sec A,17.0,21.0,Graded,301,2026-11-29 10:00:00 +0000,00:00:00
Alan,Turing,S-18,alan@uni.example,Sec A,21.0,21.0,Graded,302,2026-11-29 11:00:00 +0000,00:00:00
Grace,Hopper,S-19,grace@uni.example,Sec B,,21.0,Missing,,,
"""


def test_gradescope_scores_go_into_the_canvas_import_by_sid(tmp_path, capsys):
    roster, export = tmp_path / "canvas.csv", tmp_path / "gradescope.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    export.write_text(GRADESCOPE_EXPORT, encoding="utf-8")
    out = tmp_path / "import.csv"
    assert lms.main(["--lab", "lab04_attention", "--lms", "canvas", "--roster", str(roster), "--gradescope",
                     str(export), "--assignment", "Lab 4 attention", "--output", str(out)]) == 0
    rows = _read(out)
    assert [(r["SIS User ID"], r["Lab 4 attention (4411)"]) for r in rows] == [("S-17", "17.0"), ("S-18", "21.0"),
                                                                              ("S-19", "")]
    assert "2 of 3 roster students have a grade" in capsys.readouterr().out


def test_gradescope_without_sids_keys_by_email_and_refuses_other_files(tmp_path):
    path = tmp_path / "gradescope.csv"
    path.write_text(GRADESCOPE_EXPORT.replace("S-17", "").replace("S-18", "").replace("S-19", ""), encoding="utf-8")
    assert lms.read_gradescope_scores(path) == {"ada@uni.example": "17.0", "alan@uni.example": "21.0"}
    path.write_text(GRADESCOPE_EXPORT.replace("Ada,Lovelace,S-17", "Ada,Lovelace,S-18"), encoding="utf-8")
    with pytest.raises(ValueError, match="two rows"):
        lms.read_gradescope_scores(path)
    path.write_text("student,lab,score\n1001,lab04_attention,3\n", encoding="utf-8")  # grades.csv given by mistake
    with pytest.raises(ValueError, match="Download Grades"):
        lms.read_gradescope_scores(path)
