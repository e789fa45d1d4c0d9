"""Correct but unusual answers to lab07_lora: full marks each (tests/test_labs.py)."""


# %% [inject] LoRALinear passed as a default argument, targets matched with split(".")
def add_lora(model, target_modules, r, alpha, layer=LoRALinear):
    for p in model.parameters():
        p.requires_grad_(False)
    chosen = []
    for name, _ in model.named_modules():
        parts = name.split(".")
        if name and any(parts[-len(t.split(".")):] == t.split(".") for t in target_modules):
            chosen.append(name)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, layer(getattr(parent, child), r, alpha))
    return model


def count_parameters(model):
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


# %% [lora_linear] einsum instead of matmul, the merge computed in float64
class LoRALinear(nn.Module):
    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        conv = isinstance(base, Conv1D)
        in_features, out_features = base.weight.shape if conv else base.weight.shape[::-1]
        for p in base.parameters():
            p.requires_grad = False
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        low = torch.einsum("...i,ri->...r", x, self.lora_A)
        return out + self.scaling * torch.einsum("...r,or->...o", low, self.lora_B)

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            delta = (self.lora_B.double() @ self.lora_A.double() * self.scaling).to(self.base.weight.dtype)
            self.base.weight.add_(delta.T if isinstance(self.base, Conv1D) else delta)
            self.merged = True


# %% [lora_linear] sizes from the layers' own attributes (in_features / nx, nf), A borrowed from an nn.Linear (same Kaiming init), F.linear twice, merge through .data
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, nn.Linear):
            fan_in, fan_out = base.in_features, base.out_features
        else:  # transformers' Conv1D: nx inputs, nf outputs
            fan_in, fan_out = base.nx, base.nf
        base.requires_grad_(False)
        self.lora_A = nn.Parameter(nn.Linear(fan_in, r, bias=False).weight.detach().clone())
        self.lora_B = nn.Parameter(torch.zeros(fan_out, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x):
        if self.merged:
            return self.base(x)
        return self.base(x) + self.scaling * torch.nn.functional.linear(
            torch.nn.functional.linear(x, self.lora_A), self.lora_B)

    def merge(self):
        if self.merged:
            return
        with torch.no_grad():
            update = self.scaling * (self.lora_B @ self.lora_A)  # (out, in)
            if not isinstance(self.base, nn.Linear):
                update = update.t()
            self.base.weight.data.add_(update)
        self.merged = True


# %% [lora_embedding] F.embedding on Aᵀ for the lookup, torch.randn for A, merge by add_ under no_grad
class LoRAEmbedding(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        vocab, dim = base.num_embeddings, base.embedding_dim
        base.weight.requires_grad = False
        self.lora_A = nn.Parameter(torch.randn(r, vocab))
        self.lora_B = nn.Parameter(torch.zeros(dim, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids):
        out = self.base(ids)
        if not self.merged:
            low = torch.nn.functional.embedding(ids, self.lora_A.t())  # (..., r)
            out = out + self.scaling * torch.einsum("...r,dr->...d", low, self.lora_B)
        return out

    def merge(self):
        if not self.merged:
            with torch.no_grad():
                self.base.weight.add_(self.scaling * self.lora_A.t() @ self.lora_B.t())
            self.merged = True


# %% [inject] wraps while walking a snapshot of named_modules, counts through a dict keyed by id (shared weights once)
def add_lora(model, target_modules, r, alpha):
    model.requires_grad_(False)
    for name, module in list(model.named_modules()):
        if not name:
            continue
        if name in target_modules or any(name.endswith(f".{t}") for t in target_modules):
            parent = model.get_submodule(name.rpartition(".")[0])
            setattr(parent, name.rpartition(".")[2], LoRALinear(module, r, alpha))
    return model


def count_parameters(model):
    unique = {id(p): p for p in model.parameters()}
    return (sum(p.numel() for p in unique.values() if p.requires_grad), sum(p.numel() for p in unique.values()))
