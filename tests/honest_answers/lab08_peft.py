"""Correct but unusual answers to lab08_peft: full marks each (tests/test_labs.py)."""


# %% [count] the matching rule as a regular expression; sizes from numel and the bias-free shape sum
def lora_parameter_count_for(model, target_modules, r):
    import re

    pattern = re.compile(r"(^|.*\.)(" + "|".join(re.escape(t) for t in target_modules) + r")$")
    return sum(r * sum(m.weight.shape) for n, m in model.named_modules() if n and pattern.fullmatch(n))


# %% [rank] counts up until the next rank no longer fits
def largest_rank(model, target_modules, budget):
    r = 0
    while lora_parameter_count_for(model, target_modules, r + 1) <= budget:
        r += 1
    return r


# %% [train_adapter] Adam (= AdamW without weight decay), zero_grad(set_to_none) first, explicit keys
def train_adapter(model, config, batch, steps, lr, seed=0):
    base = copy.deepcopy(model)
    torch.manual_seed(seed)
    adapter = get_peft_model(base, copy.deepcopy(config))
    adapter.train()
    opt = torch.optim.Adam([p for p in adapter.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = adapter(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        opt.step()
    adapter.eval()
    return adapter


# %% [reload_trainable] loads for inference, then unfreezes the LoRA factors by hand
def reload_trainable(base, adapter_dir):
    m = PeftModel.from_pretrained(base, str(adapter_dir))
    for n, p in m.named_parameters():
        p.requires_grad = "lora_A" in n or "lora_B" in n
    return m


# %% [adapter_losses] the base loss through PEFT's disable_adapter on a model in eval mode, float()
def adapter_losses(adapter, batch):
    adapter.eval()
    with torch.inference_mode():
        adapted = float(adapter(**batch).loss)
        with adapter.disable_adapter():
            base = float(adapter(**batch).loss)
    return (base, adapted)
