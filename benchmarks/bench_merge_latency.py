"""Figure 7: generation latency of a merged adapter against the unmerged one and the base model.

The bundled model with a hand-built LoRA adapter (utils.lora, random B) on every block layer; `merge_lora` folds it
into the weights. Greedy generation of a fixed number of new tokens for a batch of held-out questions, the three
models alternated in one process. Merged should cost what the base model costs (it is a plain GPT-2 again).
"""

from __future__ import annotations

import copy

from _common import alternate, cli, device_label, median, pick_device, row

FIGURE = "7 merged vs unmerged adapter"
TARGETS = ["c_attn", "c_proj", "c_fc"]


def main(quick: bool) -> list[dict]:
    import torch

    from utils.data import format_prompt, load_qa
    from utils.lora import add_lora, merge_lora
    from utils.models import load_model

    n_questions, new_tokens, reps = (2, 4, 2) if quick else (8, 32, 10)
    device = pick_device()
    torch.manual_seed(0)
    base, tokenizer = load_model(device="cpu")
    unmerged = add_lora(copy.deepcopy(base), TARGETS, r=8, alpha=16)
    with torch.no_grad():
        for name, p in unmerged.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(0, 0.02)
    merged = merge_lora(copy.deepcopy(unmerged))
    models = {"base": base, "unmerged": unmerged, "merged": merged}
    for m in models.values():
        m.to(device).eval()

    questions = list(load_qa()["test"]["question"][:n_questions])
    tokenizer.padding_side = "left"
    enc = tokenizer([format_prompt(q) for q in questions], return_tensors="pt", padding=True).to(device)
    outputs = {}

    def generator(name):
        @torch.no_grad()
        def generate():
            outputs[name] = models[name].generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                                  do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return generate

    times = alternate({name: generator(name) for name in models}, reps=reps, warmup=1, device=device)
    same = torch.equal(outputs["merged"], outputs["unmerged"])
    ms = {name: median(t) * 1e3 for name, t in times.items()}
    dev = device_label(device)
    setup = (f"bundled model, LoRA r=8 on {'+'.join(TARGETS)}, {n_questions} questions × {new_tokens} new tokens, "
             f"greedy, medians of {reps} alternated runs: base {ms['base']:.0f} ms, unmerged {ms['unmerged']:.0f} ms, "
             f"merged {ms['merged']:.0f} ms on this machine; merged and unmerged generate "
             f"{'the same' if same else 'DIFFERENT'} tokens")
    return [
        row(FIGURE, "generation latency merged / unmerged", ms["merged"] / ms["unmerged"], "×", None, dev, setup),
        row(FIGURE, "generation latency merged / base", ms["merged"] / ms["base"], "×", ("<=", 1.10), dev,
            "merged ≈ base: after merging the model is a plain GPT-2 again (target: within 10 %)"),
        row(FIGURE, "merged generates the same tokens as unmerged", float(same), "", ("==", 1.0), dev,
            "1 = identical greedy continuations"),
    ]


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
