"""`make gradescope LAB=...` (`python -m grading.gradescope build --lab LAB`): a Gradescope autograder for one lab.

Gradescope's autograder specification: the zip holds `setup.sh` (run once, as root, to build the image) and
`run_autograder` (run for every submission, in a fresh container); the zip is unpacked into /autograder/source,
the student's upload is in /autograder/submission, and the result goes to /autograder/results/results.json with a
score, max_score, status, output and visibility per test. This zip carries a small course root: `grading/`,
`utils/`, `data/` (the bundled model), the released lab (`labs/<lab>/`) and its source (`solutions/<lab>/`, hidden
tests included, every solution cell replaced by the released stub's: the grader never needs a solution), the
expected values of the hidden tests' expectations (`expectations.json`: computed here, by the reference kernel,
when the zip is built; `grading.expect`), the pinned requirements, `setup.sh` and `run_autograder`.

`run_autograder` calls `python -m grading.gradescope run`, which grades the upload with this course's grader
(`grading.grade.grade_student`, the same harness as `make grade`) and writes results.json from the score the
grading process computed itself: no gradebook, no file that student code could have written, is read back.

The sandbox. `setup.sh` installs bubblewrap; where it can run in Gradescope's container, each submission is graded
inside it exactly as with `make grade`. Docker usually refuses the namespaces bubblewrap needs, and then the
submission is graded as with `--unsafe-no-sandbox` (noted in the output): Gradescope's container is the isolation
then (one container per submission, discarded afterwards, nothing of another student in it). What changes without
bubblewrap: student code runs as `nobody` (`unprivileged_uid`: setpriv, as root) with /autograder/source/solutions
(the hidden tests and their expected values) readable by root only, and it can reach the network if the
assignment allows it. Where `nobody` cannot start the course's Python, it runs as root and could read them; the
output says so. Use `--sandbox require` where the container allows bubblewrap.
What does not change: the score comes from the signed evidence of each hidden test (grading.harness), computed in
the grading process; this process is a child subreaper (Linux PR_SET_CHILD_SUBREAPER), so every process student
code started, daemons included, stays its descendant and is killed before results.json is written; results.json
is written last, atomically, from the grader's own result. `--sandbox require` refuses to grade without bubblewrap
(every submission then scores 0 with a message): use it where Gradescope's container allows namespaces.

For a test outside Gradescope, $AUTOGRADER_ROOT replaces /autograder (tests/test_gradescope.py unpacks the zip
into a temporary root laid out the same way and runs run_autograder there).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

from grading.demote import sandboxed_uids, unprivileged_uid
from grading.grade import (
    DEFAULT_CELL_TIMEOUT,
    SHIPPED_EXPECTATIONS,
    GradingOptions,
    Result,
    fmt,
    grade_student,
    reference_expectations,
)
from grading.labsource import HIDDEN_BEGIN, LABS, NEVER_RELEASED, SOLUTIONS, load_lab, strip_hidden_tests
from grading.sandbox import sandbox_problem
from grading.student_edition import TORCH_CPU_INDEX, torch_requirement
from grading.submissions import Submission, submitted_files
from utils import ROOT

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
SANDBOX_MODES = ("auto", "require", "off")
# What the zip carries from the course root besides the lab itself (folders whole, minus build litter).
COURSE_FILES = ("utils", "data", "requirements.txt", "nbgrader_config.py", "LICENSE")
SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".gitignore"}

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (choose its Ubuntu 24.04 base image:
# the pinned packages need Python 3.11 or newer). It installs Python, bubblewrap (the grader's sandbox, used when
# the container allows it) and the course's pinned packages into /autograder/source/.venv.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip bubblewrap >/dev/null
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --index-url {index} {torch}
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission (as root, in a fresh container): grade /autograder/submission with the
# course's grader and write /autograder/results/results.json. $AUTOGRADER_ROOT replaces /autograder in tests.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT/source" || exit 1
exec "$ROOT/source/.venv/bin/python" -m grading.gradescope run --lab {lab} --root "$ROOT" \\
  --sandbox {sandbox} --visibility {visibility} --cell-timeout {cell_timeout}
"""


