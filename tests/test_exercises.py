"""Your-turn exercises (issue 17; `utils.exercises`, docs/CONTRIBUTING.md "Your-turn exercises").

Without executing any lesson, for every exercise found in `notebooks/NN_*.py` (a `your-turn` cell, its
`your-turn-check` cell, the python block of the `<details>` below): the starting cell FAILS its check with "not yet"
and the worked answer PASSES, each in a fresh namespace holding only PRELUDE (plus the imports the worked answer
declares); the plausible wrong answers of WRONG_ANSWERS fail with the check's own message (not the "fill in" one),
so no check passes everything. Plus the bookkeeping: >= 2 exercises per lesson 01-13, ids "NN.k" of their lesson,
each registered id used by exactly one check cell, no later cell using an exercise's names, and the committed
notebook showing "not yet" under every check cell. And the checker itself: never raises, deterministic output,
leaves the notebook's random stream where it was.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import pytest
import torch
from wrong_answers_07_13 import WRONG_ANSWERS_07_13

import utils.exercises as exercises
from utils import ROOT
from utils.exercises import TODO, all_exercises, as_number, check, exercise

LESSONS_WITH_EXERCISES = range(1, 14)
MIN_PER_LESSON = 2
PRELUDE = "import math, torch, numpy as np\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
_CHECK_CALL = re.compile(r'^check\("(\d\d\.\d+)"')
_DETAILS_CODE = re.compile(r"<details>.*?```python\n(.*?)```", re.S)

# Plausible wrong answers, each code that replaces the starting cell; each must fail its check with the check's own
# message. Every exercise needs at least one. Lessons 00-06 (helper EX-A) -----------------------------------------
WRONG_ANSWERS: dict[str, list[str]] = {
    "01.1": [  # joined with spaces; the Ġ left in
        "def decode_by_hand(ids, vocab):\n    inv = {i: t for t, i in vocab.items()}\n"
        "    return ' '.join(inv[i] for i in ids).replace('Ġ', '')",
        "def decode_by_hand(ids, vocab):\n    inv = {i: t for t, i in vocab.items()}\n    return ''.join(inv[i] for i in ids)",
    ],
    "01.2": [  # counts each distinct word once; merges only the first occurrence in a word
        "from collections import Counter\n"
        "def train_merges_by_hand(words, n):\n    sp = {w: list(w) for w in set(words)}\n    out = []\n"
        "    for _ in range(n):\n        c = Counter(p for s in sp.values() for p in zip(s, s[1:]))\n"
        "        if not c: break\n        b = min(c, key=lambda p: (-c[p], p)); out.append(b)\n"
        "        for w, s in sp.items():\n            i = 0\n            while i < len(s) - 1:\n"
        "                if (s[i], s[i + 1]) == b: s[i:i + 2] = [s[i] + s[i + 1]]\n                i += 1\n"
        "    return out",
        "from collections import Counter\n"
        "def train_merges_by_hand(words, n):\n    sp = [list(w) for w in words]\n    out = []\n"
        "    for _ in range(n):\n        c = Counter(p for s in sp for p in zip(s, s[1:]))\n"
        "        if not c: break\n        b = min(c, key=lambda p: (-c[p], p)); out.append(b)\n"
        "        for s in sp:\n            for i in range(len(s) - 1):\n"
        "                if (s[i], s[i + 1]) == b: s[i:i + 2] = [s[i] + s[i + 1]]; break\n"
        "    return out",
    ],
    "01.3": [  # whole rows set; the transposed (vocab, seq) matrix; integer dtype
        "def one_hot_by_hand(ids, V):\n    X = torch.zeros(len(ids), V)\n    X[ids] = 1.0\n    return X",
        "def one_hot_by_hand(ids, V):\n    X = torch.zeros(V, len(ids))\n    X[torch.tensor(ids), torch.arange(len(ids))] = 1\n    return X",
        "def one_hot_by_hand(ids, V):\n    return F.one_hot(torch.tensor(ids), V)",
    ],
    "02.1": [  # a plain dot product (row lengths ignored); the token counted as its own neighbour
        "def nearest_by_hand(E, t, k):\n    s = E @ E[t]\n    s[t] = -float('inf')\n    return s.topk(k).indices.tolist()",
        "def nearest_by_hand(E, t, k):\n    u = E / E.norm(dim=1, keepdim=True)\n    return (u @ u[t]).topk(k).indices.tolist()",
    ],
    "02.2": [  # the diagonal left in (a row with itself); cosine instead of distance
        "def closest_pair_by_hand(E):\n    return divmod(torch.cdist(E, E).argmin().item(), len(E))",
        "def closest_pair_by_hand(E):\n    u = E / E.norm(dim=1, keepdim=True)\n    s = u @ u.T\n"
        "    s.fill_diagonal_(-2)\n    return divmod(s.argmax().item(), len(E))",
    ],
    "03.1": [  # the column index j in the exponent; sine and cosine swapped
        "def pe_table_by_hand(n, d):\n    j = torch.arange(d)\n    a = torch.arange(n)[:, None] / 10000 ** (2 * j / d)\n"
        "    return torch.where(j % 2 == 0, torch.sin(a), torch.cos(a)).float()",
        "def pe_table_by_hand(n, d):\n    w = 10000.0 ** (-2 * torch.arange(d // 2) / d)\n    a = torch.arange(n)[:, None] * w\n"
        "    pe = torch.zeros(n, d)\n    pe[:, 0::2], pe[:, 1::2] = torch.cos(a), torch.sin(a)\n    return pe",
    ],
    "03.2": [  # the 2π forgotten; i/d in the exponent instead of 2i/d
        "my_wavelength = 10000 ** (2 * 64 / 256)",
        "my_wavelength = 2 * math.pi * 10000 ** (64 / 256)",
    ],
    "03.3": [  # rotated the wrong way (the transposed block); the pair read as (cos, sin)
        "def shift_by_hand(r, k):\n    d = r.shape[0]\n    w = 10000.0 ** (-2 * torch.arange(d // 2) / d)\n"
        "    s, c = r[0::2], r[1::2]\n    out = torch.empty_like(r)\n"
        "    out[0::2] = s * torch.cos(k * w) - c * torch.sin(k * w)\n    out[1::2] = c * torch.cos(k * w) + s * torch.sin(k * w)\n"
        "    return out",
        "def shift_by_hand(r, k):\n    d = r.shape[0]\n    w = 10000.0 ** (-2 * torch.arange(d // 2) / d)\n"
        "    c, s = r[0::2], r[1::2]\n    out = torch.empty_like(r)\n"
        "    out[0::2] = s * torch.cos(k * w) + c * torch.sin(k * w)\n    out[1::2] = c * torch.cos(k * w) - s * torch.sin(k * w)\n"
        "    return out",
    ],
    "04.1": [  # no 1/√d_k; softmax over the queries; k.T on a batch
        "def attention_by_hand(q, k, v):\n    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v",
        "def attention_by_hand(q, k, v):\n    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n    return torch.softmax(s, dim=-2) @ v",
        "def attention_by_hand(q, k, v):\n    return torch.softmax(q @ k.mT / q.shape[-1], dim=-1) @ v",
    ],
    "04.2": [  # the future instead of the past; the diagonal left out; bottom-right aligned
        "def causal_mask_by_hand(sq, sk):\n    return torch.ones(sq, sk, dtype=torch.bool).triu()",
        "def causal_mask_by_hand(sq, sk):\n    return torch.ones(sq, sk, dtype=torch.bool).tril(-1)",
        "def causal_mask_by_hand(sq, sk):\n    return torch.ones(sq, sk, dtype=torch.bool).tril(sk - sq)",
    ],
    "04.3": [  # one reshape; the view without the transpose moved back by a reshape
        "def split_heads_by_hand(x, h):\n    return x.reshape(h, x.shape[0], x.shape[1] // h)",
        "def split_heads_by_hand(x, h):\n    return x.view(x.shape[0], h, -1).reshape(h, x.shape[0], -1)",
    ],
    "05.1": [  # the unbiased variance (1/(d-1)); eps forgotten; normalized over the tokens (dim 0)
        "def layer_norm_by_hand(x, g, b, eps):\n    m = x.mean(-1, keepdim=True)\n"
        "    return g * (x - m) / torch.sqrt(x.var(-1, keepdim=True) + eps) + b",
        "def layer_norm_by_hand(x, g, b, eps):\n    m = x.mean(-1, keepdim=True)\n"
        "    return g * (x - m) / x.std(-1, keepdim=True, unbiased=False) + b",
        "def layer_norm_by_hand(x, g, b, eps):\n    m = x.mean(0, keepdim=True)\n"
        "    return g * (x - m) / torch.sqrt(x.var(0, keepdim=True, unbiased=False) + eps) + b",
    ],
    "05.2": [  # post-norm; the MLP reading x instead of h
        "def pre_norm_block_by_hand(x, attn, mlp, ln_1, ln_2):\n    h = ln_1(x + attn(x))\n    return ln_2(h + mlp(h))",
        "def pre_norm_block_by_hand(x, attn, mlp, ln_1, ln_2):\n    return x + attn(ln_1(x)) + mlp(ln_2(x))",
    ],
    "05.3": [  # the weight matrices only; one LayerNorm forgotten
        "my_block_params = 12 * 768 ** 2",
        "my_block_params = 12 * 768 ** 2 + 11 * 768",
    ],
    "06.1": [  # log of a softmax (underflows); the sum instead of the mean; exp by hand (overflows)
        "def my_cross_entropy(z, t):\n    return -torch.log(torch.softmax(z, -1))[torch.arange(len(t)), t].mean()",
        "def my_cross_entropy(z, t):\n    return (torch.logsumexp(z, -1) - z[torch.arange(len(t)), t]).sum()",
        "def my_cross_entropy(z, t):\n    return (torch.log(torch.exp(z).sum(-1)) - z[torch.arange(len(t)), t]).mean()",
    ],
    "06.2": [  # the 1/N of the mean forgotten; the sign flipped
        "def ce_grad_by_hand(z, t):\n    return torch.softmax(z, -1) - F.one_hot(t, z.shape[-1])",
        "def ce_grad_by_hand(z, t):\n    return (F.one_hot(t, z.shape[-1]) - torch.softmax(z, -1)) / len(z)",
    ],
    "06.3": [  # a forward difference; the central difference divided by h instead of 2h
        "def finite_difference_by_hand(f, x, h):\n    g = torch.zeros_like(x)\n    for i in range(len(x)):\n"
        "        e = torch.zeros_like(x); e[i] = h\n        g[i] = (f(x + e) - f(x)) / h\n    return g",
        "def finite_difference_by_hand(f, x, h):\n    g = torch.zeros_like(x)\n    for i in range(len(x)):\n"
        "        e = torch.zeros_like(x); e[i] = h\n        g[i] = (f(x + e) - f(x - e)) / h\n    return g",
    ],
    "06.4": [  # positions forgotten; positions counted from 1; the final LayerNorm skipped; only the first block
        "def gpt_logits(ids, wte, wpe, blocks, ln_f):\n    h = wte(ids)\n    for b in blocks:\n        h = b(h)\n"
        "    return ln_f(h) @ wte.weight.T",
        "def gpt_logits(ids, wte, wpe, blocks, ln_f):\n    h = wte(ids) + wpe(torch.arange(1, ids.shape[1] + 1))\n"
        "    for b in blocks:\n        h = b(h)\n    return ln_f(h) @ wte.weight.T",
        "def gpt_logits(ids, wte, wpe, blocks, ln_f):\n    h = wte(ids) + wpe(torch.arange(ids.shape[1]))\n"
        "    for b in blocks:\n        h = b(h)\n    return h @ wte.weight.T",
        "def gpt_logits(ids, wte, wpe, blocks, ln_f):\n    h = wte(ids) + wpe(torch.arange(ids.shape[1]))\n"
        "    for b in blocks[:1]:\n        h = b(h)\n    return ln_f(h) @ wte.weight.T",
    ],
}
# Lessons 07-13 keep theirs in tests/wrong_answers_07_13.py (same form); one test runs them all.
WRONG_ANSWERS.update(WRONG_ANSWERS_07_13)


@dataclass(frozen=True)
class Exercise:
    lesson: int
    id: str
    start: str      # the your-turn cell, as the student meets it
    check: str      # the your-turn-check cell
    answer: str     # the worked answer's python block
    cell: int       # index of the your-turn cell in the lesson


def _lesson_files() -> list[Path]:
    return sorted(p for p in ROOT.glob("notebooks/[0-9][0-9]_*.py"))


def _cells(path: Path):
    return jupytext.read(path).cells


def _exercises_of(path: Path) -> list[Exercise]:
    lesson = int(path.name[:2])
    cells = _cells(path)
    found = []
    for k, cell in enumerate(cells):
        if "your-turn" not in cell.metadata.get("tags", []):
            continue
        assert cell.cell_type == "code", f"{path.name} cell {k}: a your-turn cell must be code"
        check_cell = cells[k + 1] if k + 1 < len(cells) else None
        assert check_cell is not None and "your-turn-check" in check_cell.metadata.get("tags", []), \
            f"{path.name} cell {k}: the cell after a your-turn cell must be its your-turn-check cell"
        match = _CHECK_CALL.match(check_cell.source.strip())
        assert match and len(ast.parse(check_cell.source).body) == 1, \
            f'{path.name} cell {k + 1}: a check cell is one call, check("NN.k", answer, ...)'
        details = cells[k + 2] if k + 2 < len(cells) else None
        code = _DETAILS_CODE.search(details.source) if details is not None and details.cell_type == "markdown" else None
        assert code, f"{path.name} cell {k + 2}: a check cell is followed by a markdown <details> with a ```python block"
        found.append(Exercise(lesson, match.group(1), cell.source, check_cell.source, code.group(1), k))
    return found


ALL = [ex for path in _lesson_files() for ex in _exercises_of(path)]
BY_ID = {ex.id: ex for ex in ALL}


def _imports(code: str) -> str:
    """The top-level import statements of `code` (the worked answer may declare imports the prelude lacks)."""
    tree = ast.parse(code)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def _run(ex: Exercise, code: str) -> tuple[list[bool], str]:
    """Exec PRELUDE, the answer's imports, `code` and the check cell in a fresh namespace: (check results, stdout)."""
    results: list[bool] = []

    def recording_check(*args):
        results.append(check(*args))
        return results[-1]

    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(PRELUDE + _imports(ex.answer), f"<prelude {ex.id}>", "exec"), namespace)
        exec(compile(code, f"<exercise {ex.id}>", "exec"), namespace)
        namespace["check"] = recording_check
        exec(compile(ex.check, f"<check {ex.id}>", "exec"), namespace)
    assert len(results) == 1, f"{ex.id}: the check cell should call check once"
    return results, out.getvalue()


