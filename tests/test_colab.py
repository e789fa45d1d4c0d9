"""The one Colab install cell (issue 19 item 4, issue 16's erratum on lesson 00): lesson 00 and
docs/colab_gpu.md carry the same text, its pins are requirements.txt's, it covers every package the lessons
import that Colab is not trusted to ship, and it does what it says under a simulated Colab and nothing elsewhere."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import types

import pytest

from utils import ROOT

FIRST_LINE = "# Google Colab only (elsewhere this cell does nothing)"
PIN = re.compile(r'"([A-Za-z0-9_.-]+)==([^"]+)"')
# What the cell leaves as Colab ships it, and why (docs/colab_gpu.md, step 3, says the same to readers):
COLAB_KEEPS = {
    "torch": "Colab's CUDA build, matched to its driver; a pinned package that needs a newer one pulls it itself",
    "numpy": "long-stable API; replacing it breaks Colab's preinstalled compiled packages",
    "matplotlib": "long-stable API",
    "tqdm": "long-stable API",
    "IPython": "the kernel itself",
    "google": "google.colab, Colab's own module",
}


def notebook_cell() -> str:
    cells = json.loads((ROOT / "notebooks/00_setup.ipynb").read_text(encoding="utf-8"))["cells"]
    found = ["".join(c["source"]) for c in cells
             if c["cell_type"] == "code" and "".join(c["source"]).startswith(FIRST_LINE)]
    assert len(found) == 1, "lesson 00 has exactly one Colab cell"
    return found[0]


def docs_cell() -> str:
    text = (ROOT / "docs/colab_gpu.md").read_text(encoding="utf-8")
    found = [block for block in re.findall(r"^```python\n(.*?)\n```$", text, re.S | re.M)
             if block.startswith(FIRST_LINE)]
    assert len(found) == 1, "docs/colab_gpu.md has exactly one Colab cell"
    return found[0]


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.lower()] = version
    return pins


def test_lesson_00_and_the_docs_give_the_same_cell():
    assert notebook_cell() == docs_cell()


def test_the_colab_cell_comes_before_the_first_import_of_utils():
    cells = json.loads((ROOT / "notebooks/00_setup.ipynb").read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert code[0].startswith(FIRST_LINE) and "utils" in code[1]


def test_every_pin_in_the_cell_is_the_one_in_requirements():
    pins = PIN.findall(notebook_cell())
    assert pins, "the cell names its pins as \"package==version\""
    required = requirement_pins()
    for name, version in pins:
        assert required.get(name.lower()) == version, f"{name}=={version}; requirements.txt: {required.get(name)}"
    assert "torch" not in {name for name, _ in pins}, "Colab's CUDA torch stays (docs/colab_gpu.md)"


def _third_party_imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


def test_the_cell_installs_every_package_the_course_imports_that_colab_keeps_not():
    """A lesson, lab, utils or chatbot module that imports a new package fails here until the cell pins it."""
    paths = [*(ROOT / "utils").glob("*.py"), *(ROOT / "chatbot").glob("*.py"),
             *(ROOT / "notebooks").glob("[0-9][0-9]_*.py"), *(ROOT / "solutions").glob("lab*/lab*.py")]
    sources = [p.read_text(encoding="utf-8") for p in paths]
    imported = set().union(*map(_third_party_imports, sources)) - {"utils"}
    installed = {name for name, _ in PIN.findall(notebook_cell())}
    assert imported - installed - set(COLAB_KEEPS) == set()


@pytest.fixture
def colab(monkeypatch, tmp_path):
    """A simulated Colab: google.colab importable, commands recorded instead of run, the clone in tmp_path."""
    google, colab = types.ModuleType("google"), types.ModuleType("google.colab")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    commands = []

    def run(command, check):
        commands.append(command)
        if command[:2] == ["git", "clone"]:
            os.makedirs(command[-1])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", run)
    course_dir = str(tmp_path / "lora-first-principles")
    cell = notebook_cell().replace('"/content/lora-first-principles"', repr(course_dir))
    return cell, course_dir, commands


def test_on_colab_the_cell_clones_installs_the_pins_and_makes_utils_importable(colab, capsys):
    cell, course_dir, commands = colab
    cell = cell.replace("github.com/YOUR-ACCOUNT/", "github.com/someone/")
    exec(cell, {})
    clone, install = commands
    assert clone == ["git", "clone", "--depth", "1", "https://github.com/someone/lora-first-principles", course_dir]
    assert install[:4] == [sys.executable, "-m", "pip", "install"]
    assert sorted(arg for arg in install if "==" in arg) == sorted(f"{n}=={v}" for n, v in PIN.findall(cell))
    assert os.getcwd() == course_dir and sys.path[0] == course_dir
    exec(cell, {})  # again, as after a restart: no second clone, the same install, no duplicate path entry
    assert [c[0] for c in commands] == ["git", sys.executable, sys.executable]
    assert sys.path.count(course_dir) == 1
    assert "course ready" in capsys.readouterr().out


def test_on_colab_the_cell_asks_for_a_restart_when_an_old_version_is_loaded(colab, monkeypatch, capsys):
    cell, _, _ = colab
    monkeypatch.setitem(sys.modules, "peft", types.SimpleNamespace(__version__="0.0.1"))
    exec(cell.replace("github.com/YOUR-ACCOUNT/", "github.com/someone/"), {})
    out = capsys.readouterr().out
    assert "Restart the session" in out and "peft==" in out and "course ready" not in out


def test_on_colab_the_cell_refuses_the_placeholder_address(colab):
    cell, _, commands = colab
    with pytest.raises(ValueError, match="COURSE_REPO"):
        exec(cell, {})
    assert commands == []


def test_outside_colab_the_cell_does_nothing(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    try:
        importable = importlib.util.find_spec("google.colab") is not None
    except ModuleNotFoundError:  # no google package at all
        importable = False
    assert not importable, "this test needs a machine without Colab's google.colab"
    monkeypatch.chdir(tmp_path)
    path = list(sys.path)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    exec(notebook_cell(), {})
    assert os.getcwd() == str(tmp_path) and sys.path == path
