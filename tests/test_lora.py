"""utils.lora against PEFT: the hand-built LoRA must compute what PEFT computes, up to float32 rounding.

The same A and B are copied into a PEFT model (`copy_lora_to_peft`), then logits, merges and parameter counts
are compared on the bundled model, on random GPT-2 configs (Conv1D layers) and on a small Llama (nn.Linear).
The seeds' parameter arithmetic is recomputed from real model configs built on the meta device (no download).
"Up to rounding" is utils.numerics' tolerance, 4 * sqrt(K) * u * max|value| with K the terms summed along the
longest path (`forward_reduction` for whole models), so the checks hold on every CPU and still catch real bugs.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from utils.lora import (
    LoRALinear,
    add_lora,
    copy_lora_to_peft,
    count_parameters,
    find_targets,
    full_parameter_count,
    layer_shape,
    lora_layers,
    lora_parameter_count,
    matches_target,
    merge_lora,
    target_shapes,
)
from utils.models import load_model
from utils.numerics import assert_close, close, forward_reduction


def randomize_b(model: nn.Module, seed: int, std: float = 0.05) -> None:
    """B = 0 at init makes every comparison trivially equal; give B values so the update is visible."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=gen) * std)


def hand_and_peft(base: nn.Module, targets: list[str], r: int, alpha: float, seed: int = 0, rslora: bool = False):
    """(hand-built LoRA model, PEFT model) on two copies of `base`, with the same A and a random B."""
    torch.manual_seed(seed)
    hand = add_lora(copy.deepcopy(base), targets, r=r, alpha=alpha, rslora=rslora)
    randomize_b(hand, seed)
    peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(r=r, lora_alpha=alpha, target_modules=targets,
                                                                lora_dropout=0.0, use_rslora=rslora))
    assert copy_lora_to_peft(hand, peft_model) == len(find_targets(base, targets))
    return hand.eval(), peft_model.eval()


def random_gpt2(seed: int) -> GPT2LMHeadModel:
    gen = torch.Generator().manual_seed(seed)
    n_head = int(torch.randint(1, 5, (1,), generator=gen))
    head_dim = int(torch.randint(4, 17, (1,), generator=gen))
    n_layer = int(torch.randint(1, 4, (1,), generator=gen))
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=n_head * head_dim, n_layer=n_layer, n_head=n_head)
    return GPT2LMHeadModel(config).eval()


