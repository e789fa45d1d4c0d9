"""The README's headline figures, rendered from benchmarks/results.json (the data RESULTS.md is rendered from).

    python benchmarks/readme_table.py                  # print the block, markers included
    python benchmarks/readme_table.py --write README.md   # replace the block between the markers in README.md
    python benchmarks/readme_table.py --check README.md   # exit 1 if README's block differs (tests do this too)

The block lies between `<!-- bench:start -->` and `<!-- bench:end -->`; nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import fmt

HERE = Path(__file__).resolve().parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
# (figure number, row name) of each headline row, in README order
HEADLINES = [
    ("1", "total, every lesson and lab solution"),
    ("2", "held-out exact match after training"),
    ("2", "training seconds"),
    ("3", "max abs logit diff hand-built vs PEFT"),
    ("3", "train-step time hand / PEFT"),
    ("4", "peak training memory LoRA / full"),
    ("4", "train-step time LoRA / full"),
    ("5", "NF4 codes equal to bitsandbytes"),
    ("5", "4-bit ÷ fp32 footprint, fp32 non-quantized layers"),
    ("5", "4-bit ÷ fp32 footprint, bf16 non-quantized layers"),
    ("5", "QLoRA / LoRA train-step time on CPU"),
    ("6", "seconds per autograded submission (median)"),
    ("6", "seconds for a class of 30"),
    ("7", "generation latency merged / base"),
]
MET = {True: "✅", False: "❌ missed", None: "reported"}


def headline_rows(results: dict) -> list[dict]:
    """The rows of `results` named in HEADLINES, in that order (a missing one is skipped)."""
    index = {(r["figure"].split()[0], r["name"]): r for r in results["rows"]}
    return [index[key] for key in HEADLINES if key in index]


def render(results: dict) -> str:
    """The README block, markers included."""
    machine = results["machine"]
    shared = " (shared with other jobs)" if results.get("shared") else ""
    lines = [
        START,
        f"Measured by `{results['command']}` on {results['generated']}, {machine['label']}{shared}; "
        "times are for that machine. Every figure, how it was measured and what limits a missed target: "
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md).",
        "",
        "| figure | measured | value | target | met? | device |",
        "|---|---|---|---|---|---|",
    ]
    for r in headline_rows(results):
        figure = r["figure"].split(" ", 1)[1] if " " in r["figure"] else r["figure"]
        lines.append(f"| {figure} | {r['name']} | {fmt(r['value'])} {r['unit']} | {r['target'] or '-'} | "
                     f"{MET[r['met']]} | {r['device']} |")
    lines.append(END)
    return "\n".join(lines)


def readme_block(text: str) -> str | None:
    """The block of `text` between the markers (markers included), or None if it has none."""
    if START not in text or END not in text:
        return None
    begin = text.index(START)
    return text[begin:text.index(END, begin) + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/readme_table.py", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="README", help="replace the block between the markers")
    group.add_argument("--check", type=Path, metavar="README", help="exit 1 if the block differs")
    args = parser.parse_args(argv)
    block = render(json.loads(args.results.read_text(encoding="utf-8")))
    target = args.write or args.check
    if target is None:
        print(block)
        return 0
    text = target.read_text(encoding="utf-8")
    current = readme_block(text)
    if current is None:
        print(f"{target} has no {START} … {END} block; paste the output of "
              f"`python benchmarks/readme_table.py` where the figures belong", file=sys.stderr)
        return 1
    if args.check:
        if current != block:
            print(f"{target}'s benchmark block is out of date: run python benchmarks/readme_table.py --write {target}",
                  file=sys.stderr)
            return 1
        return 0
    target.write_text(text.replace(current, block), encoding="utf-8")
    print(f"updated the benchmark block of {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
