# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 05 — the transformer block
#
# You will write LayerNorm, GPT-2's GELU, the forward pass of a GPT-2 block, and a parameter count from a config,
# and check each against PyTorch and Hugging Face. Then you assemble the whole model from your block (the lesson only
# did it with the course's block) and measure which of the bundled model's blocks its predictions need most.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some of the checks. More (hidden) checks run when the lab is graded,
#   on fresh random inputs, shapes and configurations.
# - Do **not** call `torch.nn.functional.layer_norm` or `torch.nn.functional.gelu` (nor `nn.LayerNorm`, `nn.GELU`,
#   which call them) in your answers: the tests use them as the reference, and they raise while the hidden tests call
#   your functions. Nor the course's own answers in `utils.transformer` (`layer_norm`, `gelu`, `GPT2BlockByHand`,
#   `parameter_census`): that module cannot be imported while the hidden tests run.
# - **Allowed**: elementwise arithmetic, `mean`, `var`, `sqrt`, `torch.tanh`, `@`, `torch.arange`, indexing; calling
#   a block's submodules (`ln_1`, `attn`, `mlp`, `ln_2`) and the model's `wte`, `wpe`, `ln_f`, `lm_head`; your own
#   functions from earlier exercises. Each exercise says what else it forbids.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 50 minutes. 17 points. Runs in a few seconds on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging

from utils.models import load_model
from utils.numerics import assert_close, forward_reduction

torch.manual_seed(0)
logging.set_verbosity_error()   # nbgrader counts any stderr output of a test cell as a failure
model, tokenizer = load_model(device="cpu")   # the bundled GPT-2: 4 layers, d_model 256 (exercises 5 and 6)