def tiny_llama(seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=101, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def course_model():
    model, tokenizer = load_model(device="cpu")
    return model, tokenizer


# ---------------------------------------------------------------- the layer itself

@pytest.mark.parametrize("kind", ["linear", "conv1d"])
def test_shapes_and_init(kind):
    torch.manual_seed(0)
    base = nn.Linear(40, 24) if kind == "linear" else Conv1D(24, 40)   # Conv1D(nf=out, nx=in)
    assert layer_shape(base) == (40, 24)
    layer = LoRALinear(base, r=6, alpha=12)
    assert layer.lora_A.shape == (6, 40) and layer.lora_B.shape == (24, 6)
    assert layer.scaling == 2.0
    assert torch.count_nonzero(layer.lora_B) == 0
    bound = 1 / math.sqrt(40)                       # kaiming_uniform(a=sqrt(5)) on fan_in = 40
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.std() > bound / 3
    assert layer.fan_in_fan_out == (kind == "conv1d")
    assert not any(p.requires_grad for p in base.parameters())
    x = torch.randn(3, 5, 40)
    assert torch.equal(layer(x), base(x))          # B = 0: exactly the base layer before training


@pytest.mark.parametrize("kind", ["linear", "conv1d"])
def test_layer_equals_peft_layer(kind):
    torch.manual_seed(1)
    base = nn.Sequential(nn.Linear(33, 17)) if kind == "linear" else nn.Sequential(Conv1D(17, 33))
    hand, peft_model = hand_and_peft(base, ["0"], r=3, alpha=7)
    x = torch.randn(4, 33)
    assert_close(hand(x), peft_model(x), reduction=33 + 3)
    layer = hand[0]
    expected = base[0](x) + (7 / 3) * x @ layer.lora_A.T @ layer.lora_B.T
    assert_close(hand(x), expected, reduction=33 + 3)


@pytest.mark.parametrize("kind", ["linear", "conv1d"])
def test_merge_unmerge_round_trip(kind):
    torch.manual_seed(2)
    base = nn.Linear(20, 30) if kind == "linear" else Conv1D(30, 20)
    original = base.weight.detach().clone()
    layer = LoRALinear(base, r=4, alpha=8)
    with torch.no_grad():
        layer.lora_B.normal_(std=0.1)
    x = torch.randn(6, 20)
    before = layer(x)
    layer.merge()
    assert layer.merged
    assert_close(layer(x), before, reduction=20 + 4)
    assert_close(base(x), before, reduction=20 + 4)     # the plain layer now carries the update
    expected = layer.delta_weight() if kind == "linear" else layer.delta_weight().T
    assert_close(base.weight, original + expected, reduction=4 + 1)   # W + (alpha/r) B @ A: r products, one sum
    layer.unmerge()
    assert not layer.merged
    assert_close(base.weight, original, reduction=2)    # W + delta - delta: two roundings
    assert_close(layer(x), before, reduction=20 + 4)


def test_square_conv1d_merge_needs_the_transpose():
    """The fan_in_fan_out trap: on a square Conv1D, merging B @ A untransposed raises nothing and is wrong."""
    torch.manual_seed(3)
    layer = LoRALinear(Conv1D(16, 16), r=2, alpha=2)
    with torch.no_grad():
        layer.lora_B.normal_(std=0.5)
    x = torch.randn(5, 16)
    wrong = copy.deepcopy(layer.base)
    with torch.no_grad():
        wrong.weight += layer.delta_weight()        # forgot .T
    assert not close(wrong(x), layer(x), reduction=16 + 2)
    unmerged = layer(x)
    layer.merge()
    assert_close(layer.base(x), unmerged, reduction=16 + 2)


def test_only_a_and_b_get_gradients():
    torch.manual_seed(4)
    layer = LoRALinear(nn.Linear(8, 8), r=2, alpha=4)
    layer(torch.randn(3, 8)).pow(2).sum().backward()
    assert layer.base.weight.grad is None
    assert layer.lora_B.grad.abs().sum() > 0
    assert torch.count_nonzero(layer.lora_A.grad) == 0   # B = 0 blocks A's gradient on the first step


def test_dropout_only_in_training():
    torch.manual_seed(5)
    layer = LoRALinear(nn.Linear(10, 10), r=2, alpha=2, dropout=0.5)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 10)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))


def test_clear_errors():
    with pytest.raises(TypeError, match="nn.Linear or transformers Conv1D"):
        LoRALinear(nn.Embedding(10, 4), r=2, alpha=2)
    with pytest.raises(ValueError, match="positive integer"):
        LoRALinear(nn.Linear(4, 4), r=0, alpha=2)
    with pytest.raises(ValueError, match=r"expected input \(\.\.\., 4\)"):
        LoRALinear(nn.Linear(4, 4), r=1, alpha=1)(torch.randn(2, 5))
    with pytest.raises(ValueError, match="no module"):
        add_lora(nn.Sequential(nn.Linear(4, 4)), ["q_proj"], r=1, alpha=1)


# ---------------------------------------------------------------- whole models vs PEFT

def test_target_matching_follows_peft():
    assert matches_target("transformer.h.0.attn.c_proj", "c_proj")
    assert matches_target("transformer.h.0.mlp.c_proj", "c_proj")
    assert matches_target("transformer.h.0.attn.c_proj", ["attn.c_proj"])
    assert not matches_target("transformer.h.0.mlp.c_proj", ["attn.c_proj"])
    assert not matches_target("transformer.h.0.attn.c_proj_x", ["c_proj"])


