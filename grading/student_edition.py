"""`python -m grading.student_edition DEST` (or `make student-edition DEST=...`): the repository students clone.

The course repository holds every answer: `solutions/` (solutions, hidden tests, wrong answers) and the grader. This
writes, into DEST, a copy a class can be given (push it to GitHub Classroom, a private repository, a zip): the
lessons, the released labs, the data and the bundled model, the course package `utils/` (lessons import it; the
hidden tests that grade a lab refuse the reference they grade, so shipping it gives no points away), the capstone's
programs, `labcheck/` (`python -m labcheck check`: a lab's visible tests, per test cell, exit 1 on a failure), the
pinned requirements, a `pyproject.toml` that installs only those packages, a student README and Makefile (`make lab`,
`make check LAB=...`), and GitHub Classroom's autograding workflow (`.github/workflows/classroom.yml`: labcheck per
lab, worth the lab's points). Nothing from `solutions/`, `grading/`, `tests/`, `benchmarks/` or
`scripts/` is copied; `tests/test_student_edition.py` builds the edition and scans every file of it for solution
and hidden-test text.

DEST must be empty or absent (an existing repository is never overwritten: pass --force to replace its files but
keep its `.git`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from grading.labsource import list_labs, load_lab

ROOT = Path(__file__).resolve().parent.parent

# What students get, relative to the course root. Folders are copied whole, minus SKIP.
INCLUDE = ("notebooks", "labs", "data", "utils", "chatbot", "labcheck", "LICENSE", "LICENSES", "CITATION.cff")
# Pins of tools that run on the instructor's or presenter's side only: the JupyterHub server and its proxy
# (workshop/jupyterhub/), the browser check of the decks (tests/browser/). The edition's requirements.txt leaves them
# out, with the comment lines that introduce them.
INSTRUCTOR_ONLY_PINS = {"jupyterhub", "configurable-http-proxy", "playwright"}
# Build litter, and the dated aliases of commands whose packages stay with the instructor (utils/_moved.py).
SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache"}
SKIP_PATHS = {"utils/grading.py", "utils/doctor.py", "utils/slides.py"}
# The students' Jupyter room (nbgrader's Assignment List and Validate only), at jupyter/ in the edition.
STUDENT_ROOM = "workshop/jupyter/student"

MAKEFILE = """\
# LoRA from first principles, student edition. `make help` lists the commands.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB ?=

.PHONY: help setup lab check

help:  ## list the commands
\t@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \\1\\t/' | expand -t 22

setup: $(STAMP)  ## create .venv and install the pinned packages (only when the pins change)

