"""Helpers for "LoRA from first principles".

Each lesson builds a piece by hand, explains it, and saves the reference version here so that later lessons
(and the tests) import one source of truth.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
SPLITS = ("train", "validation", "test")  # the Q&A dataset's splits (data/qa/<split>.jsonl); `utils.data` re-exports it

__all__ = ["ROOT", "DATA_DIR", "SPLITS"]
