"""A reader shared by the checks of lessons 11 and 13: the pair a task asks a function to return."""

from __future__ import annotations

from typing import Any


def as_pair(value: Any, names: str) -> tuple[Any, Any]:
    """`value` as the pair the task asks for (names, e.g. "(q, scale)", says which), else a student's message."""
    assert isinstance(value, tuple) and len(value) == 2, f"return a pair {names}"
    return value
