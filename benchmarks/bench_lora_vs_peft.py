"""Figure 3: the course's hand-built LoRA (utils.lora) against PEFT on the bundled model.

Same base weights, same A and B (random B, so the adapter really changes the output), same batch of Q&A examples:
    max |logit difference|           target ≤ 1e-5
    training-step time hand / PEFT   target ≤ 1.10 (forward + backward + AdamW step, medians of alternated steps)
"""

from __future__ import annotations

import copy

from _common import adamw_step, alternate, cli, device_label, median, pick_device, ratio_of_medians, row

FIGURE = "3 hand-built LoRA vs PEFT"
TARGETS = ["c_attn", "c_proj", "c_fc"]  # every Linear/Conv1D of the blocks (attn.c_proj and mlp.c_proj both match)


def main(quick: bool) -> list[dict]:
    import torch
    from peft import LoraConfig, get_peft_model

    from utils.data import load_qa
    from utils.device import to_device
    from utils.lora import add_lora, copy_lora_to_peft, count_parameters
    from utils.models import load_model
    from utils.qa import qa_dataloader

    r, alpha = 8, 16
    batch_size, reps = (4, 3) if quick else (16, 20)
    device = pick_device()
    torch.manual_seed(0)
    base, tokenizer = load_model(device="cpu")
    hand = add_lora(copy.deepcopy(base), TARGETS, r=r, alpha=alpha)
    with torch.no_grad():
        for name, p in hand.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(0, 0.02)  # B = 0 at init would make the comparison trivially exact
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=TARGETS, lora_dropout=0.0, fan_in_fan_out=True)
    peft = get_peft_model(copy.deepcopy(base), config)
    layers = copy_lora_to_peft(hand, peft)
    hand.to(device)
    peft.to(device)
    base.to(device)

    split = load_qa()["train"]
    batch = next(iter(qa_dataloader(tokenizer, split, batch_size=batch_size, shuffle=False,
                                    max_examples=batch_size)))
    batch = to_device(batch, device)
    with torch.no_grad():
        hand.eval(), peft.eval(), base.eval()
        logits_hand = hand(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits_peft = peft(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits_base = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    diff = (logits_hand - logits_peft).abs().max().item()
    adapter_effect = (logits_hand - logits_base).abs().max().item()

    times = alternate({"hand": adamw_step(hand, batch), "peft": adamw_step(peft, batch)}, reps=reps, warmup=2, device=device)
    ratio = ratio_of_medians(times, "hand", "peft")
    trainable_hand, _ = count_parameters(hand)
    trainable_peft = sum(p.numel() for p in peft.parameters() if p.requires_grad)
    dev = device_label(device)
    shape = f"batch {tuple(batch['input_ids'].shape)}"
    return [
        row(FIGURE, "max abs logit diff hand-built vs PEFT", diff, "", ("<=", 1e-5), dev,
            f"bundled model, r={r}, alpha={alpha}, {layers} layers ({'+'.join(TARGETS)}), random B, {shape}; "
            f"the adapter itself moves logits by up to {adapter_effect:.3f}; trainable {trainable_hand:,} vs "
            f"{trainable_peft:,}"),
        row(FIGURE, "train-step time hand / PEFT", ratio, "×", ("<=", 1.10), dev,
            f"medians of {reps} alternated AdamW steps each, same {shape}: hand {median(times['hand']) * 1e3:.1f} ms, "
            f"PEFT {median(times['peft']) * 1e3:.1f} ms on this machine"),
    ]


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
