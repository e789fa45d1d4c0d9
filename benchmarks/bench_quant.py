"""Figure 5: quantization — the course's NF4 against bitsandbytes, error per 4-bit format, memory and speed of QLoRA.

    NF4 code agreement with bitsandbytes.functional.quantize_4bit (≥ 1M weights)     target 100 %
    mean absolute error of NF4 / INT4 (absmax) / FP4 on normal weights, blocksize 64  NF4 lowest
    4-bit ÷ fp32 memory footprint of the GPT-2-124M architecture                       target ≤ 0.35
    QLoRA / LoRA training-step time on the CPU                                        reported, no target

The NF4, INT4 and FP4 quantizers are utils.quant's (lesson 11); 4-bit models are loaded the way lesson 12 does it,
`from_pretrained(..., quantization_config=BitsAndBytesConfig(...), device_map="cpu")`. Quantization runs on the CPU
(the course's bitsandbytes path); every row here says "cpu".
"""

from __future__ import annotations

import copy
import tempfile

from _common import adamw_step, alternate, cli, median, ratio_of_medians, row

FIGURE = "5 quantization"
BLOCK = 64


def agreement(numel: int) -> tuple[float, bool, int]:
    """Share of NF4 codes equal to bitsandbytes' on N(0, 1) weights, whether every block scale is equal, count."""
    import bitsandbytes.functional as bnbf
    import torch

    from utils.quant import quantize_nf4, unpack_4bit

    g = torch.Generator().manual_seed(0)
    w = torch.randn(numel // 1024, 1024, generator=g)
    w[0, :8] = torch.tensor([0.0, -0.0, 1e-9, -1e-9, 3.0, -3.0, 1e3, -1e3])  # ties, zeros and outliers too
    packed, state = bnbf.quantize_4bit(w, blocksize=BLOCK, quant_type="nf4")
    codes, absmax = quantize_nf4(w, blocksize=BLOCK)
    agree = (unpack_4bit(packed)[: codes.numel()] == codes).float().mean().item()
    return agree, bool(torch.equal(absmax, state.absmax)), w.numel()


def mae_by_format(numel: int) -> dict[str, float]:
    """Mean |w - dequant(quant(w))| of blockwise NF4, INT4 and FP4 on N(0, 0.02²) weights (GPT-2's init scale)."""
    import torch

    from utils.quant import (
        dequantize_blockwise_codebook,
        fp4_codebook,
        int4_codebook,
        nf4_codebook,
        quantize_blockwise_codebook,
    )

    w = torch.randn(numel, generator=torch.Generator().manual_seed(1)) * 0.02
    out = {}
    for name, book in (("NF4", nf4_codebook()), ("INT4", int4_codebook()), ("FP4", fp4_codebook())):
        codes, absmax = quantize_blockwise_codebook(w, book, BLOCK)
        out[name] = (w - dequantize_blockwise_codebook(codes, absmax, book, w.shape, BLOCK)).abs().mean().item()
    return out


def footprints(quick: bool) -> dict[str, float]:
    """get_memory_footprint() of GPT-2 (random init, saved once to a temp dir) in fp32 and loaded in 4-bit NF4."""
    import torch
    from transformers import BitsAndBytesConfig, GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=2000) if quick else GPT2Config()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    out = {"fp32": model.get_memory_footprint(), "params": sum(p.numel() for p in model.parameters()),
           "embedding_params": model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()}
    with tempfile.TemporaryDirectory(prefix="bench-gpt2-") as tmp:
        model.save_pretrained(tmp)
        del model
        for label, dtype in (("nf4_fp32_rest", torch.float32), ("nf4_bf16_rest", torch.bfloat16)):
            qconfig = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                         bnb_4bit_compute_dtype=dtype)
            q = GPT2LMHeadModel.from_pretrained(tmp, quantization_config=qconfig, device_map="cpu", dtype=dtype)
            out[label] = q.get_memory_footprint()
            if label == "nf4_fp32_rest":
                import bitsandbytes as bnb

                out["quantized_layers"] = sum(isinstance(m, bnb.nn.Linear4bit) for m in q.modules())
            del q
    return out


