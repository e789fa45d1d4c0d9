"""The first code cell of every lesson: `setup()` makes the run reproducible and picks the device.

Importing this module quiets bitsandbytes' import-time notices (`quiet_bitsandbytes`), so a lesson that uses it
imports `utils.notebook` before anything that pulls bitsandbytes in (peft, transformers' Trainer, bitsandbytes).
"""

from __future__ import annotations

import logging
import os
import random
import warnings

import numpy as np
import torch

from utils.device import describe, get_device, in_colab


def quiet_bitsandbytes() -> None:
    """Show only errors from bitsandbytes' loggers.

    On a CPU with AVX512-BF16, importing bitsandbytes logs a warning that it could not fetch an optional CPU
    kernel from the Hub (offline, it never can; the plain CPU kernels are used and nothing is wrong).
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


quiet_bitsandbytes()  # at import: bitsandbytes warns while it is being imported, before setup() could run


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and GPU) so printed numbers are the same run to run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def full_run() -> bool:
    """True when COURSE_FULL=1: lessons then use their full-size schedules instead of the CI-sized ones."""
    return os.environ.get("COURSE_FULL") == "1"


def setup(seed: int = 0) -> torch.device:
    """Seed everything, quiet the libraries, set a readable plot style; returns the device to use.

    A GPU is used when one is present (`utils.device.get_device`), and then this prints which one; on the CPU
    it prints nothing. On Google Colab it also turns on Colab's widget manager, so sliders and the chat box render.
    """
    seed_everything(seed)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_printoptions(precision=4, sci_mode=False)
    try:
        import matplotlib.pyplot as plt

        plt.rcParams.update({"figure.dpi": 90, "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:
        pass
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise in a lesson
    # peft calls a transformers method renamed in v5; the deprecation says nothing about the lesson
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    if in_colab():
        from google.colab import output

        output.enable_custom_widget_manager()
    device = get_device()
    if device.type != "cpu":
        print("running on", describe(device))
    return device
