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


# %% [lora_linear] subclasses the course's own LoRALinear, which the lab forbids
from utils.lora import LoRALinear as CourseLoRALinear


class LoRALinear(CourseLoRALinear):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""


# %% [inject] count_parameters from utils.lora, which the lab forbids
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    from utils.lora import count_parameters as course_count

    return course_count(model)


# %% [lora_embedding] PEFT's mirror image: A zeros, B normal
class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.zeros(r, base.weight.shape[0]))
        self.lora_B = nn.Parameter(torch.randn(base.weight.shape[1], r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(ids)
        return self.base(ids) + self.lora_A.T[ids] @ self.lora_B.T * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True


# %% [lora_embedding] A Kaiming-uniform like LoRALinear's (std 1/sqrt(3 vocab), not 1)
class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.weight.shape[0]))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.weight.shape[1], r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(ids)
        return self.base(ids) + self.lora_A.T[ids] @ self.lora_B.T * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True


# %% [lora_embedding] builds the one-hot matrix (F.one_hot), which the exercise forbids
class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.weight.shape[0]))
        self.lora_B = nn.Parameter(torch.zeros(base.weight.shape[1], r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(ids)
        one_hot = torch.nn.functional.one_hot(ids, self.lora_A.shape[1]).float()
        return self.base(ids) + one_hot @ self.lora_A.T @ self.lora_B.T * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True


# %% [lora_embedding] merges B A without the transpose (right only when vocab == d, and then wrong)
class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.weight.shape[0]))
        self.lora_B = nn.Parameter(torch.zeros(base.weight.shape[1], r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(ids)
        return self.base(ids) + self.lora_A.T[ids] @ self.lora_B.T * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += (self.lora_B @ self.lora_A).reshape(self.base.weight.shape) * self.scaling
            self.merged = True


# %% [lora_embedding] merge adds the update again on every call
class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.weight.shape[0]))
        self.lora_B = nn.Parameter(torch.zeros(base.weight.shape[1], r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(ids)
        return self.base(ids) + self.lora_A.T[ids] @ self.lora_B.T * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
        self.merged = True


# %% [lora_embedding] forgets the scaling alpha / r in forward
class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.weight.shape[0]))
        self.lora_B = nn.Parameter(torch.zeros(base.weight.shape[1], r))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(ids)
        return self.base(ids) + self.lora_A.T[ids] @ self.lora_B.T

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True


# %% [rank_r_error] the ratio of singular values, not of their squares
def rank_r_error(delta: torch.Tensor, r: int) -> float:
    s = torch.linalg.svdvals(delta)
    return (s[r:].sum() / s.sum()).item()


# %% [rank_r_error] the absolute error, not relative to the norm of delta
def rank_r_error(delta: torch.Tensor, r: int) -> float:
    s = torch.linalg.svdvals(delta)
    return (s[r:] ** 2).sum().sqrt().item()


# %% [rank_r_error] keeps one singular value too many (s[r + 1:])
def rank_r_error(delta: torch.Tensor, r: int) -> float:
    energy = torch.linalg.svdvals(delta) ** 2
    return (energy[r + 1:].sum() / energy.sum()).sqrt().item()


# %% [rank_r_error] returns a 0-d tensor, not a float
def rank_r_error(delta: torch.Tensor, r: int) -> float:
    energy = torch.linalg.svdvals(delta) ** 2
    return (energy[r:].sum() / energy.sum()).sqrt()


# %% [rank_sweep] the list index (counted from 0) instead of the rank
errors = [rank_r_error(update, r) for r in range(1, 17)]
smallest_rank = next(i for i, e in enumerate(errors) if e < 0.1)


# %% [inject] imports the course's add_lora and count_parameters
from utils.lora import add_lora, count_parameters  # noqa: F401


# %% [inject] calls utils.lora.add_lora through importlib, own count
import importlib