def qlora_vs_lora(quick: bool) -> dict:
    """Median AdamW step time of PEFT LoRA on the bundled model in 4-bit NF4 vs in fp32, same batch, alternated."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    from utils.data import load_qa
    from utils.models import load_model
    from utils.qa import qa_dataloader

    batch_size, reps = (4, 2) if quick else (16, 10)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"], lora_dropout=0.0,
                        fan_in_fan_out=True)
    torch.manual_seed(0)
    fp32, tokenizer = load_model(device="cpu")
    lora = get_peft_model(fp32, copy.deepcopy(config))
    qconfig = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.float32)
    q, _ = load_model(quantization_config=qconfig, device_map="cpu", dtype=torch.float32)
    q = prepare_model_for_kbit_training(q, use_gradient_checkpointing=False)
    qlora = get_peft_model(q, copy.deepcopy(config))
    batch = next(iter(qa_dataloader(tokenizer, load_qa()["train"], batch_size=batch_size, shuffle=False,
                                    max_examples=batch_size)))

    times = alternate({"qlora": adamw_step(qlora, batch), "lora": adamw_step(lora, batch)}, reps=reps, warmup=1)
    return {"ratio": ratio_of_medians(times, "qlora", "lora"), "qlora_ms": median(times["qlora"]) * 1e3,
            "lora_ms": median(times["lora"]) * 1e3, "reps": reps, "shape": tuple(batch["input_ids"].shape)}


def main(quick: bool) -> list[dict]:
    n_agree = 2**16 if quick else 2**22
    agree, absmax_equal, counted = agreement(n_agree)
    maes = mae_by_format(2**14 if quick else 2**22)
    fp = footprints(quick)
    speed = qlora_vs_lora(quick)
    arch = "GPT2Config(n_layer=2, n_embd=128)" if quick else "GPT2Config() (GPT-2-124M)"
    emb_share = fp["embedding_params"] / fp["params"]
    mae_note = f"blockwise absmax, blocksize {BLOCK}, {2**14 if quick else 2**22:,} weights ~ N(0, 0.02²)"
    best_other = min(maes["INT4"], maes["FP4"])
    return [
        row(FIGURE, "NF4 codes equal to bitsandbytes", agree * 100, "%", ("==", 100.0), "cpu",
            f"{counted:,} N(0,1) weights (with zeros, ±1e-9 and ±1e3 outliers), blocksize {BLOCK}: "
            f"utils.quant.quantize_nf4 vs bitsandbytes.functional.quantize_4bit, unpacked; block scales "
            f"{'identical' if absmax_equal else 'DIFFERENT'}"),
        row(FIGURE, "MAE NF4", maes["NF4"], "", None, "cpu", mae_note),
        row(FIGURE, "MAE INT4 (absmax)", maes["INT4"], "", None, "cpu", mae_note),
        row(FIGURE, "MAE FP4 (E2M1)", maes["FP4"], "", None, "cpu", mae_note),
        row(FIGURE, "MAE NF4 / best of INT4, FP4", maes["NF4"] / best_other, "×", ("<=", 1.0), "cpu",
            "below 1 = NF4 has the lowest error on normal weights"),
        row(FIGURE, "4-bit ÷ fp32 footprint, fp32 non-quantized layers", fp["nf4_fp32_rest"] / fp["fp32"], "×",
            ("<=", 0.35), "cpu",
            f"{arch}, NF4 + double quant, get_memory_footprint(): {fp['fp32'] / 1e6:.0f} MB → "
            f"{fp['nf4_fp32_rest'] / 1e6:.0f} MB; {fp['quantized_layers']} Conv1D layers become Linear4bit, but "
            f"wte + wpe ({emb_share:.0%} of the parameters) and the tied head stay fp32 (bitsandbytes does not "
            f"quantize embeddings): that floor limits the ratio (the CPU setting of lesson 12)"),
        row(FIGURE, "4-bit ÷ fp32 footprint, bf16 non-quantized layers", fp["nf4_bf16_rest"] / fp["fp32"], "×",
            ("<=", 0.35), "cpu",
            f"same, with dtype=bfloat16 for embeddings, layer norms and biases: {fp['nf4_bf16_rest'] / 1e6:.0f} MB "
            f"(the usual QLoRA setting on a GPU)"),
        row(FIGURE, "QLoRA / LoRA train-step time on CPU", speed["ratio"], "×", None, "cpu",
            f"bundled model, PEFT LoRA r=8 on every block layer, batch {speed['shape']}, medians of {speed['reps']} "
            f"alternated AdamW steps: QLoRA {speed['qlora_ms']:.0f} ms, LoRA {speed['lora_ms']:.0f} ms on this "
            f"machine (no gradient checkpointing in either). No target: 4-bit saves memory, not time; each "
            f"forward and backward dequantizes the weights first"),
    ]


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
