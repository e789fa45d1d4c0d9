"""Plausible-but-wrong answers to lab13_chatbot: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [collate] masks every pad id, so the final EOS too (the DataCollatorForLanguageModeling recipe)
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    ### BEGIN SOLUTION
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = [ids + [pad] * (width - len(ids)) for ids, _ in rows]
    attention_mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [[-100 if t == pad else t for t in labs] + [-100] * (width - len(labs)) for _, labs in rows]
    return {name: torch.tensor(value, dtype=torch.long) for name, value in
            [("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels)]}
    ### END SOLUTION


# %% [collate] pads labels with the pad id instead of -100
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    ### BEGIN SOLUTION
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = [ids + [pad] * (width - len(ids)) for ids, _ in rows]
    attention_mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [labs + [pad] * (width - len(labs)) for _, labs in rows]
    return {name: torch.tensor(value, dtype=torch.long) for name, value in
            [("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels)]}
    ### END SOLUTION


# %% [evaluator] case-sensitive exact match (forgets to lowercase)
import re


def normalize(text: str) -> str:
    """Lowercase, no punctuation, no articles, single spaces."""
    ### BEGIN SOLUTION
    text = "".join(c for c in text if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
    ### END SOLUTION


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Share of predictions equal to their reference after normalize()."""
    ### BEGIN SOLUTION
    if not predictions:
        return 0.0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)
    ### END SOLUTION


# %% [collate] builds int32 tensors (torch.int), not torch.long
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = [ids + [pad] * (width - len(ids)) for ids, _ in rows]
    attention_mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [labs + [-100] * (width - len(labs)) for _, labs in rows]
    return {name: torch.tensor(value, dtype=torch.int) for name, value in
            [("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels)]}


# %% [collate] labels keep the prompt (the question is trained on too)
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, prompt_ids + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = [ids + [pad] * (width - len(ids)) for ids, _ in rows]
    attention_mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [labs + [-100] * (width - len(labs)) for _, labs in rows]
    return {name: torch.tensor(value, dtype=torch.long) for name, value in
            [("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels)]}


# %% [collate] mask inverted: the answer is masked and the question is trained on
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, prompt_ids + [-100] * len(answer_ids)))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = [ids + [pad] * (width - len(ids)) for ids, _ in rows]
    attention_mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [labs + [-100] * (width - len(labs)) for _, labs in rows]
    return {name: torch.tensor(value, dtype=torch.long) for name, value in
            [("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels)]}