def add_lora(model, target_modules, r, alpha):
    return importlib.import_module("utils.lora").add_lora(model, target_modules, r, alpha)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


# %% [inject] utils.lora's matches_target and own wrapping
import utils.lora as _L


def add_lora(model, target_modules, r, alpha):
    for p in model.parameters():
        p.requires_grad_(False)
    for name in [n for n, _ in model.named_modules() if n and _L.matches_target(n, target_modules)]:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def count_parameters(model):
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


# %% [lora_linear] merge zeroes B instead of setting merged (same outputs, but the adapter is gone)
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
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        delta = (self.lora_B @ self.lora_A) * self.scaling
        self.base.weight += delta.T if isinstance(self.base, Conv1D) else delta
        self.lora_B.zero_()


# %% [lora_linear] A from a truncated normal (std 1/sqrt(in), cut at ±1/sqrt(in)) instead of Kaiming-uniform
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
        bound = 1 / math.sqrt(in_features)
        nn.init.trunc_normal_(self.lora_A, std=bound, a=-bound, b=bound)
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
        self.merged = True


# %% [lora_linear] merge() as a toggle: a second call subtracts the update again and clears merged
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
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        if self.merged:  # already in: take it out again
            self.base.weight -= delta
            self.merged = False
        else:
            self.base.weight += delta
            self.merged = True


# %% [lora_linear] merge puts a new frozen nn.Parameter in base.weight (not in place: tied weights and optimizers keep the old one)
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
        self.base.weight = nn.Parameter(self.base.weight + delta, requires_grad=False)
        self.merged = True


# %% [lora_linear] seeds the global generator in __init__ "for reproducibility": every layer of a shape gets the same A, and the caller's random stream is reset
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
        torch.manual_seed(0)
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
        self.merged = True


# %% [inject] matches only names that end with "." + target (forgets "equals a target": a top-level lm_head is never wrapped)
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules() if any(n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# %% [inject] wraps target by target: a module two targets match (["c_proj", "attn.c_proj"]) is wrapped twice (and LoRALinear of a LoRALinear fails)
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    for target in target_modules:
        names = [n for n, _ in model.named_modules() if n == target or n.endswith("." + target)]
        for name in names:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# %% [inject] works on a deep copy and returns it: the model passed in is neither frozen nor wrapped
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# %% [inject] count_parameters adds the buffers to the total (a Llama's rotary inv_freq, BatchNorm's running stats)
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(t.numel() for t in [*model.parameters(), *model.buffers()])
    return trainable, total


# %% [lora_embedding] A and B as plain tensors that require grad, not nn.Parameter: parameters(), optimizers and state_dict never see them
class LoRAEmbedding(nn.Module):
    """A frozen nn.Embedding plus a trainable low-rank update (alpha / r) * (B @ A)^T of its weight."""

    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        num_embeddings, embedding_dim = base.weight.shape
        base.weight.requires_grad_(False)
        self.lora_A = torch.randn(r, num_embeddings).requires_grad_()
        self.lora_B = torch.zeros(embedding_dim, r).requires_grad_()
        self.scaling = alpha / r
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        result = self.base(ids)
        if self.merged:
            return result
        return result + (self.lora_A.T[ids] @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
        self.merged = True


# %% [lora_embedding] merge() records the merge in a flag of its own (self._done): self.merged stays False
class LoRAEmbedding(nn.Module):
    """A frozen nn.Embedding plus a trainable low-rank update (alpha / r) * (B @ A)^T of its weight."""

    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        num_embeddings, embedding_dim = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, num_embeddings))
        nn.init.normal_(self.lora_A)
        self.lora_B = nn.Parameter(torch.zeros(embedding_dim, r))
        self.scaling = alpha / r
        self._done = False
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        result = self.base(ids)
        if self._done:
            return result
        return result + (self.lora_A.T[ids] @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if self._done:
            return
        self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
        self._done = True
