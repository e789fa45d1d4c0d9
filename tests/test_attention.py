"""utils.attention against torch's scaled_dot_product_attention and nn.MultiheadAttention."""

import pytest
import torch
import torch.nn.functional as F

from utils.attention import (
    MultiHeadAttention,
    attention_weights,
    causal_mask,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from utils.numerics import assert_close

SHAPES = [((), 1, 1, 1, 1), ((3,), 5, 5, 8, 8), ((2, 3), 7, 7, 4, 6), ((2,), 3, 9, 5, 2), ((1, 2, 2), 6, 4, 3, 7)]


@pytest.mark.parametrize("batch, seq_q, seq_k, d_k, d_v", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_matches_torch(batch, seq_q, seq_k, d_k, d_v, causal):
    g = torch.Generator().manual_seed(seq_q * 31 + seq_k)
    q = torch.randn(*batch, seq_q, d_k, generator=g)
    k = torch.randn(*batch, seq_k, d_k, generator=g)
    v = torch.randn(*batch, seq_k, d_v, generator=g)
    ours = scaled_dot_product_attention(q, k, v, causal=causal)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert ours.shape == (*batch, seq_q, d_v)
    assert_close(ours, ref, reduction=d_k + 2 * seq_k)    # scores, the softmax's sum, the weighted sum of values


@pytest.mark.parametrize("as_bool", [True, False])
def test_sdpa_with_mask_matches_torch(as_bool):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    keep = torch.rand(2, 1, 5, 5, generator=g) > 0.4
    keep[..., 0] = True  # every query keeps at least one key
    mask = keep if as_bool else torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))
    ours = scaled_dot_product_attention(q, k, v, mask=mask)
    assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), reduction=4 + 2 * 5)


def test_causal_mask_is_top_left_aligned():
    assert causal_mask(2, 4).tolist() == [[True, False, False, False], [True, True, False, False]]
    assert causal_mask(3, 3).sum() == 6


def test_weights_are_distributions_and_scaled():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(4, 16, generator=g), torch.randn(6, 16, generator=g)
    w = attention_weights(q, k)
    assert_close(w.sum(-1), torch.ones(4), reduction=16 + 2 * 6)
    assert_close(w, torch.softmax(q @ k.T / 4.0, dim=-1), reduction=16 + 6)


def test_shape_errors():
    with pytest.raises(ValueError, match="d_k"):
        scaled_dot_product_attention(torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 5))
    with pytest.raises(ValueError, match="keys"):
        scaled_dot_product_attention(torch.randn(3, 4), torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="divisible"):
        split_heads(torch.randn(2, 3, 10), 4)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)


def test_split_merge_roundtrip():
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads[:, 1], x[..., 4:8])          # pure data movement: bit for bit
    assert torch.equal(merge_heads(heads), x)


@pytest.mark.parametrize("causal", [False, True])
def test_multihead_matches_torch_module(causal):
    torch.manual_seed(3)
    d_model, n_heads, seq = 12, 3, 7
    ours = MultiHeadAttention(d_model, n_heads, causal=causal)
    ref = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    x = torch.randn(2, seq, d_model)
    blocked = ~causal_mask(seq, seq) if causal else None  # torch: True = NOT allowed
    expected, _ = ref(x, x, x, attn_mask=blocked, need_weights=False)
    assert_close(ours(x), expected, reduction=d_model + d_model // n_heads + 2 * seq + d_model)  # in, attend, out


def test_multihead_matches_hf_gpt2_attention():
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Attention

    torch.manual_seed(4)
    config = GPT2Config(n_embd=24, n_head=4, n_layer=1, n_positions=16, attn_pdrop=0.0, resid_pdrop=0.0)
    config._attn_implementation = "sdpa"
    hf = GPT2Attention(config, layer_idx=0).eval()
    ours = MultiHeadAttention(24, 4, causal=True)
    with torch.no_grad():
        for proj, w, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), hf.c_attn.weight.split(24, dim=1),
                              hf.c_attn.bias.split(24), strict=True):
            proj.weight.copy_(w.T)
            proj.bias.copy_(b)
        ours.out_proj.weight.copy_(hf.c_proj.weight.T)
        ours.out_proj.bias.copy_(hf.c_proj.bias)
    x = torch.randn(3, 9, 24)
    assert_close(ours(x), hf(x)[0], reduction=24 + 24 // 4 + 2 * 9 + 24)
