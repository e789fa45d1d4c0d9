"""The grader's in-kernel harness (grading.harness) without a kernel or a sandbox: the preamble installed in a fresh
Python process with a stand-in IPython shell, lab cells and hidden tests sent as the grader sends them, and each
test's evidence line verified the way the trusted side verifies it. (tests/test_grading_attacks.py grades whole
submissions in the sandbox; this file pins the mechanism and runs in seconds.)"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest

from grading.harness import Harness, scan
from utils import ROOT

LOCKED = "import math\n\n\ndef _reference(x):\n    return math.sqrt(x)\n"
TEST = "assert answer(16.0) == _reference(16.0) == 4.0, 'wrong square root'\n"

DRIVER = textwrap.dedent('''
    import ast, io, json, sys, types
    sys.path.insert(0, {root!r})
    from grading.harness import Harness
    harness = Harness({marker!r}, {export!r})
    out = io.StringIO()
    sys.stdout = out  # (before the preamble: the stream it records is this one)
    ns = {{"__builtins__": __builtins__, "__name__": "__main__"}}
    shell = types.SimpleNamespace(user_ns=ns)
    ns["get_ipython"] = lambda: shell
    exec(harness.preamble(), ns)
    report = {{"key": harness.read_key(out.getvalue().splitlines())}}
    exec({locked!r}, ns)
    exec(harness.locked_code({locked!r}), ns)
    for name, student in json.loads({cases!r}).items():
        exec(student, ns)
        code, token, digest = harness.test_code("lab:test", {test!r})
        start = len(out.getvalue())
        ns["__leaked__"] = code  # what a student could read of the cell (IPython keeps cells in linecache)
        try:
            for node in ast.parse(code).body:  # as IPython runs a cell: each top-level statement on its own
                exec(compile(ast.Module([node], []), "<cell>", "exec"), ns)
            error = None
        except BaseException as err:
            error = type(err).__name__
        lines = out.getvalue()[start:].splitlines()
        report[name] = [*harness.verdict(lines, token, digest), error, lines]
    sys.__stdout__.write(json.dumps(report))
''')


def run_cases(cases: dict[str, str], test: str = TEST, before: str = "") -> dict:
    """{case: (verdict, detail, exception raised by the test cell or None, printed lines)}, cases run in order.
    before: code the process runs first, before the preamble (as what started the kernel would)."""
    harness = Harness.new()
    script = before + DRIVER.format(root=str(ROOT), marker=harness.marker, export=harness.export, locked=LOCKED,
                                    test=test, cases=json.dumps(cases))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_honest_wrong_and_tampering_answers_get_the_verdict_they_earn():
    report = run_cases({
        "honest": "def answer(x):\n    return x ** 0.5\n",
        "wrong": "def answer(x):\n    return x / 2\n",
        "reads_the_test_frame": (  # returns whatever the test compares with: caught by the audit hook
            "import sys\ndef answer(x):\n    sys._getframe(1)\n    return 4.0\n"),
        "rebinds_the_reference": (  # the test keeps the lab's own _reference; the rebinding is reported
            "def _reference(x):\n    return answer(x)\ndef answer(x):\n    return x / 2\n"),
        "shadows_a_builtin_and_math": (  # the test sees math and the builtins as they were before student code
            "import math\nmath.sqrt = lambda x: x / 4\ndef answer(x):\n    return x / 4\n"),
        "forges_evidence": (  # prints a passed line with the cell's marker and token: the signature is wrong
            "import re\ndef answer(x):\n"
            "    marker = re.search(r'@@grader-[0-9a-f]{16}@@', __leaked__).group()\n"
            "    for token in re.findall(r\"'([0-9a-f]{32})'\", __leaked__):\n"
            "        print(marker + ' ' + token + ' ok ' + '0' * 64)\n"
            "    return x / 2\n"),
        "asks_gc_for_the_grader": (
            "import gc\ndef answer(x):\n    try:\n        gc.get_objects()\n    except RuntimeError:\n"
            "        pass\n    return x ** 0.5\n"),
        "honest_again": "import math\ndef answer(x):\n    return x ** 0.5\n",
    })
    assert report["key"]
    assert report["honest"][:3] == ["ok", "", None]
    assert report["wrong"][:3] == ["fail", "", "AssertionError"]
    assert report["reads_the_test_frame"][0] == "tampered" and "stack frame" in report["reads_the_test_frame"][1]
    assert report["rebinds_the_reference"][0] == "tampered" and "_reference" in report["rebinds_the_reference"][1]
    assert report["rebinds_the_reference"][2] == "AssertionError"  # judged with the lab's reference, not the student's
    assert report["shadows_a_builtin_and_math"][0] == "tampered"
    assert "math.sqrt" in report["shadows_a_builtin_and_math"][1]
    assert report["forges_evidence"][2] == "AssertionError" and report["forges_evidence"][0] == "tampered"
    assert len(report["forges_evidence"][3]) >= 2  # its forged lines and the grader's own
    assert report["asks_gc_for_the_grader"][0] == "tampered" and "gc.get_objects" in report["asks_gc_for_the_grader"][1]
    # the hidden test itself never appears in what the cell printed or in the code that was sent
    assert not any("wrong square root" in line for case in report.values() if isinstance(case, list)
                   for line in case[3])


def test_an_evidence_line_without_the_key_is_forged():
    harness = Harness.new()
    harness.key = b"k" * 32
    code, token, digest = harness.test_code("lab:test", TEST)
    assert "wrong square root" not in code  # sealed: the kernel decrypts it with the key
    assert harness.verdict([], token, digest) == ("missing", "")
    assert harness.verdict([f"{harness.marker}{token} ok {'0' * 64}"], token, digest) == \
        ("tampered", "forged test evidence")


def test_feedback_scrubbing_sees_lines_split_across_stream_messages():
    from grading.harness import scrub_outputs

    marker = Harness.new().marker
    outputs = [{"output_type": "stream", "name": "stdout", "text": "kept line\nstolen: " + marker[:12]},
               {"output_type": "stream", "name": "stdout", "text": marker[12:] + " token ok\n"},
               {"output_type": "stream", "name": "stdout", "text": "['course-grader.begin', 'abc']\nsecret: _g = 1\n"}]
    clean = scrub_outputs(outputs, {"_g = 1"}, marker, test_cell=False)
    text = "".join(o["text"] for o in clean)
    assert text == "kept line\n[hidden test line removed]\n"


def test_a_cell_of_another_type_cannot_claim_an_answers_grade_id():
    # An honest student pastes a markdown note that carries the answer cell's nbgrader metadata above the answer
    # (a copied cell, a converted cell type). It claimed the grade_id first and the real answer was dropped: the
    # stub ran instead (red team, lab04: 13 of 21 for a correct notebook). Only a cell of the answer's type counts.
    import copy

    import nbformat

    from grading.harness import assemble
    from grading.labsource import load_lab

    lab = load_lab("lab04_attention")
    stem, source = next(iter(lab.notebooks.items()))
    answer = next(c for c in source.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    submitted = copy.deepcopy(source)
    index = next(i for i, c in enumerate(submitted.cells) if c.source == answer.source)
    note = nbformat.v4.new_markdown_cell("My notes on this exercise.")
    note.metadata = copy.deepcopy(answer.metadata)
    submitted.cells.insert(index, note)
    plan, _ = assemble(stem, source, submitted)
    key = f"{stem}:{answer.metadata['nbgrader']['grade_id']}"
    assert next(p for p in plan if p.key == key).source == answer.source


def test_only_what_the_visible_test_binds_reaches_the_notebook():
    # The red team printed a hidden test's helper functions, expected values and rules after the test had run (they
    # were copied into the notebook with the visible names), and used its reference function as their own answer.
    test = ("_shown = answer(4.0)\n"
            "### BEGIN HIDDEN TESTS\n"
            "def _hidden_reference(x):\n    return math.sqrt(x)\n"
            "_want = _hidden_reference(16.0)\n"
            "assert answer(16.0) == _want\n"
            "### END HIDDEN TESTS\n")
    report = run_cases({
        "honest": "def answer(x):\n    return x ** 0.5\n",
        "sees_no_hidden_name": ("def answer(x):\n"
                                "    leaked = {'_want', '_hidden_reference'} & set(globals())\n"
                                "    return -1.0 if leaked else x ** 0.5\n"),
        "sees_the_visible_name": "def answer(x):\n    return x ** 0.5 if '_shown' in globals() else -1.0\n",
    }, test=test)
    assert report["honest"][:3] == ["ok", "", None]
    assert report["sees_no_hidden_name"][:3] == ["ok", "", None]
    assert report["sees_the_visible_name"][:3] == ["ok", "", None]


def test_a_float_of_the_students_own_class_is_judged_by_its_value():
    # Red team, lab07: `class Lie(float)` whose subtraction returns 0 passed `isinstance(_got, float)` and every
    # `abs(_got - _want) < tol`. What student code returns is read as a plain float; numpy's float64 stays itself.
    test = ("### BEGIN HIDDEN TESTS\n"
            "_got = answer(16.0)\n"
            "assert isinstance(_got, float) and abs(_got - 4.0) < 1e-9 and _got == 4.0\n"
            "### END HIDDEN TESTS\n")
    report = run_cases({
        "honest": "def answer(x):\n    return x ** 0.5\n",
        "lying_float": ("class Lie(float):\n"
                        "    def __sub__(self, other):\n        return 0.0\n"
                        "    def __eq__(self, other):\n        return True\n"
                        "    __hash__ = float.__hash__\n"
                        "    def __float__(self):\n        return 4.0\n"
                        "def answer(x):\n    return Lie(x / 2)\n"),
        "honest_numpy": "import numpy as np\ndef answer(x):\n    return np.sqrt(np.float64(x))\n",
        "honest_own_class": "class Root(float):\n    pass\ndef answer(x):\n    return Root(x ** 0.5)\n",
    }, test=test)
    assert report["honest"][:3] == ["ok", "", None]
    assert report["lying_float"][:3] == ["fail", "", "AssertionError"]
    assert report["honest_numpy"][:3] == ["ok", "", None]
    assert report["honest_own_class"][:3] == ["ok", "", None]


# A worker thread that exists before the preamble runs (as ipykernel's control and iopub threads do), and a way for
# student code to run a function on it.
THREAD_BEFORE = textwrap.dedent('''
    import queue, threading
    _jobs, _done = queue.Queue(), queue.Queue()
    def _work():
        while True:
            job = _jobs.get()
            try:
                _done.put(job())
            except BaseException as error:
                _done.put(error)
    threading.Thread(target=_work, daemon=True).start()
    import builtins
    builtins._on_an_older_thread = lambda job: (_jobs.put(job), _done.get())[1]
''')

TRY_PROGRAMS = textwrap.dedent('''
    import os, subprocess, sys

    def _outcome(start):
        try:
            start()
            return "ran"
        except BaseException as error:
            return "refused " + type(error).__name__

    def _fork_then_exec():
        pid = os.fork()
        if pid == 0:  # the child: a copy of this process (hooks and rules included), then a fresh python
            try:
                os.execv(sys.executable, [sys.executable, "-c", "pass"])
            finally:
                os._exit(9)
        if os.waitpid(pid, 0)[1] != 0:
            raise PermissionError("the child could not start it")

    def _a_fresh_python():
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    def answer(x):
        print("child:", _outcome(_a_fresh_python))
        print("forked:", _outcome(_fork_then_exec))
        print("older thread:", _on_an_older_thread(lambda: _outcome(_a_fresh_python)))
        return 4.0
''')


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="the filter is written for these two")
def test_student_code_cannot_start_a_program_after_the_preamble():
    """A program started by student code (a fresh python has no hooks and no rules) could compute a forbidden
    function for an answer: the preamble's seccomp filter refuses execve in every thread, also one started before
    it and a forked child (tests/test_grading_attacks.py: atk_forbidden_in_a_server, atk_forbidden_in_a_child)."""
    lines = run_cases({"programs": TRY_PROGRAMS}, before=THREAD_BEFORE)["programs"][3]
    assert [line for line in lines if ":" in line and not line.startswith(("\x1e", "#"))][:3] == [
        "child: refused PermissionError", "forked: refused PermissionError", "older thread: refused PermissionError"]


# Before the preamble, a filter that refuses the seccomp syscall itself (as some container runtimes do): the
# preamble cannot add its own, and its guard refuses the audited ways student code starts a program instead.
NO_SECCOMP_BEFORE = textwrap.dedent('''
    import ctypes
    _code = [(0x20, 0, 0, 0), (0x15, 0, 1, {{"x86_64": 317, "aarch64": 277}}[__import__("os").uname().machine]),
             (0x06, 0, 0, 0x00050001), (0x06, 0, 0, 0x7FFF0000)]
    class _I(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
    class _P(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_I))]
    _libc = ctypes.CDLL(None, use_errno=True)
    assert _libc.prctl(38, 1, 0, 0, 0) == 0
    _f = (_I * 4)(*_code)
    assert _libc.prctl(22, 2, ctypes.byref(_P(4, ctypes.cast(_f, ctypes.POINTER(_I)))), 0, 0) == 0  # PR_SET_SECCOMP
''')


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="the filter is written for these two")
def test_without_seccomp_the_guard_refuses_student_code_that_starts_a_program():
    lines = run_cases({"programs": TRY_PROGRAMS}, before=NO_SECCOMP_BEFORE.replace("{{", "{").replace("}}", "}")
                      + THREAD_BEFORE)["programs"][3]
    assert [line for line in lines if ":" in line and not line.startswith(("\x1e", "#"))][:2] == [
        "child: refused RuntimeError", "forked: refused PermissionError"]


def test_the_scan_flags_what_only_defeats_a_rules_watch_and_not_a_shortcut_it_refuses():
    """Turning off torch's Python dispatch or anomaly mode (what a no_autograd rule watches with) serves only to
    get around a rule: flagged for the instructor to read. Running autograd's engine under its own name is a
    shortcut the rule refuses and scores as wrong: an honest mistake's status, no flag."""
    for source, name in {"with torch._C._DisableTorchDispatch():\n    pass": "_DisableTorchDispatch",
                         "torch.set_anomaly_enabled(False)": "set_anomaly_enabled"}.items():
        assert any(name in flag for flag in scan(source)), source
    shortcut = "from torch.autograd.variable import Variable\nVariable._execution_engine.run_backward((l,), (g,))"
    honest = "probs = torch.softmax(logits, dim=-1)\nreturn (probs - F.one_hot(targets, 5)) / targets.numel()\n"
    assert scan(shortcut) == []
    assert scan(f"def cross_entropy_grad(logits, targets):\n{textwrap.indent(honest, '    ')}") == []
