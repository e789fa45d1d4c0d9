"""Figure 2: the capstone — held-out exact match before/after and training seconds of `python -m chatbot.qa_finetune`.

Runs the command line exactly as a presenter would (its defaults: bundled course-gpt2, 1 epoch) in a fresh process
and reads the JSON object it prints as its last line. Targets: exact match after ≥ 90 % with ≤ 3 min of training.

The real GPT-2 (where the Hub or its cache is reachable):  COURSE_MODEL=gpt2 python benchmarks/bench_capstone.py
(seed 000 quotes a 5 h CPU run for it, a figure nobody has measured here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from _common import ROOT, cli, row

FIGURE = "2 capstone (chatbot.qa_finetune)"
QUICK_ARGS = ["--epochs", "1", "--max-steps", "3", "--max-train-examples", "96", "--max-eval-examples", "16"]


def run_finetune(extra: list[str]) -> dict:
    """Run the CLI in a fresh process; the parsed JSON of its last stdout line."""
    with tempfile.TemporaryDirectory(prefix="bench-capstone-") as out:
        cmd = [sys.executable, "-m", "chatbot.qa_finetune", "--output", out, "--no-progress", *extra]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False,
                              env={**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")})
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main(quick: bool) -> list[dict]:
    result = run_finetune(QUICK_ARGS if quick else [])
    device = result.get("device", "cpu")
    setup = (f"model {result['model']}, {result['epochs']} epoch(s), {result['steps']} steps, r={result['rank']} on "
             f"{'+'.join(result['targets'])}, {result['trainable_params']:,} trainable, adapter "
             f"{result['adapter_bytes'] / 1e3:.0f} kB, {result['eval_examples']} held-out test questions, "
             f"{result['processes']} process(es) × {result['torch_threads']} threads")
    return [
        row(FIGURE, "held-out exact match before training", result["exact_match_before"] * 100, "%", None, device,
            "the base model completes statements but does not answer questions (near 0 expected)"),
        row(FIGURE, "held-out exact match after training", result["exact_match_after"] * 100, "%", (">=", 90.0),
            device, setup),
        row(FIGURE, "training seconds", result["train_seconds"], "s", ("<=", 180.0), device,
            f"the training loop only (evaluation and loading excluded), loss {result['first_loss']} → "
            f"{result['final_loss']}; on this machine"),
    ]


if __name__ == "__main__":
    cli(main, __file__, __doc__.splitlines()[0])
