"""The Gradescope autograder (grading.gradescope, `make gradescope LAB=...`): its zip follows Gradescope's
specification, and run_autograder, unpacked into a temporary root laid out as /autograder ($AUTOGRADER_ROOT),
grades a solution, a stub, a wrong answer and a broken notebook into results.json; a daemon left by student code
can neither outlive grading nor rewrite results.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest

from grading.gradescope import build_zip, unprivileged_uid
from grading.labsource import HIDDEN_BEGIN, LABS, SOLUTION_BEGIN, load_lab
from grading.validity import student_versions
from utils import ROOT

LAB = "lab04_attention"


@pytest.fixture(scope="module")
def lab():
    return load_lab(LAB)


@pytest.fixture(scope="module")
def versions(lab):
    return {k: v[LAB] for k, v in student_versions(lab, LABS / LAB).items()}


def _unpack(zip_path: Path, root: Path, venv: Path = ROOT / ".venv") -> Path:
    """Gradescope's layout: the zip in source/, run_autograder copied to the root, submission/ and results/."""
    source = root / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if mode:
                os.chmod(source / info.filename, mode & 0o777)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    (source / ".venv").symlink_to(venv)  # what setup.sh installs there
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def _grade(root: Path, files: dict[str, str]) -> dict:
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    for name, text in files.items():
        (root / "submission" / name).write_text(text, encoding="utf-8")
    (root / "results" / "results.json").unlink(missing_ok=True)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    env.pop("PYTHONPATH", None)
    run = subprocess.run([str(root / "run_autograder")], cwd="/", env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def _check_shape(results: dict, lab) -> None:
    tests = results["tests"]
    assert [t["name"].split(":")[0] for t in tests] == [lab.column(k) for k in lab.points]
    assert [t["max_score"] for t in tests] == list(lab.points.values())
    assert abs(sum(t["score"] for t in tests) - results["score"]) < 1e-9
    for t in tests:
        assert t["visibility"] == "visible" and t["status"] in ("passed", "failed")
        assert (t["status"] == "passed") == (t["score"] == t["max_score"])
        assert HIDDEN_BEGIN not in t["output"] and HIDDEN_BEGIN not in t["name"]


def test_zip_follows_the_specification_and_carries_no_solution(tmp_path, lab):
    zip_path = tmp_path / "autograder.zip"
    build_zip(LAB, zip_path)
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        for script in ("setup.sh", "run_autograder"):
            assert script in names and (zf.getinfo(script).external_attr >> 16) & 0o111, script
            assert zf.read(script).startswith(b"#!/usr/bin/env bash\n")
        assert f"solutions/{LAB}/{LAB}.ipynb" in names and f"labs/{LAB}/{LAB}.ipynb" in names
        assert "data/models/course-gpt2/config.json" in names and "grading/grade.py" in names
        assert not [n for n in names if "wrong_answers" in n or n.endswith(f"{LAB}.py") or "tests/" in n]
        assert not [n for n in names if n.startswith("grading/") and not n.endswith(".py")]
        source = zf.read(f"solutions/{LAB}/{LAB}.ipynb").decode()
        assert HIDDEN_BEGIN in source and SOLUTION_BEGIN not in source
        run = zf.read("run_autograder").decode()
        assert f"--lab {LAB}" in run and "/autograder" in run and "AUTOGRADER_ROOT" in run


@pytest.mark.slow  # four submissions graded by run_autograder, three of them kernels: about 60 s on 2 cores
def test_run_autograder_grades_solution_stub_wrong_and_broken(tmp_path, lab, versions):
    zip_path = tmp_path / "autograder.zip"
    build_zip(LAB, zip_path)
    root = _unpack(zip_path, tmp_path / "autograder")

    looks = nbformat.from_dict(json.loads(nbformat.writes(versions["solution"])))  # and looks for the expected values
    looks.cells.append(nbformat.v4.new_code_cell(
        "import os\nfor _folder in ('.', os.environ['HOME']):\n"
        "    assert not os.path.exists(os.path.join(_folder, 'expectations.json')), _folder"))
    solution = _grade(root, {f"{LAB}.ipynb": nbformat.writes(looks)})
    _check_shape(solution, lab)
    assert solution["score"] == lab.max_score and "(ok)" in solution["output"], solution["output"]
    assert "raised" not in solution["output"], solution["output"]  # the expected values are not where it runs
    assert all(t["status"] == "passed" for t in solution["tests"])

    stub = _grade(root, {"my_lab.ipynb": nbformat.writes(versions["stub"])})  # any name: one notebook is taken
    _check_shape(stub, lab)
    assert stub["score"] == 0 and all(t["output"].startswith("failed") for t in stub["tests"])

    wrong_name = next(k for k in versions if k.startswith("wrong"))
    wrong = _grade(root, {f"{LAB}.ipynb": nbformat.writes(versions[wrong_name])})
    _check_shape(wrong, lab)
    assert 0 < wrong["score"] < lab.max_score, (wrong_name, wrong["output"])

    broken = _grade(root, {f"{LAB}.ipynb": '{"cells": [ this is not json'})
    _check_shape(broken, lab)
    assert broken["score"] == 0 and "not a readable notebook" in broken["output"], broken["output"]


def test_an_orphaned_daemon_stays_a_descendant_and_is_killed(tmp_path):
    """The runner is a child subreaper: a double-forked, setsid daemon re-parents to it, not to init, and
    kill_descendants ends it (where no cgroup ends a student's processes, this is what does)."""
    pidfile = tmp_path / "daemon.pid"
    code = ("import os, time, sys\n"
            "from grading.gradescope import _become_subreaper, kill_descendants\n"
            "assert _become_subreaper()\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)\n"
            "    os._exit(0)\n"
            f"while not os.path.exists({str(pidfile)!r}) or not open({str(pidfile)!r}).read(): time.sleep(0.05)\n"
            "print(kill_descendants())\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1"]
    assert not _alive(int(pidfile.read_text()))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _venv_for_others(folder: Path) -> Path | None:
    """A virtualenv any account can run, as setup.sh makes in Gradescope's image: the system's Python (where it is
    this one's minor version) with this checkout's packages. None where there is no such Python."""
    system = Path("/usr/bin") / f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv = folder / "venv"
    if not system.is_file() or subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)],
                                              capture_output=True).returncode != 0:
        return None
    ours = next((ROOT / ".venv" / "lib").glob("python*/site-packages"))
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "course.pth").write_text(f"import site; site.addsitedir({str(ours)!r})\n")
    return venv


