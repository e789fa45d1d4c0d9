"""Chat with a fine-tuned Q&A adapter in a terminal, or ask it one question.

    python -m chatbot.chat --adapter adapters/qa                                   # interactive prompt
    python -m chatbot.chat --adapter adapters/qa --question "What is the capital of Peru?"

In a notebook use `utils.adapters.load_chatbot` and `utils.chatbox.ChatBox` (lesson 13).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.adapters import AdapterError, load_chatbot
from utils.chatbox import answer

EXIT_WORDS = {"quit", "exit", ":q"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chatbot.chat",
        description="Ask questions to a base model with a Q&A LoRA adapter (made by chatbot.qa_finetune).",
    )
    parser.add_argument("--adapter", required=True, type=Path, help="adapter directory from chatbot.qa_finetune")
    parser.add_argument("--model", default=None,
                        help="base model (default: $COURSE_MODEL, else the one the adapter was trained for)")
    parser.add_argument("--question", default=None, help="answer this one question and exit")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="longest answer in tokens (capped at 64)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from utils.models import ModelNotAvailableError

    try:
        model, tokenizer = load_chatbot(args.adapter, args.model)
    except (AdapterError, ModelNotAvailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.max_new_tokens < 1:
        print("error: --max-new-tokens must be at least 1", file=sys.stderr)
        return 2
    if args.question is not None:
        print(answer(model, tokenizer, args.question, args.max_new_tokens))
        return 0
    print("Ask a question ('quit' or Ctrl-D to leave).", file=sys.stderr)
    while True:
        try:
            question = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        if question.strip().lower() in EXIT_WORDS:
            return 0
        print(f"bot> {answer(model, tokenizer, question, args.max_new_tokens)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