def test_bundled_model_equals_peft(course_model):
    model, tokenizer = course_model
    targets = ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]
    hand, peft_model = hand_and_peft(model, targets, r=8, alpha=16)
    ids = tokenizer(["Question: What is the capital of France?\nAnswer:", "Iron has the symbol"],
                    return_tensors="pt", padding=True)
    with torch.no_grad():
        hand_logits = hand(**ids).logits
        peft_logits = peft_model(**ids).logits
        base_logits = model(**ids).logits
    reduction = forward_reduction(model.config)
    assert_close(hand_logits, peft_logits, reduction, "hand-built vs PEFT logits")
    assert not close(hand_logits, base_logits, reduction)     # the update really changes the output
    assert count_parameters(hand)[0] == peft_model.get_nb_trainable_parameters()[0]

    merged_hand = merge_lora(copy.deepcopy(hand))
    merged_peft = peft_model.merge_and_unload()
    assert not lora_layers(merged_hand)
    with torch.no_grad():
        assert_close(merged_hand(**ids).logits, hand_logits, reduction, "utils.lora merged vs unmerged logits")
        assert_close(merged_peft(**ids).logits, hand_logits, reduction, "PEFT merged vs hand-built logits")


def test_fresh_lora_leaves_bundled_model_unchanged(course_model):
    model, tokenizer = course_model
    hand = add_lora(copy.deepcopy(model), ["c_attn", "c_proj", "c_fc"], r=4, alpha=8)
    ids = tokenizer("The capital of Peru is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(hand(ids).logits, model(ids).logits)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_gpt2_configs_equal_peft(seed):
    model = random_gpt2(seed)
    targets = [["c_attn"], ["attn.c_proj", "c_fc"], ["c_attn", "c_proj", "c_fc"]][seed]
    r = [1, 5, 16][seed]
    hand, peft_model = hand_and_peft(model, targets, r=r, alpha=2 * r + seed, seed=seed)
    ids = torch.randint(0, 97, (2, 11), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert_close(hand(ids).logits, peft_model(ids).logits, forward_reduction(model.config))
    assert count_parameters(hand) == peft_model.get_nb_trainable_parameters()
    assert count_parameters(hand)[0] == lora_parameter_count(target_shapes(model, targets), r)


@pytest.mark.parametrize("r", [1, 9, 64])
def test_rslora_scale_equals_peft_use_rslora(r):
    # Rank-stabilised LoRA (lesson 09): alpha / sqrt(r). copy_lora_to_peft refuses a scaling PEFT does not share.
    model = random_gpt2(1)
    hand, peft_model = hand_and_peft(model, ["c_attn", "c_fc"], r=r, alpha=16, seed=r, rslora=True)
    assert all(layer.scaling == pytest.approx(16 / r ** 0.5) for layer in lora_layers(hand).values())
    ids = torch.randint(0, 97, (2, 11), generator=torch.Generator().manual_seed(r))
    with torch.no_grad():
        assert_close(hand(ids).logits, peft_model(ids).logits, forward_reduction(model.config))
    if r > 1:
        plain = add_lora(copy.deepcopy(model), ["c_attn"], r=r, alpha=16)
        with pytest.raises(ValueError, match="scaling"):
            copy_lora_to_peft(plain, peft_model)


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj",
                                                            "gate_proj", "up_proj", "down_proj"]])
