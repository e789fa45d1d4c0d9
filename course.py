"""The course's main commands without make, on Linux, macOS and Windows.

    python course.py setup           create .venv and install the pinned packages (only when the pins change)
    python course.py lab             open the course in JupyterLab (sets up first); nbgrader's student panels only
    python course.py lab-instructor  JupyterLab with nbgrader's instructor panels too
    python course.py test            everything: ruff, tests, every lesson under nbval, every lab proven gradable
    python course.py test-fast       unit tests, one lesson and one lab
    python course.py doctor          is this laptop ready? offline, about 10 s
    python course.py test --dry-run  print the commands instead of running them
    python course.py wheelhouse      a folder of wheels for a room without internet (Linux, macOS, Windows)
    python course.py setup --wheelhouse DIR   install from that folder, with no network

On Linux, setup installs torch alone first from PyTorch's CPU wheel index (a 192 MB wheel instead of the CUDA
build's several GB), then everything else from the usual index; where that index does not answer it says so in
one line and takes torch from the usual index. TORCH_INDEX=URL picks another torch index, TORCH_INDEX= none.
macOS and Windows use the usual index only: torch's wheels there are CPU builds.

Each command runs what the Makefile target of the same name runs, with the same environment; like make, it reads
XDIST, FAST_LESSON and FAST_LAB from the environment (`XDIST= python course.py test` runs in one process).
Use the Python you want the course to run on (3.10 or newer) to run this file; it makes `.venv` with it.
Only the standard library is used (and pip, for the wheelhouse): this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import os
import re
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"  # the Makefile's stamp too: either tool sees the other's install
PINS = (ROOT / "requirements.txt", ROOT / "pyproject.toml")
TEST_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
            "MPLBACKEND": "Agg"}
DEFAULTS = {"XDIST": "-n logical --maxprocesses=4 --dist loadscope",  # the Makefile's defaults
            "FAST_LESSON": "notebooks/04_attention.ipynb", "FAST_LAB": "lab00_setup"}
ROOMS = {"lab": ROOT / "workshop" / "jupyter" / "student", "lab-instructor": ROOT / "workshop" / "jupyter" / "instructor"}
MIN_PYTHON = (3, 10)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_INDEX_TIMEOUT = 15  # seconds pip waits for the CPU index before the usual index takes over
BUILD_BACKEND = ("setuptools>=68", "wheel")  # pyproject.toml's build-system: `pip install -e .` needs it offline
WHEELHOUSE = ROOT / "wheelhouse"
WHEEL_PYTHON = "3.11"  # the Python the course is tested with; the wheelhouse serves that version
# pip download --platform evaluates environment markers for the machine it runs on, not the target (a Mac's torch
# would bring Linux's cuda-bindings, a Windows laptop would miss pywinpty): each platform carries the marker values
# its laptops have, pip runs with them (PIP_WITH_MARKERS), and missing_requirements() checks the folder with them.
WHEEL_PLATFORMS = {
    # pip 23.2 does not widen manylinux_2_28 to the older glibc tags by itself: each is named
    "linux": ([f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)]
              + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
              {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"}),
    # torch 2.13's macOS wheel needs macOS 14; pip widens macosx_14_0 to every older macOS tag
    "macos": (["macosx_14_0_arm64"],
              {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"}),
    "windows": (["win_amd64"],
                {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"}),
}


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


def this_platform() -> str:
    return {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)


def torch_index(platform: str | None = None) -> str:
    """Where setup takes torch from first: $TORCH_INDEX when set (empty: nowhere), else the CPU index on Linux."""
    if "TORCH_INDEX" in os.environ:
        return os.environ["TORCH_INDEX"]
    return TORCH_CPU_INDEX if (platform or this_platform()) == "linux" else ""


def torch_pin(requirements: Path | None = None) -> str:
    """requirements.txt's torch line, e.g. 'torch==2.13.0'."""
    for line in (requirements or ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if re.match(r"torch\s*==", line):
            return line.replace(" ", "")
    raise ValueError("requirements.txt pins no torch==")


def torch_index_options(index: str) -> list[str]:
    """pip's options for torch alone from `index`: its own deps come later from the usual index; fail fast."""
    return ["--no-deps", "--index-url", index, "--timeout", str(TORCH_INDEX_TIMEOUT), "--retries", "1"]


def torch_fallback_message(index: str) -> str:
    return (f"course.py: torch could not be taken from {index}; it comes from the usual index instead "
            "(on Linux that is the CUDA build: several GB more)")


def setup_commands(python: Path, wheelhouse: Path | None = None) -> list[list[str]]:
    """pip's commands of a setup: requirements.txt, then the course itself (editable, without deps).
    With a wheelhouse, both install from that folder alone (--no-index): no network is needed."""
    quiet = ["--quiet", "--disable-pip-version-check"]
    if wheelhouse is not None:
        quiet += ["--no-index", "--find-links", str(wheelhouse)]
    return [[str(python), "-m", "pip", "install", *quiet, "-r", "requirements.txt"],
            [str(python), "-m", "pip", "install", *quiet, "--no-deps", "-e", "."]]


def torch_command(python: Path, index: str) -> list[str]:
    """Torch alone from `index` (setup's first step on Linux)."""
    return [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            *torch_index_options(index), torch_pin()]


def lab_command(python: Path, target: str, root: bool) -> tuple[dict[str, str], list[str]]:
    """(environment, command) of `make lab` or `make lab-instructor`."""
    args = [str(python), "-m", "jupyter", "lab", *(["--allow-root"] if root else [])]
    if target == "lab":
        args.append("notebooks/00_setup.ipynb")
    return {"JUPYTER_CONFIG_PATH": str(ROOMS[target])}, args


def doctor_command(python: Path) -> tuple[dict[str, str], list[str]]:
    """(environment, command) of `make doctor`."""
    return {"HF_HUB_OFFLINE": "1"}, [str(python), "-m", "workshop.doctor"]


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


def platform_wheels(wheelhouse: Path) -> Path:
    """The folder of this machine's wheels: wheelhouse/<platform> when the folder holds one per platform."""
    return wheelhouse / this_platform() if (wheelhouse / this_platform()).is_dir() else wheelhouse


def setup(dry_run: bool, wheelhouse: Path | None = None, force: bool = False) -> int:
    python = venv_python()
    if not force and not needs_install(STAMP, PINS):
        return 0
    if sys.version_info < MIN_PYTHON:
        print(f"course.py: Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed; this is "
              f"{sys.version.split()[0]}. Run this file with a newer python.", file=sys.stderr)
        return 1
    if not python.exists() and run({}, [sys.executable, "-m", "venv", str(VENV)], dry_run):
        return 1
    if wheelhouse is not None:
        wheelhouse = platform_wheels(wheelhouse.resolve())
    elif index := torch_index():
        if run({}, torch_command(python, index), dry_run):
            print(torch_fallback_message(index), flush=True)
    for command in setup_commands(python, wheelhouse):
        if code := run({}, command, dry_run):
            return code
    if not dry_run:
        STAMP.touch()
    return 0


def _packaging():
    """packaging's Requirement and default_environment: the installed package, else the copy every pip carries."""
    try:
        from packaging.markers import default_environment
        from packaging.requirements import Requirement
    except ImportError:
        from pip._vendor.packaging.markers import default_environment
        from pip._vendor.packaging.requirements import Requirement
    return Requirement, default_environment


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_requirements(folder: Path) -> dict[str, list[str]]:
    """Every wheel in folder: its project name (normalized) -> its Requires-Dist lines (markers included)."""
    found = {}
    for wheel in sorted(folder.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.count("/") == 1
                            and n.split("/")[0].endswith(".dist-info") and n.endswith("/METADATA"))
            message = email.parser.Parser().parsestr(archive.read(metadata).decode("utf-8"), headersonly=True)
        found[normalize(message["Name"])] = message.get_all("Requires-Dist") or []
    return found


def missing_requirements(folder: Path, platform: str, roots: Iterable[str] = ()) -> list[str]:
    """The requirements (name, extras, versions; no marker) that the wheels in folder need on `platform`'s laptops
    with Python WHEEL_PYTHON and that no wheel in folder provides. `roots` are the lines asked for at the top."""
    Requirement, default_environment = _packaging()
    env = {**default_environment(), **marker_environment(platform)}
    wheels = wheel_requirements(folder)
    edges = [(None, Requirement(line)) for line in roots]
    edges += [(owner, Requirement(line)) for owner, lines in wheels.items() for line in lines]
    extras: dict[str | None, set[str]] = {None: {""}}
    active: dict[str, object] = {}
    changed = True
    while changed:  # an extra asked for by one wheel switches on more requirements of another
        changed = False
        for owner, requirement in edges:
            if requirement.marker is not None and not any(
                    requirement.marker.evaluate({**env, "extra": extra}) for extra in extras.get(owner, {""})):
                continue
            name = normalize(requirement.name)
            active.setdefault(name, requirement)
            wanted = extras.get(name, {""}) | set(requirement.extras)
            if wanted != extras.get(name):
                extras[name], changed = wanted, True
    return sorted(f"{r.name}{'[' + ','.join(sorted(r.extras)) + ']' if r.extras else ''}{r.specifier}"
                  for name, r in active.items() if name not in wheels)


def requirement_lines(requirements: Path | None = None) -> list[str]:
    """The requirement lines of requirements.txt, comments left out."""
    text = (requirements or ROOT / "requirements.txt").read_text(encoding="utf-8")
    return [line for raw in text.splitlines() if (line := raw.split("#", 1)[0].strip())]


# pip with packaging's default marker environment replaced by argv[1] (JSON): it resolves as on that machine
PIP_WITH_MARKERS = ("import json, runpy, sys; import pip._vendor.packaging.markers as m; "
                    "target = json.loads(sys.argv.pop(1)); base = m.default_environment; "
                    "m.default_environment = lambda: {**base(), **target}; "
                    "runpy.run_module('pip', run_name='__main__', alter_sys=True)")


def marker_environment(platform: str) -> dict[str, str]:
    """The environment-marker values of `platform`'s laptops with Python WHEEL_PYTHON."""
    return {**WHEEL_PLATFORMS[platform][1], "python_version": WHEEL_PYTHON,
            "python_full_version": f"{WHEEL_PYTHON}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython"}


def pip_for(platform: str) -> list[str]:
    """The command that runs pip as if on `platform` (markers), with this machine's interpreter."""
    return [sys.executable, "-c", PIP_WITH_MARKERS, json.dumps(marker_environment(platform))]


def platform_options(platform: str) -> list[str]:
    tags = WHEEL_PLATFORMS[platform][0]
    return [*(f"--platform={tag}" for tag in tags), "--python-version", WHEEL_PYTHON, "--implementation", "cp",
            "--abi", f"cp{WHEEL_PYTHON.replace('.', '')}", "--only-binary=:all:"]


def wheelhouse(dest: Path, platforms: Sequence[str], dry_run: bool) -> int:
    """dest/<platform>/: every wheel the course needs on that platform with Python WHEEL_PYTHON, the build backend
    included, for `python course.py setup --wheelhouse dest` with no network."""
    for platform in platforms:
        folder = dest / platform
        if not dry_run:
            folder.mkdir(parents=True, exist_ok=True)
        pip = [*pip_for(platform), "download", "--disable-pip-version-check", "--quiet", "--dest",
               str(folder), "--find-links", str(folder), *platform_options(platform)]
        index = torch_index(platform)
        if index and run({}, [*pip, *torch_index_options(index), torch_pin()], dry_run):
            print(torch_fallback_message(index), flush=True)
        extra: list[str] = []
        for _ in range(5):  # each round adds what the last one's wheels need on the target and pip left out
            if code := run({}, [*pip, "-r", "requirements.txt", *BUILD_BACKEND, *extra], dry_run):
                return code
            if dry_run:
                break
            missing = missing_requirements(folder, platform, [*requirement_lines(), *BUILD_BACKEND])
            if not missing:
                break
            print(f"course.py: {platform} laptops also need {', '.join(missing)}", flush=True)
            extra += missing
        else:
            print(f"course.py: the {platform} wheelhouse still misses {', '.join(missing)}", file=sys.stderr)
            return 1
        if not dry_run:
            size = sum(f.stat().st_size for f in folder.glob("*.whl"))
            print(f"{folder}: {len(list(folder.glob('*.whl')))} wheels, {size / 1e6:.0f} MB", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python course.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["setup", "lab", "lab-instructor", "test", "test-fast", "doctor",
                                                "wheelhouse"])
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    parser.add_argument("--wheelhouse", type=Path, metavar="DIR",
                        help="setup: install from this folder of wheels (or its folder for this OS), no network")
    parser.add_argument("--force", action="store_true", help="setup: install even when the pins did not change")
    parser.add_argument("--platforms", default=",".join(WHEEL_PLATFORMS), metavar="LIST",
                        help=f"wheelhouse: which of {','.join(WHEEL_PLATFORMS)} (default: all)")
    parser.add_argument("--dest", type=Path, default=WHEELHOUSE, metavar="DIR",
                        help="wheelhouse: where the folder goes (default: wheelhouse/)")
    args = parser.parse_args(argv)
    if args.command == "wheelhouse":
        platforms = [p for p in args.platforms.replace(" ", ",").split(",") if p]
        if not platforms or set(platforms) - set(WHEEL_PLATFORMS):
            parser.error(f"--platforms: choose from {', '.join(WHEEL_PLATFORMS)} (got {args.platforms!r})")
        return wheelhouse(args.dest.resolve(), platforms, args.dry_run)
    if (code := setup(args.dry_run, args.wheelhouse, args.force)) or args.command == "setup":
        return code
    python = venv_python()
    if args.command == "doctor":
        return run(*doctor_command(python), args.dry_run)
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
