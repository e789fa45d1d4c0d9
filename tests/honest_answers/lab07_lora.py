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
