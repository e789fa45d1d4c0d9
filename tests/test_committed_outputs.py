"""What a student opens is the run the course talks about: lesson 13 (the capstone) is committed with the outputs
of its full run (`COURSE_FULL=1 make outputs NB=notebooks/13_chatbot.ipynb`), while CI executes the shorter schedule
and compares only the cells whose output does not depend on it (issue 16)."""

from __future__ import annotations

import json
import math

from utils import ROOT
from utils.data import load_qa


def _outputs(stem: str) -> str:
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            texts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(texts)


def test_capstone_is_committed_with_its_full_run():
    qa, text = load_qa(), _outputs("13_chatbot")
    assert "| full run" in text and "| CI-sized run" not in text, "run `COURSE_FULL=1 make outputs NB=...13_chatbot`"
    steps = math.ceil(len(qa["train"]) / 32)  # one epoch of batches of 32
    assert f"training: {steps} steps over {len(qa['train'])} training pairs" in text
    assert f"exact match on {len(qa['test'])} held-out questions" in text
    assert f"{steps} steps with the common recipe" in text


def test_capstone_chat_says_where_each_fact_is():
    lines = [line for line in _outputs("13_chatbot").splitlines() if " you: " in line]
    assert len(lines) >= 5
    assert all(line.startswith("[") for line in lines), lines
    labels = {line[1:line.index("]")] for line in lines}
    assert {"training fact", "held-out fact"} <= labels, labels
