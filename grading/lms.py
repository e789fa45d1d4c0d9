"""Gradebook import files for Canvas and Moodle, from grades.csv and the roster the LMS exported.

    python -m grading.lms --lab lab04_attention --lms canvas --roster canvas_export.csv   # after make grade
    python -m grading --lab lab04_attention --lms canvas --roster canvas_export.csv       # grade, then write it
    python -m grading.lms --lab lab04_attention --lms canvas --roster canvas_export.csv \
        --gradescope lab04_scores.csv                # graded on Gradescope: its "Download Grades" CSV instead

A student in grades.csv is the name of their folder or notebook. Each is looked up in the roster by the ids the
LMS itself uses (Canvas: ID, SIS User ID, SIS Login ID, Integration ID; Moodle: ID number, Email address,
Username), ignoring case and surrounding spaces; so name the submissions by any one of those (Canvas's submission
zip puts its user ID in every file name). The file written keeps the roster's own identifying columns and adds one
grade column:

- Canvas (Grades → Import): Student, ID, SIS User ID, SIS Login ID, Section (those the export has), then the
  assignment as "<name> (<Canvas id>)" when the export has a column for it, else `--assignment` (default: the lab),
  which Canvas offers to create;
- Moodle (Grades → Import → CSV file): First name, Last name, ID number, Email address (those the export has), then
  the grade item; map "Email address" (or "ID number") to Moodle's user field when importing.

With `--gradescope`, the scores come from the assignment's "Download Grades" CSV of Gradescope instead of
grades.csv: each row's "Total Score", the student named by "SID" (Gradescope's student ID; a roster synced from
Canvas fills it with the SIS User ID) or, when no row has one, by "Email"; rows without a score (status "Missing")
are not graded.

Nothing is dropped silently: graded students the roster lacks, and ambiguous matches, are listed (and left out of
the file, since the LMS could not place them); roster students without a grade keep an empty cell, which both
LMSs read as "no change".
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grading.spreadsheet import from_spreadsheet_text

# The roster columns that identify a student to the LMS, in the order the import file keeps them, and those of them
# that a submission may be named by.
KEEP = {
    "canvas": ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section"),
    "moodle": ("First name", "Last name", "ID number", "Username", "Email address"),
}
KEYS = {
    "canvas": ("ID", "SIS User ID", "SIS Login ID", "Integration ID"),
    "moodle": ("ID number", "Email address", "Username"),
}


@dataclass
class Export:
    """What was written, and what could not be."""

    rows: list[dict[str, str]]
    header: list[str]
    grade_column: str
    not_in_roster: list[str] = field(default_factory=list)  # graded, but no roster row has their id
    ambiguous: dict[str, list[int]] = field(default_factory=dict)  # graded student -> roster rows (1-based) matching
    without_grade: list[str] = field(default_factory=list)  # roster students with no row in grades.csv

    def report(self) -> list[str]:
        lines = [f"{len(self.rows) - len(self.without_grade)} of {len(self.rows)} roster students have a grade"]
        if self.not_in_roster:
            lines.append(f"NOT IN THE ROSTER (their grades are not in the file): {', '.join(self.not_in_roster)}")
        for student, rows in self.ambiguous.items():
            lines.append(f"AMBIGUOUS (left out): {student} matches roster rows {rows}")
        if self.without_grade:
            lines.append(f"no grade (cell left empty): {', '.join(self.without_grade)}")
        return lines


def _norm(value: str) -> str:
    return value.strip().casefold()


def read_roster(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The roster's header and student rows (Canvas's "Points Possible" and test-student rows left out)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = [r for r in reader if not (r.get("Student") or "").strip().startswith("Points Possible")
                and (r.get("Student") or "").strip() != "Student, Test"]
    return header, rows


def read_scores(grades: Path, lab: str) -> dict[str, str]:
    """student -> score of `lab` in grades.csv."""
    with open(grades, newline="", encoding="utf-8") as f:
        return {from_spreadsheet_text(r["student"]): r["score"] for r in csv.DictReader(f) if r.get("lab") == lab}


GRADESCOPE_KEYS = ("SID", "Email")  # Gradescope's student ids, in the order they are tried


def read_gradescope_scores(path: Path) -> dict[str, str]:
    """student id -> "Total Score" from Gradescope's grade export of one assignment (SID, else Email)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = [r for r in reader if (r.get("Total Score") or "").strip()]
    if "Total Score" not in header or not set(GRADESCOPE_KEYS) & set(header):
        raise ValueError(f"{path} has no 'Total Score' and SID/Email columns: is it Gradescope's Download Grades "
                         f"export of one assignment?")
    key = next((k for k in GRADESCOPE_KEYS if k in header and any((r.get(k) or "").strip() for r in rows)),
               GRADESCOPE_KEYS[-1])
    scores: dict[str, str] = {}
    for i, row in enumerate(rows, start=2):
        student = (row.get(key) or "").strip()
        if not student:
            raise ValueError(f"{path}, line {i}: a score without a {key}")
        if student in scores:
            raise ValueError(f"{path}: {key} {student!r} has two rows")
        scores[student] = row["Total Score"].strip()
    return scores


