"""Deprecated alias: moved to `grading` (`python -m grading`); removed in 0.3. See utils/_moved.py."""

from utils._moved import forward

forward(__name__, "grading")
