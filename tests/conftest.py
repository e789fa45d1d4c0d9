"""Every test runs offline on the bundled model: no weights or data are fetched from the Hub, and a
COURSE_MODEL left in the shell (say gpt2, for the lessons) does not change what the tests load."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("COURSE_MODEL", None)  # tests that need it set it themselves (monkeypatch)
