"""Train the course's tokenizer and pretrain its small GPT-2 on the declarative corpus.

    python scripts/pretrain_base_model.py [--steps 2400] [--out data/models/course-gpt2]

The result is a real `GPT2LMHeadModel` checkpoint (safetensors) with a byte-level BPE tokenizer. It has read
every fact as statements and has never seen a question: it completes "The capital of France is" but does not
answer "What is the capital of France?". Teaching it to answer is the LoRA capstone's job.

The model, the tokenizer and `training_log.json` (loss curve, fact-completion accuracy, time, hardware) are
written to --out. Run it once; the checkpoint is committed so nobody has to run it again.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from tqdm.auto import tqdm
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

from utils import SPLITS

ROOT = Path(__file__).resolve().parents[1]
EOS = "<|endoftext|>"


def train_tokenizer(corpus: Path, vocab_size: int, out: Path) -> GPT2TokenizerFast:
    """Byte-level BPE trained on the corpus only; its one special token is EOS (also used as padding)."""
    bpe = ByteLevelBPETokenizer()
    bpe.train([str(corpus)], vocab_size=vocab_size, min_frequency=1, special_tokens=[EOS], show_progress=False)
    out.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(out))
    tokenizer = GPT2TokenizerFast(vocab=str(out / "vocab.json"), merges=str(out / "merges.txt"),
                                  bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS)
    tokenizer.model_max_length = 128
    return tokenizer


def make_config(tokenizer: GPT2TokenizerFast, n_layer: int, n_embd: int, n_head: int) -> GPT2Config:
    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )


def token_stream(lines: list[str], tokenizer: GPT2TokenizerFast, rng: random.Random) -> list[int]:
    """One epoch: the statements in a fresh random order, each followed by EOS, concatenated."""
    order = list(range(len(lines)))
    rng.shuffle(order)
    encoded = tokenizer([lines[i] for i in order])["input_ids"]
    return [t for ids in encoded for t in (*ids, tokenizer.eos_token_id)]


def batches(lines: list[str], tokenizer: GPT2TokenizerFast, batch_size: int, block: int, seed: int):
    """Endless (batch_size, block) tensors of packed statements."""
    rng = random.Random(seed)
    buffer: list[int] = []
    while True:
        while len(buffer) < batch_size * block:
            buffer += token_stream(lines, tokenizer, rng)
        chunk, buffer = buffer[: batch_size * block], buffer[batch_size * block:]
        yield torch.tensor(chunk).view(batch_size, block)


def completion_prompt(relation: str, subject: str) -> str:
    """The first statement template of a relation, cut just before the answer: "The capital of France is"."""
    import build_dataset

    template = build_dataset.STATEMENTS[relation][0]
    return template.split("{a}")[0].format(s=subject).rstrip()


@torch.no_grad()
def fact_completion_accuracy(model, tokenizer, facts: list[dict], batch_size: int = 64) -> float:
    """Share of facts whose statement prompt the model greedily completes with the right answer."""
    model.eval()
    tokenizer.padding_side = "left"
    correct = 0
    for start in range(0, len(facts), batch_size):
        chunk = facts[start: start + batch_size]
        prompts = [completion_prompt(f["relation"], f["subject"]) for f in chunk]
        enc = tokenizer(prompts, return_tensors="pt", padding=True)
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        correct += sum(t.strip().startswith(f["answer"]) for t, f in zip(texts, chunk, strict=True))
    model.train()
    return correct / len(facts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "models" / "course-gpt2")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    corpus = ROOT / "data" / "corpus" / "statements.txt"
    tokenizer = train_tokenizer(corpus, args.vocab_size, ROOT / "data" / "tokenizer")
    lines = corpus.read_text(encoding="utf-8").splitlines()
    model = GPT2LMHeadModel(make_config(tokenizer, args.layers, args.d_model, args.heads))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).train()

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.95))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps,
                                                   pct_start=0.05)
    losses = []
    start = time.perf_counter()
    data = batches(lines, tokenizer, args.batch_size, args.block, args.seed)
    for _step in (bar := tqdm(range(args.steps), desc="pretraining")):
        x = next(data).to(device)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start

    facts = [json.loads(line) for line in (ROOT / "data" / "corpus" / "facts.jsonl").open(encoding="utf-8")]
    model.cpu()
    accuracy = {split: fact_completion_accuracy(model, tokenizer, [f for f in facts if f["split"] == split])
                for split in SPLITS}
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    log = {
        "steps": args.steps, "batch_size": args.batch_size, "block": args.block, "lr": args.lr,
        "tokens_seen": args.steps * args.batch_size * args.block,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(seconds, 1), "device": device, "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "final_loss_mean_last_50": round(sum(losses[-50:]) / 50, 4),
        "fact_completion_accuracy": accuracy,
        "loss_every_10_steps": losses[::10],
        "perplexity_final": round(math.exp(sum(losses[-50:]) / 50), 3),
    }
    (args.out / "training_log.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in log.items() if k != "loss_every_10_steps"}))


if __name__ == "__main__":
    main()
