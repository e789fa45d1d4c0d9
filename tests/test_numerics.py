"""utils.numerics: the tolerance accepts what rounding does and rejects what bugs do, on the course's sizes.

Both directions matter. Real alternative computations of the same quantity (a matmul summed in another order,
in float64, merged vs unmerged LoRA, attention by hand vs torch) must pass with room to spare on any CPU; real
mistakes (LoRA scale alpha instead of alpha / r, a 1 % scale error, a missing 1/sqrt(d), an untransposed merge)
must fail by orders of magnitude. A tolerance loose enough to let one through would be a defect.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, LlamaConfig
from transformers.pytorch_utils import Conv1D

from utils.attention import scaled_dot_product_attention
from utils.lora import LoRALinear, add_lora, lora_layers, merge_lora
from utils.models import load_model
from utils.numerics import (
    SAFETY,
    assert_close,
    block_reduction,
    close,
    forward_reduction,
    tolerance,
    unit_roundoff,
)

MARGIN = 2.0   # rounding must stay below tolerance / MARGIN here, so another CPU still has room
BUG = 50.0     # a bug must exceed tolerance * BUG


def ratio(a: torch.Tensor, b: torch.Tensor, reduction: int) -> float:
    """max |a - b| as a multiple of the policy's tolerance."""
    scale = max(a.abs().max().item(), b.abs().max().item())
    return (a.double() - b.double()).abs().max().item() / tolerance(scale, reduction)


def test_formula():
    assert unit_roundoff(torch.float32) == 2.0 ** -24 and unit_roundoff(torch.float64) == 2.0 ** -53
    assert tolerance(20.0, 1024) == SAFETY * 32 * 2.0 ** -24 * 20.0
    assert tolerance(1.0, 4) == 2 * tolerance(1.0, 1) and tolerance(3.0, 9) == 3 * tolerance(1.0, 9)
    with pytest.raises(ValueError, match="at least 1"):
        tolerance(1.0, 0)


def test_helpers_report_and_decide():
    a = torch.tensor([20.0, -3.0])
    tol = tolerance(20.0, 256)
    assert close(a, a + torch.tensor([tol * 0.9, 0.0]), reduction=256)
    assert not close(a, a + torch.tensor([tol * 1.5, 0.0]), reduction=256)
    with pytest.raises(AssertionError, match=r"logits: max \|a - b\| = .* > tolerance .*sqrt\(256\)"):
        assert_close(a, a + torch.tensor([0.0, 1e-3]), reduction=256, what="logits")
    with pytest.raises(ValueError, match="shapes differ"):
        close(a, a[:1], reduction=1)
    assert close(a.double(), a.double() + 1e-15, reduction=1)      # float64 is judged with float64's u
    terms = torch.tensor([1e4, -1e4 + 1e-3])                       # cancels: the terms set the scale
    assert not close(terms.sum(), torch.tensor(0.0), reduction=2) and close(terms.sum(), torch.tensor(0.0), 2, scale=1e4)
    assert not close(a.double(), a.double() + 1e-12, reduction=1)


def test_forward_reduction_counts_the_longest_path():
    gpt2 = GPT2Config(n_embd=256, n_head=4, n_layer=4, n_positions=128)
    norms, attention, mlp = 2 * (2 * 256), 256 + 64 + 2 * 128 + 256, 256 + 1024
    assert block_reduction(gpt2) == norms + attention + mlp
    assert forward_reduction(gpt2) == 4 * (norms + attention + mlp) + 2 * 256 + 256 == 13_312
    llama = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                        max_position_embeddings=64)
    assert forward_reduction(llama) == 2 * (4 * 64 + 64 + 16 + 2 * 64 + 64 + 64 + 96) + 3 * 64


@pytest.mark.parametrize("k", [64, 256, 1024, 4096])
def test_reordered_matmuls_are_close(k):
    """The same product summed in other orders: float64, chunks of 7, reversed, one term at a time."""
    gen = torch.Generator().manual_seed(k)
    x, w = torch.randn(32, k, generator=gen), torch.randn(k, 64, generator=gen) / math.sqrt(k)
    ours = x @ w
    alternatives = {
        "float64": (x.double() @ w.double()).float(),
        "chunks of 7": sum(x[:, i:i + 7] @ w[i:i + 7] for i in range(0, k, 7)),
        "reversed": x.flip(1) @ w.flip(0),
        "sequential": torch.stack([x[:, i:i + 1] * w[i] for i in range(k)]).cumsum(0)[-1],
    }
    for name, other in alternatives.items():
        assert ratio(ours, other, k) < 1 / MARGIN, name


@pytest.mark.parametrize(("d_in", "d_out"), [(256, 768), (256, 256), (256, 1024), (1024, 256)])
def test_lora_merge_is_close_and_its_bugs_are_not(d_in, d_out):
    """The bundled model's four LoRA targets (c_attn, attn.c_proj, c_fc, mlp.c_proj), r = 8, alpha = 16."""
    torch.manual_seed(d_in + d_out)
    base = Conv1D(d_out, d_in)
    torch.nn.init.normal_(base.weight, std=0.02)
    layer = LoRALinear(base, r=8, alpha=16)
    torch.nn.init.normal_(layer.lora_B, std=0.05)
    x, k = torch.randn(2, 12, d_in), d_in + 8
    with torch.no_grad():
        unmerged = layer(x)
        layer.merge()
        assert ratio(layer(x), unmerged, k) < 1 / MARGIN
        layer.unmerge()
        wrong_scale = copy.deepcopy(base)
        wrong_scale.weight += 16 * (layer.lora_B @ layer.lora_A).T          # alpha, not alpha / r
        assert ratio(wrong_scale(x), unmerged, k) > BUG
        if d_in == d_out:
            untransposed = copy.deepcopy(base)
            untransposed.weight += layer.delta_weight()                   # forgot the Conv1D transpose
            assert ratio(untransposed(x), unmerged, k) > BUG


def test_attention_by_hand_is_close_and_unscaled_is_not():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 12, 64, generator=gen) for _ in range(3))
    reference, reduction = F.scaled_dot_product_attention(q, k, v), 64 + 12
    assert ratio(scaled_dot_product_attention(q, k, v), reference, reduction) < 1 / MARGIN
    unscaled = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v          # forgot 1/sqrt(d_k)
    assert ratio(unscaled, reference, reduction) > BUG


def test_bundled_model_merge_is_close_and_a_one_percent_scale_error_is_not():
    model, tokenizer = load_model(device="cpu")
    reduction = forward_reduction(model.config)
    torch.manual_seed(0)
    hand = add_lora(copy.deepcopy(model), ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"], r=8, alpha=16).eval()
    with torch.no_grad():
        for layer in lora_layers(hand).values():
            layer.lora_B.normal_(std=0.05)
    ids = tokenizer(["Question: What is the capital of France?\nAnswer:", "Iron has the symbol"],
                    return_tensors="pt", padding=True)
    with torch.no_grad():
        adapted = hand(**ids).logits
        assert ratio(merge_lora(copy.deepcopy(hand))(**ids).logits, adapted, reduction) < 1 / MARGIN
        for layer in lora_layers(hand).values():
            layer.scaling *= 1.01                                          # alpha / r off by 1 %
        assert ratio(hand(**ids).logits, adapted, reduction) > BUG
        for layer in lora_layers(hand).values():
            layer.scaling = 16.0                                           # alpha, not alpha / r
        assert ratio(hand(**ids).logits, adapted, reduction) > BUG
