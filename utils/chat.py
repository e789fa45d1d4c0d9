"""Chat with a fine-tuned Q&A adapter: in a terminal, in one shot, or in a notebook widget.

    python -m utils.chat --adapter adapters/qa                                   # interactive prompt
    python -m utils.chat --adapter adapters/qa --question "What is the capital of Peru?"

In a notebook: `model, tokenizer = load_chatbot("adapters/qa")`, then `ChatBox(model, tokenizer)`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ADAPTER_INFO = "course_adapter.json"  # written by utils.qa_finetune.save_adapter next to the PEFT files
EXIT_WORDS = {"quit", "exit", ":q"}


class AdapterError(RuntimeError):
    """The adapter directory cannot be used with the requested base model; the message says why and what to do."""


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model an adapter directory was trained for (from its course note or its PEFT config)."""
    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise AdapterError(
            f"No adapter directory at '{adapter_dir}'. Train one with "
            f"`python -m utils.qa_finetune --output {adapter_dir}` (or fix the path)."
        )
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file() or not any(adapter_dir.glob("adapter_model.*")):
        raise AdapterError(
            f"'{adapter_dir}' is not a LoRA adapter directory (adapter_config.json or adapter_model.safetensors "
            f"missing). Train one with `python -m utils.qa_finetune --output {adapter_dir}`."
        )
    info_file = adapter_dir / ADAPTER_INFO
    if info_file.is_file():
        return json.loads(info_file.read_text(encoding="utf-8"))["base_model"]
    return json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or "unknown"


def load_chatbot(adapter_dir: str | Path, model: str | None = None, device=None):
    """(PeftModel in eval mode, tokenizer) for an adapter directory.

    model: the base model to put the adapter on; None means $COURSE_MODEL, else the adapter's own base.
    Raises AdapterError when the directory is missing or not an adapter, or when it was trained for another
    base model (different name or different shapes).
    """
    from peft import PeftModel

    from utils.models import load_model

    base = adapter_base_model(adapter_dir)
    wanted = model or os.environ.get("COURSE_MODEL") or base
    if wanted != base:
        raise AdapterError(
            f"The adapter in '{adapter_dir}' was trained for the base model '{base}', not '{wanted}'. "
            f"Use --model {base} (or unset COURSE_MODEL), or train an adapter for '{wanted}' with "
            f"`python -m utils.qa_finetune --model {wanted} --output DIR`."
        )
    base_model, tokenizer = load_model(wanted, device=device)
    _check_shapes(Path(adapter_dir), base_model.config, wanted)
    try:
        peft_model = PeftModel.from_pretrained(base_model, str(adapter_dir))
    except (RuntimeError, ValueError, KeyError) as err:
        raise AdapterError(f"The adapter in '{adapter_dir}' does not fit the base model '{wanted}': {err}") from None
    return peft_model.eval(), tokenizer


def _check_shapes(adapter_dir: Path, config, name: str) -> None:
    info_file = adapter_dir / ADAPTER_INFO
    if not info_file.is_file():
        return
    info = json.loads(info_file.read_text(encoding="utf-8"))
    have = {"model_type": config.model_type, "vocab_size": config.vocab_size,
            "hidden_size": config.hidden_size, "num_layers": config.num_hidden_layers}
    differ = {k: (info[k], v) for k, v in have.items() if k in info and info[k] != v}
    if differ:
        what = ", ".join(f"{k} {a} (adapter) vs {b} ('{name}')" for k, (a, b) in differ.items())
        raise AdapterError(f"The adapter in '{adapter_dir}' was made for another base model: {what}.")


def answer(model, tokenizer, question: str, max_new_tokens: int = 16) -> str:
    """One greedy answer (see utils.generation for what is guaranteed about bad input)."""
    from utils.generation import generate_answers

    return generate_answers(model, tokenizer, [question], max_new_tokens=max_new_tokens)[0]


class ChatBox:
    """An ipywidgets chat: a Text input, a Send button and a scrolling Output history.

    `box.ask("...")` sends a question from code (so a notebook shows a conversation when nobody types);
    display the box with `box.widget` (or just `box` as the last expression of a cell).
    """

    def __init__(self, model, tokenizer, max_new_tokens: int = 16, height: str = "220px"):
        import ipywidgets as widgets

        self.model, self.tokenizer, self.max_new_tokens = model, tokenizer, max_new_tokens
        self.history: list[tuple[str, str]] = []
        self.text = widgets.Text(placeholder="Ask about a country or an element…",
                                 layout=widgets.Layout(width="70%"))
        self.button = widgets.Button(description="Send", button_style="primary")
        self.output = widgets.Output(layout=widgets.Layout(height=height, overflow="auto", border="1px solid #ccc"))
        self.button.on_click(lambda _: self._send_typed())
        self.widget = widgets.VBox([self.output, widgets.HBox([self.text, self.button])])

    def _send_typed(self) -> None:
        question, self.text.value = self.text.value, ""
        self.ask(question)

    def ask(self, question: str) -> str:
        """Answer `question`, append both to the history, return the answer."""
        reply = answer(self.model, self.tokenizer, question, self.max_new_tokens)
        self.history.append((question, reply))
        with self.output:
            print(f"you: {question}\nbot: {reply}\n")
        return reply

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m utils.chat",
        description="Ask questions to a base model with a Q&A LoRA adapter (made by utils.qa_finetune).",
    )
    parser.add_argument("--adapter", required=True, type=Path, help="adapter directory from utils.qa_finetune")
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
