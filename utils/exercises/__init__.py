"""Your-turn exercises: the student writes a few lines in a lesson, one call to `check` says whether they work.

    # %% tags=["your-turn"]
    def causal_mask_by_hand(seq_len: int) -> torch.Tensor:
        ...  # your code here
    # %% tags=["your-turn-check"]
    check("04.1", causal_mask_by_hand)          # prints "✓ 04.1 ..." or "✗ 04.1 not yet: ..." and returns True/False

Each lesson NN registers its checks in `utils/exercises/lessonNN.py`, imported lazily on the first `check("NN.k")`:

    @exercise("04.1", hint="True on and below the diagonal: torch.tril", done="your mask matches for 6 lengths")
    def _(causal_mask_by_hand) -> None | str:
        ...   # run the answer on the check's OWN seeded inputs, compare with an independent reference,
              # raise AssertionError("what is wrong, in a student's words"); may return a computed confirmation

`check` never raises and never prints a traceback, so it works the same in JupyterLab, VS Code, Colab and plain
nbconvert (plain `print`, no widgets). It reports:
- the starting cell left as it is (`None`, `...`, a function whose body is only `...`/`pass`/a docstring or that
  raises NotImplementedError, a value equal to the exercise's registered placeholder):
  `✗ 04.1 not yet: <todo>`;
- an AssertionError from the check: `✗ 04.1 not yet: <message>` then `  hint: <hint>`;
- any other exception (from the student's code): `✗ 04.1 your code raised ValueError: <message>` then the hint;
- success: `✓ 04.1 <confirmation>`.
Output is deterministic (memory addresses are masked) and a check runs inside `torch.random.fork_rng`, so it may
seed freely without moving the notebook's random stream: later cells print the same whatever the student wrote.
docs/CONTRIBUTING.md ("Your-turn exercises") gives the lesson-side convention; tests/test_exercises.py proves
every exercise fails when empty and passes with its worked answer.
"""

from __future__ import annotations

import dis
import importlib
import pkgutil
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from utils.numerics import tolerance

__all__ = ["check", "exercise", "Exercise", "all_exercises", "as_number", "expect_tensor", "expect_close",
           "is_placeholder"]

TODO = "fill in the cell above (replace the `...` with your code), run it, then run this cell again"
NO_MESSAGE = "the answer does not do what the task asks yet"

_ID = re.compile(r"^(\d\d)\.(\d+)$")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NO_VALUE = object()


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its id ("04.1"), the check function and the texts `check` prints."""

    id: str
    run: Callable[..., Any]
    hint: str
    done: str = "correct"
    todo: str = TODO
    placeholders: tuple = field(default=())  # per answer: the starting value, or _NO_VALUE


_REGISTRY: dict[str, Exercise] = {}


def exercise(exercise_id: str, *, hint: str, done: str = "correct", todo: str = TODO,
             placeholders: tuple = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the check of `exercise_id` ("NN.k", NN = the lesson module's number).

    hint: printed under every failure; done: the confirmation on success (a check that returns a str overrides it);
    todo: what "not yet" says while the starting cell is untouched; placeholders: the starting value of each answer
    when it is not `None`/`...`/an empty function (e.g. `my_guess = 0`), so that value also reads as "not yet".
    """
    if not _ID.match(exercise_id):
        raise ValueError(f"exercise ids look like '04.1' (lesson 04, exercise 1); got {exercise_id!r}")

    def register(run: Callable[..., Any]) -> Callable[..., Any]:
        if exercise_id in _REGISTRY:
            raise ValueError(f"exercise {exercise_id} is registered twice")
        _REGISTRY[exercise_id] = Exercise(exercise_id, run, hint, done, todo, tuple(placeholders))
        return run

    return register


def _module_of(exercise_id: str) -> str:
    return f"{__name__}.lesson{exercise_id.split('.')[0]}"


