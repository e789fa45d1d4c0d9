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
    measure_training_steps,
    model_memory_gb,
    optimizer_state_bytes,
    saved_activation_bytes,
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
    both = measure_training_steps(("full", "lora"), batch_size=1, seq_len=32, n_layer=2)  # one process, two forks
    full, lora = both["full"], both["lora"]
    n = full["trainable"]
    # weights + grads + Adam's two fp32 states: at least 16 bytes per parameter for the full step
    assert full["model_bytes"] >= 0.9 * 16 * n
    assert lora["trainable"] < n / 100
    assert lora["model_bytes"] < 0.6 * full["model_bytes"]
    # a process of its own measures the same (the forked child starts from the same imported libraries)
    alone = measure_training_step("lora", batch_size=1, seq_len=32, n_layer=2)
    assert alone["trainable"] == lora["trainable"] and alone["total_params"] == lora["total_params"]
    assert abs(alone["model_bytes"] - lora["model_bytes"]) < 0.2 * lora["model_bytes"]


class _TinyNet(torch.nn.Module):
    """Linear(4, 8) -> ReLU -> Linear(8, 2), loss = mean squared output: small enough to count by hand."""

    def __init__(self):
        super().__init__()
        self.first, self.second = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)

    def forward(self, x):
        out = self.second(torch.relu(self.first(x)))
        return type("Output", (), {"loss": out.pow(2).mean()})


def test_saved_activation_bytes_counts_what_backward_needs_once():
    """Linear saves its input (b x 4), ReLU its output (b x 8, the same tensor the second Linear saves: once),
    pow its input (b x 2); the weights are not activations. float32: 4 bytes each."""
    torch.manual_seed(0)
    net, x = _TinyNet(), torch.randn(5, 4)
    kept, loss = saved_activation_bytes(net, x=x)
    assert kept == 5 * (4 + 8 + 2) * 4
    loss.backward()
    assert net.first.weight.grad is not None


def test_gradient_checkpointing_keeps_less_and_gives_the_same_gradients():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=3, n_embd=64, n_head=4, vocab_size=97, n_positions=32)).train()
    ids = torch.randint(0, 97, (2, 32))
    runs = []
    for checkpointing in (False, True):
        if checkpointing:
            model.activation_checkpointing_enable({"use_reentrant": True})
        torch.manual_seed(1)  # dropout is on: recomputation must replay the same masks
        kept, loss = saved_activation_bytes(model, input_ids=ids, labels=ids)
        loss.backward()
        runs.append((kept, loss.item(), [p.grad.clone() for p in model.parameters()]))
        model.zero_grad()
    (kept_all, loss_all, grads_all), (kept_ckpt, loss_ckpt, grads_ckpt) = runs
    assert kept_ckpt < kept_all / 2
    assert loss_ckpt == pytest.approx(loss_all, rel=1e-6)
    for a, b in zip(grads_all, grads_ckpt, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6 * a.abs().max().item())


def test_optimizer_state_bytes_adamw_and_bitsandbytes_8bit():
    """torch AdamW: m and v in float32 (8 bytes a value) and a float32 step counter per tensor. bitsandbytes
    AdamW8bit: one byte per value for m and for v, a float32 absmax per block of 256 values for each, a 256-entry
    float32 code map for each; tensors under 4,096 values keep 32-bit state."""
    bnb = pytest.importorskip("bitsandbytes")
    big, small = torch.nn.Parameter(torch.randn(64, 256)), torch.nn.Parameter(torch.randn(100))
    for p in (big, small):
        p.grad = torch.randn_like(p)
    adamw = torch.optim.AdamW([big, small])
    adamw.step()
    assert optimizer_state_bytes(adamw) == 8 * (big.numel() + small.numel()) + 4 * 2
    eight = bnb.optim.AdamW8bit([big, small])
    eight.step()
    blocks = -(-big.numel() // 256)
    state_big = 2 * big.numel() + 2 * 4 * blocks + 2 * 256 * 4
    state_small = 8 * small.numel()
    counters = sum(v.numel() * v.element_size() for st in eight.state.values() for k, v in st.items()
                   if torch.is_tensor(v) and k == "step")
    assert optimizer_state_bytes(eight) == state_big + state_small + counters
