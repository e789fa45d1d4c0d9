"""course.py, the make targets without make: its arguments, its venv paths on each OS, and that each command
runs what the Makefile target of the same name runs (compared with `make -n`, nothing is executed)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from utils import ROOT

spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)

MAKE_VARIABLES = ("XDIST", "FAST_LESSON", "FAST_LAB")


@pytest.fixture(autouse=True)
def makefile_defaults(monkeypatch):
    """Neither make nor course.py sees an XDIST or FAST_* left in the shell."""
    for name in MAKE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def nothing_runs(monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))


def make_dry_run(*targets: str) -> list[list[str]]:
    """The shell lines `make -n` would run, continuation lines joined, each split as the shell would."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    out = subprocess.run(["make", "-n", "-s", *targets], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    return [shlex.split(line) for line in out.replace("\\\n", " ").splitlines() if line.strip()]


def after(tokens: list[str], marker: tuple[str, ...]) -> list[str]:
    """The arguments that follow the first run of `marker` in tokens (e.g. ("-m", "pytest"))."""
    for i in range(len(tokens)):
        if tuple(tokens[i:i + len(marker)]) == marker:
            return tokens[i + len(marker):]
    raise AssertionError(f"{marker} not in {tokens}")


def assignments(tokens: list[str]) -> dict[str, str]:
    """The VAR=value words in front of a command."""
    env = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not (sep and name.isupper()):
            break
        env[name] = value
    return env


def test_venv_interpreter_is_scripts_python_exe_on_windows_and_bin_python_elsewhere(tmp_path):
    assert course.venv_python(tmp_path, windows=True) == tmp_path / "Scripts" / "python.exe"
    assert course.venv_python(tmp_path, windows=False) == tmp_path / "bin" / "python"
    assert course.venv_python() == ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.mark.parametrize("argv", [[], ["bogus"], ["test", "--fast"], ["lab", "test"]])
def test_a_wrong_command_line_prints_usage_and_exits_2(argv, capsys, nothing_runs):
    with pytest.raises(SystemExit) as stopped:
        course.main(argv)
    assert stopped.value.code == 2
    assert "usage: python course.py" in capsys.readouterr().err


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as stopped:
        course.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("setup", "lab", "lab-instructor", "test", "test-fast", "--dry-run"))


def test_setup_installs_only_when_a_pin_file_is_newer_than_the_stamp(tmp_path):
    pins, stamp = tmp_path / "requirements.txt", tmp_path / ".installed"
    pins.write_text("torch==2.13.0\n")
    assert course.needs_install(stamp, [pins])  # never set up
    stamp.touch()
    os.utime(pins, (stamp.stat().st_mtime - 10,) * 2)
    assert not course.needs_install(stamp, [pins])
    os.utime(pins, (stamp.stat().st_mtime + 10,) * 2)
    assert course.needs_install(stamp, [pins])


def test_dry_run_of_a_fresh_setup_prints_the_install_and_changes_nothing(tmp_path, monkeypatch, capsys,
                                                                         nothing_runs):
    venv = tmp_path / ".venv"
    monkeypatch.setattr(course, "VENV", venv)
    monkeypatch.setattr(course, "STAMP", venv / ".installed")
    monkeypatch.setattr(course, "venv_python", lambda: venv / "bin" / "python")
    assert course.main(["setup", "--dry-run"]) == 0
    lines = [shlex.split(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == [sys.executable, "-m", "venv", str(venv)]
    assert [after(line, ("-m", "pip")) for line in lines[1:]] == [
        ["install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        ["install", "--quiet", "--disable-pip-version-check", "--no-deps", "-e", "."]]
    assert not venv.exists()


def test_setup_runs_the_makefiles_install_commands():
    make = [line for line in make_dry_run("-B", "setup") if "pip" in line]
    ours = course.setup_commands(Path("python"))
    assert [after(line, ("-m", "pip")) for line in make] == [after(line, ("-m", "pip")) for line in ours]


@pytest.mark.parametrize("target", ["lab", "lab-instructor"])
def test_lab_commands_run_what_make_runs(target):
    make = next(line for line in make_dry_run(target) if any(t.endswith("/jupyter") for t in line))
    env, ours = course.lab_command(Path("python"), target, course.is_root())
    assert assignments(make) == env
    assert after(make, (next(t for t in make if t.endswith("/jupyter")), "lab")) == after(ours, ("jupyter", "lab"))


@pytest.mark.parametrize("target", ["test", "test-fast"])
def test_test_commands_run_what_make_runs(target):
    lines = make_dry_run(target)
    make_ruff = next(line for line in lines if any(t.endswith("/ruff") for t in line))
    make_pytest = next(line for line in lines if "pytest" in line)
    (ruff_env, ruff), (pytest_env, pytest_args) = course.test_commands(Path("python"), target)
    ruff_args = after(make_ruff, (next(t for t in make_ruff if t.endswith("/ruff")),))
    assert ruff_args[:ruff_args.index("&&")] == after(ruff, ("-m", "ruff")) and ruff_env == {}
    assert assignments(make_pytest) == pytest_env
    assert after(make_pytest, ("-m", "pytest")) == after(pytest_args, ("-m", "pytest"))


def test_xdist_and_the_fast_lesson_follow_the_environment_as_with_make(monkeypatch):
    monkeypatch.setenv("XDIST", "")
    monkeypatch.setenv("FAST_LAB", "lab07_lora")
    _, (_, args) = course.test_commands(Path("python"), "test-fast")
    assert "-n" not in args and "not test_labs or lab07_lora" in args


def test_dry_run_of_test_prints_ruff_then_pytest_and_runs_nothing(monkeypatch, capsys, nothing_runs):
    monkeypatch.setattr(course, "needs_install", lambda *a: False)
    assert course.main(["test", "--dry-run"]) == 0
    ruff, pytest_line = (shlex.split(line) for line in capsys.readouterr().out.splitlines())
    assert after(ruff, ("-m", "ruff")) == ["check", "."]
    assert assignments(pytest_line) == course.TEST_ENV and "notebooks" in after(pytest_line, ("-m", "pytest"))


def test_a_failing_step_stops_the_run_with_its_exit_code(monkeypatch):
    monkeypatch.setattr(course, "needs_install", lambda *a: False)
    ran = []

    def run(args, cwd, env):
        ran.append(args)
        return subprocess.CompletedProcess(args, 3)

    monkeypatch.setattr(subprocess, "run", run)
    assert course.main(["test"]) == 3
    assert len(ran) == 1 and after(ran[0], ("-m", "ruff")) == ["check", "."]  # ruff failed: no pytest
