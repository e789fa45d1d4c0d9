"""`make doctor`: a ready checkout passes, a broken one fails with advice, and nothing crashes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from utils import ROOT
from workshop import doctor


@pytest.mark.slow  # the whole doctor (imports, the bundled model, a generation): ~14 s on 2 busy cores
def test_doctor_passes_on_this_checkout():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("COURSE_MODEL", None)
    run = subprocess.run([sys.executable, "-m", "workshop.doctor", "--color", "never"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("Python", "packages", "JupyterLab", "nbgrader extension", "Q&A data", "model course-gpt2",
                 "GPU", "bitsandbytes 4-bit", "slides offline", "grading sandbox"):
        assert name in run.stdout
    assert "Ready for the course." in run.stdout
    assert "FAIL" not in run.stdout


def test_model_elsewhere_fails_with_advice(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_MODEL", str(tmp_path))  # an empty folder instead of the bundled model
    status = doctor.main(["--color", "never"])
    out = capsys.readouterr().out
    assert status == 1
    assert f"model {tmp_path}" in out and "FAIL" in out
    assert "has no config.json" in out
    assert "Unset COURSE_MODEL" in out  # the advice line
    assert "Not ready: 1 required check(s) failed." in out


def test_missing_data_fails(tmp_path):
    result = doctor.check_data(tmp_path)
    assert result.status == doctor.FAIL
    assert "git checkout -- data/qa" in result.advice


def test_package_pins(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ntorch==0.0.1  # wrong on purpose\npytest\n", encoding="utf-8")
    assert doctor.read_pins(requirements) == {"torch": "0.0.1", "pytest": None}
    different = doctor.check_packages(requirements)
    assert different.status == doctor.NOTE and "pinned 0.0.1" in different.detail
    requirements.write_text("no-such-package-for-the-course==1.0\n", encoding="utf-8")
    missing = doctor.check_packages(requirements)
    assert missing.status == doctor.FAIL and "no-such-package-for-the-course" in missing.detail
    assert missing.advice


def test_report_gives_one_advice_line_per_problem():
    results = [doctor.Result("a", doctor.PASS, "fine"), doctor.Result("b", doctor.FAIL, "bad", "Do X."),
               doctor.Result("c", doctor.NOTE, "meh", "Maybe Y.")]
    report = doctor.format_report(results)
    assert report.count("Do X.") == 1 and report.count("Maybe Y.") == 1
    assert "Not ready: 1 required check(s) failed." in report


def test_missing_slide_assets_are_a_note_with_advice(tmp_path, monkeypatch):
    from workshop import slides

    assert doctor.check_slides().status == doctor.PASS
    partial = tmp_path / "slides"
    partial.mkdir()
    (partial / "MANIFEST.json").write_text((slides.VENDORED / "MANIFEST.json").read_text())  # files gone
    monkeypatch.setattr(slides, "VENDORED", partial)
    result = doctor.check_slides()
    assert result.status == doctor.NOTE and "jquery/dist/jquery.min.js" in result.detail
    assert "git checkout -- vendor" in result.advice
    with pytest.raises(FileNotFoundError, match="git checkout -- vendor"):  # make slides stops, clearly
        slides.copy_assets(tmp_path / "out")


def test_grading_sandbox_row_says_whether_bubblewrap_works_and_which_cgroup(monkeypatch):
    from grading import sandbox

    row = doctor.check_grading_sandbox()
    assert row.name == "grading sandbox" and row.status in (doctor.PASS, doctor.NOTE)
    assert "memory:" in row.detail and ("cgroup v" in row.detail or "RLIMIT_AS" in row.detail)
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "bubblewrap is not installed")
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", sandbox.Path("/nonexistent-cgroup"))
    row = doctor.check_grading_sandbox()
    assert row.status == doctor.NOTE  # instructors only: never a FAIL for a student's laptop
    assert "bubblewrap unusable: bubblewrap is not installed" in row.detail and "RLIMIT_AS" in row.detail
    assert "--unsafe-no-sandbox" in row.advice
