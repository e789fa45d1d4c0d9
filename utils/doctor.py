"""Deprecated alias: moved to `workshop.doctor` (`python -m workshop.doctor`); removed in 0.3. See utils/_moved.py."""

from utils._moved import forward

forward(__name__, "workshop.doctor")
