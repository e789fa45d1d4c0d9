"""Deprecated alias: moved to `chatbot.chat` (`python -m chatbot.chat`); removed in 0.3. See utils/_moved.py."""

from utils._moved import forward

forward(__name__, "chatbot.chat", also=("utils.adapters", "utils.chatbox"))
