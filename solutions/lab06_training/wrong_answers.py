"""Plausible-but-wrong answers to lab06_training: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [train_step] forgets zero_grad (gradients accumulate)
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    loss = next_token_loss(model(batch).logits, batch)
    loss.backward()
    optimizer.step()
    return loss.item()


# %% [cross_entropy_by_hand] sums the loss over positions instead of averaging
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).sum()


# %% [cross_entropy_by_hand] log of softmax (underflows for large logits)
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)
    return -torch.log(probs.gather(-1, targets.unsqueeze(-1))).mean()


# %% [next_token_loss] no shift: scores position t against token t
def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    return cross_entropy_by_hand(logits, input_ids)


# %% [cross_entropy_by_hand] F.cross_entropy on flattened logits, which the lab forbids
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# %% [cross_entropy_by_hand] log_softmax(...).gather, which the lab forbids
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).mean()


# %% [train_step] returns the loss as a 0-d tensor, not a float
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    optimizer.zero_grad()
    loss = next_token_loss(model(batch).logits, batch)
    loss.backward()
    optimizer.step()
    return loss.detach()


# %% [cross_entropy_by_hand] subtracts max(logits) instead of logsumexp (the stability trick, half remembered)
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    log_probs = logits - logits.max(dim=-1, keepdim=True).values
    return -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