# ---- every exercise: empty fails, worked answer passes, wrong answers fail -------------------------------------

@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_starting_cell_fails_with_not_yet(ex):
    results, out = _run(ex, ex.start)
    assert results == [False], f"{ex.id}: the empty starting cell passes its check:\n{out}"
    assert f"✗ {ex.id} not yet" in out and "Traceback" not in out, out


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_worked_answer_passes(ex):
    results, out = _run(ex, ex.answer)
    assert results == [True], f"{ex.id}: the worked answer fails its check:\n{out}"
    assert out.startswith(f"✓ {ex.id} "), out


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_every_exercise_has_a_wrong_answer(ex):
    assert WRONG_ANSWERS.get(ex.id), f"{ex.id}: add 1-2 plausible wrong answers to WRONG_ANSWERS"


@pytest.mark.parametrize("exercise_id, k", [(i, k) for i, codes in WRONG_ANSWERS.items() for k in range(len(codes))],
                         ids=lambda v: str(v))
def test_wrong_answer_fails(exercise_id, k):
    ex = BY_ID.get(exercise_id)
    assert ex is not None, f"WRONG_ANSWERS names {exercise_id}, which no lesson has"
    results, out = _run(ex, WRONG_ANSWERS[exercise_id][k])
    assert results == [False], f"{exercise_id}: wrong answer {k} passes:\n{WRONG_ANSWERS[exercise_id][k]}\n{out}"
    assert TODO not in out, f"{exercise_id}: wrong answer {k} reads as the untouched cell, so its check never ran"
    assert "hint:" in out, out


