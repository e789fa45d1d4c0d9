"""grading.similarity: near-copies of one answer are flagged, an independent answer is not."""

from __future__ import annotations

import csv

import nbformat

from grading import similarity
from grading.labsource import load_lab
from grading.spreadsheet import FORMULA_START, from_spreadsheet_text

LAB = "lab00_setup"

ORIGINAL = {
    "count_tokens": '''def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    ids = tokenizer(text)["input_ids"]
    n = len(ids)
    return n
''',
    "complete": '''def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new_ids = output[0, inputs["input_ids"].shape[1]:]
    text = tokenizer.decode(new_ids, skip_special_tokens=True)
    return text
''',
}
# The same answer with every variable renamed, other spacing and comments: a copy.
RENAMED = {
    "count_tokens": '''def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    # my own words
    toks = tokenizer( text )["input_ids"]
    how_many = len( toks )
    return how_many
''',
    "complete": '''def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    enc = tokenizer(prompt, return_tensors = "pt")   # encode

    generated = model.generate(**enc, max_new_tokens = max_new_tokens, do_sample = False)
    fresh = generated[0, enc["input_ids"].shape[1]:]
    answer = tokenizer.decode(fresh, skip_special_tokens=True)
    return answer
''',
}
# Another way to the same results: a greedy loop by hand.
INDEPENDENT = {
    "count_tokens": '''def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    return sum(1 for _ in tokenizer.encode(text))
''',
    "complete": '''def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    import torch
    ids = torch.tensor([tokenizer.encode(prompt)])
    start = ids.shape[1]
    with torch.no_grad():
        for _step in range(max_new_tokens):
            logits = model(ids).logits[:, -1, :]
            ids = torch.cat([ids, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return tokenizer.decode(ids[0, start:].tolist(), skip_special_tokens=True)
''',
}


def _submission(path, answers: dict[str, str] | None):
    """The lab's source notebook with its solution cells replaced by `answers` (None: the released stub)."""
    nb = load_lab(LAB).notebooks[LAB]
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = answers[grade_id] if answers else "# YOUR CODE HERE\nraise NotImplementedError()"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_near_copies_are_flagged_and_an_independent_answer_is_not(tmp_path):
    subs = tmp_path / "submitted"
    _submission(subs / "ada" / LAB / f"{LAB}.ipynb", ORIGINAL)
    _submission(subs / "bob.ipynb", RENAMED)
    _submission(subs / "=cy.ipynb", INDEPENDENT)  # a name that starts like a spreadsheet formula
    _submission(subs / "dee.ipynb", None)  # nothing answered: listed, never compared
    assert similarity.main(["--lab", LAB, "--submissions", str(subs), "--out", str(tmp_path / "out"),
                            "--min-tokens", "20"]) == 0
    with open(tmp_path / "out" / f"similarity_{LAB}.csv", newline="", encoding="utf-8") as f:
        cells = list(csv.reader(f))
    assert not [cell for row in cells for cell in row if cell.startswith(FORMULA_START)]
    rows = {frozenset(map(from_spreadsheet_text, row[:2])): dict(zip(cells[0], row, strict=True)) for row in cells[1:]}
    ada_bob, ada_cy, bob_cy = frozenset({"ada", "bob"}), frozenset({"ada", "=cy"}), frozenset({"bob", "=cy"})
    assert set(rows) == {ada_bob, ada_cy, bob_cy}
    assert float(rows[ada_bob]["similarity"]) >= 0.9 and rows[ada_bob]["flagged"] == "yes"
    for pair in (ada_cy, bob_cy):
        assert float(rows[pair]["similarity"]) < 0.5 and rows[pair]["flagged"] == "", rows[pair]
    page = (tmp_path / "out" / f"similarity_{LAB}.html").read_text(encoding="utf-8")
    assert "1 of 3 pairs flagged" in page and "dee" in page and "how_many = len( toks )" in page


def test_given_lines_and_names_do_not_count():
    lab = load_lab(LAB)
    nb = nbformat.from_dict(lab.notebooks[LAB])
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "count_tokens":
            cell.source = RENAMED["count_tokens"]
    code = similarity.answer_code(nb, lab)
    assert "def count_tokens" not in code and "my own words" not in code and "how_many" in code
    assert similarity.normalise("x = f(y)\nreturn x") == similarity.normalise("a=f( b )\nreturn a")
    assert similarity.normalise("x = f(y)") != similarity.normalise("x = f(y, y)")
