"""grading.validity's leak rule: which lines of a lab's solutions and hidden tests count as secrets."""

from __future__ import annotations

from grading.validity import _keywords_only


def test_lines_of_keywords_alone_are_not_secrets():
    # They appear in any lab's released code; finding one says nothing about a solution.
    for line in ("continue", "return None", "else:", "break", "return True"):
        assert _keywords_only(line), line


def test_lines_that_compute_something_are_secrets():
    for line in ("return x @ w", "raise ValueError(msg)", "for row in rows:", "return None if x else y[0]"):
        assert not _keywords_only(line), line
