"""Your-turn checks of lesson 06 (the training loop): the cross-entropy from logits, its gradient
softmax − one-hot, a finite-difference gradient, the forward pass of a whole GPT."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from utils.exercises import exercise, expect_close, expect_tensor


def _batch(n: int, vocab: int, g: torch.Generator, offset: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    return 3 * torch.randn(n, vocab, generator=g) + offset, torch.randint(vocab, (n,), generator=g)


def _cases(g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Four batches: plain, one row, logits around 1000 (exp overflows), a target 150 below the best logit (its
    probability underflows to 0 in float32, so log(softmax) gives inf)."""
    cases = [_batch(4, 10, g), _batch(1, 7, g), _batch(3, 50, g, offset=1000.0)]
    logits, targets = _batch(5, 20, g)
    logits[0, targets[0]] = logits[0].max() - 150.0
    return cases + [(logits, targets)]


@exercise("06.1", hint="per row: logsumexp(logits) − logits[target] (torch.logsumexp, and gather or indexing for "
          "the target's logit), then the mean over rows",
          done="your loss equals F.cross_entropy on 4 batches, huge logits and a tiny probability included")
def _(my_cross_entropy) -> None:
    g = torch.Generator().manual_seed(11)
    for logits, targets in _cases(g):
        want = F.cross_entropy(logits.double(), targets)
        got = my_cross_entropy(logits.clone(), targets.clone())
        got = expect_tensor(got, f"the loss of a {tuple(logits.shape)} batch").reshape(())
        expect_close(got, want, reduction=logits.shape[1], scale=logits.abs().max().item(),
                     what=f"the loss of a {tuple(logits.shape)} batch (largest |logit| "
                          f"{logits.abs().max().item():.0f})")


@exercise("06.2", hint="row i of the gradient is (softmax(logits[i]) − one_hot(target[i])) / N: the mean over N "
          "rows divides every row's gradient by N", done="your gradient equals autograd's on 4 batches")
def _(ce_grad_by_hand) -> None:
    g = torch.Generator().manual_seed(12)
    for logits, targets in _cases(g):
        leaf = logits.double().requires_grad_(True)
        F.cross_entropy(leaf, targets).backward()
        got = ce_grad_by_hand(logits.clone(), targets.clone())
        # the gradient holds probabilities / N; each softmax sums V exponentials of logits of this size
        expect_close(got, leaf.grad, reduction=logits.shape[1], scale=1.0 / len(logits),
                     what=f"the gradient for a {tuple(logits.shape)} batch")


@exercise("06.3", hint="for each i: (f(x + h·e_i) − f(x − h·e_i)) / (2h), where e_i is 1 at entry i and 0 elsewhere",
          done="your central differences match the true gradient to O(h²) on 3 functions")
def _(finite_difference_by_hand) -> None:
    g = torch.Generator().manual_seed(13)
    functions = [
        ("sum(sin(x) * x²)", lambda x: (torch.sin(x) * x ** 2).sum()),
        ("logsumexp(x) − x[0]", lambda x: torch.logsumexp(x, 0) - x[0]),
        ("x[0] · x[-1] + sum(exp(x / 2))", lambda x: x[0] * x[-1] + torch.exp(x / 2).sum()),
    ]
    h = 1e-4
    for (name, f), n in zip(functions, (5, 8, 3), strict=True):
        x = torch.randn(n, generator=g, dtype=torch.float64)
        leaf = x.clone().requires_grad_(True)
        f(leaf).backward()
        got = expect_tensor(finite_difference_by_hand(f, x.clone(), h), f"the estimate for f = {name}", shape=(n,))
        # central differences are off by about h²·f'''/6 (~1e-9 here); a forward difference by h·f''/2 (~1e-4)
        error = (got.double() - leaf.grad).abs().max().item()
        assert error <= 1e-6 * (1 + leaf.grad.abs().max().item()), (
            f"for f = {name} at {n} points your estimate is off by up to {error:.1e}: a central difference with "
            f"h = {h:g} should be within about 1e-8")


def _small_gpt2(seed: int, n_layer: int, vocab: int):
    """A small random GPT2LMHeadModel in eval mode, with non-trivial LayerNorms and position embeddings (so that a
    forgotten one shows)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=12, n_embd=24, n_layer=n_layer, n_head=3,
                                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln_" in name or "wpe" in name:
                p.add_(0.5 * torch.randn_like(p))
    return model.eval()


@exercise("06.4", hint="h = wte(ids) + wpe(positions 0 … seq−1); then h = block(h) for every block in order; then "
          "ln_f(h) @ wte.weight.T (the output layer is the token embedding, transposed)",
          done="your logits equal GPT2LMHeadModel's on 3 small models (1 to 3 blocks, 1 to 11 tokens)")
def _(gpt_logits) -> None:
    from utils.numerics import forward_reduction
    from utils.transformer import GPTByHand

    g = torch.Generator().manual_seed(14)
    for seed, (n_layer, vocab, batch, seq) in enumerate([(2, 40, 2, 11), (1, 9, 1, 1), (3, 30, 3, 6)]):
        model = _small_gpt2(100 + seed, n_layer, vocab)
        parts = GPTByHand.from_hf(model).eval()
        ids = torch.randint(vocab, (batch, seq), generator=g)
        with torch.no_grad():
            got = gpt_logits(ids.clone(), parts.wte, parts.wpe, list(parts.blocks), parts.ln_f)
            want = model(ids).logits
        expect_close(got, want, reduction=forward_reduction(model.config),
                     what=f"the logits of {batch} sequences of {seq} tokens ({n_layer} blocks, vocabulary {vocab})")
