"""Expectations: a hidden test's comparisons, made by the trusted grading process instead of the student's kernel.

Whatever runs in the student's process can be forged once student code reaches raw memory (numpy builds an array
over any address `id()` gives; the red team rewrote `torch.allclose` and read the grader's key that way). So a
hidden test states what it compares, and the comparison happens here:

    _got = scaled_dot_product_attention(_q, _k, _v)          # runs in the student's kernel
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v)      # runs only in the reference kernel
    ### END REFERENCE
    expect_close(_got, _want, atol=1e-5, message="wrong values")

`grading.harness` rewrites `expect_close(got, want, ...)` and `expect_equal(got, want)` into calls of the grader,
which sends both values out as data (`record` in the preamble, JSON: tensors as dtype, shape and bytes). In a
student's kernel the REFERENCE blocks are cut out and `want` is None: the expected values never exist in the
student's process, and neither does the code that computes them. The reference kernel runs the lab's own solution
with the same test (REFERENCE blocks in), once per batch; its `want` values are what every student's `got` values
are compared with, here. A test cell earns its points only when its in-kernel verdict is ok *and* every
expectation holds: a student who forges the verdict still has to produce the right numbers.

Inputs of an expectation must not depend on the student's code (a seeded `torch.Generator`, constants), so that the
two kernels compute on the same inputs. `message` (what the student reads when the expectation fails) is the one
the student's kernel made: it may quote the student's values.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import torch

EXPECT_PREFIX = "expect "
_ARRAY_DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64",
                 "complex128"}
_MAX_ELEMENTS = 2 ** 24


class Unsupported:
    """A value the kernel could not send (an unusual type, too large): equal to nothing."""

    def __init__(self, why: str):
        self.why = why

    def __repr__(self) -> str:
        return f"<unsupported: {self.why}>"


def read_records(markers: list[str], marker: str, token: str) -> list[dict] | None:
    """The expectations a test cell's kernel sent (one line `<marker>expect <token> [...]`); None when there is not
    exactly one such line or it is not a JSON list of objects (only forging gives that)."""
    head = f"{marker}{EXPECT_PREFIX}{token} "
    lines = [m[len(head):] for m in markers if m.startswith(head)]
    if len(lines) != 1:
        return None
    try:
        records = json.loads(lines[0])
    except (ValueError, RecursionError):
        return None
    if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r.get("kind"), str)
                                                 for r in records):
        return None
    return records


def decode(data: Any, depth: int = 0) -> Any:
    """A value as `record` encoded it; anything malformed becomes `Unsupported` (never an exception)."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if depth > 16 or not isinstance(data, dict) or len(data) == 0:
        return Unsupported("malformed")
    if "unsupported" in data:
        return Unsupported(str(data["unsupported"])[:80])
    for kind in ("tuple", "list"):
        if kind in data and isinstance(data[kind], list):
            return tuple(decode(v, depth + 1) for v in data[kind])  # a list and a tuple compare alike here
    if "dict" in data and isinstance(data["dict"], list):
        try:
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in data["dict"]}
        except (TypeError, ValueError):
            return Unsupported("malformed")
    if "tensor" in data or "ndarray" in data:
        return _array(data)
    return Unsupported("malformed")


def _array(data: dict) -> Any:
    array_dtype = data.get("array", data.get("ndarray"))
    shape = data.get("shape")
    if array_dtype not in _ARRAY_DTYPES or not isinstance(shape, list) \
            or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= _MAX_ELEMENTS for n in shape) \
            or not isinstance(data.get("data"), str):
        return Unsupported("malformed")
    count = math.prod(shape)
    try:
        raw = base64.b64decode(data["data"], validate=True)
    except ValueError:
        return Unsupported("malformed")
    if count > _MAX_ELEMENTS or len(raw) != count * np.dtype(array_dtype).itemsize:
        return Unsupported("malformed")
    array = np.frombuffer(raw, dtype=array_dtype).reshape(shape).copy()
    if "ndarray" in data:
        return array
    tensor = torch.from_numpy(array)
    if data["tensor"] == "torch.bfloat16" and array_dtype == "float32":
        tensor = tensor.to(torch.bfloat16)
    elif data["tensor"] != f"torch.{array_dtype}":
        return Unsupported("malformed")
    return tensor


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _as_tensor(x: Any) -> torch.Tensor:
    return torch.from_numpy(x) if isinstance(x, np.ndarray) else torch.as_tensor(x)


