"""Text cells of the CSV files the grader writes, safe to open in a spreadsheet.

A spreadsheet runs a cell that starts like a formula (CSV injection: `=HYPERLINK(...)`, `=cmd|...`). Students
choose the file names that grades.csv's notes quote (`=1+1.ipynb was not UTF-8`) and, on some LMSs, the display
names that name their folders. Such a cell is written with a leading apostrophe, which spreadsheets take as "text"
and do not show; `from_spreadsheet_text` reads it back.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_spreadsheet_text(text: str) -> str:
    """`text`, with a leading apostrophe where it starts like a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def from_spreadsheet_text(text: str) -> str:
    """The text `as_spreadsheet_text` was given."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text
