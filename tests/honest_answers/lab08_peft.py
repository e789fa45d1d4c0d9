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


# %% [config] fan_in_fan_out from the class name of the matched modules, task_type="CAUSAL_LM", r from largest_rank
def budget_config(model, target_modules, budget, alpha=16.0):
    r = largest_rank(model, target_modules, budget)
    if r == 0:
        raise ValueError("budget too small for rank 1")
    matched = [m for n, m in model.named_modules() if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    return LoraConfig(task_type="CAUSAL_LM", r=int(r), lora_alpha=alpha, lora_dropout=0.0,
                      target_modules=list(target_modules),
                      fan_in_fan_out=any(type(m).__name__ == "Conv1D" for m in matched))


# %% [merged_copy] merge in place, copy the merged weights out (unload), then unmerge: the adapter ends as it began
def merged_copy(adapter):
    adapter.merge_adapter()
    try:
        plain = copy.deepcopy(adapter).unload()  # the copy's base layers already hold the update
    finally:
        adapter.unmerge_adapter()
    return plain


# %% [adapter_losses] the loss computed from the logits (shifted, ignore_index=-100), like the lesson did by hand
def adapter_losses(adapter, batch):
    def lm_loss(logits):
        labels = batch["labels"]
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                                 labels[:, 1:].reshape(-1), ignore_index=-100).item()

    adapter.eval()
    with torch.no_grad():
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with adapter.disable_adapter():
            base = lm_loss(adapter(**inputs).logits)
        adapted = lm_loss(adapter(**inputs).logits)
    return base, adapted


# %% [train_adapter] dataclasses.replace for the config copy, Adam with weight_decay=0 spelled out, zero_grad first
def train_adapter(model, config, batch, steps, lr, seed=0):
    import dataclasses
    torch.manual_seed(seed)
    peft_model = get_peft_model(copy.deepcopy(model), dataclasses.replace(config))
    peft_model.train()
    params = [p for n, p in peft_model.named_parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=0)
    for _step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = peft_model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), labels=batch["labels"]).loss
        loss.backward()
        opt.step()
    peft_model.eval()
    return peft_model


# %% [adapter_losses] disable_adapter_layers / enable_adapter_layers around the base loss, under inference_mode
def adapter_losses(adapter, batch):
    adapter.eval()
    with torch.inference_mode():
        adapter.base_model.disable_adapter_layers()
        try:
            base = float(adapter(**batch).loss)
        finally:
            adapter.base_model.enable_adapter_layers()
        adapted = float(adapter(**batch).loss)
    return base, adapted


# %% [merged_copy] a deep copy merged with safe_merge=True, then unloaded
def merged_copy(adapter):
    return copy.deepcopy(adapter).merge_and_unload(safe_merge=True)
