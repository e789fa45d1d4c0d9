"""Figure 4: LoRA against a full fine-tune on the GPT-2-124M architecture (random init from GPT2Config(), no download).

    peak memory of one training step, LoRA / full     target ≤ 0.6
    training-step time, LoRA / full                    target ≤ 0.9

Memory on the CPU comes from `utils.memory.measure_training_step` (a fresh process per method, the kernel's peak-RSS
counter; what lesson 10 shows); on a GPU from `torch.cuda.max_memory_allocated` in this process. Step time: both
models in one process, the same batch, alternated AdamW steps. LoRA: r = 8, alpha = 16 on c_attn (lesson 10's setup).
"""

from __future__ import annotations

from _common import adamw_step, alternate, cli, device_label, median, pick_device, ratio_of_medians, row

FIGURE = "4 LoRA vs full fine-tune (GPT-2-124M)"
R, ALPHA, TARGETS = 8, 16, ["c_attn"]


def _config(quick: bool):
    from transformers import GPT2Config

    return GPT2Config(n_layer=2) if quick else GPT2Config()


def _models(quick: bool, device):
    import copy

    import torch
    from transformers import GPT2LMHeadModel

    from utils.lora import add_lora

    torch.manual_seed(0)
    full = GPT2LMHeadModel(_config(quick))
    lora = add_lora(copy.deepcopy(full), TARGETS, r=R, alpha=ALPHA)
    return full.to(device), lora.to(device)


def _gpu_peak(quick: bool, device, batch: int, seq: int) -> dict[str, int]:
    """Peak CUDA memory of one step per method, each model built alone (the other freed first)."""
    import gc

    import torch
    from transformers import GPT2LMHeadModel

    from utils.lora import add_lora

    peaks = {}
    for method in ("full", "lora"):
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        torch.manual_seed(0)
        model = GPT2LMHeadModel(_config(quick))
        if method == "lora":
            model = add_lora(model, TARGETS, r=R, alpha=ALPHA)
        model.to(device)
        ids = torch.randint(0, model.config.vocab_size, (batch, seq), device=device)
        adamw_step(model, {"input_ids": ids, "labels": ids})()
        torch.cuda.synchronize()
        peaks[method] = torch.cuda.max_memory_allocated(device) - before
        del model, ids
    return peaks


def main(quick: bool) -> list[dict]:
    import torch

    from utils.memory import measure_training_step

    batch, seq, reps = (1, 32, 2) if quick else (2, 128, 4)
    device = pick_device()
    dev = device_label(device)

    if device.type == "cuda":
        peaks = _gpu_peak(quick, device, batch, seq)
        how = "torch.cuda.max_memory_allocated, model + optimizer + one step"
    else:
        n_layer = 2 if quick else 0
        measured = {m: measure_training_step(m, batch_size=batch, seq_len=seq, n_layer=n_layer, r=R)
                    for m in ("full", "lora")}
        peaks = {m: measured[m]["model_bytes"] for m in measured}
        how = "peak RSS minus the interpreter's baseline, fresh process each (utils.memory.measure_training_step)"
    mem_ratio = peaks["lora"] / peaks["full"]

    full, lora = _models(quick, device)
    ids = torch.randint(0, full.config.vocab_size, (batch, seq), device=device)
    times = alternate({"full": adamw_step(full, {"input_ids": ids, "labels": ids}),
                       "lora": adamw_step(lora, {"input_ids": ids, "labels": ids})}, reps=reps, warmup=1, device=device)
    time_ratio = ratio_of_medians(times, "lora", "full")
    trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    total = sum(p.numel() for p in full.parameters())
    arch = f"GPT2Config({'n_layer=2' if quick else ''}) {total / 1e6:.1f}M params, batch {batch}×{seq}"
    return [
        row(FIGURE, "peak training memory LoRA / full", mem_ratio, "×", ("<=", 0.6), dev,
            f"{arch}; LoRA r={R} on c_attn ({trainable:,} trainable); full {peaks['full'] / 1e9:.2f} GB, "
            f"LoRA {peaks['lora'] / 1e9:.2f} GB; {how}"),
        row(FIGURE, "train-step time LoRA / full", time_ratio, "×", ("<=", 0.9), dev,
            f"{arch}; medians of {reps} alternated AdamW steps: full {median(times['full']):.2f} s, "
            f"LoRA {median(times['lora']):.2f} s on this machine (LoRA still back-propagates through every layer; "
            f"it skips the weight gradients and Adam's update of the frozen weights)"),
    ]


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
