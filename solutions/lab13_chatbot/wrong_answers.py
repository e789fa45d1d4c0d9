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


# %% [collate] lesson 13's collate function, build_examples + QACollator from utils.qa, which the exercise forbids
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    from utils.qa import QACollator, build_examples

    return QACollator(tokenizer)(build_examples(tokenizer, [q for q, _ in pairs], [a for _, a in pairs]))


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


# %% [evaluator] exact match implemented as "contains" (the reference inside the prediction)
import re


def normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(normalize(r) in normalize(p) for p, r in zip(predictions, references)) / len(predictions)


# %% [evaluator] normalize hands the work to utils.qa.normalize_answer (the reference)
def normalize(text: str) -> str:
    from utils.qa import normalize_answer
    return normalize_answer(text)


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)


# %% [greedy_continue] stops before appending the stop id (it is left out)
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    ids, new = list(input_ids), []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            token = int(torch.argmax(model(torch.tensor([ids])).logits[0, -1]))
            if token in stop_ids:
                break
            ids.append(token)
            new.append(token)
    return new


# %% [greedy_continue] takes the argmax at the first position, not the last
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    ids, new = list(input_ids), []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            token = int(torch.argmax(model(torch.tensor([ids])).logits[0, 0]))
            ids.append(token)
            new.append(token)
            if token in stop_ids:
                break
    return new


# %% [greedy_continue] calls model.generate (the forbidden reference)
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    x = torch.tensor([input_ids])
    out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens, do_sample=False,
                         eos_token_id=list(stop_ids) or None, pad_token_id=0)
    return out[0, len(input_ids):].tolist()


# %% [greedy_continue] no ValueError: max_new_tokens < 1 returns an empty list
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    ids, new = list(input_ids), []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            token = int(torch.argmax(model(torch.tensor([ids])).logits[0, -1]))
            ids.append(token)
            new.append(token)
            if token in stop_ids:
                break
    return new


# %% [greedy_continue] keeps the ids as 0-d tensors, not Python ints
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    ids, new = list(input_ids), []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            token = torch.argmax(model(torch.tensor([ids])).logits[0, -1])
            ids.append(int(token))
            new.append(token)
            if int(token) in stop_ids:
                break
    return new


# %% [stop_rate] "stopped" = fewer than max_new_tokens ids (misses a stop at the last allowed token)
def stop_rate(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int]) -> float:
    if not prompts:
        return 0.0
    stopped = sum(len(greedy_continue(model, ids, max_new_tokens, stop_ids)) < max_new_tokens for ids in prompts)
    return stopped / len(prompts)


# %% [stop_rate] a percentage, not a share
def stop_rate(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int]) -> float:
    if not prompts:
        return 0.0
    stopped = sum(greedy_continue(model, ids, max_new_tokens, stop_ids)[-1] in stop_ids for ids in prompts)
    return 100.0 * stopped / len(prompts)


# %% [greedy_continue] stops only at the first id of stop_ids (EOS), never at the others (a newline)
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    ids, new = list(input_ids), []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            token = int(torch.argmax(model(torch.tensor([ids])).logits[0, -1]))
            ids.append(token)
            new.append(token)
            if stop_ids and token == stop_ids[0]:
                break
    return new


# %% [evaluator] an int 0, not 0.0, for empty inputs (exact_match and stop_rate)
import re


def normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)


# %% [stop_rate] an int 0, not 0.0, for empty inputs (exact_match and stop_rate)
def stop_rate(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int]) -> float:
    if not prompts:
        return 0
    return sum(greedy_continue(model, ids, max_new_tokens, stop_ids)[-1] in stop_ids for ids in prompts) / len(prompts)


# %% [collate] the prompt template copied from the printout instead of format_prompt: the question is not stripped
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(f"Question: {question}\nAnswer:")["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    return {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows], dtype=torch.long),
            "labels": torch.tensor([labs + [-100] * (width - len(labs)) for _, labs in rows], dtype=torch.long)}


# %% [collate] cleans the answer with strip() before tokenizing " " + answer (the spec tokenizes " " + answer as given)
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer.strip())["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    return {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows], dtype=torch.long),
            "labels": torch.tensor([labs + [-100] * (width - len(labs)) for _, labs in rows], dtype=torch.long)}


# %% [collate] truncates every example to the model's 128 positions: a long question loses its answer and its EOS
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    limit = model.config.n_positions
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append(((prompt_ids + answer_ids)[:limit], ([-100] * len(prompt_ids) + answer_ids)[:limit]))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    return {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows], dtype=torch.long),
            "labels": torch.tensor([labs + [-100] * (width - len(labs)) for _, labs in rows], dtype=torch.long)}


# %% [evaluator] whitespace collapsed with [ \t]+ only: a newline inside an answer survives normalize
import re


def normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)


# %% [evaluator] removes every Unicode punctuation character (unicodedata category P*), not just string.punctuation
import re
import unicodedata


def normalize(text: str) -> str:
    text = "".join(c for c in text.lower()
                   if c not in string.punctuation and not unicodedata.category(c).startswith("P"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)


# %% [evaluator] casefold() instead of lower() ("Straße" becomes "strasse")
import re


def normalize(text: str) -> str:
    text = "".join(c for c in text.casefold() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)


# %% [evaluator] word order ignored: the sorted words are compared ("Texas Paris" matches "Paris Texas")
import re


def normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(sorted(normalize(p).split()) == sorted(normalize(r).split())
               for p, r in zip(predictions, references)) / len(predictions)


# %% [stop_rate] continuations memoized per distinct prompt, and the share taken over the distinct prompts
def stop_rate(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int]) -> float:
    seen = {}
    for ids in prompts:
        key = tuple(ids)
        if key not in seen:
            seen[key] = greedy_continue(model, ids, max_new_tokens, stop_ids)
    if not seen:
        return 0.0
    return sum(new[-1] in stop_ids for new in seen.values()) / len(seen)
