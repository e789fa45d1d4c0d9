"""Pick the device and dtype once: a GPU when one is present, never required."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

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


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch (a dict of tensors, e.g. `input_ids`, `attention_mask`, `labels`) moved to `device`."""
    return {key: value.to(device) for key, value in batch.items()}


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision for a forward pass: bf16 autocast on a bf16 GPU, nothing at all on the CPU.

    The weights (and the optimizer state) stay float32; only the matrix multiplies run in bf16. On the CPU this
    is a no-op, so CPU runs (and the committed lesson outputs) are bit-for-bit what they were.
    """
    dtype = training_dtype(device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def in_colab() -> bool:
    """True inside Google Colab."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def describe(device: torch.device) -> str:
    """One line on where the lesson runs, e.g. 'cuda:0 (NVIDIA L4), training in bfloat16'."""
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)})"
    return f"{where}, training in {str(training_dtype(device)).removeprefix('torch.')}"
