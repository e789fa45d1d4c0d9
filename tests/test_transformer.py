"""utils.transformer against Hugging Face's GPT2Block, torch's activations and a real GPT2LMHeadModel."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.models.gpt2.modeling_gpt2 import GPT2Block

from utils.numerics import assert_close, block_reduction, forward_reduction
from utils.training import next_token_loss
from utils.transformer import GPT2BlockByHand, GPTByHand, gelu, layer_norm, parameter_census, silu


def test_gelu_is_gpt2_tanh_approximation():
    x = torch.linspace(-6, 6, 101)
    assert_close(gelu(x), F.gelu(x, approximate="tanh"), reduction=8)   # eight chained elementwise roundings


def test_silu_matches_torch_and_seed_values():
    x = torch.linspace(-6, 6, 101)
    assert_close(silu(x), F.silu(x), reduction=4)
    values = silu(torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))
    torch.testing.assert_close(values, torch.tensor([-0.2384, -0.2689, 0.0, 0.7311, 1.7616]), atol=1e-4, rtol=0)


def test_layer_norm_matches_torch():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(2, 5, 7, generator=g), torch.randn(7, generator=g), torch.randn(7, generator=g)
    assert_close(layer_norm(x, w, b), F.layer_norm(x, (7,), w, b, eps=1e-5), reduction=2 * 7)  # mean, variance


@pytest.mark.parametrize("d_model, n_heads, n_inner, seq", [(24, 4, None, 9), (30, 5, 17, 1), (16, 2, 40, 13)])
def test_block_matches_hf_gpt2_block(d_model, n_heads, n_inner, seq):
    torch.manual_seed(d_model)
    config = GPT2Config(n_embd=d_model, n_head=n_heads, n_inner=n_inner, n_layer=1, n_positions=32,
                        resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    config._attn_implementation = "sdpa"
    hf = GPT2Block(config, layer_idx=0).eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters, so a swapped ln_1 / ln_2 would show
        for p in (hf.ln_1.weight, hf.ln_1.bias, hf.ln_2.weight, hf.ln_2.bias):
            p.add_(0.3 * torch.randn_like(p))
    mine = GPT2BlockByHand.from_hf(hf)
    x = torch.randn(2, seq, d_model)
    assert_close(mine(x), hf(x), reduction=block_reduction(config))


def _small_gpt(seed: int, **config) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(**{"n_embd": 32, "n_head": 4, "n_layer": 3, "n_positions": 16, "vocab_size": 50,
                           "resid_pdrop": 0.0, "attn_pdrop": 0.0, "embd_pdrop": 0.0, **config})
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # non-trivial LayerNorms and position embeddings, so a skipped one would show
        for name, p in model.named_parameters():
            if "ln_" in name or "wpe" in name:
                p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("seed, config, seq", [(0, {}, 16), (1, {"n_inner": 20, "n_layer": 1}, 1),
                                               (2, {"n_embd": 24, "n_head": 3, "vocab_size": 7}, 5)])
def test_gpt_by_hand_has_gpt2s_logits_and_parameters(seed, config, seq):
    model = _small_gpt(seed, **config)
    mine = GPTByHand.from_hf(model).eval()
    ids = torch.randint(model.config.vocab_size, (3, seq))
    assert_close(mine(ids), model(ids).logits, reduction=forward_reduction(model.config))
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="positions"):
        mine(torch.zeros(1, model.config.n_positions + 1, dtype=torch.long))


def test_gpt_by_hand_trains_like_gpt2():
    """Three AdamW steps on the same batches: the same losses and the same weights as GPT2LMHeadModel."""
    model = _small_gpt(3)
    mine = GPTByHand.from_hf(model)
    batches = torch.randint(50, (3, 4, 12), generator=torch.Generator().manual_seed(0))
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in (model, mine)]
    for batch in batches:
        losses = []
        for m, optimizer in zip((model, mine), optimizers, strict=True):
            m.train()
            optimizer.zero_grad()
            out = m(batch)
            loss = next_token_loss(out.logits if hasattr(out, "logits") else out, batch)
            loss.backward()
            optimizer.step()
            losses.append(loss)
        assert_close(losses[1], losses[0], reduction=forward_reduction(model.config), what="the loss")
    # Adam's step is about lr in size whatever the gradient: weights agree to a few lr-sized steps' rounding
    assert_close(mine.blocks[1].mlp.fc.weight, model.transformer.h[1].mlp.c_fc.weight.T,
                 reduction=forward_reduction(model.config), scale=1.0)


def test_gpt_by_hand_dropout_acts_in_train_mode_only():
    model = _small_gpt(4)
    mine = GPTByHand.from_hf(model, dropout=0.5)
    ids = torch.randint(50, (2, 10))
    mine.train()
    assert not torch.equal(mine(ids), mine(ids)), "train mode: a new dropout mask on every call"
    mine.eval()
    assert torch.equal(mine(ids), mine(ids))
    assert_close(mine(ids), model(ids).logits, reduction=forward_reduction(model.config))


def test_gpt_by_hand_refuses_an_untied_output_layer():
    model = _small_gpt(5, tie_word_embeddings=False)
    with pytest.raises(ValueError, match="ties"):
        GPTByHand.from_hf(model)


def test_block_reproduces_every_layer_of_a_model():
    """Each hand block maps hidden state i to hidden state i + 1 of a GPT2LMHeadModel (the last one before ln_f)."""
    torch.manual_seed(1)
    config = GPT2Config(n_embd=32, n_head=4, n_layer=2, n_positions=16, vocab_size=50)
    model = GPT2LMHeadModel(config).eval()
    ids = torch.randint(50, (2, 11))
    hidden = model(ids, output_hidden_states=True).hidden_states
    for i, block in enumerate(model.transformer.h):
        assert_close(GPT2BlockByHand.from_hf(block)(hidden[i]),
                     hidden[i + 1] if i + 1 < len(model.transformer.h) else block(hidden[i]),
                     reduction=block_reduction(config), what=f"block {i}")


def test_census_of_gpt2_small():
    census = parameter_census(GPT2Config())
    assert census["total"] == 124_439_808
    assert census["embeddings"] == 50257 * 768 + 1024 * 768
    assert census["lm_head"] == 0


@pytest.mark.parametrize("kwargs", [dict(n_embd=32, n_head=4, n_layer=3, vocab_size=101, n_positions=20),
                                    dict(n_embd=24, n_head=2, n_layer=1, vocab_size=7, n_positions=5, n_inner=10),
                                    dict(n_embd=16, n_head=2, n_layer=2, vocab_size=30, n_positions=8,
                                         tie_word_embeddings=False)])
def test_census_equals_model_numel(kwargs):
    config = GPT2Config(**kwargs)
    model = GPT2LMHeadModel(config)
    census = parameter_census(config)
    assert census["total"] == sum(p.numel() for p in model.parameters())
    by_name = {"attention": ".attn.", "mlp": ".mlp.", "layernorm": "ln_"}
    for component, key in by_name.items():
        assert census[component] == sum(p.numel() for n, p in model.named_parameters() if key in n)


def test_census_equals_gpt2_small_numel():
    """Built on the meta device: no weights allocated, nothing downloaded."""
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config())
    assert sum(p.numel() for p in model.parameters()) == 124_439_808 == parameter_census(GPT2Config())["total"]
    assert math.isclose(parameter_census(GPT2Config())["total"] / 1e6, 124.44, abs_tol=0.01)
