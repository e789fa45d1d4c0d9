"""The GPT-2 transformer block written out (lesson 05), and a parameter census from a config.

GPT-2 is *pre-norm*: each sublayer reads a LayerNorm of the residual stream and adds its output back.

    h = x + Attn(LN_1(x))
    y = h + MLP(LN_2(h)),     MLP(z) = W_2 · GELU(W_1 z + b_1) + b_2

`GPT2BlockByHand.from_hf(block)` copies the weights of a Hugging Face `GPT2Block`, and `GPTByHand.from_hf(model)` a
whole `GPT2LMHeadModel` (lesson 06: your own GPT); `tests/test_transformer.py` checks that each gives the same
output as the original.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from utils.attention import MultiHeadAttention


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (GPT-2's `gelu_new`): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU (swish), Llama's activation: x · sigmoid(x) = x / (1 + e^(−x))."""
    return x * torch.sigmoid(x)


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalize each vector over its last dim to mean 0, variance 1, then scale and shift: `(..., d)`."""
    mean = x.mean(dim=-1, keepdim=True)                        # (..., 1)
    var = x.var(dim=-1, keepdim=True, unbiased=False)          # (..., 1): divide by d, not d - 1
    return (x - mean) / torch.sqrt(var + eps) * weight + bias  # (..., d); weight and bias (d,) broadcast


class LayerNorm(nn.Module):
    """`layer_norm` with learnable gain (init 1) and bias (init 0) of size d."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps)


class MLP(nn.Module):
    """Position-wise feed-forward: d_model → d_inner (GELU) → d_model, `(..., seq, d_model)`."""

    def __init__(self, d_model: int, d_inner: int):
        super().__init__()
        self.fc = nn.Linear(d_model, d_inner)
        self.proj = nn.Linear(d_inner, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(gelu(self.fc(x)))


class GPT2BlockByHand(nn.Module):
    """One GPT-2 block: pre-norm causal self-attention and MLP, each with a residual. `(..., seq, d_model)`.

    dropout: GPT-2's residual dropout, on each sublayer's output before it is added (active in `train()` mode only).
    """

    def __init__(self, d_model: int, n_heads: int, d_inner: int | None = None, eps: float = 1e-5,
                 dropout: float = 0.0):
        super().__init__()
        self.ln_1 = LayerNorm(d_model, eps)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=True)
        self.ln_2 = LayerNorm(d_model, eps)
        self.mlp = MLP(d_model, d_inner or 4 * d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))     # (..., seq, d_model)
        return x + self.drop(self.mlp(self.ln_2(x)))   # (..., seq, d_model)

    @classmethod
    def from_hf(cls, block: nn.Module, dropout: float = 0.0) -> GPT2BlockByHand:
        """A copy of a Hugging Face `GPT2Block` with the same weights.

        HF stores GPT-2's linears as `Conv1D` with weight `(in, out)` (transposed w.r.t. `nn.Linear`), and fuses
        Q, K, V into one `c_attn` of width 3·d_model.
        """
        d_model = block.ln_1.weight.shape[0]
        d_inner = block.mlp.c_fc.weight.shape[1]
        mine = cls(d_model, block.attn.num_heads, d_inner, eps=block.ln_1.eps, dropout=dropout)
        with torch.no_grad():
            for ln_mine, ln_hf in ((mine.ln_1, block.ln_1), (mine.ln_2, block.ln_2)):
                ln_mine.weight.copy_(ln_hf.weight)
                ln_mine.bias.copy_(ln_hf.bias)
            w_q, w_k, w_v = block.attn.c_attn.weight.split(d_model, dim=1)
            b_q, b_k, b_v = block.attn.c_attn.bias.split(d_model, dim=0)
            for proj, w, b in ((mine.attn.q_proj, w_q, b_q), (mine.attn.k_proj, w_k, b_k),
                               (mine.attn.v_proj, w_v, b_v), (mine.attn.out_proj, block.attn.c_proj.weight,
                                                              block.attn.c_proj.bias),
                               (mine.mlp.fc, block.mlp.c_fc.weight, block.mlp.c_fc.bias),
                               (mine.mlp.proj, block.mlp.c_proj.weight, block.mlp.c_proj.bias)):
                proj.weight.copy_(w.T)
                proj.bias.copy_(b)
        return mine


