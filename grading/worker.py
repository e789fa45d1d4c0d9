"""One nbgrader job in one throwaway course directory, run as its own process by `grading.grade`.

    python -m grading.worker release  COURSE_DIR LAB
    python -m grading.worker grade    COURSE_DIR LAB STUDENT [--feedback]

`grade` autogrades one student (nbgrader's Autograde: clear outputs, restore locked cells, execute with a per-cell
time limit), optionally writes feedback HTML, and leaves `result.json` in COURSE_DIR with the scores read from the
gradebook. The parent process sets the memory limit, the wall-clock limit and kills this process tree when needed.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from grading.labsource import HIDDEN_BEGIN, strip_hidden_tests


def _api(course_dir: Path):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    # the directory may be a copy of the one the config was written for
    config.CourseDirectory.root = str(course_dir)
    config.CourseDirectory.db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    return NbGraderAPI(config=config)


def release(course_dir: Path, lab: str) -> None:
    result = _api(course_dir).generate_assignment(lab, force=True, create=True)
    if not result["success"]:
        sys.exit(f"generate_assignment failed:\n{result['error']}\n{result['log']}")


def hide_test_internals(nb) -> None:
    """Make an autograded notebook safe to show a student: test cells lose their hidden tests, and their error
    tracebacks (which quote the failing line, possibly a hidden one) shrink to `ename: evalue`."""
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or meta.get("solution"):
            continue
        had_hidden = HIDDEN_BEGIN in cell.source
        cell.source = strip_hidden_tests(cell.source)
        if had_hidden:
            cell.source += "\n# (hidden tests run here when the lab is graded)"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                evalue = output.get("evalue") or "a check failed"
                output["traceback"] = [f"{output.get('ename', 'Error')}: {evalue}"]


def grade(course_dir: Path, lab: str, student: str, feedback: bool) -> dict:
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry

    api = _api(course_dir)
    result: dict = {"autograde_ok": False, "error": "", "cells": {}, "errors": {}}
    outcome = api.autograde(lab, student, force=True, create=True)
    print(outcome.get("log") or "", flush=True)  # nbgrader's own log, into logs/<lab>/<student>.log
    result["autograde_ok"] = bool(outcome["success"])
    if not outcome["success"]:
        result["error"] = (outcome.get("error") or "") + "\n" + (outcome.get("log") or "")

    autograded = Path(api.coursedir.format_path(api.coursedir.autograded_directory, student, lab))
    for path in sorted(autograded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            truncated = any("... Output truncated ..." in str(o.get("text", "")) for o in cell.get("outputs", []))
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid and (errors or truncated):
                result["errors"][f"{path.stem}:{gid}"] = {
                    "ename": errors[0].get("ename", "") if errors else "",
                    "truncated": truncated,
                }
        hide_test_internals(nb)
        nbformat.write(nb, path)

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(lab, student)
        except MissingEntry:
            submission = None
        if submission is not None:
            for notebook in submission.notebooks:
                for g in notebook.grades:
                    result["cells"][f"{notebook.name}:{g.name}"] = {
                        "score": float(g.score or 0.0),
                        "max_score": float(g.max_score or 0.0),
                    }
    if feedback and result["autograde_ok"]:
        outcome = api.generate_feedback(lab, student, force=True)
        if not outcome["success"]:
            result["error"] += "\nfeedback failed: " + (outcome.get("error") or "")
    return result


def main(argv: list[str]) -> None:
    command, course_dir, lab = argv[0], Path(argv[1]).resolve(), argv[2]
    os.chdir(course_dir)
    if command == "release":
        release(course_dir, lab)
        return
    student = argv[3]
    try:
        result = grade(course_dir, lab, student, feedback="--feedback" in argv)
    except Exception:  # the parent turns this into a status line; the student gets 0, the batch goes on
        result = {"autograde_ok": False, "error": traceback.format_exc(), "cells": {}, "errors": {}}
    (course_dir / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
