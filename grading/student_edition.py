"""`python -m grading.student_edition DEST` (or `make student-edition DEST=...`): the repository students clone.

The course repository holds every answer: `solutions/` (solutions, hidden tests, wrong answers) and the grader. This
writes, into DEST, a copy a class can be given (push it to GitHub Classroom, a private repository, a zip): the
lessons, the released labs, the data and the bundled model, the course package `utils/` (lessons import it; the
hidden tests that grade a lab refuse the reference they grade, so shipping it gives no points away), the capstone's
programs, the pinned requirements, a `pyproject.toml` that installs only those packages, and a student README and
Makefile (`make lab`, `make check LAB=...`). Nothing from `solutions/`, `grading/`, `tests/`, `benchmarks/` or
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

ROOT = Path(__file__).resolve().parent.parent

# What students get, relative to the course root. Folders are copied whole, minus SKIP.
INCLUDE = ("notebooks", "labs", "data", "utils", "chatbot", "requirements.txt", "LICENSE", "LICENSES",
           "CITATION.cff")
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

# Runs a copy of the lab top to bottom, offline; stops at the first failing cell (an unanswered question, a failed
# visible check) and exits non-zero. Your notebook is not changed.
check: $(STAMP)  ## run a lab's visible checks from a terminal: LAB=lab04_attention
\t@test -n "$(LAB)" || { echo "usage: make check LAB=<lab name, e.g. lab04_attention>"; exit 2; }
\t@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \\
\tHF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg $(BIN)/jupyter nbconvert --to notebook --execute \\
\t  --ExecutePreprocessor.timeout=600 --output-dir "$$out" labs/$(LAB)/$(LAB).ipynb \\
\t  && echo "$(LAB): every cell ran and every visible check passed"
"""

README = """\
# LoRA from first principles (student edition)

An interactive Jupyter course on fine-tuning language models, from one-hot tokens to a question-answering
chatbot. It runs offline on a laptop: the course ships its own small GPT-2 and its own Q&A data.

## Two commands

You need Python 3.11 (3.10+ works), `make`, and about 2 GB of disk.

```bash
make lab                         # first run: creates .venv and installs the pinned packages; then opens JupyterLab
make check LAB=lab04_attention   # runs a lab's visible checks from a terminal; exits non-zero if one fails
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
- From a terminal (or VS Code, or any editor): `make check LAB=lab04_attention` runs a copy of the lab from top to
  bottom; it stops at the first cell that fails (an unanswered question or a failed check), prints the error, and
  exits non-zero. Your notebook is not changed.

Hand in the notebook file itself, `labs/<lab>/<lab>.ipynb`, as your instructor asks.

## What is where

```
notebooks/   the lessons
labs/        the labs you hand in
data/        the Q&A data, a text corpus, the tokenizer and the bundled model (data/models/course-gpt2/)
utils/       the course's code, which lessons and labs import
chatbot/     the capstone as programs: python -m chatbot.qa_finetune, python -m chatbot.chat
jupyter/     the JupyterLab settings `make lab` uses
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
        '[tool.setuptools]\npackages = ["utils", "chatbot"]\n'
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
                       ("pyproject.toml", student_pyproject(root))):
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