class GPTByHand(nn.Module):
    """A whole GPT-2 from the course's pieces: token and position embeddings (lessons 02, 03), `n_layer` blocks
    (05), a final LayerNorm, and an output layer tied to the token embedding. ids `(batch, seq)` → logits
    `(batch, seq, vocab)`.

    dropout: on the embeddings and on each block's sublayer outputs, as GPT-2's `embd_pdrop` and `resid_pdrop`;
    active in `train()` mode only. (GPT-2 also drops attention probabilities, `attn_pdrop`; this model does not.)
    """

    def __init__(self, vocab_size: int, n_positions: int, d_model: int, n_layer: int, n_heads: int,
                 d_inner: int | None = None, eps: float = 1e-5, dropout: float = 0.0):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(n_positions, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(GPT2BlockByHand(d_model, n_heads, d_inner, eps, dropout) for _ in range(n_layer))
        self.ln_f = LayerNorm(d_model, eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq = ids.shape[-1]
        if seq > self.wpe.num_embeddings:
            raise ValueError(f"{seq} tokens, but the model knows {self.wpe.num_embeddings} positions")
        positions = torch.arange(seq, device=ids.device)          # (seq,)
        h = self.drop(self.wte(ids) + self.wpe(positions))       # (batch, seq, d_model)
        for block in self.blocks:
            h = block(h)                                          # (batch, seq, d_model)
        return self.ln_f(h) @ self.wte.weight.T                   # (batch, seq, vocab): tied output layer

    @classmethod
    def from_hf(cls, model: nn.Module, dropout: float = 0.0) -> GPTByHand:
        """A copy of a Hugging Face `GPT2LMHeadModel` (tied output layer) with the same weights."""
        hf = model.transformer
        if model.lm_head.weight is not hf.wte.weight:
            raise ValueError("GPTByHand ties its output layer to the token embedding; this model does not")
        mine = cls(hf.wte.num_embeddings, hf.wpe.num_embeddings, hf.wte.embedding_dim, len(hf.h),
                   hf.h[0].attn.num_heads, hf.h[0].mlp.c_fc.weight.shape[1], hf.ln_f.eps, dropout)
        mine.blocks = nn.ModuleList(GPT2BlockByHand.from_hf(block, dropout) for block in hf.h)
        with torch.no_grad():
            for ours, theirs in ((mine.wte, hf.wte), (mine.wpe, hf.wpe), (mine.ln_f, hf.ln_f)):
                for name, tensor in theirs.named_parameters():
                    getattr(ours, name).copy_(tensor)
        return mine.to(hf.wte.weight.device)


def parameter_census(config) -> dict[str, int]:
    """Parameters of a `GPT2LMHeadModel` with this `GPT2Config`, by component, from the config alone.

    Keys: embeddings (token + position), attention, mlp, layernorm (all blocks + final), lm_head (0 when tied
    to the token embedding, as in GPT-2), total.
    """
    d, n_layer, vocab = config.n_embd, config.n_layer, config.vocab_size
    d_inner = config.n_inner or 4 * d
    attention = (d * 3 * d + 3 * d) + (d * d + d)
    mlp = (d * d_inner + d_inner) + (d_inner * d + d)
    tied = getattr(config, "tie_word_embeddings", True)
    census = {
        "embeddings": vocab * d + config.n_positions * d,
        "attention": n_layer * attention,
        "mlp": n_layer * mlp,
        "layernorm": n_layer * 2 * (2 * d) + 2 * d,
        "lm_head": 0 if tied else vocab * d,
    }
    census["total"] = sum(census.values())
    return census