def random_block(d_model: int = 32, n_heads: int = 4, seed: int = 0):
    # a GPT-2 block with random weights (LayerNorm gains and biases too), from a real GPT2LMHeadModel
    torch.manual_seed(seed)
    config = GPT2Config(n_embd=d_model, n_head=n_heads, n_layer=1, n_positions=32, vocab_size=10,
                        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    block = GPT2LMHeadModel(config).eval().transformer.h[0]
    with torch.no_grad():
        for p in (block.ln_1.weight, block.ln_1.bias, block.ln_2.weight, block.ln_2.bias):
            p.add_(0.5 * torch.randn_like(p))
    return block


def random_gpt2(n_layer: int = 2, d_model: int = 32, n_heads: int = 4, seed: int = 0, **config_kwargs):
    # a small GPT-2 with random weights, larger than GPT-2's init (std 0.2) so that every block matters
    torch.manual_seed(seed)
    settings = dict(vocab_size=50, n_positions=16, initializer_range=0.2, bos_token_id=0, eos_token_id=0,
                    resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    config = GPT2Config(n_embd=d_model, n_layer=n_layer, n_head=n_heads, **{**settings, **config_kwargs})
    return GPT2LMHeadModel(config).eval()


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — LayerNorm (2 points)
#
# Write `layer_norm(x, weight, bias, eps=1e-5)`: normalize every vector along the **last** dimension to mean 0 and
# variance 1, then multiply by `weight` and add `bias` (both of size `d`, the last dimension):
#
# $$\operatorname{LN}(x) = \text{weight} \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \text{bias}$$
#
# `σ²` is the *population* variance (divide by `d`, not `d − 1`). `x` may have any number of leading dimensions,
# none included (a single vector of shape `(d,)`). The default `eps=1e-5` is GPT-2's: it matters when a vector's
# variance is small.
# Compute it from `mean` and `var` (or sums): the library's other normalisations (`F.group_norm`, `F.instance_norm`,
# `F.batch_norm`) compute it for you on a reshaped `x`, so they raise while the hidden tests call your function.

# %% nbgrader={"grade": false, "grade_id": "layer_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    ### BEGIN SOLUTION
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_layer_norm_centred", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with weight 1 and bias 0, every vector gets mean 0 and std 1 (1 point)"""
_x = 3 + 2 * torch.randn(4, 10)
_y = layer_norm(_x, torch.ones(10), torch.zeros(10))
assert _y.shape == _x.shape
assert torch.allclose(_y.mean(-1), torch.zeros(4), atol=1e-5), "each row should have mean 0"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(501)
for _shape in [(1, 3), (2, 5, 7), (3, 1, 2, 16), (11,)]:  # (11,): no leading dimension
    _x = 5 * torch.randn(*_shape, generator=_g) - 2
    _y = layer_norm(_x, torch.ones(_shape[-1]), torch.zeros(_shape[-1]))
    expect_equal(tuple(_y.shape), tuple(_x.shape), message=f"shape {tuple(_y.shape)} for an input of shape {_shape}")
    expect_close(_y.mean(-1), torch.zeros(_shape[:-1]), atol=1e-4, message="each vector should have mean 0")
    _spread = _y.var(-1, unbiased=False)
    ### BEGIN REFERENCE
    _want = _x.var(-1, unbiased=False) / (_x.var(-1, unbiased=False) + 1e-5)  # 1, up to eps
    ### END REFERENCE
    expect_close(_spread, _want, atol=1e-3, message="each vector should have variance 1: divide by sqrt(var + eps)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_layer_norm_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""equals torch's layer_norm, with weight and bias (1 point)"""
_x, _w, _b = torch.randn(2, 3, 8), torch.randn(8), torch.randn(8)
assert torch.allclose(layer_norm(_x, _w, _b), F.layer_norm(_x, (8,), _w, _b), atol=1e-5), \
    "values differ from torch's LayerNorm (population variance? weight and bias?)"
assert torch.allclose(layer_norm(_x, _w, _b, eps=0.5), F.layer_norm(_x, (8,), _w, _b, eps=0.5), atol=1e-5), \
    "with eps=0.5 the values differ from torch's: eps belongs inside the square root"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.native_layer_norm",
                 "torch.nn.functional.group_norm", "torch.group_norm", "torch.native_group_norm",
                 "torch.nn.functional.instance_norm", "torch.instance_norm",
                 "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm",
                 "torch.nn.functional.rms_norm", "torch.rms_norm", "torch._fused_rms_norm",
                 "torch._decomp.decompositions._fused_rms_norm", "torch._refs._normalize",
                 "torch._refs.native_layer_norm", "torch._refs.native_group_norm",
                 "torch._decomp.decompositions.native_batch_norm_helper", "torch._native_batch_norm_legit",
                 "transformers.models.deberta.modeling_deberta.DebertaLayerNorm")
_g = torch.Generator().manual_seed(502)
for _shape in [(1, 3), (2, 5, 7), (3, 1, 2, 16), (9,)]:  # (9,): no leading dimension
    _d = _shape[-1]
    _x, _w, _b = (torch.randn(*_shape, generator=_g), torch.randn(_d, generator=_g),
                  torch.randn(_d, generator=_g))
    ### BEGIN REFERENCE
    _want, _want_eps = F.layer_norm(_x, (_d,), _w, _b), F.layer_norm(_x, (_d,), _w, _b, eps=0.5)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.transformer",)):
        _got, _got_eps = layer_norm(_x, _w, _b), layer_norm(_x, _w, _b, eps=0.5)
    expect_close(_got, _want, atol=1e-4, message=f"wrong values for shape {_shape}")
    expect_close(_got_eps, _want_eps, atol=1e-4, message="eps belongs inside the square root")
# vectors of std 1e-3 (variance 1e-6, below eps): the default eps decides the values (1e-6 instead would give
# about twice as large outputs)
_x, _w, _b = 1e-3 * torch.randn(4, 12, generator=_g), torch.randn(12, generator=_g), torch.randn(12, generator=_g)
### BEGIN REFERENCE
_want = F.layer_norm(_x, (12,), _w, _b)
### END REFERENCE
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.transformer",)):
    _got = layer_norm(_x, _w, _b)
expect_close(_got, _want, atol=1e-4, message="small-variance input: the default eps is 1e-5 (GPT-2's)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — GPT-2's GELU (1 point)
#
# GPT-2 uses the tanh approximation of GELU (`"gelu_new"` in its config):
#
# $$\operatorname{GELU}(x) = \tfrac12\, x \left(1 + \tanh\!\left(\sqrt{2/\pi}\,\left(x + 0.044715\,x^3\right)\right)\right)$$
#
# Write `gelu(x)` for a tensor of any shape, from the formula: Hugging Face's activation modules
# (`transformers.activations`: `ACT2FN["gelu_new"]`, a block's `mlp.act`) compute it for you, so they raise while the
# hidden test calls your function, like `F.gelu`.

# %% nbgrader={"grade": false, "grade_id": "gelu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gelu(x: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gelu", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""gelu equals the tanh approximation GPT-2 uses (1 point)"""
_x = torch.linspace(-4, 4, 9)
assert torch.allclose(gelu(_x), F.gelu(_x, approximate="tanh"), atol=1e-6)
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

import transformers.activations as _hidden_activations

_HIDDEN_ACTIVATIONS = tuple(f"transformers.activations.{_n}.forward" for _n, _c in vars(_hidden_activations).items()
                            if isinstance(_c, type) and issubclass(_c, torch.nn.Module) and "forward" in vars(_c))
_x = 3 * torch.randn(5, 7, generator=torch.Generator().manual_seed(503))
### BEGIN REFERENCE
_want = F.gelu(_x, approximate="tanh")
### END REFERENCE
with _hidden_forbidden("torch.nn.functional.gelu", "torch._C._nn.gelu_", "torch._refs.nn.functional.gelu",
                       "transformers.models.bloom.modeling_bloom.bloom_gelu_forward", *_HIDDEN_ACTIVATIONS,
                       modules=("utils.transformer",)):
    _got = gelu(_x)
expect_equal(tuple(_got.shape), (5, 7), message=f"shape {tuple(_got.shape)} for an input (5, 7)")
expect_close(_got, _want,
             atol=1e-6, message="not GPT-2's tanh approximation (the exact erf GELU differs by up to 5e-4)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — the block's forward pass (4 points)
#
# A Hugging Face `GPT2Block` has four submodules: `block.ln_1`, `block.attn`, `block.ln_2`, `block.mlp`. Use them
# (calling each is fine — `block.attn(h)[0]` is the attention output, causal by default) and write the block's
# forward pass **without calling `block` itself** (`block(x)` and `block.forward(x)` raise while the hidden tests
# call your function). GPT-2 is *pre-norm*:
#
# $$h = x + \operatorname{Attn}(\operatorname{LN}_1(x)),\qquad y = h + \operatorname{MLP}(\operatorname{LN}_2(h))$$
#
# `x` has shape `(batch, seq, d_model)`.

# %% nbgrader={"grade": false, "grade_id": "block_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def block_forward(x: torch.Tensor, block) -> torch.Tensor:
    ### BEGIN SOLUTION
    h = x + block.attn(block.ln_1(x))[0]
    return h + block.mlp(block.ln_2(h))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_block_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the output has the input's shape (1 point)"""
_block = random_block()
with torch.no_grad():
    assert block_forward(torch.randn(2, 5, 32), _block).shape == (2, 5, 32)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(515)
with torch.no_grad():
    for _b, _s in [(1, 1), (3, 9)]:
        _got = block_forward(torch.randn(_b, _s, 32, generator=_g), _block)
        expect_equal(tuple(_got.shape), (_b, _s, 32), message=f"shape {tuple(_got.shape)} for an input ({_b}, {_s}, 32)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_block_residual", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with the attention and MLP outputs switched off, the block is the identity: residuals (1 point)"""
_block = random_block(seed=1)
with torch.no_grad():
    for _proj in (_block.attn.c_proj, _block.mlp.c_proj):
        _proj.weight.zero_()
        _proj.bias.zero_()
    _x = torch.randn(2, 4, 32)
    assert torch.allclose(block_forward(_x, _block), _x, atol=1e-6), \
        "each sublayer's output is ADDED to its input: y = x + sublayer(...)"
### BEGIN HIDDEN TESTS
with torch.no_grad():
    _x = 10 * torch.randn(3, 7, 32, generator=torch.Generator().manual_seed(504))
    expect_close(block_forward(_x, _block), _x, atol=1e-5, message="the residual path must carry x unchanged")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_block_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""equals Hugging Face's GPT2Block with the same weights (2 points)"""
_block = random_block(seed=2)
with torch.no_grad():
    _x = torch.randn(2, 6, 32)
    assert torch.allclose(block_forward(_x, _block), _block(_x), atol=1e-5), \
        "differs from GPT2Block: pre-norm (LN inside the branch), attention first, then the MLP"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

with torch.no_grad():
    for _d, _h, _seed in [(24, 3, 505), (40, 5, 506)]:
        _blk = random_block(_d, _h, seed=_seed)
        _x = 3 * torch.randn(2, 11, _d, generator=torch.Generator().manual_seed(_seed))
        ### BEGIN REFERENCE
        _want = _blk(_x)
        ### END REFERENCE
        with _hidden_forbidden("transformers.models.gpt2.modeling_gpt2.GPT2Block.forward",
                               "transformers.models.decision_transformer.modeling_decision_transformer."
                               "DecisionTransformerGPT2Block.forward",
                               "transformers.models.gpt_bigcode.modeling_gpt_bigcode.GPTBigCodeBlock.forward",
                               "transformers.models.gpt_neo.modeling_gpt_neo.GPTNeoBlock.forward",
                               "transformers.models.imagegpt.modeling_imagegpt.ImageGPTBlock.forward",
                               modules=("utils.transformer",)):
            _got = block_forward(_x, _blk)
        expect_close(_got, _want, atol=1e-4, message=f"wrong for d_model={_d}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — count the parameters (3 points)
#
# Write `gpt2_parameter_count(config)` that returns the number (an `int`) of parameters of a `GPT2LMHeadModel` built from a
# `GPT2Config`, **from the config alone** (no model and none of its modules — `GPT2Attention`, `GPT2MLP`, `Conv1D` —
# building one, even on the meta device, raises while the hidden tests call your function). Use `config.vocab_size`, `config.n_positions`,
# `config.n_embd` (d), `config.n_layer`, and the MLP width `config.n_inner` (when it is `None`, it is `4·d`).
# Count: token and position embeddings; per block, `c_attn` (d → 3d) and `c_proj` (d → d), the MLP's
# `c_fc` (d → inner) and `c_proj` (inner → d), all with biases, and two LayerNorms (a weight and a bias of size d
# each); the final LayerNorm `ln_f`; and an output layer that is **tied** to the token embedding (it adds nothing).

# %% nbgrader={"grade": false, "grade_id": "gpt2_parameter_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gpt2_parameter_count(config: GPT2Config) -> int:
    ### BEGIN SOLUTION
    d, inner = config.n_embd, config.n_inner or 4 * config.n_embd
    embeddings = config.vocab_size * d + config.n_positions * d
    attention = d * 3 * d + 3 * d + d * d + d
    mlp = d * inner + inner + inner * d + d
    layernorms = 2 * 2 * d
    return embeddings + config.n_layer * (attention + mlp + layernorms) + 2 * d
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_count_gpt2_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""GPT-2 small (the default GPT2Config) has 124,439,808 parameters (1 point)"""
assert gpt2_parameter_count(GPT2Config()) == 124_439_808, f"got {gpt2_parameter_count(GPT2Config()):,}"
### BEGIN HIDDEN TESTS
_got = gpt2_parameter_count(GPT2Config())  # the visible check, judged by the grader
expect_equal(_got, 124_439_808, message=f"GPT-2 small: got {_got:,}, want 124,439,808")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_other", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the count equals PyTorch's on other configurations (2 points)"""
def _numel(config):
    with torch.device("meta"):   # shapes only: no memory, no download
        return sum(p.numel() for p in GPT2LMHeadModel(config).parameters())


_config = GPT2Config(vocab_size=1000, n_positions=64, n_embd=48, n_layer=3, n_head=4)
assert gpt2_parameter_count(_config) == _numel(_config), f"{gpt2_parameter_count(_config):,} vs {_numel(_config):,}"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

for _kwargs in [dict(vocab_size=37, n_positions=11, n_embd=20, n_layer=1, n_head=2),
                dict(vocab_size=4000, n_positions=128, n_embd=256, n_layer=4, n_head=4),
                dict(vocab_size=301, n_positions=17, n_embd=30, n_layer=5, n_head=3, n_inner=50)]:
    _config = GPT2Config(**_kwargs)
    ### BEGIN REFERENCE
    _want = _numel(_config)
    ### END REFERENCE
    with _hidden_forbidden("transformers.models.gpt2.modeling_gpt2.GPT2Model.__init__",
                           "transformers.models.gpt2.modeling_gpt2.GPT2Block.__init__",
                           "transformers.models.gpt2.modeling_gpt2.GPT2Attention.__init__",
                           "transformers.models.gpt2.modeling_gpt2.GPT2MLP.__init__",
                           "transformers.models.gpt2.modeling_gpt2.Conv1D.__init__",
                           "transformers.models.gpt_bigcode.modeling_gpt_bigcode.GPTBigCodeModel",
                           "transformers.models.gpt_bigcode.modeling_gpt_bigcode.GPTBigCodeBlock",
                           "transformers.models.gpt_bigcode.modeling_gpt_bigcode.GPTBigCodeAttention",
                           "transformers.models.gpt_bigcode.modeling_gpt_bigcode.GPTBigCodeMLP",
                           modules=("utils.transformer",)):
        _got = gpt2_parameter_count(_config)
    expect_equal(_got, _want, message=f"wrong count for {_kwargs}")
    assert type(_got) is int, "return an int"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — the whole model from your block (4 points)
#
# Write `gpt2_forward(model, ids)`: the logits of a `GPT2LMHeadModel` for token ids of shape `(batch, seq)`,
# assembled by hand — the token embedding `model.transformer.wte` plus the position embedding `model.transformer.wpe`
# of positions `0 … seq−1`, then every block of `model.transformer.h` in order **through your `block_forward`**, the
# final LayerNorm `model.transformer.ln_f` (with its own `eps`, the model's `config.layer_norm_epsilon`, which need
# not be 1e-5), and the output layer (GPT-2 ties it to the token embedding: `logits = h @ wte.weightᵀ`). Return a
# tensor of shape `(batch, seq, vocab)`.
#
# - Raise a `ValueError` when `seq` is longer than the model's `config.n_positions` (there is no position embedding
#   for it).
# - Do **not** call the model, `model.transformer` or a block (`model(ids)`, `model.transformer(ids)`, `block(h)`):
#   `GPT2LMHeadModel.forward`, `GPT2Model.forward` and `GPT2Block.forward` raise while the hidden tests call your
#   function. Calling `wte`, `wpe`, `ln_f`, `lm_head` and your `block_forward` is what this exercise is about.
#
# The test compares your logits with the model's own, on the bundled model and on random ones, with the course's
# float tolerance (`utils.numerics.assert_close`, `reduction=forward_reduction(config)`: the terms summed along the
# longest path from ids to logits).

# %% nbgrader={"grade": false, "grade_id": "gpt2_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    seq = ids.shape[-1]
    if seq > model.config.n_positions:
        raise ValueError(f"{seq} tokens, but the model has only {model.config.n_positions} positions")
    t = model.transformer
    h = t.wte(ids) + t.wpe(torch.arange(seq, device=ids.device))  # (batch, seq, d_model)
    for block in t.h:
        h = block_forward(h, block)  # (batch, seq, d_model)
    return t.ln_f(h) @ t.wte.weight.T  # (batch, seq, vocab)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_forward_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one logit vector per position, and a ValueError past the last position (1 point)"""
_m = random_gpt2()
with torch.no_grad():
    assert gpt2_forward(_m, torch.randint(50, (2, 7))).shape == (2, 7, 50), "logits are (batch, seq, vocab)"
try:
    gpt2_forward(_m, torch.randint(50, (1, 17)))   # n_positions is 16
except ValueError:
    pass
else:
    raise AssertionError("17 tokens do not fit a model with 16 positions: raise a ValueError")
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_block_forward(x, block):
    _h = x + block.attn(block.ln_1(x))[0]
    return _h + block.mlp(block.ln_2(_h))


_m = random_gpt2(n_layer=3, d_model=24, n_heads=3, seed=507, vocab_size=37, n_positions=9)
_g = torch.Generator().manual_seed(516)
with torch.no_grad(), _hidden_substituted(block_forward=_hidden_block_forward):  # judged with the reference block
    for _b, _s in [(1, 1), (3, 9), (2, 4)]:
        _got = gpt2_forward(_m, torch.randint(37, (_b, _s), generator=_g))
        expect_equal(tuple(_got.shape), (_b, _s, 37), message=f"wrong shape {tuple(_got.shape)} for {(_b, _s)}")
    for _s in (10, 30):
        try:
            gpt2_forward(_m, torch.randint(37, (2, _s), generator=_g))
            _raised = "nothing"
        except ValueError:
            _raised = "ValueError"
        expect_equal(_raised, "ValueError", message=f"{_s} tokens with n_positions=9: raise a ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_forward_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""equals the model's own logits: the bundled model, and random ones (3 points)"""
_ids = tokenizer("The capital of France is Paris.", return_tensors="pt").input_ids
with torch.no_grad():
    _ours, _theirs = gpt2_forward(model, _ids), model(_ids).logits
assert_close(_ours, _theirs, reduction=forward_reduction(model.config),
             what="logits (position embeddings? every block? ln_f? the tied output layer?)")
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted

### BEGIN REFERENCE
from utils.numerics import tolerance as _hidden_tolerance

### END REFERENCE


def _hidden_block_forward(x, block):
    _h = x + block.attn(block.ln_1(x))[0]
    return _h + block.mlp(block.ln_2(_h))


_HIDDEN_RULES = ("transformers.models.gpt2.modeling_gpt2.GPT2LMHeadModel.forward",
                 "transformers.models.gpt2.modeling_gpt2.GPT2Model.forward",
                 "transformers.models.gpt2.modeling_gpt2.GPT2Block.forward")
_g = torch.Generator().manual_seed(508)
_cases = [(model, torch.randint(1, 4000, (2, 40), generator=_g))]
for _seed, _kwargs in [(509, dict(n_layer=3, d_model=24, n_heads=3, vocab_size=37, n_positions=12)),
                       (510, dict(n_layer=1, d_model=40, n_heads=5, n_inner=56)),
                       (517, dict(n_layer=2, d_model=32, n_heads=4, layer_norm_epsilon=0.1))]:  # not 1e-5
    _m = random_gpt2(seed=_seed, **_kwargs)
    with torch.no_grad():
        for _blk in _m.transformer.h:   # LayerNorm gains and biases that are not 1 and 0
            for _p in (_blk.ln_1.weight, _blk.ln_1.bias, _blk.ln_2.weight, _blk.ln_2.bias):
                _p.add_(0.5 * torch.randn(_p.shape, generator=_g))
        _m.transformer.ln_f.weight.add_(0.5 * torch.randn(_m.transformer.ln_f.weight.shape, generator=_g))
        _m.transformer.ln_f.bias.add_(0.5 * torch.randn(_m.transformer.ln_f.bias.shape, generator=_g))
    _cases.append((_m, torch.randint(1, _m.config.vocab_size, (3, _m.config.n_positions), generator=_g)))
for _m, _ids in _cases:
    _atol = 0.0  # the grader compares with the reference kernel's tolerance, set below
    with torch.no_grad():
        ### BEGIN REFERENCE
        _want = _m(_ids).logits
        # utils.numerics.assert_close's rule: max |got - want| <= tolerance(scale, reduction), scale = max |want|
        _atol = _hidden_tolerance(_want.abs().max().item(), forward_reduction(_m.config))
        ### END REFERENCE
        with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.transformer",)), \
                _hidden_substituted(block_forward=_hidden_block_forward):  # judged with the reference block
            _got = gpt2_forward(_m, _ids)
    expect_close(_got, _want, atol=_atol, rtol=0.0, message=f"logits of {_m.config.n_layer} layers (ln_f eps {_m.config.layer_norm_epsilon:g}): wrong values")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex6_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 6 — experiment: which block do the predictions need? (3 points)
#
# Skip one block — its input passes unchanged to the next block, the residual stream without that block's two
# updates — and count how often the model still predicts the same next token.
#
# 1. Write `agreement_without_block(model, ids, k)`: the fraction (a Python `float` in `[0, 1]`) of all positions
#    (batch × seq) at which the most likely next token — the `argmax` of the logits — is the same with block `k`
#    skipped as with every block. Anything is allowed here (the model's own forward for the full logits, your
#    `block_forward` for the rest). The hidden test runs it on fresh random models and ids; it must agree with the
#    reference to within **0.01**.
# 2. Run it on the bundled `model` and the sentence `sentence_ids` below for every block: store the list
#    `agreements` (one float per block, in order) and `most_needed_block`, the index (an `int`) of the block whose
#    removal changes the most predictions. Graded against the reference: each agreement within **0.01**, the index
#    exactly.

# %% nbgrader={"grade": false, "grade_id": "experiment_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
sentence_ids = tokenizer("Gold is a chemical element. Its symbol is Au and its atomic number is 79.",
                         return_tensors="pt").input_ids   # (1, seq)

# %% nbgrader={"grade": false, "grade_id": "agreement_without_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def agreement_without_block(model: GPT2LMHeadModel, ids: torch.Tensor, k: int) -> float:
    ### BEGIN SOLUTION
    full = model(ids).logits.argmax(-1)  # (batch, seq)
    t = model.transformer
    h = t.wte(ids) + t.wpe(torch.arange(ids.shape[-1]))  # (batch, seq, d_model)
    for i, block in enumerate(t.h):
        if i != k:
            h = block_forward(h, block)
    skipped = (t.ln_f(h) @ t.wte.weight.T).argmax(-1)  # (batch, seq)
    return (skipped == full).float().mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "block_ablation", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
agreements = [agreement_without_block(model, sentence_ids, k) for k in range(model.config.n_layer)]
most_needed_block = min(range(len(agreements)), key=agreements.__getitem__)
### END SOLUTION
print("agreement with each block skipped:", [f"{a:.2f}" for a in agreements])
print("the predictions need block", most_needed_block, "most")

# %% nbgrader={"grade": true, "grade_id": "test_agreement", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""agreement_without_block measures the fraction of unchanged argmax predictions (2 points)"""
_m = random_gpt2(n_layer=2)
_ids = torch.randint(50, (2, 10))
_a = agreement_without_block(_m, _ids, 0)
assert isinstance(_a, float) and 0 <= _a <= 1, "return a Python float in [0, 1]"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_block_forward(x, block):
    _h = x + block.attn(block.ln_1(x))[0]
    return _h + block.mlp(block.ln_2(_h))


@torch.no_grad()
def _hidden_agreement(m, ids, k):
    _full = m(ids).logits.argmax(-1)
    _h = m.transformer.wte(ids) + m.transformer.wpe(torch.arange(ids.shape[-1]))
    for _i, _blk in enumerate(m.transformer.h):
        if _i != k:
            _out = _blk(_h)
            _h = _out[0] if isinstance(_out, tuple) else _out
    return (m.lm_head(m.transformer.ln_f(_h)).argmax(-1) == _full).float().mean().item()


_g = torch.Generator().manual_seed(511)
_seen = set()
for _seed in (512, 513, 514):
    _m = random_gpt2(n_layer=3, seed=_seed)
    _ids = torch.randint(50, (3, 16), generator=_g)
    for _k in range(3):
        ### BEGIN REFERENCE
        _want = _hidden_agreement(_m, _ids, _k)
        _seen.add(round(_want, 3))
        ### END REFERENCE
        with _hidden_substituted(block_forward=_hidden_block_forward):  # judged with the reference block
            _got = agreement_without_block(_m, _ids, _k)
        assert isinstance(_got, float), "return a Python float (Tensor.item())"
        expect_close(_got, _want, atol=0.01, rtol=0.0, message=f"block {_k} skipped: got {_got:.3f}, off by more than 0.01")
### BEGIN REFERENCE
assert len(_seen) > 3, "the hidden test's cases should not all agree equally"
### END REFERENCE
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_block_ablation", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the measured agreements on the bundled model, and the block they need most (1 point)"""
assert len(agreements) == model.config.n_layer, "one agreement per block"
assert isinstance(most_needed_block, int) and 0 <= most_needed_block < model.config.n_layer
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
with torch.no_grad():
    _full = model(sentence_ids).logits.argmax(-1)
    _want = []
    for _k in range(model.config.n_layer):
        _h = model.transformer.wte(sentence_ids) + model.transformer.wpe(torch.arange(sentence_ids.shape[-1]))
        for _i, _blk in enumerate(model.transformer.h):
            if _i != _k:
                _out = _blk(_h)
                _h = _out[0] if isinstance(_out, tuple) else _out
        _want.append((model.lm_head(model.transformer.ln_f(_h)).argmax(-1) == _full).float().mean().item())
### END REFERENCE
_got = [float(_a) for _a in agreements]
# the count first: expect_close broadcasts, so a list of one value would otherwise be compared with every block's
expect_equal(len(_got), model.config.n_layer, message=f"{len(_got)} agreements for {model.config.n_layer} blocks")
expect_close(torch.tensor(_got, dtype=torch.float64), torch.tensor(_want, dtype=torch.float64), atol=0.01, rtol=0.0,
             message=f"agreements {[round(_a, 3) for _a in _got]}: each must be within 0.01 of the reference's")
expect_equal(most_needed_block, min(range(len(_want)), key=_want.__getitem__), message="the block with the LOWEST agreement")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart the kernel, run all cells, and submit. Lesson 06 trains these parameters.
