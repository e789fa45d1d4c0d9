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


# %% [cross_entropy_by_hand] torch.distributions.Categorical's log_prob, a log-softmax by another name
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -torch.distributions.Categorical(logits=logits).log_prob(targets).mean()


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


# %% [cross_entropy_by_hand] the course's own cross_entropy_by_hand from utils.training, which the lab forbids
from utils.training import cross_entropy_by_hand


# %% [next_token_loss] the course's own next_token_loss, which the lab forbids
def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    import utils.training

    return utils.training.next_token_loss(logits, input_ids)


# %% [train_step] the course's own train_step, which the lab forbids
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    from utils.training import train_step as course_train_step

    return course_train_step(model, batch, optimizer)


# %% [cross_entropy_grad] forgets to divide by the number of positions (the gradient of the summed loss)
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1) - F.one_hot(targets, logits.shape[-1]).float()


# %% [cross_entropy_grad] one-hot minus softmax (the sign of the gradient flipped)
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (F.one_hot(targets, logits.shape[-1]).float() - torch.softmax(logits, dim=-1)) / targets.numel()


# %% [cross_entropy_grad] divides by the batch size (first dimension) instead of all positions
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (torch.softmax(logits, dim=-1) - F.one_hot(targets, logits.shape[-1]).float()) / logits.shape[0]


# %% [cross_entropy_grad] asks autograd, through cross_entropy_by_hand, which the exercise forbids
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    z = logits.detach().clone().requires_grad_(True)
    cross_entropy_by_hand(z, targets).backward()
    return z.grad


# %% [cross_entropy_grad] torch.autograd.grad of the hand-written loss, which the exercise forbids
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    z = logits.detach().requires_grad_(True)
    return torch.autograd.grad(cross_entropy_by_hand(z, targets), z)[0]


# %% [cross_entropy_grad] runs autograd's engine itself, under the name torch.autograd.grad calls it by
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from torch.autograd.graph import _engine_run_backward

    z = logits.detach().clone().requires_grad_(True)
    loss = cross_entropy_by_hand(z, targets)
    return _engine_run_backward((loss,), (torch.ones_like(loss),), False, False, (z,), False)[0]


# %% [cross_entropy_grad] softmax as exp / sum without subtracting the max (overflows)
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    e = torch.exp(logits)
    probs = e / e.sum(dim=-1, keepdim=True)
    return (probs - F.one_hot(targets, logits.shape[-1]).float()) / targets.numel()


# %% [cross_entropy_grad] softmax over the wrong dimension (the positions, not the vocabulary)
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(logits, dim=0)
    return (probs - F.one_hot(targets, logits.shape[-1]).float()) / targets.numel()


# %% [loss_after_training] returns the loss of the last step, measured before its update
def loss_after_training(batch: torch.Tensor, lr: float, steps: int) -> float:
    model = tiny_gpt2()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = next_token_loss(model(batch).logits, batch).item()
    for _ in range(steps):
        loss = train_step(model, batch, optimizer)
    return loss


# %% [loss_after_training] returns the measured loss as a tensor, not a float
def loss_after_training(batch: torch.Tensor, lr: float, steps: int) -> float:
    model = tiny_gpt2()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        train_step(model, batch, optimizer)
    with torch.no_grad():
        return next_token_loss(model(batch).logits, batch)


# %% [loss_after_training] runs one step too many (range(steps + 1))
def loss_after_training(batch: torch.Tensor, lr: float, steps: int) -> float:
    model = tiny_gpt2()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps + 1):
        train_step(model, batch, optimizer)
    with torch.no_grad():
        return next_token_loss(model(batch).logits, batch).item()


# %% [lr_sweep] a plain min over the losses, which keeps the diverged (nan) learning rate
losses = {lr: loss_after_training(experiment_batch, lr, 20) for lr in learning_rates}
best_lr = min(losses, key=losses.get)


# %% [lr_sweep] numbers typed in instead of measured
losses = {10.0: float("nan"), 0.01: 3.9, 0.1: 3.6, 1.0: 3.4}
best_lr = 1.0


# %% [cross_entropy_by_hand] hands the work to the setup's torch_cross_entropy (PyTorch's)
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch_cross_entropy(logits, targets)


# %% [next_token_loss] hands the work to the setup's torch_next_token_loss (PyTorch's)
def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    return torch_next_token_loss(logits, input_ids)


# %% [cross_entropy_by_hand] F.cross_entropy held in a functools.partial made before the test
import functools

_ce = functools.partial(F.cross_entropy, reduction="mean")


def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _ce(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# %% [train_step] clears the gradients after the step instead of before (an earlier backward's gradients leak in)
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    loss = next_token_loss(model(batch).logits, batch)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


# %% [cross_entropy_by_hand] flattens the leading dimensions with flatten(0, -2): raises for one unbatched prediction (logits (vocab,), target ())
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    rows = logits.flatten(0, -2)  # (N, vocab)
    log_probs = rows - torch.logsumexp(rows, dim=-1, keepdim=True)
    return -log_probs[torch.arange(rows.shape[0]), targets.flatten()].mean()


# %% [train_step] clips the gradient norm to 5.0 before the step ("only catches spikes"; the exercise asks for a plain step)
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    optimizer.zero_grad()
    loss = next_token_loss(model(batch).logits, batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
    optimizer.step()
    return loss.item()


# %% [train_step] puts the model in eval mode for the step (dropout off while training)
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    model.eval()
    optimizer.zero_grad()
    loss = next_token_loss(model(batch).logits, batch)
    loss.backward()
    optimizer.step()
    return loss.item()


# %% [loss_after_training] reports a diverged run's nan as inf (so that a plain min works), which the exercise forbids
def loss_after_training(batch: torch.Tensor, lr: float, steps: int) -> float:
    fresh = tiny_gpt2()
    optimizer = torch.optim.SGD(fresh.parameters(), lr=lr)
    for _ in range(steps):
        train_step(fresh, batch, optimizer)
    with torch.no_grad():
        loss = next_token_loss(fresh(batch).logits, batch).item()
    return loss if math.isfinite(loss) else math.inf


# %% [cross_entropy_grad] one-hot made with .float(): a float32 gradient for bfloat16 / float16 logits (the dtype must be the logits')
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(logits, dim=-1)
    return (probs - F.one_hot(targets, logits.shape[-1]).float()) / targets.numel()


# %% [cross_entropy_grad] flattens with flatten(0, -2) and subtracts 1 at the targets: raises for one unbatched prediction (logits (vocab,))
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    rows = logits.flatten(0, -2)  # (N, vocab)
    probs = torch.softmax(rows, dim=-1)
    probs[torch.arange(rows.shape[0]), targets.flatten()] -= 1
    return (probs / rows.shape[0]).view_as(logits)