def _lookup(exercise_id: str) -> Exercise | None:
    if exercise_id not in _REGISTRY and _ID.match(exercise_id):
        try:
            importlib.import_module(_module_of(exercise_id))
        except ModuleNotFoundError as error:
            if error.name != _module_of(exercise_id):
                raise
    return _REGISTRY.get(exercise_id)


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise, after importing every `lessonNN` module of this package (for the tests)."""
    for module in pkgutil.iter_modules(__path__):
        if re.fullmatch(r"lesson\d\d", module.name):
            importlib.import_module(f"{__name__}.{module.name}")
    return dict(sorted(_REGISTRY.items()))


_EMPTY_BODIES = ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


def _is_empty_function(value: Any) -> bool:
    """A function whose body is only `...`, `pass` and/or a docstring: it compiles to `return None`."""
    code = getattr(value, "__code__", None)
    if code is None:
        return False
    body = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    return body in _EMPTY_BODIES


def _equal(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an object whose == misbehaves is not the placeholder
        return False


def is_placeholder(value: Any, placeholder: Any = _NO_VALUE) -> bool:
    """True for an answer the student has not written yet: None, `...`, an empty function, or `placeholder`."""
    if value is None or value is Ellipsis or _is_empty_function(value):
        return True
    return placeholder is not _NO_VALUE and _equal(value, placeholder)


def _clean(text: str) -> str:
    """One deterministic line of text: no memory addresses."""
    return _ADDRESS.sub("0x…", str(text)).strip()


def _report(exercise_id: str, ok: bool, message: str, hint: str | None = None) -> bool:
    print(f"{'✓' if ok else '✗'} {exercise_id} {message}")
    if hint:
        print(f"  hint: {hint}")
    return ok


def check(exercise_id: str, *answers: Any) -> bool:
    """Run exercise `exercise_id`'s check on the student's answers; print one verdict; return True when right.

    Never raises: every outcome, an unknown id included, is a printed line and a bool.
    """
    try:
        ex = _lookup(exercise_id)
    except Exception as error:  # a broken lesson module: say so plainly, do not stop the lesson
        return _report(exercise_id, False, f"cannot load its check ({type(error).__name__}: {_clean(error)})")
    if ex is None:
        return _report(exercise_id, False, "is not a known exercise id (look for a typo in the check cell)")
    placeholders = ex.placeholders + (_NO_VALUE,) * (len(answers) - len(ex.placeholders))
    if not answers or any(is_placeholder(a, p) for a, p in zip(answers, placeholders, strict=False)):
        return _report(exercise_id, False, f"not yet: {ex.todo}")
    python_state = random.getstate()
    try:
        with torch.random.fork_rng(devices=[]):
            confirmation = ex.run(*answers)
    except NotImplementedError:
        return _report(exercise_id, False, f"not yet: {ex.todo}")
    except AssertionError as error:
        return _report(exercise_id, False, f"not yet: {_clean(error) or NO_MESSAGE}", ex.hint)
    except Exception as error:
        return _report(exercise_id, False, f"your code raised {type(error).__name__}: {_clean(error)}", ex.hint)
    finally:
        random.setstate(python_state)
    return _report(exercise_id, True, _clean(confirmation) if isinstance(confirmation, str) else ex.done)


# ---- small helpers for the lesson modules' checks (student-worded AssertionErrors) ---------------------------------

def as_number(value: Any, what: str) -> float:
    """A prediction as a float: ints, floats, numpy and 0-d torch numbers are accepted; strings and bools are not."""
    if isinstance(value, (str, bytes, bool)):
        raise AssertionError(f"assign {what}, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"assign {what}, got {type(value).__name__}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise AssertionError(f"assign {what}, got {number}")
    return number


def expect_tensor(value: Any, what: str, shape: tuple[int, ...] | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Assert `value` is a tensor (of `shape` and `dtype` when given); return it."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"{what} should have dtype {dtype}, got {value.dtype}")
    return value


def expect_close(got: Any, want: torch.Tensor, reduction: int, what: str, scale: float | None = None) -> None:
    """Assert `got` is a tensor of `want`'s shape equal to it up to float rounding (`utils.numerics.tolerance`).

    reduction: terms summed along the longest path (see CONTRIBUTING "Comparing floats"); scale: the size of the
    terms when the result cancels.
    """
    got = expect_tensor(got, what, shape=tuple(want.shape))
    if not (got.is_floating_point() and want.is_floating_point()):
        raise AssertionError(f"{what} should hold floating-point numbers, got dtype {got.dtype}")
    a, b = got.detach().double().cpu(), want.detach().double().cpu()
    if scale is None:
        scale = max(a.abs().max().item(), b.abs().max().item()) if a.numel() else 0.0
    coarser = got.dtype if torch.finfo(got.dtype).eps >= torch.finfo(want.dtype).eps else want.dtype
    if not bool(torch.isfinite(a).all()):
        raise AssertionError(f"{what} contains inf or nan")
    error = (a - b).abs().max().item() if a.numel() else 0.0
    if error > tolerance(scale, reduction, coarser):
        raise AssertionError(f"{what} is off: the largest difference from the expected values is {error:.3g} "
                             f"(the values are about {scale:.3g} in size)")
