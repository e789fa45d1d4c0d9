"""The student edition (grading.student_edition): everything a student needs, nothing that gives an answer away."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grading import student_edition
from grading.labsource import HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END, list_labs, load_lab
from grading.student_edition import ROOT, build
from grading.validity import secret_lines

# Text that only the instructor's side of the course contains.
FORBIDDEN_NAMES = ("solutions/", "wrong_answers", HIDDEN_BEGIN, SOLUTION_BEGIN)
# Public by design, so their lines are no secret even where a solution repeats them: the lessons teach the code,
# utils/ holds the reference that later lessons import (a hidden test refuses the reference it grades), the
# capstone's programs use it.
PUBLIC_SOURCES = ("notebooks", "utils", "chatbot")


def _text(path: Path) -> str | None:
    """A file's text as a student would read it: for a notebook, its cells' sources and outputs."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # the model's weights, tokenizer binaries
    if path.suffix == ".ipynb":
        nb = json.loads(text)
        text = "\n".join("".join(c.get("source", "")) + "\n" + json.dumps([_textual(o) for o in c.get("outputs", [])])
                         for c in nb.get("cells", [])) + "\n" + json.dumps(nb.get("metadata", {}))
    return text


def _textual(output: dict) -> dict:
    """An output without its pictures (base64 PNG holds no code, and makes the scan slow)."""
    data = {k: v for k, v in output.get("data", {}).items() if not k.startswith("image/")}
    return {**output, "data": data} if "data" in output else output


def _public_texts() -> list[str]:
    """What students see anyway: the public cells of every lab source, the lessons, utils/ and chatbot/."""
    texts = []
    for lab in list_labs():
        for nb in load_lab(lab).notebooks.values():
            for cell in nb.cells:
                region = False
                public = []
                for line in cell.source.splitlines():
                    if HIDDEN_BEGIN in line or SOLUTION_BEGIN in line:
                        region = True
                    elif HIDDEN_END in line or SOLUTION_END in line:
                        region = False
                    elif not region:
                        public.append(line)
                texts.append("\n".join(public))
    for folder in PUBLIC_SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and (text := _text(path)) is not None:
                texts.append(text)
    return texts


@functools.cache
def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text))


def _found_in(text: str, lines) -> list[str]:
    """The lines that occur in `text` (a line's words must all be words of the text before it is searched for)."""
    words = _words(text)
    return [line for line in lines if _words(line) <= words and line in text]


def _secrets() -> dict[str, str]:
    """Every lab's solution and hidden-test lines that appear nowhere public (the scan's relation: a substring)."""
    secrets = {line: lab for lab in list_labs() for line in secret_lines(load_lab(lab))}
    for text in _public_texts():
        for line in _found_in(text, list(secrets)):
            del secrets[line]
    return secrets


def _leaks(edition: Path, secrets: dict[str, str]) -> list[str]:
    found = []
    for path in sorted(p for p in edition.rglob("*") if p.is_file()):
        text = _text(path)
        if text is None:
            continue
        rel = path.relative_to(edition)
        found += [f"{rel}: names {name!r}" for name in FORBIDDEN_NAMES if name in text]
        found += [f"{rel}: {secrets[line]}'s secret {line!r}" for line in _found_in(text, secrets)]
    return found


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("edition") / "course"
    build(dest)
    return dest


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    return _secrets()


def test_edition_has_what_students_need(edition):
    for rel in ("README.md", "Makefile", "pyproject.toml", "requirements.txt", "LICENSE", ".gitignore",
                "notebooks/00_setup.ipynb", "notebooks/jupytext.toml", "utils/models.py", "chatbot/chat.py",
                "data/qa", "data/models/course-gpt2/config.json", "jupyter/jupyter_server_config.json",
                "labcheck/__init__.py", "labcheck/__main__.py", ".github/workflows/classroom.yml"):
        assert (edition / rel).exists(), rel
    for lab in list_labs():
        assert (edition / "labs" / lab / f"{lab}.ipynb").is_file(), lab
    lessons = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (edition / "notebooks").glob("*.ipynb")) == lessons
    readme = (edition / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme and "make check LAB=" in readme and "python -m labcheck check" in readme
    assert "python -m labcheck check labs/$(LAB)/$(LAB).ipynb" in (edition / "Makefile").read_text(encoding="utf-8")
    # every package the edition ships is installed, subpackages included (utils.exercises holds the lessons' checker)
    listed = re.search(r"^packages = \[(.*)\]", (edition / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    shipped = {p.parent.relative_to(edition).as_posix().replace("/", ".") for p in edition.glob("*/**/__init__.py")}
    assert shipped and {name.strip(' "') for name in listed.group(1).split(",")} == shipped


def test_edition_pins_what_students_run_and_no_instructor_tool(edition):
    """The course's pins minus the hub, its proxy and the browser driver: every other line kept, in order."""
    ours = [line for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    theirs = [line for line in (edition / "requirements.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    dropped = [line for line in ours if line.split("==")[0] in student_edition.INSTRUCTOR_ONLY_PINS]
    assert len(dropped) == len(student_edition.INSTRUCTOR_ONLY_PINS)
    assert theirs == [line for line in ours if line not in dropped]
    assert "JupyterHub" not in (edition / "requirements.txt").read_text(encoding="utf-8")


def test_edition_has_no_instructor_side(edition):
    for rel in ("solutions", "grading", "tests", "benchmarks", "scripts", "workshop", "nbgrader_config.py",
                "utils/grading.py", "docs"):
        assert not (edition / rel).exists(), rel
    assert not list(edition.rglob("wrong_answers*")) and not list(edition.rglob("__pycache__"))


def test_edition_contains_no_solution_or_hidden_test_text(edition, secrets):
    assert len(secrets) > 200, "the scan would have nothing to look for"
    assert _leaks(edition, secrets) == []


def test_the_scan_finds_a_planted_solution(edition, secrets, tmp_path):
    # The scan must be able to fail: copy a lab source (solutions and hidden tests) into a copy of the edition.
    copy = tmp_path / "course"
    shutil.copytree(edition / "labs", copy / "labs")
    shutil.copy(ROOT / "solutions/lab04_attention/lab04_attention.ipynb", copy / "labs/lab04_attention/")
    leaks = _leaks(copy, secrets)
    assert any("lab04_attention's secret" in leak for leak in leaks)
    assert any(HIDDEN_BEGIN in leak for leak in leaks)


@pytest.mark.slow  # importing torch and transformers takes about 10 s of CPU
def test_lessons_imports_resolve_inside_the_edition(edition):
    code = ("import utils.models, utils.data, utils.notebook, utils.lora, chatbot.chat\n"
            "from pathlib import Path\n"
            "assert Path(utils.models.__file__).is_relative_to(Path.cwd()), utils.models.__file__\n"
            "from utils.models import load_model\n"
            "model, tokenizer = load_model()\n"
            "print(type(model).__name__)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(edition)}
    run = subprocess.run([sys.executable, "-c", code], cwd=edition, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "GPT2LMHeadModel" in run.stdout


def test_make_help_of_the_edition_lists_the_students_commands(edition):
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    out = subprocess.run(["make", "help"], cwd=edition, capture_output=True, text=True, check=True).stdout
    for target in ("setup", "lab", "check"):
        assert f"make {target} " in out, out


def test_build_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        build(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
