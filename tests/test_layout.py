"""The code's layout: `utils` is the course API and imports none of the tooling around it; the moved commands keep
working under their old names for one release; wrong answers are Python that ruff reads."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from grading.labsource import parse_wrong_answers
from utils import ROOT

TOOLING = ("grading", "workshop", "chatbot", "labcheck", "benchmarks", "scripts", "tests")
DEPRECATED_ALIASES = {"chat", "qa_finetune", "grading", "doctor", "slides", "_moved"}  # utils/_moved.py


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_course_api_never_imports_the_tooling():
    modules = [p for p in (ROOT / "utils").glob("*.py") if p.stem not in DEPRECATED_ALIASES]
    assert len(modules) >= 15
    for path in modules:
        bad = sorted(m for m in _imports(path) if m.split(".")[0] in TOOLING)
        assert not bad, f"utils/{path.name} imports {bad}: the course API must not depend on the tooling"


def test_utils_top_level_holds_only_course_api_and_the_dated_aliases():
    """Each alias is a three-line forward to its new home (and nothing else lives in it)."""
    for stem in DEPRECATED_ALIASES - {"_moved"}:
        text = (ROOT / "utils" / f"{stem}.py").read_text(encoding="utf-8")
        assert "forward(__name__," in text and len(text.splitlines()) <= 6, stem


@pytest.mark.parametrize("old, new", [("utils.chat", "chatbot.chat"), ("utils.qa_finetune", "chatbot.qa_finetune"),
                                      ("utils.grading", "grading"), ("utils.doctor", "workshop.doctor"),
                                      ("utils.slides", "workshop.slides")])
def test_old_command_names_still_run_and_say_where_they_went(old, new):
    proc = subprocess.run([sys.executable, "-m", old, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"python -m {new}" in proc.stderr and "usage:" in proc.stdout


def test_old_import_path_warns_and_resolves():
    code = ("import warnings; warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    from utils.chat import ChatBox, load_chatbot, main\n"
            "print(ChatBox.__module__, load_chatbot.__module__, main.__module__, w[0].category.__name__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["utils.chatbox", "utils.adapters", "chatbot.chat", "DeprecationWarning"], proc.stderr


def test_wrong_answers_parse_into_named_cell_replacements():
    text = ('"""preamble"""\n\n# %% [a] forgets x\ndef f():\n    return 1\n\n\n# %% [b] two cells\ny = 2\n'
            "# %% [c] two cells\nz = 3\n")
    answers = parse_wrong_answers(text)
    assert [(w.name, w.replace) for w in answers] == [("forgets x", {"a": "def f():\n    return 1"}),
                                                      ("two cells", {"b": "y = 2", "c": "z = 3"})]
    with pytest.raises(ValueError, match="not a wrong-answer header"):
        parse_wrong_answers("# %% wrong header\nx = 1\n")


def test_grading_exports_every_name_it_lists_and_imports_them_only_when_asked():
    """`from grading import X` still works for every name of grading.__all__, and importing one module of the
    package (the harness's test drivers, the release worker) does not pull torch in through grading.grade."""
    import grading

    assert sorted(grading.__all__) == sorted(grading._EXPORTS)
    assert all(getattr(grading, name) is not None for name in grading.__all__)
    code = "import sys, grading.labsource, grading.harness; print('grading.grade' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["False", "False"]


# Operations that change a tensor's shape: a line of a printed function that does one says the shape it makes.
RESHAPING = (".view(", ".reshape(", ".transpose(", ".permute(", ".unsqueeze(", ".squeeze(", ".flatten(", ".T",
             " @ ", "F.linear(", ".mean(", ".sum(", ".var(", ".max(", ".gather(", "torch.cat(", "torch.stack(",
             "torch.arange(", "logsumexp(", "self.wte(", "block(", "model(")


def _printed_functions() -> list[tuple[str, str]]:
    """(lesson, dotted name) of every `inspect.getsource(X)` a lesson prints."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "inspect.getsource":
                found.append((path.stem, ast.unparse(node.args[0])))
    return found


def test_lessons_print_functions():
    assert len(_printed_functions()) >= 8


@pytest.mark.parametrize("lesson, name", _printed_functions())
def test_every_reshaping_line_of_a_printed_function_says_its_shape(lesson, name):
    """nanoGPT's habit (issue 13): in every function a lesson prints, a line that reshapes ends with a comment that
    gives the shape, `# (batch, seq, d_model)`. The function is found where the lesson imports it from (`from utils.x import name`)."""
    import importlib
    import inspect

    tree = ast.parse((ROOT / "notebooks" / f"{lesson}.py").read_text(encoding="utf-8"))
    head = name.split(".")[0]
    module = next(node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module and any(alias.name == head for alias in node.names))
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    function = ast.parse(inspect.cleandoc("\n" + inspect.getsource(obj))).body[0]
    lines = inspect.getsource(obj).splitlines()
    body_start = function.body[1].lineno if ast.get_docstring(function) else function.body[0].lineno
    missing = [line.strip() for line in lines[body_start - 1:]
               if any(op in line.split("#")[0] for op in RESHAPING) and "(" not in line.partition("#")[2]
               and not line.strip().startswith(("raise", "if ", "f\"", "\""))]
    assert not missing, f"{lesson} prints {name}: lines that reshape without a shape comment: {missing}"
