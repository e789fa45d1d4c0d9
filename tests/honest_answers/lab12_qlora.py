"""Correct but unusual answers to lab12_qlora: full marks each (tests/test_labs.py)."""


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


# %% [count_parameters_4bit] one pass over the parameters: a Params4bit knows its original shape (quant_state.shape)
def count_parameters_4bit(model):
    n_quantized = n_full = 0
    for p in model.parameters():
        if isinstance(p, bnb.nn.Params4bit) and p.dtype == torch.uint8:
            n_quantized += math.prod(p.quant_state.shape)
        else:
            n_full += p.numel()
    return n_quantized, n_full


# %% [lora_parameter_count] numpy: r times the sum of every d + k, converted back to a Python int
import numpy as np


def lora_parameter_count(shapes, r):
    dims = np.asarray(shapes, dtype=np.int64).reshape(-1, 2)
    return int(r * dims.sum())


# %% [memory_budget_gb] match statement, everything counted in bits first
def memory_budget_gb(n_linear, n_other, n_adapter, method):
    match method:
        case "full":
            bits = (n_linear + n_other) * 128
        case "lora":
            bits = (n_linear + n_other) * 16 + n_adapter * 128
        case "qlora":
            bits = n_linear * 4.127 + n_other * 16 + n_adapter * 128
        case _:
            raise ValueError(f"unknown method: {method!r}")
    return bits / 8 / 1e9


# %% [snapshot_4bit] copy.deepcopy of the bytes (a tensor of its own), built in a loop over modules with a name map
import copy


def snapshot_4bit(model):
    names = {id(module): name for name, module in model.named_modules()}
    snap = {}
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weight = module.weight
            snap[names[id(module)]] = (weight, int(weight.data.untyped_storage().data_ptr()), copy.deepcopy(weight.data))
    return snap


# %% [nf4_logit_error] one row of the batch at a time, the maxima taken in numpy
import numpy as np


def nf4_logit_error(model32, model4, batch):
    worst_diff, worst_logit = 0.0, 0.0
    with torch.no_grad():
        for row in range(batch["input_ids"].shape[0]):
            one = {key: value[row:row + 1] for key, value in batch.items()}
            l32 = model32(**one).logits.numpy().astype(np.float64)
            l4 = model4(**one).logits.numpy().astype(np.float64)
            worst_diff = max(worst_diff, float(np.abs(l4 - l32).max()))
            worst_logit = max(worst_logit, float(np.abs(l32).max()))
    return worst_diff / worst_logit
