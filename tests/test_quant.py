"""utils.quant against bitsandbytes: NF4 codes, block scales and dequantized values bit for bit; QLoRA trains on CPU."""

from __future__ import annotations

import sys

import pytest
import torch

bnb_functional = pytest.importorskip("bitsandbytes.functional")

from utils.quant import (  # noqa: E402
    BITSANDBYTES_QUANTIZERS,
    absmax_dequantize,
    absmax_dequantize_blockwise,
    absmax_quantize,
    absmax_quantize_blockwise,
    bits_per_param,
    dequantize_blockwise_codebook,
    dequantize_nf4,
    double_dequantize,
    double_quantize,
    fp4_codebook,
    int4_codebook,
    nf4_codebook,
    pack_4bit,
    quantize_blockwise_codebook,
    quantize_nf4,
    scale_bits_per_param,
    unpack_4bit,
)

SHAPES = [(64,), (3, 64), (128, 96), (256, 768), (1000, 128), (7, 9, 64)]


def _weights(shape, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g) * 0.02
    w.view(-1)[torch.randint(0, w.numel(), (3,), generator=g)] *= 40  # a few outliers, as in real weights
    return w


def test_nf4_codebook_equals_bitsandbytes():
    ours = nf4_codebook()
    theirs = bnb_functional.get_4bit_type("nf4", device="cpu")
    assert ours.dtype == torch.float32 and ours.shape == (16,)
    assert torch.equal(ours, theirs)
    assert torch.all(ours[1:] > ours[:-1]) and ours[0] == -1 and ours[-1] == 1 and ours[7] == 0


@pytest.mark.parametrize("offset", [0.9, 0.95, 0.9677083, 0.99, 0.995])
def test_nf4_codebook_of_any_offset_equals_bitsandbytes_create_normal_map(offset, monkeypatch):
    """Lab 11 asks for the codebook of any offset (a copied table cannot answer): bitsandbytes builds it in
    create_normal_map, which asks scipy for the normal quantiles; scipy is not a course dependency, so its norm.ppf
    is supplied by torch.special.ndtri in float64. Both round float64 quantiles to float32, then divide by the
    largest: they may part by one float32 step in each, at most 2 * 2**-23 on levels within [-1, 1]."""
    import types

    stats = types.ModuleType("scipy.stats")
    stats.norm = types.SimpleNamespace(ppf=lambda p: torch.special.ndtri(torch.as_tensor(p, dtype=torch.float64)))
    monkeypatch.setitem(sys.modules, "scipy", types.ModuleType("scipy"))
    monkeypatch.setitem(sys.modules, "scipy.stats", stats)
    table = bnb_functional.create_normal_map(offset, use_extra_value=True)  # 256: 7 negative, zeros, 8 positive
    theirs = torch.cat([table[:7], torch.zeros(1), table[-8:]])
    torch.testing.assert_close(nf4_codebook(offset), theirs, rtol=0.0, atol=2 * 2**-23)
    assert int((table == 0).sum()) == 256 - 15


@pytest.mark.parametrize("offset", [0.5, 1.0, 1.2, -0.9])
def test_nf4_codebook_refuses_an_offset_that_is_not_a_probability_above_one_half(offset):
    with pytest.raises(ValueError, match="offset"):
        nf4_codebook(offset)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_nf4_codes_bit_identical_to_bitsandbytes(shape, seed):
    w = _weights(shape, seed)
    codes, absmax = quantize_nf4(w, blocksize=64)
    packed, state = bnb_functional.quantize_4bit(w, blocksize=64, quant_type="nf4")
    assert codes.dtype == torch.uint8 and codes.shape == (w.numel(),) and int(codes.max()) <= 15
    assert torch.equal(codes, unpack_4bit(packed))  # bitsandbytes: first code in the high nibble
    assert torch.equal(pack_4bit(codes), packed.reshape(-1))
    assert absmax.dtype == torch.float32 and torch.equal(absmax, state.absmax)


@pytest.mark.parametrize("shape", [(64,), (3, 64), (256, 768), (1000, 128), (7, 9, 64)])
def test_nf4_dequantize_equals_bitsandbytes(shape):
    # bitsandbytes' CPU dequantize kernel assumes shape[-1] is a multiple of the block size (it gives wrong
    # values for e.g. (128, 96)), so the comparison uses such shapes; quantize agrees for every shape above.
    w = _weights(shape, 2)
    codes, absmax = quantize_nf4(w)
    packed, state = bnb_functional.quantize_4bit(w, blocksize=64, quant_type="nf4")
    ours = dequantize_nf4(codes, absmax, w.shape)
    theirs = bnb_functional.dequantize_4bit(packed, state).reshape(w.shape)
    assert ours.shape == w.shape and torch.equal(ours, theirs)


@pytest.mark.parametrize("blocksize", [64, 128, 256])
def test_other_block_sizes_match_bitsandbytes(blocksize):
    w = _weights((64, 256), 3)
    codes, absmax = quantize_nf4(w, blocksize=blocksize)
    packed, state = bnb_functional.quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
    assert torch.equal(codes, unpack_4bit(packed)) and torch.equal(absmax, state.absmax)


def test_nf4_error_bound_and_zero_block():
    w = _weights((32, 64), 4)
    w[0] = 0  # an all-zero block stays exactly zero
    codes, absmax = quantize_nf4(w)
    back = dequantize_nf4(codes, absmax, w.shape)
    gaps = (nf4_codebook()[1:] - nf4_codebook()[:-1]).max()
    per_element_bound = absmax.repeat_interleave(64).reshape(w.shape) * gaps / 2
    assert torch.all((back - w).abs() <= per_element_bound + 1e-7)
    assert torch.equal(back[0], torch.zeros(64))


