"""utils.memory: the memory arithmetic against hand counts, and one measured training step."""

from __future__ import annotations

import sys

import pytest
import torch

from utils.lora import lora_parameter_count
from utils.memory import (
    activation_memory_bytes,
    dtype_bits,
    lora_param_count,
    measure_training_step,
    model_memory_gb,
    training_memory,
)


def test_model_memory_gb():
    assert model_memory_gb(7e9, "fp32") == pytest.approx(28.0)
    assert model_memory_gb(7e9, "fp16") == pytest.approx(14.0)
    assert model_memory_gb(13e9, torch.bfloat16) == pytest.approx(26.0)
    assert model_memory_gb(7e9, 4) == pytest.approx(3.5)
    assert dtype_bits(torch.int8) == 8
    with pytest.raises(ValueError, match="unknown dtype"):
        model_memory_gb(1e9, "fp12")


def test_full_fine_tune_costs_16_bytes_per_parameter_in_fp32():
    bill = training_memory(7e9, 7e9)
    assert bill.weights == 28e9 and bill.gradients == 28e9 and bill.optimizer == 56e9
    assert bill.total == pytest.approx(16 * 7e9)


def test_lora_bill_counts_frozen_base_and_small_adapter():
    adapter = lora_parameter_count([(4096, 4096)] * 64, r=16)  # q and v of 32 layers of a 4096-wide model
    assert adapter == 8_388_608
    bill = training_memory(7e9, adapter, frozen_bits="bf16")
    assert bill.weights == pytest.approx(7e9 * 2 + adapter * 4)
    assert bill.gradients == adapter * 4 and bill.optimizer == adapter * 8
    qlora = training_memory(7e9, adapter, frozen_bits=4.127)
    assert qlora.total < bill.total / 3


def test_lora_param_count_is_a_deprecated_alias_of_the_one_lora_count():
    shapes = [(2304, 768), (768, 768), (3072, 768)]  # (out_features, in_features), GPT-2 c_attn, c_proj, c_fc
    with pytest.warns(DeprecationWarning, match=r"utils\.memory\.lora_param_count is now utils\.lora"):
        old = lora_param_count(shapes, 8)
    assert old == lora_parameter_count(shapes, 8) == 8 * (2304 + 768 + 768 + 768 + 3072 + 768)


def test_activation_estimate_scales_with_tokens():
    one = activation_memory_bytes(12, 768, 12, 128, 1)
    assert activation_memory_bytes(12, 768, 12, 128, 4) == pytest.approx(4 * one)
    assert activation_memory_bytes(12, 768, 12, 128, 1, bytes_per_value=4) == pytest.approx(2 * one)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_measured_lora_step_needs_less_memory_than_full():
    full = measure_training_step("full", batch_size=1, seq_len=32, n_layer=2)
    lora = measure_training_step("lora", batch_size=1, seq_len=32, n_layer=2)
    n = full["trainable"]
    # weights + grads + Adam's two fp32 states: at least 16 bytes per parameter for the full step
    assert full["model_bytes"] >= 0.9 * 16 * n
    assert lora["trainable"] < n / 100
    assert lora["model_bytes"] < 0.6 * full["model_bytes"]
