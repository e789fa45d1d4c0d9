"""Fine-tune a LoRA adapter that turns the base model into a Q&A chatbot, from the command line.

    python -m chatbot.qa_finetune --output adapters/qa                       # bundled course-gpt2, CPU
    python -m chatbot.qa_finetune --output adapters/qa-gpt2 --model gpt2     # the real GPT-2
    accelerate launch -m chatbot.qa_finetune --output adapters/qa            # several GPUs (data parallel)

It measures held-out exact match on the test split before training, trains with PEFT LoRA (the loop is
`utils.qa.train_loop` driven by an `accelerate.Accelerator`), measures again, saves the adapter to --output
and prints, as its last line, one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from utils.adapters import save_adapter

DEFAULT_TARGETS = ("c_attn", "c_proj", "c_fc")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chatbot.qa_finetune",
        description="Train a LoRA Q&A adapter, report held-out exact match before/after, save the adapter. "
        "The last line of stdout is a JSON object with the results.",
    )
    parser.add_argument("--output", required=True, type=Path, help="directory to save the adapter into")
    parser.add_argument("--model", default=None, help="base model: course-gpt2 (default, bundled), gpt2, or a path")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training split (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed for LoRA init and shuffling (default 0)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank r (default 8)")
    parser.add_argument("--alpha", type=float, default=16.0, help="LoRA alpha; the update is scaled by alpha/r")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                        help="comma-separated module names to adapt (default c_attn,c_proj,c_fc)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate, decays linearly to 0 (default 3e-3)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size per process")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (quick runs, tests)")
    parser.add_argument("--max-train-examples", type=int, default=None, help="use only the first N training pairs")
    parser.add_argument("--max-eval-examples", type=int, default=None, help="evaluate on the first N test pairs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    for name in ("epochs", "rank", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_steps", "max_train_examples", "max_eval_examples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def run(args: argparse.Namespace) -> dict:
    """Train, evaluate and save as `args` say; returns the results dict that `main` prints."""
    import torch
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model

    from utils.data import load_qa
    from utils.device import get_device, training_dtype
    from utils.models import load_model, model_name
    from utils.notebook import seed_everything
    from utils.qa import evaluate_exact_match, qa_dataloader, train_loop

    # bf16 mixed precision on a GPU that has it (fp32 weights, bf16 matmuls); otherwise whatever
    # `accelerate launch --mixed_precision` said, which is fp32 by default
    device = get_device()  # COURSE_DEVICE=cpu keeps a GPU machine on the CPU here too
    bf16 = training_dtype(device) == torch.bfloat16
    accelerator = Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if bf16 else None)
    seed_everything(args.seed)
    name = model_name(args.model)
    model, tokenizer = load_model(name, device=accelerator.device)
    data = load_qa()
    evaluate = accelerator.is_main_process

    before = evaluate_exact_match(model, tokenizer, data["test"], args.max_eval_examples)[0] if evaluate else None

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0, target_modules=targets,
                        fan_in_fan_out=model.config.model_type == "gpt2", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    loader = qa_dataloader(tokenizer, data["train"], batch_size=args.batch_size, seed=args.seed,
                           max_examples=args.max_train_examples)
    model, loader = accelerator.prepare(model, loader)

    start, cpu_start = time.perf_counter(), time.process_time()
    losses = train_loop(model, loader, epochs=args.epochs, max_steps=args.max_steps, lr=args.lr,
                         progress=not args.no_progress, accelerator=accelerator)
    train_seconds = time.perf_counter() - start
    train_cpu_seconds = time.process_time() - cpu_start
    accelerator.wait_for_everyone()

    results: dict = {}
    if evaluate:
        peft_model = accelerator.unwrap_model(model)
        after, _ = evaluate_exact_match(peft_model, tokenizer, data["test"], args.max_eval_examples)
        adapter_bytes = save_adapter(peft_model, args.output, name)
        results = {
            "model": name,
            "exact_match_before": round(before, 4),
            "exact_match_after": round(after, 4),
            "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(train_cpu_seconds, 1),
            "trainable_params": trainable,
            "adapter_bytes": adapter_bytes,
            "steps": len(losses),
            "first_loss": round(losses[0], 4),
            "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
            "epochs": args.epochs,
            "rank": args.rank,
            "targets": targets,
            "processes": accelerator.num_processes,
            "torch_threads": torch.get_num_threads(),
            "device": str(accelerator.device),
            "mixed_precision": accelerator.mixed_precision,
            "eval_examples": args.max_eval_examples or len(data["test"]),
            "output": str(args.output),
        }
    accelerator.wait_for_everyone()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from utils.models import ModelNotAvailableError

    try:
        results = run(args)
    except (ModelNotAvailableError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if results:
        print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
