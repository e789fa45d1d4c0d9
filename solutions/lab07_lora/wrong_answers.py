"""Plausible-but-wrong answers to lab07_lora: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [lora_linear] scale alpha instead of alpha / r
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path


# %% [lora_linear] B random at init (both A and B Kaiming)
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.empty(out_features, r))
        nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path


# %% [lora_linear] merges into Conv1D without the transpose
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path


# %% [lora_linear] treats Conv1D weight as (out, in) like nn.Linear
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path


# %% [inject] base weights left trainable (no freezing in add_lora)
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    """Freeze all of `model`, wrap every module whose name is a target or ends with "." + target."""
    names = [n for n, _ in model.named_modules()
             if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model  # the same object, modified in place


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# %% [inject] matches targets by substring ('c_proj' in name)
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    """Freeze all of `model`, wrap every module whose name is a target or ends with "." + target."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(t.split(".")[-1] in n for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model  # the same object, modified in place


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# %% [lora_linear] A from a small Gaussian (std 0.01) instead of Kaiming-uniform
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.normal_(self.lora_A, std=0.01)  # the LoRA paper's 'random Gaussian'
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path


# %% [lora_linear] A initialised to a small constant (rank 1)
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.constant_(self.lora_A, 0.01)
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path


# %% [lora_linear] merge replaces the base weight by a new, trainable nn.Parameter
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight = nn.Parameter(self.base.weight + delta)
        self.merged = True  # forward() now skips the low-rank path


# %% [inject] matches targets with endswith but without the dot
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    """Freeze all of `model`, wrap every module whose name is a target or ends with "." + target."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(n.endswith(t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model  # the same object, modified in place


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# %% [inject] counts the lora_ parameters as the trainable ones (by name, not requires_grad)
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    """Freeze all of `model`, wrap every module whose name is a target or ends with "." + target."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model  # the same object, modified in place


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
