"""The Q&A dataset and the corpus: counts, schema, no fact leaking across splits, a deterministic build."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from utils import DATA_DIR, ROOT
from utils.data import SPLITS, format_prompt, load_corpus, load_facts, load_qa, qa_files


@pytest.fixture(scope="module")
def qa():
    return load_qa()


def test_splits_and_columns(qa):
    assert set(qa) == set(SPLITS)
    for split in SPLITS:
        assert {"question", "answer", "fact_id", "relation", "subject"} <= set(qa[split].column_names)


def test_at_least_ten_thousand_pairs(qa):
    assert sum(qa[s].num_rows for s in SPLITS) >= 10_000


def test_split_is_by_fact(qa):
    facts = {s: set(qa[s]["fact_id"]) for s in SPLITS}
    assert not facts["test"] & facts["train"]
    assert not facts["test"] & facts["validation"]
    assert not facts["validation"] & facts["train"]


def test_every_relation_in_every_split(qa):
    relations = {s: set(qa[s]["relation"]) for s in SPLITS}
    assert relations["train"] == relations["validation"] == relations["test"]


def test_several_phrasings_per_fact(qa):
    from collections import Counter

    per_fact = Counter(qa["train"]["fact_id"])
    assert min(per_fact.values()) >= 5
    assert len(set(qa["train"]["question"])) == qa["train"].num_rows


def test_answers_are_non_empty_and_clean(qa):
    for split in SPLITS:
        for answer in qa[split]["answer"]:
            assert answer and answer == answer.strip() and "\n" not in answer


def test_facts_file_agrees_with_qa(qa):
    facts = {f["fact_id"]: f for f in load_facts()}
    for split in SPLITS:
        for row in qa[split].select(range(0, qa[split].num_rows, 37)):
            assert facts[row["fact_id"]]["split"] == split
            assert facts[row["fact_id"]]["answer"] == row["answer"]


def test_every_fact_is_stated_in_the_corpus_and_no_question_is():
    corpus = load_corpus()
    text = "\n".join(corpus)
    for fact in load_facts()[::11]:
        assert fact["answer"] in text and fact["subject"] in text
    assert not any(line.endswith("?") for line in corpus)
    assert "Question:" not in text and "Answer:" not in text


def test_prompt_format():
    assert format_prompt("  What is the capital of France? ") == "Question: What is the capital of France?\nAnswer:"


def test_missing_data_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="build_dataset.py"):
        qa_files(tmp_path)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_deterministic_and_matches_the_shipped_files(tmp_path):
    script = ROOT / "scripts" / "build_dataset.py"
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, str(script), "--out", str(out)], check=True, capture_output=True)
    first, second = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert first == second
    shipped = {name: digest for name, digest in _digest(DATA_DIR).items()
               if name.startswith(("qa/", "corpus/"))}
    assert shipped == first
