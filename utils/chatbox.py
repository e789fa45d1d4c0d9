"""Ask a fine-tuned model questions: one answer, or a chat box widget in a notebook (lesson 13).

    model, tokenizer = utils.adapters.load_chatbot("adapters/qa")
    ChatBox(model, tokenizer)          # the last expression of a cell shows the widget
"""

from __future__ import annotations


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
