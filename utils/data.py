"""The course's data: the Q&A dataset and the declarative corpus the base model was pretrained on.

Both are built by `scripts/build_dataset.py` and shipped in `data/`; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from utils import DATA_DIR, SPLITS

if TYPE_CHECKING:
    from datasets import DatasetDict

PROMPT_TEMPLATE = "Question: {question}\nAnswer:"


def qa_files(data_dir: Path | None = None) -> dict[str, str]:
    """split -> path of its jsonl file; a clear error if one is missing."""
    qa_dir = Path(data_dir or DATA_DIR) / "qa"
    files = {split: qa_dir / f"{split}.jsonl" for split in SPLITS}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Q&A data missing: {', '.join(missing)}. Restore it with `git checkout -- data/qa` "
            "or rebuild it with `python scripts/build_dataset.py`."
        )
    return {split: str(path) for split, path in files.items()}


def load_qa(data_dir: Path | None = None) -> DatasetDict:
    """The Q&A pairs as a DatasetDict with splits train / validation / test.

    Columns: question, answer, fact_id, relation, subject, template. The split is by fact: a test fact never
    appears as a Q&A pair in train or validation (only as statements in the pretraining corpus).

    `datasets` (with pandas and pyarrow, about 0.7 s) is imported here, not with this module: most of its users
    (prompts, the corpus, `utils.qa`) never need it, and a graded lab kernel would pay it for each student.
    """
    from datasets import load_dataset

    return load_dataset("json", data_files=qa_files(data_dir))


def load_facts(data_dir: Path | None = None) -> list[dict]:
    """Every fact once: fact_id, relation, subject, answer and the Q&A split it belongs to."""
    path = Path(data_dir or DATA_DIR) / "corpus" / "facts.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_corpus(data_dir: Path | None = None) -> list[str]:
    """The pretraining corpus: one statement of a fact per line."""
    path = Path(data_dir or DATA_DIR) / "corpus" / "statements.txt"
    return path.read_text(encoding="utf-8").splitlines()


def format_prompt(question: str) -> str:
    """The Q&A prompt the chatbot is fine-tuned on: 'Question: ...\\nAnswer:'."""
    return PROMPT_TEMPLATE.format(question=question.strip())


def few_shot_prefix(shots: list[tuple[str, str]]) -> str:
    """Worked examples to put before a prompt: each `format_prompt(question)`, a space, its answer, a newline.

    `few_shot_prefix(shots) + format_prompt(question)` is a few-shot prompt (lesson 13's baseline); no shots: "".
    """
    return "".join(f"{format_prompt(question)} {answer.strip()}\n" for question, answer in shots)