# ---- bookkeeping ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lesson", LESSONS_WITH_EXERCISES, ids=lambda n: f"{n:02d}")
def test_each_lesson_has_enough_exercises(lesson):
    ids = [ex.id for ex in ALL if ex.lesson == lesson]
    assert len(ids) >= MIN_PER_LESSON, f"lesson {lesson:02d} has {len(ids)} your-turn exercises: {ids}"


def test_ids_are_unique_of_their_lesson_and_registered():
    ids = [ex.id for ex in ALL]
    assert len(ids) == len(set(ids)), f"an exercise id is used twice: {sorted(ids)}"
    for ex in ALL:
        assert ex.id.startswith(f"{ex.lesson:02d}."), f"{ex.id} sits in lesson {ex.lesson:02d}"
    registered = set(all_exercises())
    assert set(ids) == registered, (f"used but not registered: {sorted(set(ids) - registered)}; "
                                    f"registered but used by no lesson: {sorted(registered - set(ids))}")


def _bound_names(code: str) -> set[str]:
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _used_names(code: str) -> set[str]:
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


@pytest.mark.parametrize("path", _lesson_files(), ids=lambda p: p.stem)
def test_later_cells_never_use_an_exercise_name(path):
    cells = _cells(path)
    for ex in _exercises_of(path):
        assert _bound_names(ex.start), f"{ex.id}: the starting cell binds no name for the check to judge"
        names = _bound_names(ex.start) | _bound_names(ex.answer)   # a student may paste the worked answer
        for k, cell in enumerate(cells[ex.cell + 2:], start=ex.cell + 2):
            if cell.cell_type == "code":
                used = names & _used_names(cell.source)
                assert not used, f"{path.name} cell {k} uses {sorted(used)}, bound by the answer to {ex.id}"


