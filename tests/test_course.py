"""course.py, the make targets without make: its arguments, its venv paths on each OS, and that each command
runs what the Makefile target of the same name runs (compared with `make -n`, nothing is executed)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
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
    assert all(name in out for name in ("setup", "lab", "lab-instructor", "test", "test-fast", "doctor", "wheelhouse",
                                        "--dry-run", "--wheelhouse", "--platforms"))


def test_setup_installs_only_when_a_pin_file_is_newer_than_the_stamp(tmp_path):
    pins, stamp = tmp_path / "requirements.txt", tmp_path / ".installed"
    pins.write_text("torch==2.13.0\n")
    assert course.needs_install(stamp, [pins])  # never set up
    stamp.touch()
    os.utime(pins, (stamp.stat().st_mtime - 10,) * 2)
    assert not course.needs_install(stamp, [pins])
    os.utime(pins, (stamp.stat().st_mtime + 10,) * 2)
    assert course.needs_install(stamp, [pins])


@pytest.fixture
def fresh_venv(tmp_path, monkeypatch):
    """course.py's .venv and stamp moved to tmp_path; the machine's TORCH_INDEX left out."""
    venv = tmp_path / ".venv"
    monkeypatch.setattr(course, "VENV", venv)
    monkeypatch.setattr(course, "STAMP", venv / ".installed")
    monkeypatch.setattr(course, "venv_python", lambda: venv / "bin" / "python")
    monkeypatch.delenv("TORCH_INDEX", raising=False)
    return venv


def pip_lines(out: str) -> list[list[str]]:
    """pip's arguments in each printed command line that runs pip (`-m pip`, or pip with a target's markers)."""
    lines = []
    for line in map(shlex.split, out.splitlines()):
        if course.PIP_WITH_MARKERS in line:
            lines.append(after(line, (course.PIP_WITH_MARKERS,))[1:])  # after the markers' JSON
        elif "pip" in line:
            lines.append(after(line, ("-m", "pip")))
    return lines


QUIET = ["--quiet", "--disable-pip-version-check"]


def test_dry_run_of_a_fresh_linux_setup_takes_torch_from_the_cpu_index_first(fresh_venv, monkeypatch, capsys,
                                                                             nothing_runs):
    monkeypatch.setattr(course, "this_platform", lambda: "linux")
    assert course.main(["setup", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert shlex.split(out.splitlines()[0]) == [sys.executable, "-m", "venv", str(fresh_venv)]
    assert pip_lines(out) == [
        ["install", *QUIET, "--no-deps", "--index-url", "https://download.pytorch.org/whl/cpu", "--timeout",
         str(course.TORCH_INDEX_TIMEOUT), "--retries", "1", "torch==2.13.0"],
        ["install", *QUIET, "-r", "requirements.txt"],
        ["install", *QUIET, "--no-deps", "-e", "."]]
    assert not fresh_venv.exists()


@pytest.mark.parametrize("platform", ["macos", "windows"])
def test_macos_and_windows_take_every_package_from_the_usual_index(platform, fresh_venv, monkeypatch, capsys,
                                                                   nothing_runs):
    """Their torch wheels on the usual index are CPU builds already."""
    monkeypatch.setattr(course, "this_platform", lambda: platform)
    assert course.main(["setup", "--dry-run"]) == 0
    assert pip_lines(capsys.readouterr().out) == [["install", *QUIET, "-r", "requirements.txt"],
                                                  ["install", *QUIET, "--no-deps", "-e", "."]]


def test_torch_index_follows_the_environment(monkeypatch):
    monkeypatch.setenv("TORCH_INDEX", "")
    assert course.torch_index("linux") == ""  # set but empty: the usual index only
    monkeypatch.setenv("TORCH_INDEX", "https://mirror.example/whl/cpu")
    assert course.torch_index("windows") == "https://mirror.example/whl/cpu"
    monkeypatch.delenv("TORCH_INDEX")
    assert course.torch_index("linux") == course.TORCH_CPU_INDEX and course.torch_index("macos") == ""


def test_torch_pin_is_the_requirements_line_and_matches_the_cpu_build():
    """The CPU index's wheel is 2.13.0+cpu: a pin without a local label accepts it (PEP 440), so the second pip
    step keeps it instead of fetching the CUDA build, and the doctor counts it as the pinned version."""
    from packaging.specifiers import SpecifierSet

    pin = course.torch_pin()
    assert pin in (ROOT / "requirements.txt").read_text().splitlines()
    assert "2.13.0+cpu" in SpecifierSet(pin.removeprefix("torch"))


def test_an_unreachable_torch_index_falls_back_to_the_usual_index(fresh_venv, monkeypatch, capsys):
    monkeypatch.setattr(course, "this_platform", lambda: "linux")
    ran = []

    def run(args, cwd, env):
        ran.append(after(args, ("-m", "pip")))
        return subprocess.CompletedProcess(args, 1 if "--index-url" in args else 0)

    (fresh_venv / "bin").mkdir(parents=True)
    (fresh_venv / "bin" / "python").touch()
    monkeypatch.setattr(subprocess, "run", run)
    assert course.main(["setup"]) == 0
    assert [line[-1] for line in ran] == ["torch==2.13.0", "requirements.txt", "."]
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if not line.startswith(str(fresh_venv))] == [
        course.torch_fallback_message(course.TORCH_CPU_INDEX)]
    assert (fresh_venv / ".installed").exists()


def fake_wheel(folder: Path, name: str, version: str, requires: Sequence[str] = ()) -> Path:
    """A wheel with one empty module and the given Requires-Dist lines."""
    dist = f"{name.replace('-', '_')}-{version}"
    wheel = folder / f"{dist}-py3-none-any.whl"
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                        *(f"Requires-Dist: {line}\n" for line in requires)])
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}/__init__.py", "")
        archive.writestr(f"{dist}.dist-info/METADATA", metadata)
        archive.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                   "Tag: py3-none-any\n")
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return wheel


def folder_index(root: Path, *wheels: Path) -> str:
    """A PEP 503 simple index in a folder (file:// URL), one page per project."""
    for wheel in wheels:
        page = root / wheel.name.split("-")[0].replace("_", "-") / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        with page.open("a") as out:
            out.write(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n')
    return root.as_uri() + "/"


@pytest.fixture
def real_pip(tmp_path, monkeypatch):
    """course.setup() with real pip into a fresh venv in tmp_path, for a course whose requirements.txt is its torch
    pin and one more package; folder indexes stand in for the indexes, and this machine's pip configuration (its
    local wheel folders) is out of the way. Only the course's own `pip install -e .` is not run. Returns a function
    that runs the setup and answers {distribution: version} of what the venv then holds, and the printed text."""
    project = tmp_path / "course"
    project.mkdir()
    (project / "requirements.txt").write_text(f"{course.torch_pin()}\nlessons==1.0\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = course.venv_python(venv)
    for name, value in [("ROOT", project), ("VENV", venv), ("STAMP", venv / ".installed"),
                        ("PINS", (project / "requirements.txt",)), ("venv_python", lambda: python),
                        ("TORCH_INDEX_TIMEOUT", 2), ("this_platform", lambda: "linux")]:
        monkeypatch.setattr(course, name, value)
    for name in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    real_run = subprocess.run

    def run(args, cwd, env):
        return subprocess.CompletedProcess(args, 0) if args[-1] == "." else real_run(args, cwd=cwd, env=env)

    def setup(capsys) -> tuple[dict[str, str], str]:
        monkeypatch.setattr(subprocess, "run", run)
        start = time.monotonic()
        assert course.setup(dry_run=False, force=True) == 0
        assert time.monotonic() - start < 60
        monkeypatch.setattr(subprocess, "run", real_run)
        listing = real_run([str(python), "-c", "import importlib.metadata as m, sys; print(*(f'{d.name}=={d.version}'"
                            " for d in m.distributions(path=[p for p in sys.path if p.startswith(sys.prefix)])))"],
                           capture_output=True, text=True, check=True).stdout.split()
        return dict(line.split("==") for line in listing), capsys.readouterr().out

    return setup


def test_linux_setup_takes_torch_alone_from_the_cpu_index_and_the_rest_from_the_usual_index(real_pip, tmp_path,
                                                                                         monkeypatch, capsys):
    """The CPU index's torch (2.13.0+cpu) is installed without its dependencies; they, and everything else, come
    from the usual index, whose own torch (the stand-in for PyPI's CUDA build, which needs `cuda-libs`) is not
    taken: the installed 2.13.0+cpu satisfies the pin."""
    cpu = fake_wheel(tmp_path, "torch", "2.13.0+cpu", ["filelock"])
    cuda = fake_wheel(tmp_path, "torch", "2.13.0", ["filelock", "cuda-libs"])
    others = [fake_wheel(tmp_path, name, "1.0") for name in ("filelock", "cuda-libs", "lessons")]
    monkeypatch.setenv("TORCH_INDEX", folder_index(tmp_path / "cpu-index", cpu))
    monkeypatch.setenv("PIP_INDEX_URL", folder_index(tmp_path / "usual-index", cuda, *others))
    installed, out = real_pip(capsys)
    assert installed == {"torch": "2.13.0+cpu", "filelock": "1.0", "lessons": "1.0"}
    assert "could not be taken" not in out


def test_the_fallback_with_real_pip_and_no_network(real_pip, tmp_path, monkeypatch, capsys):
    """The path CI takes: the CPU index does not answer (a closed local port stands in for it), pip gives up
    within seconds, says so in one line, and torch comes from the usual index with everything else."""
    wheels = [fake_wheel(tmp_path, "torch", "2.13.0", ["filelock"]),
              *(fake_wheel(tmp_path, name, "1.0") for name in ("filelock", "lessons"))]
    monkeypatch.setenv("TORCH_INDEX", "http://127.0.0.1:9/simple/")
    monkeypatch.setenv("PIP_INDEX_URL", folder_index(tmp_path / "usual-index", *wheels))
    installed, out = real_pip(capsys)
    assert installed == {"torch": "2.13.0", "filelock": "1.0", "lessons": "1.0"}
    assert course.torch_fallback_message("http://127.0.0.1:9/simple/") in out.splitlines()


def test_setup_from_a_wheelhouse_installs_with_no_index_from_this_platforms_folder(fresh_venv, tmp_path,
                                                                                   monkeypatch, capsys,
                                                                                   nothing_runs):
    monkeypatch.setattr(course, "this_platform", lambda: "linux")
    (tmp_path / "wheels" / "linux").mkdir(parents=True)
    assert course.main(["setup", "--dry-run", "--wheelhouse", str(tmp_path / "wheels")]) == 0
    offline = [*QUIET, "--no-index", "--find-links", str(tmp_path / "wheels" / "linux")]
    assert pip_lines(capsys.readouterr().out) == [["install", *offline, "-r", "requirements.txt"],
                                                  ["install", *offline, "--no-deps", "-e", "."]]


def test_make_setup_is_course_py_setup():
    """One implementation: make's install step is course.py's, forced (make already knows the pins changed)."""
    make = [line for line in make_dry_run("-B", "setup") if "course.py" in line]
    assert [after(line, ("course.py",)) for line in make] == [["setup", "--force"]]
    make = [line for line in make_dry_run("-B", "setup", "WHEELHOUSE=/media/usb/wheels") if "course.py" in line]
    assert [after(line, ("course.py",)) for line in make] == [["setup", "--force", "--wheelhouse",
                                                               "/media/usb/wheels"]]


@pytest.mark.parametrize("target", ["lab", "lab-instructor"])
def test_lab_commands_run_what_make_runs(target):
    make = next(line for line in make_dry_run(target) if any(t.endswith("/jupyter") for t in line))
    env, ours = course.lab_command(Path("python"), target, course.is_root())
    assert assignments(make) == env
    assert after(make, (next(t for t in make if t.endswith("/jupyter")), "lab")) == after(ours, ("jupyter", "lab"))


def test_doctor_runs_what_make_runs():
    make = next(line for line in make_dry_run("doctor") if "workshop.doctor" in line)
    env, ours = course.doctor_command(Path("python"))
    assert assignments(make) == env and after(make, ("-m",)) == after(ours, ("-m",))


@pytest.mark.parametrize("target", ["test", "test-fast"])
def test_make_test_is_course_py_test(target):
    """One implementation: make passes its variables (defaults equal to course.py's) and runs course.py, so CI's
    `make test` runs the Python entry point that Windows and macOS users run."""
    make = [line for line in make_dry_run(target) if "course.py" in line]
    assert [after(line, ("course.py",)) for line in make] == [[target]]
    passed = assignments(make[0])
    assert passed == {name: course.DEFAULTS[name] for name in passed} and "XDIST" in passed
    assert set(passed) == ({"XDIST"} if target == "test" else set(course.DEFAULTS))
    assert [line for line in make_dry_run(target, "XDIST=") if "course.py" in line][0][0] == "XDIST="


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


def test_missing_requirements_evaluates_markers_for_the_target_platform(tmp_path):
    """pip download --platform evaluates markers for the machine it runs on: the wheelhouse adds what a Windows
    or Mac laptop needs (pywinpty, appnope here), extras included, and nothing a platform does not need."""
    fake_wheel(tmp_path, "jupyter-server", "2.0", ["terminado>=0.8.3", "pywinpty>=2.0.1; os_name == 'nt'",
                                                    "appnope; platform_system == 'Darwin'", "tool[fast]>=1",
                                                    "old-backport; python_version < '3.11'"])
    fake_wheel(tmp_path, "terminado", "0.18")
    fake_wheel(tmp_path, "tool", "1.2", ["speedup==3; extra == 'fast'", "unused; extra == 'other'"])
    roots = ["jupyter-server==2.0", "setuptools>=68"]
    assert course.missing_requirements(tmp_path, "linux", roots) == ["setuptools>=68", "speedup==3"]
    assert course.missing_requirements(tmp_path, "windows", roots) == ["pywinpty>=2.0.1", "setuptools>=68",
                                                                       "speedup==3"]
    assert course.missing_requirements(tmp_path, "macos", roots) == ["appnope", "setuptools>=68", "speedup==3"]
    fake_wheel(tmp_path, "speedup", "3")
    fake_wheel(tmp_path, "setuptools", "80.0")
    assert course.missing_requirements(tmp_path, "linux", roots) == []


def test_wheelhouse_commands_per_platform(tmp_path, monkeypatch, capsys, nothing_runs):
    monkeypatch.delenv("TORCH_INDEX", raising=False)
    assert course.main(["wheelhouse", "--dry-run", "--dest", str(tmp_path), "--platforms", "linux,windows"]) == 0
    out = capsys.readouterr().out
    linux_torch, linux, windows = pip_lines(out)
    markers = [json.loads(after(shlex.split(line), (course.PIP_WITH_MARKERS,))[0]) for line in out.splitlines()]
    assert [(m["sys_platform"], m["platform_system"], m["os_name"], m["python_version"]) for m in markers] == [
        ("linux", "Linux", "posix", "3.11")] * 2 + [("win32", "Windows", "nt", "3.11")]
    for line, folder in [(linux_torch, "linux"), (linux, "linux"), (windows, "windows")]:
        assert line[:1] == ["download"] and line[line.index("--dest") + 1] == str(tmp_path / folder)
        assert "--only-binary=:all:" in line and line[line.index("--python-version") + 1] == "3.11"
    assert "--platform=manylinux_2_28_x86_64" in linux and "--platform=manylinux2014_x86_64" in linux
    assert "--platform=win_amd64" in windows and not any(t.startswith("--platform=manylinux") for t in windows)
    assert linux_torch[-1] == "torch==2.13.0" and course.TORCH_CPU_INDEX in linux_torch
    for line in (linux, windows):  # requirements.txt and the build backend that `pip install -e .` needs
        assert line[-3:] == ["requirements.txt", "setuptools>=68", "wheel"] and "--index-url" not in line
    assert not list(tmp_path.iterdir())


def test_the_wheelhouse_carries_pyprojects_build_backend():
    import tomllib

    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert set(build["requires"]) <= set(course.BUILD_BACKEND)


@pytest.mark.parametrize("argv", [["wheelhouse", "--platforms", "linux,amiga"], ["wheelhouse", "--platforms", ""]])
def test_wheelhouse_refuses_an_unknown_or_empty_platform_list(argv, capsys, nothing_runs):
    with pytest.raises(SystemExit) as stopped:
        course.main(argv)
    assert stopped.value.code == 2


def test_make_wheelhouse_is_course_py_wheelhouse():
    make = [line for line in make_dry_run("wheelhouse", "PLATFORMS=macos,windows") if "course.py" in line]
    assert [after(line, ("course.py",)) for line in make] == [["wheelhouse", "--platforms", "macos,windows"]]


@pytest.mark.parametrize("platform", ["macos", "windows"])
def test_pip_resolves_with_the_target_platforms_markers(platform, tmp_path):
    """pip_for() runs pip with the target's environment markers: a requirement marked for the target only is
    downloaded, one marked for Linux only (as torch's cuda-bindings) is not. Offline: a local folder index."""
    fake_wheel(tmp_path, "app", "1.0", ["winonly; sys_platform == 'win32'", "maconly; sys_platform == 'darwin'",
                                        "linuxonly; platform_system == 'Linux'"])
    for name in ("winonly", "maconly", "linuxonly"):
        fake_wheel(tmp_path, name, "1.0")
    dest = tmp_path / "dest"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    subprocess.run([*course.pip_for(platform), "download", "--quiet", "--no-index", "--find-links", str(tmp_path),
                    "--dest", str(dest), *course.platform_options(platform), "app==1.0"], env=env, check=True)
    got = sorted(wheel.name.split("-")[0] for wheel in dest.glob("*.whl"))
    assert got == ["app", {"macos": "maconly", "windows": "winonly"}[platform]]
    assert course.missing_requirements(dest, platform, ["app==1.0"]) == []
