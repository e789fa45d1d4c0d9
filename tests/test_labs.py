"""Every lab is provably gradable (issue 7), each version graded by grading.grade, the harness that grades a class:

- labs/<lab> equals a fresh `nbgrader generate_assignment` of solutions/<lab> (checksums aside);
- no hidden-test line and no solution line appears anywhere in labs/;
- the solution gets full marks, the released stub 0 on every graded cell, and every plausible-but-wrong answer of
  wrong_answers.py strictly between; every graded cell is failed by at least one wrong answer;
- every correct but unusual answer of tests/honest_answers/<lab>.py (same format as wrong_answers.py, written the way
  an honest student might: einsum instead of matmul, a loop instead of vectorised code, float64 inside, a class passed
  as a default argument) gets full marks (issue 15), graded in the same run as the lab's other versions.

One lab: `pytest tests/test_labs.py -k lab03`. The selected labs are released once per test run, in one nbgrader
process shared by all pytest-xdist workers; each lab's versions are graded COURSE_GRADING_WORKERS at a time
(default: the CPU cores, at most 4), each in its own kernel, forked from one process that imported the lab's
libraries once (grading.zygote; COURSE_GRADING_ZYGOTE=0 starts a fresh kernel each); the first test of a lab pays.
"""

from __future__ import annotations

import ast
import hashlib
import os
import textwrap
from pathlib import Path

import pytest
from filelock import FileLock

from grading import LABS, check_lab, list_labs, load_lab, load_wrong_answers, release_labs
from grading.labsource import parse_wrong_answers

LAB_NAMES = list_labs()
HONEST = Path(__file__).parent / "honest_answers"
WORKERS = int(os.environ.get("COURSE_GRADING_WORKERS", min(4, os.cpu_count() or 1)))
_checks: dict = {}


@pytest.fixture(scope="session")
def released(request, tmp_path_factory) -> Path:
    """The labs this run selected, released once: the first xdist worker to get here releases them, the others
    wait for it and reuse the folder (pytest's base temporary folder is shared by the workers of one run)."""
    names = sorted({item.cls.lab for item in request.session.items
                    if getattr(item, "cls", None) is not None and issubclass(item.cls, LabProof)})
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    key = hashlib.sha1(" ".join(names).encode()).hexdigest()[:12]
    folder = shared / f"released-{key}"
    with FileLock(str(folder) + ".lock"):
        if not (folder / "done").is_file():
            release_labs(names, folder / "course")
            (folder / "done").touch()
    return folder / "course" / "labs"


def test_there_are_labs():
    assert "lab00_setup" in LAB_NAMES


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_lab_metadata(lab):
    """Unique grade_ids, points on every test cell, at least two wrong answers, each naming solution cells."""
    source = load_lab(lab)
    for stem, nb in source.notebooks.items():
        ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
        assert len(ids) == len(set(ids)), f"{stem}: duplicated grade_id"
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            assert meta.get("schema_version") == 3, f"{stem}:{meta.get('grade_id')}: schema_version 3"
            if meta.get("grade"):
                assert meta.get("points", 0) > 0 and meta.get("locked"), f"{meta['grade_id']}: points, locked"
            if cell.cell_type == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, \
                    f"{stem}: commit lab sources without outputs"
    wrong = load_wrong_answers(source)
    assert len(wrong) >= 2, "at least two plausible-but-wrong answers"
    assert len({e.name for e in wrong}) == len(wrong), "each wrong answer has its own name"
    solution_ids = {c.metadata["nbgrader"]["grade_id"] for nb in source.notebooks.values() for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("solution")}
    for e in wrong:
        assert e.replace and set(e.replace) <= solution_ids, f"'{e.name}' replaces {sorted(e.replace)}"
    assert (LABS / lab).is_dir(), "run `make release` and commit labs/"


