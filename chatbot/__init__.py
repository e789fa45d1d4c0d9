"""The capstone as command-line programs: `python -m chatbot.qa_finetune` trains a Q&A LoRA adapter and
`python -m chatbot.chat` talks to it. Both read and write adapters through `utils.adapters`, which lesson 13 uses
too. Depends on `utils`, never the reverse."""