def holds(kind: str, got: Any, want: Any, options: dict) -> bool:
    """Whether `got` (the student's) meets `want` (the reference's).

    close: numbers within atol + rtol·|want| (torch.allclose's rule and defaults, NaN equal with equal_nan); arrays
           element-wise by torch.allclose (broadcasting as it does); numbers and arrays of other dtypes (an int
           tensor, a 0-d tensor against a Python int, float32 against float64) in float64, complex in complex128:
           the values are compared, not how they are stored (bool against a number stays unequal); tuples and
           dicts item by item, with equal lengths and keys; other values (None, text) by ==
    equal: arrays by torch.equal, tuples and dicts item by item, everything else by ==; a tuple and a list with
           the same items are equal."""
    if isinstance(got, Unsupported) or isinstance(want, Unsupported):
        return False
    atol, rtol = float(options.get("atol", 1e-8)), float(options.get("rtol", 1e-5))
    equal_nan = bool(options.get("equal_nan", False))
    try:
        if kind == "close":
            return _close(got, want, atol, rtol, equal_nan)
        if kind == "equal":
            return _equal(got, want)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return False
    return False


def _close(got: Any, want: Any, atol: float, rtol: float, equal_nan: bool) -> bool:
    if isinstance(got, Unsupported) or isinstance(want, Unsupported):
        return False
    if _number(got) and _number(want):
        if got == want:  # infinities of one sign too, as torch.allclose has it
            return True
        if math.isnan(got) or math.isnan(want):
            return equal_nan and math.isnan(got) and math.isnan(want)
        if math.isinf(got) or math.isinf(want):
            return False
        return abs(got - want) <= atol + rtol * abs(want)
    if isinstance(got, dict) or isinstance(want, dict):
        return isinstance(got, dict) and isinstance(want, dict) and got.keys() == want.keys() \
            and all(_close(got[k], want[k], atol, rtol, equal_nan) for k in want)
    if isinstance(got, tuple) and isinstance(want, tuple) \
            and (len(got) != len(want) or not (_numeric(got) and _numeric(want))):
        return len(got) == len(want) and all(_close(g, w, atol, rtol, equal_nan) for g, w in zip(got, want, strict=True))
    if got is None or want is None or isinstance(got, str) or isinstance(want, str):
        return type(got) is type(want) and got == want
    g, w = _as_tensor(got), _as_tensor(want)
    if g.dtype != w.dtype:
        if torch.bool in (g.dtype, w.dtype):
            return False
        common = torch.complex128 if g.is_complex() or w.is_complex() else torch.float64
        g, w = g.to(common), w.to(common)
    return bool(torch.allclose(g, w, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _equal(got: Any, want: Any) -> bool:
    if isinstance(got, (torch.Tensor, np.ndarray)) or isinstance(want, (torch.Tensor, np.ndarray)):
        return bool(torch.equal(_as_tensor(got), _as_tensor(want)))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_equal(got[k], want[k]) for k in want)
    if isinstance(got, tuple) and isinstance(want, tuple):
        return len(got) == len(want) and all(_equal(g, w) for g, w in zip(got, want, strict=True))
    return bool(got == want)


def _numeric(items: tuple) -> bool:
    """A flat tuple of plain numbers: compared as one array (as torch.allclose would take the list)."""
    return all(_number(x) for x in items)


def judge(got_records: list[dict] | None, want_records: list[dict] | None) -> tuple[str, str]:
    """('none' | 'ok' | 'wrong' | 'forged', the failing expectation's message) for one test cell.

    got_records: what the student's kernel sent (None: no single well-formed line); want_records: the reference
    kernel's (None or []: the test states no expectation, its in-kernel verdict alone decides). 'forged': the
    student's kernel sent another number or kind of expectations than the test makes, or no readable line, while
    the test reported that it ran to its end."""
    if not want_records:
        return "none", ""
    if got_records is None or len(got_records) != len(want_records):
        return "forged", "the test's expectations did not come back as the test sends them"
    for got, want in zip(got_records, want_records, strict=True):
        # the test's message as the student's kernel made it (it may quote the student's values); it is only text
        message = got.get("options", {}).get("message") if isinstance(got.get("options"), dict) else None
        message = message if isinstance(message, str) and message else "wrong values"
        if got.get("kind") != want["kind"]:
            return "forged", "the test's expectations did not come back as the test sends them"
        if not holds(want["kind"], decode(got.get("got")), decode(want.get("want")), want.get("options", {})):
            return "wrong", message
    return "ok", ""