def test_sizes_not_a_multiple_of_the_block_are_refused():
    with pytest.raises(ValueError, match="multiple of blocksize"):
        quantize_nf4(torch.randn(100))
    with pytest.raises(ValueError, match="multiple of blocksize"):
        absmax_quantize_blockwise(torch.randn(3, 10), blocksize=64)
    codes, absmax = quantize_nf4(torch.randn(128))
    with pytest.raises(ValueError):
        dequantize_nf4(codes, absmax, (3, 64))


@pytest.mark.parametrize("bits", [8, 4])
def test_absmax_round_trip_error_is_at_most_half_a_step(bits):
    x = torch.randn(50, 33, generator=torch.Generator().manual_seed(bits)) * 3
    q, scale = absmax_quantize(x, bits=bits)
    qmax = 2 ** (bits - 1) - 1
    assert q.dtype == torch.int8 and int(q.abs().max()) == qmax
    assert torch.isclose(scale, x.abs().max() / qmax)
    err = (absmax_dequantize(q, scale) - x).abs().max()
    assert err <= scale / 2 + 1e-6
    assert torch.equal(q, torch.round(x / scale).to(torch.int8))  # nearest, not toward zero


def test_absmax_handles_all_zeros():
    q, scale = absmax_quantize(torch.zeros(5))
    assert torch.equal(absmax_dequantize(q, scale), torch.zeros(5))


def test_blockwise_beats_per_tensor_with_an_outlier():
    x = torch.randn(64 * 32, generator=torch.Generator().manual_seed(5))
    x[10] = 100.0
    q, s = absmax_quantize(x, bits=4)
    per_tensor = (absmax_dequantize(q, s) - x).abs().mean()
    qb, sb = absmax_quantize_blockwise(x, bits=4, blocksize=64)
    blockwise = (absmax_dequantize_blockwise(qb, sb, x.shape) - x).abs().mean()
    assert blockwise < per_tensor / 5


def test_nf4_has_lowest_error_on_normal_weights():
    w = torch.randn(256 * 256, generator=torch.Generator().manual_seed(6))
    errors = {}
    for name, book in {"nf4": nf4_codebook(), "fp4": fp4_codebook(), "int4": int4_codebook()}.items():
        codes, absmax = quantize_blockwise_codebook(w, book, 64)
        errors[name] = (dequantize_blockwise_codebook(codes, absmax, book, w.shape, 64) - w).abs().mean()
    assert errors["nf4"] < errors["int4"] and errors["nf4"] < errors["fp4"]


def test_double_quantization_is_close_and_saves_the_paper_bits():
    _, absmax = quantize_nf4(_weights((256, 1024), 7))
    q, scales, offset = double_quantize(absmax, blocksize=256)
    assert q.dtype == torch.int8 and scales.shape == (absmax.numel() // 256,)
    back = double_dequantize(q, scales, offset)
    assert (back - absmax).abs().max() <= scales.max() / 2 + 1e-7
    assert scale_bits_per_param(64) == 0.5
    assert scale_bits_per_param(64, double_quant=True) == pytest.approx(8 / 64 + 32 / (64 * 256))
    assert round(scale_bits_per_param(64, double_quant=True), 3) == 0.127
    assert bits_per_param(4, 64, double_quant=True) == pytest.approx(4.127, abs=1e-3)


def test_bitsandbytes_double_quant_stores_8_bit_scales():
    w = _weights((256, 1024), 8)
    _, state = bnb_functional.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    assert state.nested and state.absmax.dtype == torch.uint8
    assert state.state2.blocksize == 256 and state.state2.absmax.numel() == state.absmax.numel() // 256


@pytest.mark.slow
def test_qlora_trains_on_cpu():
    """4-bit NF4 + double quant bundled model, prepare_model_for_kbit_training, LoRA: a few steps lower the loss."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    from utils.models import load_model

    torch.manual_seed(0)
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32)
    model, tokenizer = load_model(quantization_config=config, device_map="cpu")
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"],
                                             lora_dropout=0.0, task_type="CAUSAL_LM"))
    batch = tokenizer(["Question: What is the capital of France?\nAnswer: Paris",
                       "Question: What is the currency of Japan?\nAnswer: Japanese yen"],
                      return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    losses = []
    for _ in range(8):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.8, losses


def test_every_bitsandbytes_quantizer_lab11_forbids_exists_and_raises_in_the_rule():
    """Lab 11's hidden tests forbid BITSANDBYTES_QUANTIZERS: each name is a real function or kernel of the installed
    bitsandbytes (a renamed one would leave its rule forbidding nothing), and calling it inside the rule raises."""
    from utils.rules import ForbiddenCall, forbidden

    w = torch.randn(64, 64)
    with forbidden(*BITSANDBYTES_QUANTIZERS):
        for call in (lambda: bnb_functional.quantize_4bit(w, quant_type="nf4"),
                     lambda: bnb_functional.quantize_blockwise(w),
                     lambda: torch.ops.bitsandbytes.quantize_blockwise(w, bnb_functional.create_dynamic_map(), 64),
                     lambda: bnb_functional.create_normal_map()):
            with pytest.raises(ForbiddenCall):
                call()
    assert bnb_functional.quantize_blockwise(w)[0].dtype == torch.uint8  # and works again after the block