@pytest.fixture
def public_tmp():
    """A temporary folder other accounts may pass through, as /autograder is (pytest's own is its owner's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="gradescope-test-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow  # one kernel, graded without bubblewrap as in a container that refuses namespaces
def test_without_the_sandbox_a_daemon_cannot_outlive_grading_or_rewrite_results(public_tmp, lab, versions):
    """As root without bubblewrap (Docker), student code runs as `nobody` where that account can start the course's
    Python: it cannot read the hidden tests or their expected values, nor write results.json. Where it cannot,
    the output says that student code ran as root, and why."""
    zip_path = public_tmp / "autograder.zip"
    build_zip(LAB, zip_path, sandbox="off")
    others = _venv_for_others(public_tmp)
    if others and unprivileged_uid(python=str(others / "bin" / "python"))[0] is None:  # not root, say
        others = None
    root = _unpack(zip_path, public_tmp / "autograder", others or ROOT / ".venv")
    results = root / "results" / "results.json"
    drop = public_tmp / "drop"  # where the daemon, whoever it runs as, leaves its pid
    drop.mkdir(mode=0o777)
    os.chmod(drop, 0o777)
    pidfile = drop / "daemon.pid"
    forged = json.dumps({"score": 999, "tests": []})
    nb = nbformat.from_dict(json.loads(nbformat.writes(versions["stub"])))
    cell = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "sdpa")
    cell.source += (  # a double fork: the grandchild is orphaned, sleeps past grading, then writes results.json
        "\nimport os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n        time.sleep(8)\n"
        f"        open({str(results)!r}, 'w').write({forged!r})\n    os._exit(0)\n")
    secret = root / "source" / "solutions" / LAB / "expectations.json"
    nb.cells.append(nbformat.v4.new_code_cell(f"assert not os.access({str(secret)!r}, os.R_OK)"))
    data = _grade(root, {f"{LAB}.ipynb": nbformat.writes(nb)})
    assert "graded without bubblewrap" in data["output"], data["output"]
    if others:  # root, and a Python any account can run
        assert "student code ran as uid 65534" in data["output"], data["output"]
        assert "cell extra0 raised" not in data["output"], data["output"]  # the expected values: out of its reach
    else:
        assert "student code ran as root (" in data["output"], data["output"]
    assert pidfile.is_file() and not _alive(int(pidfile.read_text())), data["output"]  # it ran, and is gone
    time.sleep(10)
    assert json.loads(results.read_text()) == data and data["score"] == 0
