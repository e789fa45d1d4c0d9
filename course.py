"""The course's main commands without make, on Linux, macOS and Windows.

    python course.py setup           create .venv and install the pinned packages (only when the pins change)
    python course.py lab             open the course in JupyterLab (sets up first); nbgrader's student panels only
    python course.py lab-instructor  JupyterLab with nbgrader's instructor panels too
    python course.py test            everything: ruff, tests, every lesson under nbval, every lab proven gradable
    python course.py test-fast       unit tests, one lesson and one lab
    python course.py test --dry-run  print the commands instead of running them

Each command runs what the Makefile target of the same name runs, with the same environment; like make, it reads
XDIST, FAST_LESSON and FAST_LAB from the environment (`XDIST= python course.py test` runs in one process).
Use the Python you want the course to run on (3.10 or newer) to run this file; it makes `.venv` with it.
Only the standard library is used: this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"  # the Makefile's stamp too: either tool sees the other's install
PINS = (ROOT / "requirements.txt", ROOT / "pyproject.toml")
TEST_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
            "MPLBACKEND": "Agg"}
DEFAULTS = {"XDIST": "-n logical --maxprocesses=4 --dist loadscope",  # the Makefile's defaults
            "FAST_LESSON": "notebooks/04_attention.ipynb", "FAST_LAB": "lab04_attention"}
ROOMS = {"lab": ROOT / "workshop" / "jupyter" / "student", "lab-instructor": ROOT / "workshop" / "jupyter" / "instructor"}
MIN_PYTHON = (3, 10)


def venv_python(venv: Path = VENV, windows: bool = os.name == "nt") -> Path:
    """The venv's interpreter: Scripts\\python.exe on Windows, bin/python elsewhere."""
    return venv / "Scripts" / "python.exe" if windows else venv / "bin" / "python"


def setting(name: str) -> str:
    """A make-style variable: the environment's value when set (even empty), else the Makefile's default."""
    return os.environ.get(name, DEFAULTS[name])


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def needs_install(stamp: Path, pins: Sequence[Path]) -> bool:
    """True when the venv was never set up or a pin file changed since (the Makefile's stamp rule)."""
    return not stamp.exists() or any(p.stat().st_mtime > stamp.stat().st_mtime for p in pins)


def setup_commands(python: Path) -> list[list[str]]:
    quiet = ["--quiet", "--disable-pip-version-check"]
    return [[str(python), "-m", "pip", "install", *quiet, "-r", "requirements.txt"],
            [str(python), "-m", "pip", "install", *quiet, "--no-deps", "-e", "."]]


def lab_command(python: Path, target: str, root: bool) -> tuple[dict[str, str], list[str]]:
    """(environment, command) of `make lab` or `make lab-instructor`."""
    args = [str(python), "-m", "jupyter", "lab", *(["--allow-root"] if root else [])]
    if target == "lab":
        args.append("notebooks/00_setup.ipynb")
    return {"JUPYTER_CONFIG_PATH": str(ROOMS[target])}, args


def test_commands(python: Path, target: str) -> list[tuple[dict[str, str], list[str]]]:
    """[(environment, command)] of `make test` or `make test-fast`: ruff, then pytest."""
    xdist = shlex.split(setting("XDIST"))
    if target == "test":
        pytest = ["tests", "notebooks", *xdist, "--nbval-lax", "--nbval-cell-timeout=300", "-p", "no:cacheprovider"]
    else:
        pytest = ["tests", setting("FAST_LESSON"), *xdist, "--nbval-lax", "-m", "not slow",
                  "-k", f"not test_labs or {setting('FAST_LAB')}", "-p", "no:cacheprovider"]
    return [({}, [str(python), "-m", "ruff", "check", "."]), (TEST_ENV, [str(python), "-m", "pytest", *pytest])]


def show(env: dict[str, str], args: list[str]) -> str:
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), *map(shlex.quote, args)])


def run(env: dict[str, str], args: list[str], dry_run: bool) -> int:
    print(show(env, args), flush=True)
    if dry_run:
        return 0
    return subprocess.run(args, cwd=ROOT, env={**os.environ, **env}).returncode


def setup(dry_run: bool) -> int:
    python = venv_python()
    if not needs_install(STAMP, PINS):
        return 0
    if sys.version_info < MIN_PYTHON:
        print(f"course.py: Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed; this is "
              f"{sys.version.split()[0]}. Run this file with a newer python.", file=sys.stderr)
        return 1
    if not python.exists() and run({}, [sys.executable, "-m", "venv", str(VENV)], dry_run):
        return 1
    for command in setup_commands(python):
        if code := run({}, command, dry_run):
            return code
    if not dry_run:
        STAMP.touch()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python course.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["setup", "lab", "lab-instructor", "test", "test-fast"])
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    args = parser.parse_args(argv)
    if (code := setup(args.dry_run)) or args.command == "setup":
        return code
    python = venv_python()
    if args.command in ROOMS:
        return run(*lab_command(python, args.command, is_root()), args.dry_run)
    (ruff_env, ruff), pytest = test_commands(python, args.command)
    start = time.monotonic()
    if code := run(ruff_env, ruff, args.dry_run):
        return code
    if not args.dry_run:
        print(f"ruff: {time.monotonic() - start:.0f} s")
    return run(*pytest, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