# Graded cells whose hidden test checks a property of the answer's values rather than compare them with one
# reference value (several answers are right): they keep an in-kernel assert next to their expectations, or have
# none. A raw-memory forger can satisfy such a check; each entry says why no reference value exists.
PROPERTY_CELLS = {
    "lab03_positional:test_rope_relative": "any pairing convention of RoPE keeps scores relative; the values differ",
}


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_every_graded_cell_states_expectations(lab):
    """Each graded cell's hidden test states at least one expectation (grading.expect) and computes its expected
    values only in REFERENCE blocks: what is compared outside the student's process is what grades the cell. The
    REFERENCE markers sit inside hidden tests and pair up (a student's kernel never gets what is between them)."""
    from grading.harness import EXPECTATIONS
    from grading.labsource import HIDDEN_BEGIN, HIDDEN_END, REFERENCE_BEGIN, REFERENCE_END

    missing = []
    for nb in load_lab(lab).notebooks.values():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            inside, reference, hidden = False, False, []
            for line in cell.source.splitlines():
                if HIDDEN_BEGIN in line or HIDDEN_END in line:
                    assert not reference, f"{meta.get('grade_id')}: a REFERENCE block left open"
                    inside = HIDDEN_BEGIN in line
                elif REFERENCE_BEGIN in line or REFERENCE_END in line:
                    assert inside and reference == (REFERENCE_END in line), \
                        f"{meta.get('grade_id')}: REFERENCE markers in pairs, inside a hidden test"
                    reference = REFERENCE_BEGIN in line
                elif inside:
                    hidden.append(line)
            states = any(f"{name}(" in line for line in hidden for name in EXPECTATIONS)
            if meta.get("grade") and not states and f"{lab}:{meta['grade_id']}" not in PROPERTY_CELLS:
                missing.append(meta["grade_id"])
            assert meta.get("grade") or not states, f"{meta.get('grade_id')}: expectations in a cell that grades nothing"
    assert not missing, f"graded cells without an expectation in their hidden tests: {missing}"


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_hidden_tests_define_no_class(lab):
    """Under grading a test cell runs as one function whose helpers are named `__grader_…`; inside a class statement
    Python mangles such names (`_Cls__grader_…`), so a hidden test that defines a class fails with a NameError for
    every student, the lab's own solution included (build a stand-in class with `type(...)` instead)."""
    from grading.labsource import HIDDEN_BEGIN, HIDDEN_END

    found = []
    for nb in load_lab(lab).notebooks.values():
        for cell in nb.cells:
            if HIDDEN_BEGIN not in cell.source:
                continue
            hidden = cell.source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]
            found += [f"{cell.metadata['nbgrader']['grade_id']}: class {node.name}"
                      for node in ast.walk(ast.parse(textwrap.dedent(hidden))) if isinstance(node, ast.ClassDef)]
    assert found == [], found


