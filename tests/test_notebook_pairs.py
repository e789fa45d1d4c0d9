"""Reviewable notebooks: every lesson and lab source has a jupytext twin (`.py`, percent format) equal to what
jupytext writes from the notebook, and no committed notebook carries execution timestamps."""

from __future__ import annotations

import json

import jupytext
import pytest

from utils import ROOT

NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*/*.ipynb"))
COMMITTED = NOTEBOOKS + sorted(ROOT.glob("labs/*/*.ipynb"))


def _twin_text(notebook) -> str:
    """What `jupytext --sync` writes for this notebook, with the settings of its folder's jupytext.toml."""
    config = jupytext.config.load_jupytext_config(str(notebook.parent))
    return jupytext.writes(jupytext.read(notebook), fmt="py:percent", config=config)


def test_there_are_notebooks_to_pair():
    assert len(NOTEBOOKS) >= 29


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_twin_is_in_sync(notebook):
    twin = notebook.with_suffix(".py")
    assert twin.is_file(), f"{twin.relative_to(ROOT)} is missing: run `make sync`"
    assert twin.read_text(encoding="utf-8") == _twin_text(notebook), \
        f"{twin.relative_to(ROOT)} differs from {notebook.name}: run `make sync` and commit both"


@pytest.mark.parametrize("notebook", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_execution_timestamps(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    stamped = [k for k, c in enumerate(cells) if "execution" in c.get("metadata", {})]
    assert not stamped, f"cells {stamped} carry execution timestamps: re-run with `make outputs` (which records none)"
