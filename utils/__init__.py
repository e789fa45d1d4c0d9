"""Helpers for "LoRA from first principles".

Each lesson builds a piece by hand, explains it, and saves the reference version here so that later lessons
(and the tests) import one source of truth.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"

__all__ = ["ROOT", "DATA_DIR"]
