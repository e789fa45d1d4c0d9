"""Correct but unusual answers to lab06_training: full marks each (tests/test_labs.py)."""


# %% [cross_entropy_by_hand] logsumexp written out (max subtracted by hand), float64 inside, the mean cast back
def cross_entropy_by_hand(logits, targets):
    z = logits.double()
    m = z.max(dim=-1, keepdim=True).values
    lse = m.squeeze(-1) + torch.log(torch.exp(z - m).sum(-1))
    picked = torch.take_along_dim(z, targets.unsqueeze(-1), dim=-1).squeeze(-1)
    return (lse - picked).mean().to(logits.dtype)


# %% [cross_entropy_grad] exp(z - logsumexp) for the probabilities, scatter_add of -1 at the targets
def cross_entropy_grad(logits, targets):
    probs = torch.exp(logits - torch.logsumexp(logits, dim=-1, keepdim=True))
    probs = probs.scatter_add(-1, targets.unsqueeze(-1), torch.full_like(probs[..., :1], -1.0))
    return probs / max(targets.numel(), 1)


# %% [train_step] model.train() first (the mode it already is in), the model's own loss, set_to_none=False
def train_step(model, batch, optimizer):
    model.train()
    optimizer.zero_grad(set_to_none=False)
    out = model(input_ids=batch, labels=batch)
    out.loss.backward()
    optimizer.step()
    return float(out.loss.detach())


# %% [loss_after_training] keyword arguments, the model's own loss measured in eval mode under inference_mode
def loss_after_training(batch, lr, steps):
    net = tiny_gpt2(vocab_size=50, seed=0)
    opt = torch.optim.SGD(params=net.parameters(), lr=lr)
    for _step in range(steps):
        train_step(net, batch, opt)
    net.eval()
    with torch.inference_mode():
        return float(net(batch, labels=batch).loss)


# %% [lr_sweep] best_lr by sorting with nan mapped to +inf
losses = {}
for lr in learning_rates:
    losses[lr] = loss_after_training(experiment_batch, lr, steps=20)
best_lr = sorted(losses, key=lambda lr: losses[lr] if math.isfinite(losses[lr]) else math.inf)[0]
