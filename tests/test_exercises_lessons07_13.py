"""Plausible wrong answers to the your-turn exercises of lessons 07-13: each must FAIL its check, with the check's
own message (not the "fill in the cell" one) and its hint.

`tests/test_exercises.py` proves, for every exercise, that the starting cell fails and the worked answer passes; this
module runs the wrong answers of lessons 07-13 (`tests/wrong_answers_07_13.py`) through that module's `_run` (the
same fresh namespace and prelude).
"""

from __future__ import annotations

import pytest
from test_exercises import BY_ID, TODO, _run
from wrong_answers_07_13 import WRONG_ANSWERS_07_13


@pytest.mark.parametrize("exercise_id, k", [(i, k) for i, codes in WRONG_ANSWERS_07_13.items()
                                            for k in range(len(codes))], ids=lambda v: str(v))
def test_wrong_answer_fails(exercise_id, k):
    ex = BY_ID.get(exercise_id)
    assert ex is not None, f"WRONG_ANSWERS_07_13 names {exercise_id}, which no lesson has"
    results, out = _run(ex, WRONG_ANSWERS_07_13[exercise_id][k])
    assert results == [False], f"{exercise_id}: wrong answer {k} passes:\n{WRONG_ANSWERS_07_13[exercise_id][k]}\n{out}"
    assert TODO not in out, f"{exercise_id}: wrong answer {k} reads as the untouched cell, so its check never ran"
    assert "hint:" in out, out


@pytest.mark.parametrize("ex", [ex for ex in BY_ID.values() if 7 <= ex.lesson <= 13], ids=lambda ex: ex.id)
def test_every_exercise_of_lessons_07_13_has_a_wrong_answer(ex):
    assert len(WRONG_ANSWERS_07_13.get(ex.id, [])) >= 1, f"{ex.id}: add 1-2 plausible wrong answers"