@pytest.mark.parametrize("path", [p for p in _lesson_files() if _exercises_of(p)], ids=lambda p: p.stem)
def test_committed_notebook_shows_not_yet(path):
    cells = json.loads(path.with_suffix(".ipynb").read_text(encoding="utf-8"))["cells"]
    checks = [c for c in cells if "your-turn-check" in c.get("metadata", {}).get("tags", [])]
    assert len(checks) == len(_exercises_of(path))
    for cell in checks:
        source = "".join(cell["source"])
        exercise_id = _CHECK_CALL.match(source.strip()).group(1)
        text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert f"✗ {exercise_id} not yet" in text and not errors, \
            f"{path.name}: the committed output of check {exercise_id} is {text!r}: refresh it with `make outputs`"


# ---- the checker itself ----------------------------------------------------------------------------------------

@pytest.fixture
def toy():
    """A throwaway exercise 99.1 (a cumulative sum), removed from the registry afterwards."""
    @exercise("99.1", hint="torch.cumsum along dim 0", done="your sums match")
    def _(fn):
        for n in (1, 4, 7):
            x = torch.randn(n)
            torch.testing.assert_close(fn(x), torch.cumsum(x, 0), msg=f"wrong for a tensor of length {n}")
    yield "99.1"
    exercises._REGISTRY.pop("99.1")


