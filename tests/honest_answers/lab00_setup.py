"""Correct but unusual answers to lab00_setup: full marks each (tests/test_labs.py)."""


# %% [count_tokens] counts the tokenizer's string pieces (tokenize) instead of its ids
def count_tokens(text: str) -> int:
    return len(tokenizer.tokenize(text))


# %% [complete] a greedy loop by hand: argmax of the last position's logits, stop at <|endoftext|>
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    import torch

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(input_ids=ids).logits[0, -1]
            nxt = int(logits.argmax())
            if nxt == tokenizer.eos_token_id:
                break
            new.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return tokenizer.decode(new, skip_special_tokens=True)


# %% [complete] sampling restricted to the single most likely token (do_sample=True, top_k=1) is greedy too
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    inputs = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=True, top_k=1)
    return tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]


# %% [complete] input ids only (no attention mask, no return_tensors dict), a progress print, max_length instead of max_new_tokens
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    import torch

    ids = torch.tensor([tokenizer.encode(prompt)])
    print(f"prompt: {ids.shape[1]} tokens")
    out = model.generate(ids, max_length=ids.shape[1] + max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0].tolist()[ids.shape[1]:], skip_special_tokens=True)
