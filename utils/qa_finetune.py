"""Deprecated alias: moved to `chatbot.qa_finetune` (`python -m chatbot.qa_finetune`); removed in 0.3. See utils/_moved.py."""

from utils._moved import forward

forward(__name__, "chatbot.qa_finetune", also=("utils.adapters",))
