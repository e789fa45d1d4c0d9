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


# %% [cross_entropy_by_hand] flattened to (N, vocab) by reshape (0-d targets give N = 1), max subtracted, take_along_dim
def cross_entropy_by_hand(logits, targets):
    z = logits.reshape(-1, logits.shape[-1])
    t = targets.reshape(-1, 1)
    m = z.amax(dim=1, keepdim=True)
    lse = m + torch.log(torch.exp(z - m).sum(dim=1, keepdim=True))
    return (lse - torch.take_along_dim(z, t, dim=1)).mean()


# %% [cross_entropy_by_hand] advanced indexing of the target logits on the flattened view, logsumexp, sum / N
def cross_entropy_by_hand(logits, targets):
    z = logits.reshape(-1, logits.shape[-1])
    t = targets.reshape(-1)
    picked = z[torch.arange(len(t)), t]
    return (torch.logsumexp(z, dim=-1) - picked).sum() / len(t)


# %% [cross_entropy_grad] float32 inside for any dtype (bfloat16 included), exp(z - max) normalised, cast back
def cross_entropy_grad(logits, targets):
    z = logits.float()
    e = torch.exp(z - z.amax(dim=-1, keepdim=True))
    p = e / e.sum(dim=-1, keepdim=True)
    p = p - F.one_hot(targets, logits.shape[-1]).float()
    return (p / max(targets.numel(), 1)).to(logits.dtype)


# %% [cross_entropy_grad] on a flattened copy: softmax, then an in-place subtract at the targets by index_put_
def cross_entropy_grad(logits, targets):
    V = logits.shape[-1]
    g = torch.softmax(logits.reshape(-1, V), dim=-1).clone()
    t = targets.reshape(-1)
    g.index_put_((torch.arange(len(t)), t), torch.tensor(-1.0, dtype=g.dtype), accumulate=True)
    return (g / len(t)).reshape(logits.shape)


# %% [train_step] model.zero_grad(), logits taken from the output tuple, float(loss) with a print
def train_step(model, batch, optimizer):
    model.zero_grad(set_to_none=True)
    out = model(input_ids=batch)
    loss = next_token_loss(out[0], batch)
    loss.backward()
    optimizer.step()
    value = float(loss.detach())
    print(f"step loss {value:.4f}")
    return value


# %% [loss_after_training] loss measured with torch.inference_mode and the logits in float64
def loss_after_training(batch, lr, steps):
    model = tiny_gpt2()
    opt = torch.optim.SGD(params=model.parameters(), lr=lr)
    for _ in range(steps):
        train_step(model, batch, opt)
    with torch.inference_mode():
        logits = model(batch).logits.double()
        return float(next_token_loss(logits, batch))
