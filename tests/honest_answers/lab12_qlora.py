"""Correct but unusual answers to lab12_qlora: full marks each (tests/test_labs.py)."""


# %% [count_parameters_4bit] two weights per packed byte, counted from the uint8 parameters
def count_parameters_4bit(model):
    n_quantized = n_full = 0
    for p in model.parameters():
        if p.dtype == torch.uint8:
            n_quantized += 2 * p.numel()
        else:
            n_full += p.numel()
    return n_quantized, n_full


# %% [memory_budget_gb] a table of bytes per parameter
def memory_budget_gb(n_linear, n_other, n_adapter, method):
    table = {"full": (16, 16, 0), "lora": (2, 2, 16), "qlora": (4.127 / 8, 2, 16)}
    if method not in table:
        raise ValueError(f"unknown method {method!r}")
    linear, other, adapter = table[method]
    return (n_linear * linear + n_other * other + n_adapter * adapter) / 10**9


# %% [snapshot_4bit] a loop, a copy by empty_like + copy_, the tensor's own data_ptr (offset 0)
def snapshot_4bit(model):
    out = {}
    for name, module in model.named_modules():
        if type(module) is bnb.nn.Linear4bit or isinstance(module, bnb.nn.Linear4bit):
            w = module.weight
            out[name] = (w, w.data.untyped_storage().data_ptr(), torch.empty_like(w.data).copy_(w.data))
    return out


# %% [four_bit_untouched] ids, sets and an elementwise comparison
def four_bit_untouched(model, snapshot):
    now = {n: m.weight for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    if set(now) != set(snapshot):
        return False
    return all(id(now[n]) == id(w) and now[n].untyped_storage().data_ptr() == a
               and now[n].data.shape == s.shape and bool((now[n].data == s).all())
               for n, (w, a, s) in snapshot.items())


# %% [train_steps] zero_grad(set_to_none) first, float(loss), Adam (= AdamW without weight decay)
def train_steps(model, batch, steps, lr):
    opt = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=lr)
    model.train()
    out = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        out.append(float(loss.detach()))
        loss.backward()
        opt.step()
    return out


# %% [nf4_logit_error] torch.max of torch.abs, in float64
def nf4_logit_error(model32, model4, batch):
    with torch.inference_mode():
        a = model32(**batch).logits.double()
        b = model4(**batch).logits.double()
    return float(torch.max(torch.abs(b - a)) / torch.max(torch.abs(a)))
