"""`python -m labcheck check` (a lab's visible tests, for students and GitHub Classroom) and the Classroom workflow
the student edition ships: valid YAML, one step per lab worth the lab's points, and its commands, run on a copy of
the edition, fail a stub and a wrong answer and pass a solution."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from grading.labsource import LABS, list_labs, load_lab
from grading.student_edition import CHECK_COMMAND, CLASSROOM_WORKFLOW, ROOT, build, classroom_workflow
from grading.validity import student_versions
from labcheck import CellResult, Report, edited_locked_cells, print_report

LAB = "lab04_attention"
GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"


def _steps() -> list[dict]:
    workflow = yaml.safe_load(classroom_workflow())
    assert set(workflow) >= {"name", "on", "permissions", "jobs"}
    (job,) = workflow["jobs"].values()
    return job["steps"]


def test_workflow_is_valid_yaml_with_one_graded_step_per_lab():
    steps = _steps()
    graders = [s for s in steps if s.get("uses") == GRADER]
    assert [s["id"] for s in graders] == list_labs()
    for step in graders:
        lab = step["id"]
        assert step["with"]["test-name"] == lab
        assert step["with"]["command"] == CHECK_COMMAND.format(lab=lab)
        assert float(step["with"]["max-score"]) == load_lab(lab).max_score
        assert (LABS / lab / f"{lab}.ipynb").is_file()
    (reporter,) = [s for s in steps if s.get("uses") == REPORTER]
    assert reporter["with"]["runners"].split(",") == list_labs()
    # the reporter reads each step's result from <ID in upper case>_RESULTS
    assert reporter["env"] == {f"{lab.upper()}_RESULTS": f"${{{{ steps.{lab}.outputs.result }}}}"
                               for lab in list_labs()}


def test_workflow_installs_the_pinned_packages_as_setup_does():
    (install,) = [s for s in _steps() if "run" in s]
    lines = install["run"].strip().splitlines()
    torch = next(line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                 if line.startswith("torch=="))
    assert lines[0].endswith(f"--no-deps --index-url https://download.pytorch.org/whl/cpu {torch}")
    assert lines[1].endswith("-r requirements.txt") and lines[2].endswith("--no-deps -e .")


def test_no_locked_cell_of_a_released_lab_counts_as_edited():
    for lab in list_labs():
        nb = nbformat.read(LABS / lab / f"{lab}.ipynb", as_version=4)
        assert edited_locked_cells(nb) == [], lab


def test_an_edited_test_cell_is_reported():
    nb = nbformat.read(LABS / LAB / f"{LAB}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "test_mask_shape")
    cell.source = "assert True"
    assert edited_locked_cells(nb) == ["test_mask_shape"]


def test_report_lists_each_test_with_points_verdict_and_message():
    report = Report(Path("lab.ipynb"), [
        CellResult("setup", "locked", 0, True),
        CellResult("sdpa", "answer", 0, False, "NotImplementedError"),
        CellResult("test_a", "test", 1, True),
        CellResult("test_b", "test", 2, False, "AssertionError: return a boolean tensor"),
    ], edited=["test_c"])
    out = io.StringIO()
    print_report(report, out)
    text = out.getvalue()
    assert re.search(r"PASS\s+test_a\s+1 point\b", text)
    assert re.search(r"FAIL\s+test_b\s+2 points\s+AssertionError: return a boolean tensor", text)
    assert "answer cell sdpa: not answered yet" in text and "locked cell test_c was edited" in text
    assert "1/2 test cells pass (1 of 3 points" in text and not report.passed


def test_an_unreadable_notebook_exits_2(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    run = subprocess.run([sys.executable, "-m", "labcheck", "check", str(broken)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "cannot read this notebook" in run.stderr


def _run_step(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """A workflow step's command as the runner runs it: a shell in the repository, `python` the course's."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow  # three runs of lab04 (a kernel each): about 60 s on 2 cores
def test_workflow_commands_fail_a_stub_and_a_wrong_answer_and_pass_a_solution(tmp_path):
    edition = tmp_path / "students"
    build(edition)
    workflow = yaml.safe_load((edition / CLASSROOM_WORKFLOW).read_text())
    (command,) = [s["with"]["command"] for s in workflow["jobs"]["run-autograding-tests"]["steps"]
                  if s.get("id") == LAB]
    notebook = edition / "labs" / LAB / f"{LAB}.ipynb"
    versions = student_versions(load_lab(LAB), LABS / LAB)

    stub = _run_step(command, edition)
    assert stub.returncode == 1, stub.stdout + stub.stderr
    assert re.search(r"FAIL\s+test_sdpa_shape\s+1 point\s+NotImplementedError", stub.stdout), stub.stdout
    assert "0/14 test cells pass (0 of 21 points" in stub.stdout

    wrong = nbformat.from_dict(json.loads(nbformat.writes(versions["solution"][LAB])))
    cell = next(c for c in wrong.cells if c.metadata["nbgrader"]["grade_id"] == "causal")
    cell.source += "\n\n_bool_mask = causal_mask\n\ndef causal_mask(seq_q, seq_k):\n" \
                   "    return _bool_mask(seq_q, seq_k).float()\n"
    nbformat.write(wrong, notebook)
    failed = _run_step(command, edition)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"FAIL\s+test_mask_shape\s+1 point\s+AssertionError: return a boolean tensor \(True = may "
                     r"attend\)", failed.stdout), failed.stdout
    assert re.search(r"PASS\s+test_sdpa_values\s+2 points", failed.stdout), failed.stdout

    nbformat.write(versions["solution"][LAB], notebook)
    passed = _run_step(command, edition)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "14/14 test cells pass (21 of 21 points" in passed.stdout and "FAIL" not in passed.stdout
    assert json.loads(notebook.read_text()) == json.loads(nbformat.writes(versions["solution"][LAB]))  # unchanged