def grade_column(header: list[str], assignment: str) -> str:
    """The roster's own column for the assignment ("Lab 4 (12345)" for `assignment` "Lab 4"), else `assignment`."""
    for name in header:
        if name == assignment or (name.startswith(assignment + " (") and name.endswith(")")):
            return name
    return assignment


def build_export(lms: str, roster: tuple[list[str], list[dict[str, str]]], scores: dict[str, str],
                 assignment: str) -> Export:
    """Match every graded student to one roster row by the LMS's ids; one import row per roster student."""
    if lms not in KEEP:
        raise ValueError(f"unknown LMS {lms!r}: one of {', '.join(KEEP)}")
    header, rows = roster
    keys = [k for k in KEYS[lms] if k in header]
    if not keys:
        raise ValueError(f"the roster has none of the {lms} id columns {', '.join(KEYS[lms])}: is it the "
                         f"{lms} gradebook export?")
    index: dict[str, set[int]] = {}
    for i, row in enumerate(rows):
        for k in keys:
            if value := _norm(row.get(k) or ""):
                index.setdefault(value, set()).add(i)
    column = grade_column(header, assignment)
    out = [{c: row.get(c, "") for c in KEEP[lms] if c in header} | {column: ""} for row in rows]
    export = Export(out, [c for c in KEEP[lms] if c in header] + [column], column)
    for student, score in sorted(scores.items()):
        found = sorted(index.get(_norm(student), ()))
        if not found:
            export.not_in_roster.append(student)
        elif len(found) > 1:
            export.ambiguous[student] = [i + 1 for i in found]
        else:
            out[found[0]][column] = score
    export.without_grade = [_describe(rows[i], keys) for i, row in enumerate(out) if row[column] == ""]
    return export


def _describe(row: dict[str, str], keys: list[str]) -> str:
    name = row.get("Student") or " ".join(filter(None, (row.get("First name"), row.get("Last name"))))
    ids = next((row[k] for k in keys if row.get(k)), "")
    return f"{name} ({ids})" if name else ids


def write_export(path: Path, export: Export) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=export.header)
        writer.writeheader()
        writer.writerows(export.rows)


def export_grades(lms: str, lab: str, grades: Path, roster: Path, out: Path | None = None,
                  assignment: str | None = None, gradescope: bool = False) -> tuple[Path, Export]:
    """Write `<grades' folder>/<lab>_<lms>.csv` (or `out`); returns its path and what was (not) matched.
    gradescope: `grades` is Gradescope's grade export of this lab, not make grade's grades.csv."""
    scores = read_gradescope_scores(grades) if gradescope else read_scores(grades, lab)
    export = build_export(lms, read_roster(roster), scores, assignment or lab)
    path = out or grades.parent / f"{lab}_{lms}.csv"
    write_export(path, export)
    return path, export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.lms",
                                     description="Write the Canvas or Moodle gradebook import CSV of one lab "
                                                 "from grades.csv and the roster the LMS exported.")
    add_arguments(parser, required=True)
    parser.add_argument("--lab", required=True, help="lab name, e.g. lab04_attention")
    parser.add_argument("--grades", type=Path, default=Path("grading/grades.csv"),
                        help="grades.csv of make grade (default: grading/grades.csv)")
    parser.add_argument("--gradescope", type=Path, metavar="CSV",
                        help="take the scores from Gradescope's Download Grades CSV of this lab instead of grades.csv")
    parser.add_argument("--output", type=Path, help="the import file (default: <lab>_<lms>.csv next to grades.csv)")
    args = parser.parse_args(argv)
    if args.gradescope:
        return run(args.lms, args.lab, args.gradescope, args.roster, args.assignment, args.output, gradescope=True)
    return run(args.lms, args.lab, args.grades, args.roster, args.assignment, args.output)


def add_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """--lms, --roster, --assignment: shared by `python -m grading` and `python -m grading.lms`."""
    parser.add_argument("--lms", choices=sorted(KEEP), required=required,
                        help="also write the gradebook import CSV of this LMS (needs --roster)")
    parser.add_argument("--roster", type=Path, required=required,
                        help="the gradebook CSV the LMS exported (its student ids key the import)")
    parser.add_argument("--assignment",
                        help="the LMS's name of the assignment (default: the lab; Canvas adds its id itself)")


def run(lms: str, lab: str, grades: Path, roster: Path, assignment: str | None = None,
        output: Path | None = None, gradescope: bool = False) -> int:
    """Write the import file and print what matched; exit status 1 when a graded student is not in it."""
    try:
        path, export = export_grades(lms, lab, grades, roster, output, assignment, gradescope)
    except (OSError, ValueError, KeyError) as err:
        print(f"cannot write the {lms} import: {err}", file=sys.stderr)
        return 2
    for line in export.report():
        print(line, file=sys.stderr if line.startswith(("NOT", "AMBIGUOUS")) else sys.stdout)
    print(f"{lms} import: {path} (column {export.grade_column!r})")
    return 1 if export.not_in_roster or export.ambiguous else 0


if __name__ == "__main__":
    sys.exit(main())