def _verdict(*args) -> tuple[bool, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = check(*args)
    return result, out.getvalue()


def _empty(x): ...


def _not_implemented(x):
    raise NotImplementedError


def _documented_empty(x):
    """Return the running sum."""
    pass


def test_placeholders_read_as_not_yet(toy):
    for answer in (None, ..., _empty, _not_implemented, _documented_empty):
        assert _verdict(toy, answer) == (False, f"✗ 99.1 not yet: {TODO}\n")


def test_verdicts_are_plain_deterministic_lines(toy):
    assert _verdict(toy, lambda x: torch.cumsum(x, 0)) == (True, "✓ 99.1 your sums match\n")
    ok, out = _verdict(toy, lambda x: x)
    assert not ok and out.startswith("✗ 99.1 not yet: ") and out.endswith("  hint: torch.cumsum along dim 0\n")

    def raising(x):
        raise ValueError(f"cannot sum {object()}")
    ok, out = _verdict(toy, raising)
    assert not ok and out.startswith("✗ 99.1 your code raised ValueError: cannot sum <object object at 0x…>")
    assert _verdict("99.9", 1)[1] == "✗ 99.9 is not a known exercise id (look for a typo in the check cell)\n"
    assert _verdict("four", 1)[0] is False


def test_a_check_leaves_the_random_streams_where_they_were(toy):
    torch.manual_seed(3)
    random.seed(3)
    _verdict(toy, lambda x: torch.cumsum(x, 0) + 0 * torch.randn(()) + 0 * random.random())
    after_check = (torch.rand(3), random.random())
    torch.manual_seed(3)
    random.seed(3)
    assert torch.equal(after_check[0], torch.rand(3)) and after_check[1] == random.random()


def test_placeholder_values_and_ids_are_checked():
    @exercise("99.2", hint="count them", placeholders=(0,))
    def _(guess):
        assert guess == 3, "not the count"
    try:
        assert _verdict("99.2", 0) == (False, f"✗ 99.2 not yet: {TODO}\n")
        assert _verdict("99.2", 0.0)[1].startswith("✗ 99.2 not yet: not the count")  # 0.0 is an answer, not 0
        assert _verdict("99.2", 3)[0]
        with pytest.raises(ValueError):
            exercise("99.2", hint="")(lambda: None)
        with pytest.raises(ValueError):
            exercise("4.1", hint="")
    finally:
        exercises._REGISTRY.pop("99.2")


def test_as_number_takes_numbers_and_refuses_the_rest():
    import numpy as np

    assert as_number(np.int64(3), "x") == 3.0 and as_number(torch.tensor(2.5), "x") == 2.5 and as_number(7, "x") == 7
    for bad in ("3", True, None, float("nan"), torch.ones(2)):
        with pytest.raises(AssertionError):
            as_number(bad, "x")