def _keyword_calls(source: str, functions: set[str]) -> list[tuple[int, str, str]]:
    """(line, function, keyword) of each call `f(..., keyword=...)` in `source` to one of `functions`."""
    return [(node.lineno, node.func.id, keyword.arg) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions
            for keyword in node.keywords if keyword.arg is not None]


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_hidden_tests_pass_only_keywords_a_visible_test_passes(lab):
    """A hidden test calls a student's function with a parameter name (`complete(p, max_new_tokens=3)`) only where
    some visible test of the lab passes that name too: a student who renamed a parameter of the given signature
    sees the TypeError while working, instead of losing the hidden test's points unwarned."""
    from grading.labsource import HIDDEN_BEGIN, HIDDEN_END

    cells = [c for nb in load_lab(lab).notebooks.values() for c in nb.cells if c.cell_type == "code"]
    students = {node.name for c in cells if c.metadata.get("nbgrader", {}).get("solution")
                for node in ast.walk(ast.parse(c.source)) if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    visible, hidden = set(), {}
    for cell in (c for c in cells if c.metadata.get("nbgrader", {}).get("grade")):
        hidden_lines, inside = set(), False
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if HIDDEN_BEGIN in line or HIDDEN_END in line:
                inside = HIDDEN_BEGIN in line
            elif inside:
                hidden_lines.add(number)
        for number, function, keyword in _keyword_calls(cell.source, students):
            if number in hidden_lines:
                hidden.setdefault((function, keyword), cell.metadata["nbgrader"]["grade_id"])
            else:
                visible.add((function, keyword))
    unseen = {f"{function}({keyword}=...) in {grade_id}" for (function, keyword), grade_id in hidden.items()
              if (function, keyword) not in visible}
    assert not unseen, f"hidden tests pass parameter names that no visible test passes: {sorted(unseen)}"


def _package_namesakes() -> dict[str, str]:
    """{name: module} of the functions and classes the course's package defines at the top of a utils module."""
    from utils import ROOT

    found = {}
    for path in sorted((ROOT / "utils").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_") \
                    and not path.stem.startswith("_"):  # utils._moved: dated aliases of moved commands
                found.setdefault(node.name, f"utils.{path.stem}")
    return found


def _forbidding_blocks(tree: ast.AST) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first line, last line, modules) of each `with _hidden_forbidden(..., modules=(...))` block."""
    blocks = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_hidden_forbidden":
                    modules = [k.value for k in call.keywords if k.arg == "modules"]
                    if modules:
                        blocks.append((node.lineno, node.end_lineno, tuple(ast.literal_eval(modules[0]))))
    return blocks


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_an_answer_the_package_holds_is_forbidden_in_its_hidden_tests(lab):
    """An exercise whose function the course's package already defines (lab04's scaled_dot_product_attention is
    utils.attention's, lab12's lora_parameter_count utils.lora's) is called by some hidden test inside a rule that
    makes that module unimportable: otherwise importing the lesson's answer earns the exercise's points."""
    from grading.labsource import HIDDEN_BEGIN, HIDDEN_END

    namesakes = _package_namesakes()
    cells = [c for nb in load_lab(lab).notebooks.values() for c in nb.cells if c.cell_type == "code"]
    students = {node.name for c in cells if c.metadata.get("nbgrader", {}).get("solution")
                for node in ast.parse(c.source).body if isinstance(node, ast.FunctionDef) and node.name in namesakes}
    guarded = set()
    for cell in (c for c in cells if c.metadata.get("nbgrader", {}).get("grade")):
        tree, hidden, inside = ast.parse(cell.source), set(), False
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if HIDDEN_BEGIN in line or HIDDEN_END in line:
                inside = HIDDEN_BEGIN in line
            elif inside:
                hidden.add(number)
        blocks = _forbidding_blocks(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in students \
                    and node.lineno in hidden:
                module = namesakes[node.func.id]
                if any(first <= node.lineno <= last and any(module == m or module.startswith(f"{m}.") for m in mods)
                       for first, last, mods in blocks):
                    guarded.add(node.func.id)
    unguarded = {f"{name} (the package's {namesakes[name]}.{name})" for name in students - guarded}
    assert not unguarded, f"no hidden test forbids the package's own answer: {sorted(unguarded)}"


def honest_answers(lab: str) -> list:
    path = HONEST / f"{lab}.py"
    return parse_wrong_answers(path.read_text(encoding="utf-8")) if path.is_file() else []


def test_honest_answers_name_labs_and_their_solution_cells():
    files = sorted(HONEST.glob("lab*.py"))
    assert files and all(p.stem in LAB_NAMES for p in files)
    for path in files:
        source, answers = load_lab(path.stem), honest_answers(path.stem)
        solution_ids = {c.metadata["nbgrader"]["grade_id"] for nb in source.notebooks.values() for c in nb.cells
                        if c.metadata.get("nbgrader", {}).get("solution")}
        assert answers and all(a.replace and set(a.replace) <= solution_ids for a in answers), path.name


class LabProof:
    """The proof for one lab. Each lab gets its subclass below, so `-k lab04` selects one lab and pytest-xdist
    (`--dist loadscope`) gives each lab whole to one worker, which grades its versions once."""

    lab: str = ""

    @pytest.fixture
    def check(self, released: Path):
        if self.lab not in _checks:
            _checks[self.lab] = check_lab(self.lab, workers=WORKERS, released=released,
                                          honest=honest_answers(self.lab))
            print(f"\n{self.lab}: validity check {_checks[self.lab].seconds:.0f} s "
                  f"({', '.join(f'{s} {r.seconds:.0f} s' for s, r in _checks[self.lab].results.items())})")
        return _checks[self.lab]

    def test_release_is_fresh(self, check):
        assert check.release_problems == []

    def test_no_hidden_test_or_solution_line_in_labs(self, check):
        assert check.leaks == []

    def test_solution_gets_full_marks(self, check):
        r = check.results["solution"]
        assert r.status == "ok" and r.score == r.max_score > 0, f"{r.score}/{r.max_score} {r.cells} {r.notes}"

    def test_released_stub_gets_zero_on_every_cell(self, check):
        r = check.results["stub"]
        assert r.status == "ok", r.notes
        assert all(points == 0 for points in r.cells.values()), r.cells

    def test_wrong_answers_get_partial_marks(self, check):
        for student, name in check.wrong_names.items():
            r = check.results[student]
            assert r.status == "ok", f"{name}: {r.notes}"
            assert 0 < r.score < r.max_score, f"wrong answer '{name}': {r.score}/{r.max_score} {r.cells}"

    def test_honest_answers_get_full_marks(self, check):
        assert len(check.honest_names) == len(honest_answers(self.lab))
        failures = [f"'{name}': {r.score}/{r.max_score} {r.status} "
                    f"{ {k: v for k, v in r.cells.items() if v < check.lab.points[k]} } {r.notes[:2]}"
                    for student, name in check.honest_names.items()
                    if not ((r := check.results[student]).status == "ok" and r.score == r.max_score)]
        assert failures == [], "\n".join(failures)

    def test_every_graded_cell_can_fail(self, check):
        """Each graded cell is failed (scores below its points) by at least one wrong answer: a test that no
        plausible mistake fails measures nothing (issue 15)."""
        wrong = [check.results[student] for student in check.wrong_names]
        never_failed = [check.lab.column(key) for key, points in check.lab.points.items()
                        if not any(r.cells.get(key, 0.0) < points for r in wrong)]
        assert never_failed == [], f"graded cells no wrong answer fails: {never_failed}"


for _name in LAB_NAMES:  # Test_lab00_setup, Test_lab01_tokens, ...
    globals()[f"Test_{_name}"] = type(f"Test_{_name}", (LabProof,), {"lab": _name})