$(STAMP): requirements.txt pyproject.toml
\t@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
\t$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
\t@touch $(STAMP)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)  ## open the course in JupyterLab (sets up the first time)
\tJUPYTER_CONFIG_PATH=$(abspath jupyter) $(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup.ipynb

# Runs a copy of the lab top to bottom, offline, every cell even after an error; prints PASS or FAIL and the
# message of each visible test and exits non-zero when one fails (python -m labcheck). Your notebook is not changed.
check: $(STAMP)  ## run a lab's visible tests from a terminal: LAB=lab04_attention
\t@test -n "$(LAB)" || { echo "usage: make check LAB=<lab name, e.g. lab04_attention>"; exit 2; }
\t$(BIN)/python -m labcheck check labs/$(LAB)/$(LAB).ipynb
"""

README = """\
# LoRA from first principles (student edition)

An interactive Jupyter course on fine-tuning language models, from one-hot tokens to a question-answering
chatbot. It runs offline on a laptop: the course ships its own small GPT-2 and its own Q&A data.

## Two commands

You need Python 3.11 (3.10+ works), `make`, and about 2 GB of disk.

```bash
make lab                         # first run: creates .venv and installs the pinned packages; then opens JupyterLab
make check LAB=lab04_attention   # runs a lab's visible tests from a terminal; exits non-zero if one fails
```

Start with `notebooks/00_setup.ipynb`. `make help` lists every command.

## Lessons and labs

- `notebooks/` holds the lessons, in order. Read them, run them, change them.
- `labs/labNN_topic/labNN_topic.ipynb` is the lab that goes with lesson NN. Write your answer where a cell says
  `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line), then run the test cell below it.
- The checks you see in a lab are the *visible* tests: they show what is expected. When your lab is graded, more
  checks run on fresh random inputs, so an answer that only fits the visible examples loses points.

## Checking a lab before you hand it in

- In JupyterLab: Kernel → Restart Kernel and Run All Cells, then look for red errors; or use the *Validate*
  button in the notebook's toolbar.
- From a terminal (or VS Code, Colab, any editor): `make check LAB=lab04_attention`, or without make
  `python -m labcheck check labs/lab04_attention/lab04_attention.ipynb`, runs a copy of the lab from top to bottom
  (every cell, even after an error) and prints one line per test cell: PASS or FAIL, its points and, for a
  failure, the check's message. It lists unanswered cells and edited locked cells, and exits non-zero unless every
  visible test passed. Your notebook is not changed.
- On GitHub Classroom, every push runs the same command for each lab (`.github/workflows/classroom.yml`); a lab's
  points there mean its visible tests pass. Your grade comes from the graded run, which adds hidden checks.

Hand in the notebook file itself, `labs/<lab>/<lab>.ipynb`, as your instructor asks.

## What is where

```
notebooks/   the lessons
labs/        the labs you hand in
data/        the Q&A data, a text corpus, the tokenizer and the bundled model (data/models/course-gpt2/)
utils/       the course's code, which lessons and labs import
chatbot/     the capstone as programs: python -m chatbot.qa_finetune, python -m chatbot.chat
labcheck/    `python -m labcheck check`: a lab's visible tests from a terminal
jupyter/     the JupyterLab settings `make lab` uses
.github/     GitHub Classroom's autograding workflow (runs labcheck for each lab)
```

## Without make, with a GPU, on Colab

Without `make`: `python -m venv .venv`, then `.venv/bin/pip install -r requirements.txt` and
`.venv/bin/pip install --no-deps -e .` (`.venv\\Scripts\\` on Windows), then `.venv/bin/jupyter lab`.
A GPU is used automatically when PyTorch sees one; `COURSE_MODEL=gpt2 make lab` uses the real 124M GPT-2 where
the Hugging Face Hub is reachable.

Licences: the code is MIT (`LICENSE`), the prose CC BY 4.0, the data as `data/LICENSE.md` says.
"""

GITIGNORE = """\
.venv/
__pycache__/
*.pyc
.ipynb_checkpoints/
*.egg-info/
adapters/
"""


def student_requirements(root: Path = ROOT) -> str:
    """The course's requirements.txt without INSTRUCTOR_ONLY_PINS (and the comments just above each of them)."""
    kept: list[str] = []
    comments: list[str] = []
    for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            comments.append(line)
            continue
        name = line.split("#")[0].split("==")[0].split(">=")[0].strip().lower()
        if name not in INSTRUCTOR_ONLY_PINS:
            kept += comments + [line]
        comments = []
    return "\n".join(kept + comments) + "\n"


def student_pyproject(root: Path = ROOT) -> str:
    """The course's pyproject.toml cut to the packages the edition ships (utils, chatbot) and its project fields."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    project = {key: re.search(rf'^{key} = "([^"]*)"', text, re.M).group(1)
               for key in ("name", "version", "description", "requires-python")}
    return (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{project["name"]}-student"\nversion = "{project["version"]}"\n'
        f'description = "{project["description"]} (student edition)"\n'
        f'requires-python = "{project["requires-python"]}"\nreadme = "README.md"\n'
        'license = { text = "MIT" }\n\n'
        '[tool.setuptools]\npackages = ["utils", "utils.exercises", "chatbot", "labcheck"]\n'
    )


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # as course.py's setup: torch's CPU build on Linux
CLASSROOM_WORKFLOW = ".github/workflows/classroom.yml"
CHECK_COMMAND = "python -m labcheck check labs/{lab}/{lab}.ipynb"
CHECK_TIMEOUT_MINUTES = 15


def torch_requirement(root: Path = ROOT) -> str:
    """requirements.txt's torch pin (`torch==X`): installed first from TORCH_CPU_INDEX, as course.py's setup does."""
    return next(line.split("#")[0].strip() for line in (root / "requirements.txt").read_text().splitlines()
                if line.startswith("torch=="))


def classroom_workflow(root: Path = ROOT) -> str:
    """GitHub Classroom's autograding workflow: set up the pinned packages once, then one command-grader step per
    lab running its visible tests (`python -m labcheck check`), worth the lab's points, and the reporter that sends
    the total to Classroom (it reads each step's result from `<STEP ID>_RESULTS`)."""
    torch = torch_requirement(root)
    labs = [(lab, load_lab(lab, root / "solutions").max_score) for lab in list_labs(root / "solutions")]
    steps = "".join(
        f"      - name: {lab}\n        id: {lab}\n        uses: classroom-resources/autograding-command-grader@v1\n"
        f"        with:\n          test-name: {lab}\n          command: {CHECK_COMMAND.format(lab=lab)}\n"
        f"          timeout: {CHECK_TIMEOUT_MINUTES}\n          max-score: {points:g}\n"
        for lab, points in labs)
    env = "".join(f"          {lab.upper()}_RESULTS: \"${{{{ steps.{lab}.outputs.result }}}}\"\n" for lab, _ in labs)
    return (
        "# GitHub Classroom autograding: every push runs each lab's visible tests (python -m labcheck check).\n"
        "# A lab's points here mean its visible tests pass; the course's grade comes from the hidden tests\n"
        "# (the instructor's make grade or Gradescope). Written by the course's student edition: do not edit.\n"
        "name: Autograding Tests\n"
        "\"on\":\n  - push\n  - workflow_dispatch\n  - repository_dispatch\n"
        "permissions:\n  checks: write\n  actions: read\n  contents: read\n"
        "jobs:\n  run-autograding-tests:\n    runs-on: ubuntu-latest\n"
        "    if: github.actor != 'github-classroom[bot]'\n"
        "    steps:\n"
        "      - name: Checkout code\n        uses: actions/checkout@v4\n"
        "      - name: Set up Python\n        uses: actions/setup-python@v5\n        with:\n"
        "          python-version: \"3.11\"\n"
        "      - name: Install the course's pinned packages\n"
        "        run: |\n"
        f"          python -m pip install --quiet --disable-pip-version-check --no-deps --index-url {TORCH_CPU_INDEX} "
        f"{torch}\n"
        "          python -m pip install --quiet --disable-pip-version-check -r requirements.txt\n"
        "          python -m pip install --quiet --disable-pip-version-check --no-deps -e .\n"
        f"{steps}"
        "      - name: Autograding Reporter\n        uses: classroom-resources/autograding-grading-reporter@v1\n"
        f"        env:\n{env}"
        f"        with:\n          runners: {','.join(lab for lab, _ in labs)}\n"
    )


def _copy(src: Path, dst: Path, rel: str) -> int:
    """Copy file or folder `src` to `dst`, leaving out SKIP_NAMES and SKIP_PATHS; returns the files copied."""
    if src.name in SKIP_NAMES or rel in SKIP_PATHS:
        return 0
    if src.is_dir():
        return sum(_copy(child, dst / child.name, f"{rel}/{child.name}") for child in sorted(src.iterdir()))
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return 1


def build(dest: Path, root: Path = ROOT, force: bool = False) -> int:
    """Write the student edition of the course at `root` into `dest`; returns the number of files written."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise FileExistsError(f"{dest} is not empty (pass --force to replace its files, keeping .git)")
        for child in dest.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    count = sum(_copy(root / rel, dest / rel, rel) for rel in INCLUDE)
    count += _copy(root / STUDENT_ROOM, dest / "jupyter", STUDENT_ROOM)
    for name, text in (("README.md", README), ("Makefile", MAKEFILE), (".gitignore", GITIGNORE),
                       ("requirements.txt", student_requirements(root)), ("pyproject.toml", student_pyproject(root)), (CLASSROOM_WORKFLOW, classroom_workflow(root))):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text, encoding="utf-8")
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.student_edition",
                                     description="Write the student edition of the course (no solutions, "
                                                 "hidden tests or grading tools) into DEST.")
    parser.add_argument("dest", type=Path, help="an empty or absent folder")
    parser.add_argument("--force", action="store_true", help="replace the files of a non-empty DEST, keeping .git")
    args = parser.parse_args(argv)
    try:
        count = build(args.dest, force=args.force)
    except FileExistsError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"student edition: {count} files in {args.dest}")
    print(f"next: cd {args.dest} && git init && git add -A && git commit -m 'course' (then push it for your class)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
