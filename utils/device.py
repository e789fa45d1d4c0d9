"""Pick the device and dtype once: a GPU when one is present, never required."""

from __future__ import annotations

import os

import torch


def get_device() -> torch.device:
    """`cuda` when a usable GPU is present (or `COURSE_DEVICE` says so), else `cpu`."""
    wanted = os.environ.get("COURSE_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def training_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs that support it, float32 everywhere else (CPU training stays in fp32)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def in_colab() -> bool:
    """True inside Google Colab."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True
