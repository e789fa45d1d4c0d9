"""Deprecated alias: moved to `workshop.slides` (`python -m workshop.slides`); removed in 0.3. See utils/_moved.py."""

from utils._moved import forward

forward(__name__, "workshop.slides")
