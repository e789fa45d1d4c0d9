"""Expectations (grading.expect): a hidden test's comparisons made by the trusted grading process, against values
only the reference kernel computed. Pure parts tested directly; the in-kernel half (what a student's kernel sends,
and that it never sees the reference) through the harness driver of tests/test_grading_harness.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from grading.expect import Unsupported, decode, holds, judge, read_records
from grading.grade import GradingOptions, interpret
from grading.harness import Harness
from grading.labsource import LabSource, strip_reference
from tests.test_grading_harness import DRIVER, LOCKED
from utils import ROOT


def _record(kind, got=None, want=None, **options):
    return {"kind": kind, "got": got, "want": want, "options": options}


def _tensor(t: torch.Tensor) -> dict:
    import base64

    array = (t.float() if t.dtype == torch.bfloat16 else t).contiguous().numpy()
    return {"tensor": str(t.dtype), "array": str(array.dtype), "shape": list(t.shape),
            "data": base64.b64encode(array.tobytes()).decode()}


def test_close_and_equal_follow_torch_rules():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert holds("close", a + 1e-6, a, {"atol": 1e-5})
    assert not holds("close", a + 1e-3, a, {"atol": 1e-5, "rtol": 0.0})
    assert holds("close", a.double(), a, {})  # float dtypes that differ: compared in float64
    assert holds("close", a[None], a, {})  # broadcasting, as torch.allclose does
    assert not holds("close", a[:2], a, {})
    assert holds("close", 0.1 + 0.2, 0.3, {"rtol": 1e-9, "atol": 0.0})
    assert holds("close", float("inf"), float("inf"), {}) and not holds("close", float("inf"), -float("inf"), {})
    assert holds("close", torch.tensor([float("inf")]), torch.tensor([float("inf")]), {})
    assert not holds("close", float("nan"), float("nan"), {}) and holds("close", float("nan"), float("nan"),
                                                                        {"equal_nan": True})
    assert holds("equal", (2, 3), (2, 3), {}) and not holds("equal", (2, 3), (3, 2), {})
    assert holds("equal", torch.tensor([True, False]), torch.tensor([True, False]), {})
    assert not holds("equal", torch.tensor([True, True]), torch.tensor([True, False]), {})
    assert holds("equal", np.arange(3), torch.arange(3), {})
    assert not holds("close", Unsupported("x"), 1.0, {}) and not holds("equal", "a", Unsupported("a"), {})
    assert not holds("close", "text", a, {})  # a comparison that cannot be made fails, never raises


def test_close_compares_values_not_how_they_are_stored():
    """An honest answer may hold the right numbers in another type than the reference: an int tensor, a 0-d tensor
    where the reference returns a Python int, a tuple of tensors, a dict of floats. `close` compares the values
    (torch.allclose alone raises on mixed dtypes and cannot take a tuple of tensors); wrong values still fail."""
    ints, floats = torch.tensor([1, 2, 3]), torch.tensor([1.0, 2.0, 3.0])
    assert holds("close", ints, floats, {}) and holds("close", floats, ints, {})
    assert holds("close", ints, ints.int(), {})  # int64 against int32
    assert holds("close", torch.tensor(2.0), 2, {}) and holds("close", 2, torch.tensor(2.0), {})
    assert holds("close", torch.tensor([1 + 1j]), torch.tensor([1 + 1j], dtype=torch.complex128), {})
    assert not holds("close", ints + 1, floats, {})
    assert not holds("close", torch.tensor([True]), torch.tensor([1.0]), {})  # a mask is not a number
    pair = (torch.ones(2), torch.zeros(3))
    assert holds("close", (pair[0] + 1e-9, pair[1]), pair, {})
    assert not holds("close", (pair[0], pair[1] + 1), pair, {})
    assert not holds("close", pair[:1], pair, {})  # one item short is wrong, however the items broadcast
    assert holds("close", (1.0, (2.0, 3.0)), (1.0, (2.0, 3.0)), {})
    assert not holds("close", (1.0,), (1.0, 1.0), {})
    assert holds("close", {"loss": 0.5, "steps": 3}, {"loss": 0.5 + 1e-9, "steps": 3}, {})
    assert not holds("close", {"loss": 0.5}, {"loss": 0.5, "steps": 3}, {})
    assert holds("close", (None, "ok", 1.0), (None, "ok", 1.0), {}) and not holds("close", (None,), (0.0,), {})
    # equal, item by item too (Python's == of two tuples of tensors raises)
    assert holds("equal", pair, pair, {}) and not holds("equal", (pair[0], pair[1] + 1), pair, {})
    assert holds("equal", {"ids": torch.arange(3)}, {"ids": torch.arange(3)}, {})


def test_decode_round_trips_and_refuses_malformed_data():
    for t in (torch.randn(2, 3), torch.arange(6).reshape(3, 2), torch.tensor([True, False]),
              torch.randn(4).to(torch.bfloat16), torch.tensor(1.5)):
        back = decode(_tensor(t))
        assert back.dtype == t.dtype and torch.equal(back, t)
    assert decode({"tuple": [1, {"list": [2.5, "x"]}]}) == (1, (2.5, "x"))
    bad = [{"tensor": "torch.float32", "array": "float32", "shape": [3], "data": "AAAA"},  # 3 bytes for 12
           {"tensor": "torch.float32", "array": "object", "shape": [1], "data": ""},
           {"tensor": "torch.float32", "array": "float32", "shape": [-1], "data": ""},
           {"tensor": "torch.int64", "array": "float32", "shape": [0], "data": ""},
           {"mystery": 1}, {}, [1, 2]]
    assert all(isinstance(decode(b), Unsupported) for b in bad)


def test_judge_compares_the_students_values_with_the_references():
    want = [_record("close", want=1.0, atol=0.1), _record("equal", want={"tuple": [2, 3]})]
    ok = [_record("close", got=1.05), _record("equal", got={"list": [2, 3]})]
    assert judge(ok, want) == ("ok", "")
    wrong = [_record("close", got=1.05), _record("equal", got={"tuple": [3, 2]}, message="wrong shape (3, 2)")]
    assert judge(wrong, want) == ("wrong", "wrong shape (3, 2)")
    # a student's record may carry any `want` and any tolerance: only the reference's count
    lying = [_record("close", got=5.0, want=5.0, atol=100.0), _record("equal", got={"tuple": [2, 3]})]
    assert judge(lying, want)[0] == "wrong"
    assert judge(None, want)[0] == "forged"
    assert judge(ok[:1], want)[0] == "forged" and judge(ok + ok[:1], want)[0] == "forged"
    assert judge([ok[1], ok[0]], want)[0] == "forged"  # kinds out of order
    assert judge(None, []) == ("none", "") and judge(ok, None) == ("none", "")


def test_read_records_wants_exactly_one_well_formed_line():
    marker, token = "@@grader-x@@ ", "t0"
    line = f"{marker}expect {token} " + json.dumps([_record("close", got=1.0)])
    assert read_records([line], marker, token) == [_record("close", got=1.0)]
    assert read_records([line, line], marker, token) is None
    assert read_records([], marker, token) is None
    assert read_records([f"{marker}expect {token} [1, 2]"], marker, token) is None
    assert read_records([f"{marker}expect {token} not json"], marker, token) is None
    assert read_records([f"{marker}expect other " + json.dumps([])], marker, token) is None


LAB = LabSource("lab99", ROOT, {"lab99": None}, {"lab99:t1": 2.0, "lab99:t2": 3.0})


def _cell(verdict="ok", expect="ok", message=""):
    return dict(kind="test", status="ok", verdict=verdict, ename="", truncated=False, expect=expect,
                expect_message=message)


def test_interpret_needs_both_the_verdict_and_the_expectations():
    run = {"kernel": "ok", "error": "", "flags": [],
           "cells": {"lab99:t1": _cell(), "lab99:t2": _cell(expect="wrong", message="wrong values for batch (2,)")}}
    status, cells, notes = interpret(LAB, run, GradingOptions())
    assert status == "ok" and cells == {"lab99:t1": 2.0, "lab99:t2": 0.0}
    assert "test t2: wrong values for batch (2,)" in notes
    run["cells"]["lab99:t2"] = _cell(expect="forged", message="the test's expectations did not come back")
    status, cells, notes = interpret(LAB, run, GradingOptions())
    assert status == "tampering" and cells["lab99:t2"] == 0.0
    run["cells"]["lab99:t2"] = _cell(verdict="fail", expect="ok")  # an in-kernel assertion failed
    assert interpret(LAB, run, GradingOptions())[1]["lab99:t2"] == 0.0
    run["cells"]["lab99:t2"] = _cell(expect="none")  # a test without expectations: its verdict decides
    assert interpret(LAB, run, GradingOptions())[1]["lab99:t2"] == 3.0


TEST = textwrap.dedent('''
    import torch
    _g = torch.Generator().manual_seed(1)
    _x = torch.randn(8, 8, generator=_g)  # 64 values: float32 and float64 draw different numbers from a generator
    _got = answer(_x)
    ### BEGIN REFERENCE
    _want = _x.abs().sqrt()
    _secret_reference = "the reference is here"
    ### END REFERENCE
    expect_close(_got, _want, atol=1e-6, message=f"wrong square roots, shape {tuple(_got.shape)}")
    expect_equal(len(_got), 8, message=f"first value {_got[0]:.3f}")
''')


def _expectations(cases: dict[str, str], reference: bool, test: str = TEST) -> dict:
    harness = Harness.new()
    driver = DRIVER.replace('harness.test_code("lab:test", {test!r})',
                            f'harness.test_code("lab:test", {{test!r}}, {reference!r})')
    script = driver.format(root=str(ROOT), marker=harness.marker, export=harness.export, locked=LOCKED, test=test,
                           cases=json.dumps(cases))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    found = {}
    for name in cases:
        verdict, _, error, lines = report[name]
        heads = [line for line in lines if line.startswith(harness.marker + "expect ")]
        token = heads[0].split()[2] if heads else ""
        found[name] = (verdict, error, read_records(lines, harness.marker, token), "\n".join(lines))
    return found


@pytest.fixture(scope="module")
def reference():
    verdict, error, records, _ = _expectations({"solution": "def answer(x):\n    return x.abs().sqrt()\n"},
                                               True)["solution"]
    assert (verdict, error) == ("ok", None) and judge(records, records) == ("ok", "")
    return records


@pytest.mark.slow  # two Python processes with the grader's preamble: ~10 s (make test-fast proves lab00 end to end)
def test_a_students_kernel_never_gets_the_reference(reference):
    assert "_secret_reference" not in strip_reference(TEST) and "_want = " not in strip_reference(TEST)
    found = _expectations({
        "honest": "def answer(x):\n    return x.abs() ** 0.5\n",
        "wrong": "def answer(x):\n    return x.abs()\n",
        "float64": "def answer(x):\n    return x.abs().double().sqrt()\n",
        "subclass": "import torch\nclass T(torch.Tensor):\n    pass\ndef answer(x):\n"
                    "    return x.abs().sqrt().as_subclass(T)\n",
        # a cell that made float64 the default dtype: the test's inputs are still the reference kernel's
        "float64_default": "import torch\ntorch.set_default_dtype(torch.float64)\ndef answer(x):\n"
                           "    return x.abs().sqrt()\n",
        # a message that cannot be built for this value ({:.3f} of a list) costs nothing when the values are right
        "odd_message": "def answer(x):\n    return (x.abs().sqrt()).tolist()\n",
        # a function that looks into the test's frame (the guard flags it): no expected value is there to find
        "snoop": "def answer(x):\n    import sys\n    names = set(sys._getframe(1).f_locals)\n"
                 "    assert '_want' not in names and '_secret_reference' not in names, names\n"
                 "    return x.abs()\n",
    }, False)
    assert [found[k][0] for k in found] == ["ok"] * 6 + ["tampered"]  # the in-kernel verdict no longer judges values
    assert judge(found["honest"][2], reference) == ("ok", "")
    assert judge(found["float64"][2], reference) == ("ok", "")
    assert judge(found["subclass"][2], reference) == ("ok", "")
    assert judge(found["wrong"][2], reference) == ("wrong", "wrong square roots, shape (8, 8)")
    assert judge(found["float64_default"][2], reference) == ("ok", "")
    assert judge(found["odd_message"][2], reference) == ("ok", "")  # a list of lists: allclose's values
    assert found["odd_message"][2][1]["options"]["message"] == ""
    assert found["snoop"][1] is None and judge(found["snoop"][2], reference)[0] == "wrong"
    for name, (_, _, records, printed) in found.items():
        assert all(r["want"] is None for r in records), name
        assert "the reference is here" not in printed


CONTAINERS = textwrap.dedent('''
    import torch
    _x = torch.arange(6.0)
    _halves, _counts = halves(_x), count_words("a b a")
    ### BEGIN REFERENCE
    _want_halves, _want_counts = (_x[:3], _x[3:]), {"a": 2, "b": 1}
    ### END REFERENCE
    expect_close(_halves, _want_halves, message="halves")
    expect_equal(_counts, _want_counts, message="counts")
''')
PLAIN_COUNT = "def count_words(s):\n    out = {}\n    for w in s.split():\n        out[w] = out.get(w, 0) + 1\n    return out\n"


@pytest.mark.slow  # two Python processes with the grader's preamble: ~10 s
def test_a_namedtuple_or_a_counter_is_sent_by_its_items():
    """Honest code returns a namedtuple, a list subclass, a Counter or a defaultdict where the reference has a
    tuple and a dict: the kernel sends their items (read by tuple's and dict's own code: a subclass's __iter__ or
    items() does not choose what is sent), and the values decide."""
    solution = "def halves(x):\n    return x[:3], x[3:]\n" + PLAIN_COUNT
    want = _expectations({"solution": solution}, True, CONTAINERS)["solution"][2]
    assert judge(want, want) == ("ok", "")
    found = _expectations({
        "plain": solution,
        "containers": "import collections\nHalves = collections.namedtuple('Halves', 'first second')\n"
                      "def halves(x):\n    return Halves(x[:3], x[3:])\n"
                      "def count_words(s):\n    return collections.Counter(s.split())\n",
        "subclasses": "import collections\nclass Parts(list):\n    pass\n"
                      "def halves(x):\n    return Parts([x[:3], x[3:]])\n"
                      "def count_words(s):\n    out = collections.defaultdict(int)\n    for w in s.split():\n"
                      "        out[w] += 1\n    return out\n",
        # what a subclass's own iteration claims is not what is sent: the stored items are
        "claims": "class Pair(tuple):\n    def __iter__(self):\n        return iter((1, 2))\n"
                  "def halves(x):\n    return Pair((x[:3], x[3:] + 1))\n" + PLAIN_COUNT,
    }, False, CONTAINERS)
    assert {k: judge(found[k][2], want)[0] for k in found} == {"plain": "ok", "containers": "ok", "subclasses": "ok",
                                                                  "claims": "wrong"}


def test_the_graders_lines_are_found_after_output_without_a_newline():
    from grading.execute import split_markers

    marker = "@@grader-0123@@ "
    shown, found, tail = split_markers(f"loss 0.5\rloss 0.4{marker}t0 ok ab\nnext\n", marker)
    assert (shown, found, tail) == ("loss 0.5\rloss 0.4\nnext\n", [f"{marker}t0 ok ab"], "")
    shown, found, tail = split_markers("50%|#####  \r@@gra", marker)  # a marker may be arriving: wait for it
    assert (shown, found, tail) == ("", [], "50%|#####  \r@@gra")
    shown, found, tail = split_markers(tail + "der-0123@@ expect t0 [1, 2]\n", marker)
    assert (shown, found, tail) == ("50%|#####  \r\n", [f"{marker}expect t0 [1, 2]"], "")
    assert split_markers("plain text, no newline", marker) == ("plain text, no newline", [], "")
