"""Plausible-but-wrong answers to lab00_setup: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [count_tokens] counts words instead of tokens
def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    return len(text.split())


# %% [complete] returns prompt + completion
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0], skip_special_tokens=True)


# %% [count_tokens] sums the attention mask: a 0-d tensor, not an int
def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    return tokenizer(text, return_tensors="pt")["attention_mask"].sum()


# %% [complete] forgets to decode: returns the new token ids
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return output[0, inputs["input_ids"].shape[1]:].tolist()


# %% [complete] hands the work to lesson 00's complete in utils.generation, which the exercise forbids
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    from utils.generation import complete as lesson_complete

    return lesson_complete(model, tokenizer, prompt, max_new_tokens)


# %% [count_tokens] encodes with truncation=True: silently caps the count at the model's 128-token context
def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    return len(tokenizer(text, truncation=True)["input_ids"])


# %% [complete] removes the prompt from the decoded text with str.replace (also deletes it inside the continuation)
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0], skip_special_tokens=True).replace(prompt, "")


# %% [complete] cuts the prompt off the decoded text by its character count (wrong once special tokens are skipped)
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0], skip_special_tokens=True)[len(prompt):]


# %% [complete] always generates the default 8 tokens, then keeps the first max_new_tokens (too few when asked for more than 8)
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new_ids = output[0, inputs["input_ids"].shape[1]:][:max_new_tokens]
    return tokenizer.decode(new_ids, skip_special_tokens=True)


# %% [complete] strips the prompt before tokenizing it (a trailing space changes the continuation)
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    inputs = tokenizer(prompt.strip(), return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)



# %% [count_tokens] counts line by line (str.splitlines): the newline tokens are lost
def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    return sum(len(tokenizer(line)["input_ids"]) for line in text.splitlines())


# %% [count_tokens] truncation=True with max_length=512 (a BERT habit): still caps the count, only later than 128
def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    return len(tokenizer(text, truncation=True, max_length=512)["input_ids"])