def test_linear_llama_equals_peft(targets):
    model = tiny_llama(7)
    hand, peft_model = hand_and_peft(model, targets, r=4, alpha=8, seed=7)
    ids = torch.randint(0, 101, (2, 9), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        hand_logits = hand(ids).logits
        assert_close(hand_logits, peft_model(ids).logits, forward_reduction(model.config))
        assert_close(merge_lora(hand)(ids).logits, hand_logits, forward_reduction(model.config))
    assert count_parameters(hand)[0] == 0          # merged: no LoRA left and the base stays frozen
    assert count_parameters(peft_model)[0] == lora_parameter_count(target_shapes(model, targets), r=4)


def test_one_training_step_equals_peft():
    """Same A, B and batch: one SGD step moves hand-built and PEFT adapters identically."""
    model = random_gpt2(3)
    hand, peft_model = hand_and_peft(model, ["c_attn", "c_proj"], r=4, alpha=8, seed=3)
    ids = torch.randint(0, 97, (2, 10), generator=torch.Generator().manual_seed(3))
    for m in (hand, peft_model):
        opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
        m(ids, labels=ids).loss.backward()
        opt.step()
    fresh = copy.deepcopy(peft_model)
    copy_lora_to_peft(hand, fresh)
    reduction = forward_reduction(model.config)      # the gradient flows back along the whole forward path
    for (name, p), q in zip(peft_model.named_parameters(), fresh.parameters(), strict=True):
        assert_close(p, q, reduction, name)


def test_saved_adapter_reloads(tmp_path, course_model):
    model, tokenizer = course_model
    hand, peft_model = hand_and_peft(model, ["c_attn"], r=4, alpha=8)
    peft_model.save_pretrained(tmp_path)
    reloaded = PeftModel.from_pretrained(copy.deepcopy(model), tmp_path).eval()
    ids = tokenizer("Gold has the symbol", return_tensors="pt").input_ids
    with torch.no_grad():
        assert_close(reloaded(ids).logits, hand(ids).logits, forward_reduction(model.config))


# ---------------------------------------------------------------- the seeds' arithmetic

def test_seed_001_arithmetic():
    assert lora_parameter_count([(1000, 1000)], r=16) == 32_000
    assert lora_parameter_count([(1000, 1000)], r=16) / full_parameter_count([(1000, 1000)]) == 0.032
    lora, full = lora_parameter_count([(4096, 4096)], r=16), full_parameter_count([(4096, 4096)])
    assert lora == 131_072 and round(100 * (1 - lora / full), 1) == 99.2


def test_gpt2_124m_r4_c_attn_is_147456():
    with torch.device("meta"):                     # the real architecture, no weights, no download
        model = GPT2LMHeadModel(GPT2Config())
    assert count_parameters(model)[1] == 124_439_808
    assert target_shapes(model, ["c_attn"]) == [(2304, 768)] * 12
    assert lora_parameter_count(target_shapes(model, ["c_attn"]), r=4) == 147_456
    add_lora(model, ["c_attn"], r=4, alpha=8)
    assert count_parameters(model)[0] == 147_456


def test_llama_3_2_3b_r16_q_v():
    """Seed 003 prints 8,388,608; Llama 3.2 3B's grouped-query v_proj is 3072 -> 1024, which gives 4,587,520."""
    hidden, layers, heads, kv_heads, head_dim = 3072, 28, 24, 8, 128
    q_proj, v_proj = (heads * head_dim, hidden), (kv_heads * head_dim, hidden)
    assert q_proj == (3072, 3072) and v_proj == (1024, 3072)
    by_hand = layers * lora_parameter_count([q_proj, v_proj], r=16)
    assert by_hand == 28 * (16 * (3072 + 3072) + 16 * (3072 + 1024)) == 4_587_520
    assert by_hand != 8_388_608
    # 8,388,608 is what r = 16 on q_proj, v_proj gives for a 32-layer 4096-wide model without GQA (Llama 2 7B)
    assert 32 * lora_parameter_count([(4096, 4096), (4096, 4096)], r=16) == 8_388_608

    config = LlamaConfig(hidden_size=hidden, intermediate_size=8192, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
                         vocab_size=128256, tie_word_embeddings=True)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    assert count_parameters(model)[1] == 3_212_749_824
    assert lora_parameter_count(target_shapes(model, ["q_proj", "v_proj"]), r=16) == by_hand
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
    assert peft_model.get_nb_trainable_parameters()[0] == by_hand