def _strip_solutions(source: nbformat.NotebookNode, stub: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lab source with every solution cell's text replaced by the released stub's (hidden tests kept)."""
    stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in stub.cells}
    nb = nbformat.from_dict(json.loads(nbformat.writes(source)))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = stubs.get(meta.get("grade_id"), "raise NotImplementedError()")
    return nb


def _add(zf: zipfile.ZipFile, path: Path, arcname: str) -> int:
    if path.name in SKIP_NAMES:
        return 0
    if path.is_dir():
        return sum(_add(zf, child, f"{arcname}/{child.name}") for child in sorted(path.iterdir()))
    zf.write(path, arcname)
    return 1


def build_zip(lab_name: str, dest: Path, root: Path = ROOT, sandbox: str = "auto", visibility: str = "visible",
              cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> int:
    """Write the autograder zip of `lab_name` to `dest`; returns the number of files in it."""
    lab = load_lab(lab_name, root / "solutions")
    released = root / "labs" / lab_name
    torch = torch_requirement(root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP_SH.format(index=TORCH_CPU_INDEX, torch=torch)),
                           ("run_autograder", RUN_AUTOGRADER.format(lab=lab_name, sandbox=sandbox,
                                                                    visibility=visibility,
                                                                    cell_timeout=int(cell_timeout)))):
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o100755 << 16  # executable: Gradescope runs both directly
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
            count += 1
        for path in sorted((root / "grading").glob("*.py")):  # the code only: never grades or student work
            count += _add(zf, path, f"grading/{path.name}")
        for rel in COURSE_FILES:
            if (root / rel).exists():
                count += _add(zf, root / rel, rel)
        count += _add(zf, released, f"labs/{lab_name}")
        options = GradingOptions(cell_timeout=cell_timeout, feedback=False, sandbox=sandbox_problem() is None)
        expected = {stem: reference_expectations(lab, stem, options) for stem in lab.notebooks}
        zf.writestr(f"solutions/{lab_name}/{SHIPPED_EXPECTATIONS}", json.dumps(expected))
        count += 1
        for path in sorted(lab.path.iterdir()):
            if path.suffix == ".ipynb":
                stub = nbformat.read(released / path.name, as_version=4)
                zf.writestr(f"solutions/{lab_name}/{path.name}",
                            nbformat.writes(_strip_solutions(lab.notebooks[path.stem], stub)))
                count += 1
            elif path.is_file() and not any(path.match(p) for p in NEVER_RELEASED):
                count += _add(zf, path, f"solutions/{lab_name}/{path.name}")  # the lab's data files
    return count


def _become_subreaper() -> bool:
    """Orphans of our descendants re-parent to us instead of init (Linux >= 3.4): none escapes the final kill."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap() -> None:
    """Collect every exited child (as a subreaper we inherit orphans, e.g. bubblewrap's, and must reap them)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(rounds: int = 50) -> int:
    """SIGKILL every live descendant of this process until none is left (exited ones are reaped); returns how many
    were killed. Call it only when grading is over: it reaps any child of this process."""
    import psutil

    me, killed = psutil.Process(), 0
    for _ in range(rounds):
        _reap()
        alive = []
        for child in me.children(recursive=True):
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    alive.append(child)
            except psutil.Error:
                pass
        if not alive:
            break
        for child in alive:
            try:
                child.kill()
                killed += 1
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=1)
    _reap()
    return killed


def _describe(lab_name: str, stub_dir: Path) -> dict[str, str]:
    """grade_id -> the public first line of each test cell (its docstring), from the released lab."""
    names = {}
    for path in sorted(stub_dir.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                text = strip_hidden_tests(cell.source).strip().splitlines()
                first = text[0].strip().strip('"').strip("'").strip() if text else ""
                names[meta.get("grade_id", "")] = first if HIDDEN_BEGIN not in first else ""
    return names


def results_json(result: Result, lab_name: str, descriptions: dict[str, str], visibility: str,
                 extra: list[str]) -> dict:
    """Gradescope's results.json from one graded Result: one test per graded cell."""
    lab = load_lab(lab_name)
    tests = []
    for number, key in enumerate(lab.points, 1):
        gid = key.split(":", 1)[1]
        score, top = result.cells.get(key, 0.0), lab.points[key]
        mine = [n for n in result.notes if not n.startswith("tests failed:") and re.search(rf"\b{re.escape(gid)}\b", n)]
        tests.append({"name": f"{lab.column(key)}: {descriptions.get(gid, '')}".rstrip(": "),
                      "number": str(number), "score": score, "max_score": top,
                      "status": "passed" if score >= top else "failed",
                      "output": ("passed" if score >= top else "failed") + "".join(f"\n{n}" for n in mine),
                      "visibility": visibility})
    lines = [f"{lab_name}: {fmt(result.score)} / {fmt(result.max_score)} ({result.status})", *extra, *result.notes]
    return {"score": result.score, "execution_time": round(result.seconds, 1), "output": "\n".join(lines),
            "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def run(lab_name: str, root: Path, sandbox: str = "auto", visibility: str = "visible",
        cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> dict:
    """Grade root/submission and write root/results/results.json (always: a disaster is a 0 with its reason)."""
    reaper = _become_subreaper()
    lab = load_lab(lab_name, SOLUTIONS)
    results = root / "results" / "results.json"
    extra = []
    problem = sandbox_problem() if sandbox != "off" else "sandbox turned off (--sandbox off)"
    try:
        if problem and sandbox == "require":
            raise RuntimeError(f"no sandbox for student code in this container: {problem}")
        run_as = None
        if not problem and os.geteuid() == 0:  # the sandbox started as a uid of its own, not as root
            run_as, why = sandboxed_uids()
            if run_as is None:
                extra.append(f"the sandbox was started as root ({why[:160]})")
        if problem:
            run_as, why = unprivileged_uid()
            if run_as is not None:
                os.chmod(SOLUTIONS, 0o700)  # the hidden tests and their expected values: this process's alone
            extra.append(f"graded without bubblewrap ({problem[:160]}): this container is the isolation; student code "
                         + (f"ran as uid {run_as}" if run_as is not None else f"ran as root ({why})"))
        files, notes = submitted_files(root / "submission")
        with tempfile.TemporaryDirectory(prefix="gradescope-") as out:
            result = grade_student(lab, Submission("submission", files, notes=notes), Path(out),
                                   GradingOptions(cell_timeout=cell_timeout, feedback=False, sandbox=not problem,
                                                  threads=max(1, os.cpu_count() or 1), run_as=run_as))
    except Exception as err:  # noqa: BLE001 - Gradescope must get a result whatever happened
        result = Result("submission", lab_name, 0.0, lab.max_score, {k: 0.0 for k in lab.points}, "error",
                        [f"grader error: {type(err).__name__}: {err}"])
    killed = kill_descendants()
    if killed:
        extra.append(f"{killed} process(es) left running by the submission were killed")
    if not reaper:
        extra.append("could not become a child subreaper: a daemon started by student code could outlive grading")
    data = results_json(result, lab_name, _describe(lab_name, LABS / lab_name), visibility, extra)
    _write(results, data)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.gradescope",
                                     description="A Gradescope autograder for one lab: build its zip, or (inside "
                                                 "Gradescope's container) grade a submission into results.json.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the autograder zip (make gradescope LAB=...)")
    grade = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json (run_autograder)")
    for p in (build, grade):
        p.add_argument("--lab", required=True, help="lab name, e.g. lab04_attention")
        p.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto",
                       help="auto: bubblewrap where the container allows it, else the container is the isolation; "
                            "require: refuse without it; off: never (default auto)")
        p.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                       help="when students see the per-test results (Gradescope's visibility; default visible)")
        p.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                       help=f"wall-clock seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    build.add_argument("--out", type=Path, help="the zip to write (default grading/gradescope_<lab>.zip)")
    grade.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")),
                       help="Gradescope's /autograder (default $AUTOGRADER_ROOT or /autograder)")
    args = parser.parse_args(argv)
    if args.command == "build":
        out = args.out or ROOT / "grading" / f"gradescope_{args.lab}.zip"
        count = build_zip(args.lab, out, sandbox=args.sandbox, visibility=args.visibility,
                          cell_timeout=args.cell_timeout)
        print(f"{out}: {count} files, {out.stat().st_size / 1e6:.1f} MB. Upload it as the assignment's autograder "
              "(Configure Autograder → Zip file upload; Ubuntu 24.04 base image).")
        return 0
    data = run(args.lab, args.root.resolve(), args.sandbox, args.visibility, args.cell_timeout)
    print(data["output"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
