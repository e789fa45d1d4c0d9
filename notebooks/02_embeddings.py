# %% [markdown] slideshow={"slide_type": "slide"}
# # 02 · Embeddings
#
# Lesson 01 ended with a one-hot matrix that nobody builds. This lesson shows what is built instead: the
# **embedding matrix** $E$, one learned row of $d_{\text{model}}$ numbers per token, and the lookup `E[ids]` that replaces the
# product `one_hot(ids) @ E`.
#
# **After this lesson you can**
# - give the shape of an embedding matrix and count its parameters in a real model;
# - prove that `one_hot(ids) @ E` equals `E[ids]`, and say why the lookup is what models do;
# - explain what actually keeps two tokens apart after embedding (and why "it is linear, so nothing is lost" is the
#   wrong reason);
# - find a token's nearest neighbours in the bundled model's embedding space and draw a 2-D map of it.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`. Lab: `labs/lab02_embeddings`.*

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import torch

from utils.data import load_corpus, load_facts
from utils.exercises import check
from utils.models import load_model
from utils.notebook import setup
from utils.numerics import close
from utils.plotting import scatter_labelled
from utils.tokenization import format_bytes, one_hot

device = setup(seed=0)
model, tokenizer = load_model(device="cpu")  # the bundled GPT-2 (trained on the fact corpus), on the CPU: we only inspect it

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The embedding matrix
#
# An embedding matrix has one row per vocabulary entry and one column per model dimension:
#
# $$E \in \mathbb{R}^{V \times d_{\text{model}}}, \qquad \text{row } v = \text{the vector of token } v.$$
#
# In a Hugging Face GPT-2 it is `model.transformer.wte` ("word token embedding"), an `nn.Embedding`.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 5.3 s. 90-minute path: block 2 (15 minutes for 01, 02, 03). Half-day path: block 2 (25
# minutes for 01 and 02, both whole). Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
E = model.transformer.wte.weight.detach()
V, d_model = E.shape
n_params = sum(p.numel() for p in model.parameters())
print(f"E: {V:,} tokens x {d_model} dimensions = {E.numel():,} parameters ({format_bytes(E.numel() * 4)} in fp32)")
print(f"share of the whole model's {n_params:,} parameters: {E.numel() / n_params:.1%}")
print("the output layer reuses the same matrix (tied weights):", model.lm_head.weight is model.transformer.wte.weight)

# %% [markdown] slideshow={"slide_type": "fragment"}
# Tied weights mean the same rows are used twice: at the input (token → vector) and at the output, where the last
# hidden state is compared with every row to score every possible next token (lesson 06). For comparison, GPT-2 small
# has $50{,}257 \times 768 = 38.6$ M embedding parameters, about a third of its 124 M.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. `one_hot(ids) @ E` is a row lookup
#
# Multiply the one-hot matrix $X$ ($T \times V$) by $E$ ($V \times d$). Entry $(t, j)$ of the product is
#
# $$(XE)_{t, j} = \sum_{v=0}^{V-1} X_{t, v}\, E_{v, j} = E_{\text{ids}_t,\, j},$$
#
# because $X_{t, v}$ is 1 for $v = \text{ids}_t$ and 0 for every other $v$. Row $t$ of the product is row $\text{ids}_t$ of $E$.
# Check it on a sentence, against both the plain index and the model's own `nn.Embedding`:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the 90-minute path (docs/workshops.md, block 2: 02 §2): `one_hot @ E` equals
# `E[ids]`. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
sentence = "The capital of France is Paris."
ids = torch.tensor(tokenizer.encode(sentence))
by_matmul = one_hot(ids, V) @ E
by_lookup = E[ids]
by_module = model.transformer.wte(ids).detach()
print("ids:", ids.tolist(), " -> vectors:", tuple(by_lookup.shape))
assert torch.allclose(by_matmul, by_lookup) and torch.equal(by_lookup, by_module)
print("one_hot(ids) @ E == E[ids] == wte(ids): True")

# %% [markdown] slideshow={"slide_type": "fragment"}
# The two give the same numbers, at very different prices. The product does $T \times V \times d$ multiply-adds, all but
# $T \times d$ of them with a zero; the lookup copies $T \times d$ numbers.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
T = len(ids)
print(f"matmul: {T * V * d_model:,} multiply-adds, {T * V:,} one-hot entries held in memory")
print(f"lookup: {T * d_model:,} numbers copied, {T} ids held in memory")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Is information lost? Correcting the seed
#
# The seed text says that because the embedding is a matrix multiplication, and matrix multiplication is linear,
# "no information is lost". Linearity guarantees nothing of the kind. `x ↦ xE` maps a 4,000-dimensional space into a
# 256-dimensional one; its rank is at most 256, so it sends a whole 3,744-dimensional subspace of inputs to zero.
# Here is an input that disappears:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Linearity alone does not keep information; the rank of E decides. Correct the seed here.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print("rank of E:", torch.linalg.matrix_rank(E).item(), " -> dimensions sent to zero:", V - torch.linalg.matrix_rank(E).item())

# Any 257 vectors in a 256-dimensional space are linearly dependent: find the combination that cancels.
rows = torch.arange(d_model + 1)
U, S, Vh = torch.linalg.svd(E[rows].double(), full_matrices=True)
null_input = torch.zeros(V, dtype=torch.float64)
null_input[rows] = U[:, -1]  # unit length, orthogonal to every column of E[rows]
# "== 0 up to float64 rounding" (utils.numerics, lesson 07): the SVD's x is exact up to u x its largest singular value
zero, scale = torch.zeros(d_model, dtype=torch.float64), S[0].item()
print(f"|x| = {null_input.norm():.4f},  x @ E == 0 up to rounding:",
      close(null_input @ E.double(), zero, reduction=d_model + 1, scale=scale))

france = one_hot([tokenizer.encode(" France")[0]], V)[0].double()
print("one-hot(France) and one-hot(France) + x embed to the same vector:",
      close(france @ E.double(), (france + null_input) @ E.double(), reduction=d_model + 1, scale=scale))

# %% [markdown] slideshow={"slide_type": "subslide"}
# So a linear map *can* lose information. Why doesn't this one lose anything we care about? Because it is only ever
# applied to one-hot vectors, and on those it is a lookup: token `a` and token `b` stay distinguishable exactly when
# rows `E[a]` and `E[b]` differ. That is a property of the **rows**, learned in training, not of linearity.
#
# ### Your turn 02.2 · the closest pair of rows
#
# Write `closest_pair_by_hand(E)`: the two different token ids `(a, b)` whose rows of `E` (shape `(V, d)`) are
# closest in Euclidean distance. The check plants a near-duplicate pair in random matrices of its own.

# %% tags=["your-turn"]
def closest_pair_by_hand(E: torch.Tensor) -> tuple[int, int]:
    ...  # your code here: (a, b), two different row indices

# %% tags=["your-turn-check"]
check("02.2", closest_pair_by_hand)

# %% [markdown]
# <details><summary>Worked answer</summary>
#
# ```python
# def closest_pair_by_hand(E: torch.Tensor) -> tuple[int, int]:
#     dist = torch.cdist(E, E)                 # (V, V): every pairwise distance
#     dist.fill_diagonal_(float("inf"))        # a row is at distance 0 from itself: not a pair
#     return divmod(dist.argmin().item(), len(E))
# ```
# `argmin` of the flattened `(V, V)` matrix is $a \cdot V + b$; `divmod` turns it back into a row and a column.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now on the course model: the smallest distance between any two of the 4,000 rows.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
dist = torch.cdist(E, E)
dist.fill_diagonal_(float("inf"))
a, b = divmod(dist.argmin().item(), V)
print(f"closest pair of distinct tokens: {tokenizer.decode([a])!r} and {tokenizer.decode([b])!r}, "
      f"distance {dist[a, b]:.2f}")
print(f"typical row length: {E.norm(dim=1).median():.2f}; rows closer than 1e-3: {(dist < 1e-3).sum().item() // 2}")

counts = torch.bincount(torch.tensor([i for line in load_corpus() for i in tokenizer.encode(line)]), minlength=V)
print(f"occurrences in the tokenized corpus: {tokenizer.decode([a])!r} {counts[a].item()}, "
      f"{tokenizer.decode([b])!r} {counts[b].item()}; tokens that never occur: {(counts == 0).sum().item():,} of {V:,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# No two rows coincide. The closest pair is telling: they are intermediate pieces of BPE training (merged further
# into longer tokens every time, so the encoded corpus never contains them) — like many other vocabulary entries
# that never occur. Such rows get no gradient at the input; they are moved only through the tied output layer, which
# pushes all never-seen tokens in similar directions. The rows still differ, so the tokens stay distinguishable.

# %% [markdown] slideshow={"slide_type": "fragment"}
# Now break it on purpose: give `Germany` the same row as `France`. The map is exactly as linear as before, but the
# model can no longer tell the two countries apart — every later layer receives identical input.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
france_id, germany_id = tokenizer.encode(" France")[0], tokenizer.encode(" Germany")[0]
E_broken = E.clone()
E_broken[germany_id] = E_broken[france_id]
x_fr, x_de = one_hot([france_id], V) @ E_broken, one_hot([germany_id], V) @ E_broken
print("France and Germany identical after embedding with the broken E:", torch.equal(x_fr, x_de))

# %% [markdown] slideshow={"slide_type": "subslide"}
# (The seed also calls the embedding a *compression* of the one-hot matrix that saves memory. Lesson 01 showed that the
# one-hot matrix is never stored, so nothing is saved; the point of `E` is that its rows are *learned*, dense and
# comparable, which the next two sections look at.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Nearest neighbours
#
# If training places tokens that behave alike close together, the geometry of `E` should show it. Compare directions
# with the cosine similarity
#
# $$\cos(a, b) = \frac{E_a \cdot E_b}{\lVert E_a \rVert\, \lVert E_b \rVert} \in [-1, 1]$$
#
# and list the most similar rows (excluding the token itself).
#
# ### Your turn 02.1 · nearest neighbours by cosine
#
# Write `nearest_by_hand(E, token_id, k)`: the ids of the `k` rows of `E` with the largest cosine similarity to row
# `token_id`, most similar first, the token itself left out. The check's matrices have rows of very different
# lengths, so a plain dot product ranks them differently.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Cosine neighbours: tokens that behave alike sit close together. Section timing: see
# docs/workshops.md.

# %% tags=["your-turn"]
def nearest_by_hand(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    ...  # your code here: k token ids, most similar first

# %% slideshow={"slide_type": "subslide"} tags=["your-turn-check"]
check("02.1", nearest_by_hand)

# %% [markdown]
# <details><summary>Worked answer</summary>
#
# ```python
# def nearest_by_hand(E: torch.Tensor, token_id: int, k: int) -> list[int]:
#     unit = E / E.norm(dim=1, keepdim=True)   # every row scaled to length 1
#     sims = unit @ unit[token_id]             # (V,): the cosine with every row
#     sims[token_id] = -float("inf")           # never its own neighbour
#     return sims.topk(k).indices.tolist()
# ```
# After dividing each row by its length, a dot product *is* the cosine. The next cell does the same on the course
# model's `E`, with the tokens decoded.
# </details>

# %% [markdown] slideshow={"slide_type": "fragment"}
# The course model's neighbours:

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-apart", "nbval-check-output"]
E_unit = E / E.norm(dim=1, keepdim=True)


def nearest(word: str, k: int = 5) -> list[tuple[str, float]]:
    # The k tokens whose embedding points most nearly the same way as `word`'s (a single token).
    (token_id,) = tokenizer.encode(word)
    sims = E_unit @ E_unit[token_id]
    sims[token_id] = -float("inf")
    top = sims.topk(k)
    return [(tokenizer.decode([i]), round(s, 2)) for i, s in zip(top.indices.tolist(), top.values.tolist(), strict=True)]


for word in [" France", " Paris", " Hydrogen", " Africa", " Spanish", " capital"]:
    print(f"{word!r:12}", nearest(word))


# %% [markdown] slideshow={"slide_type": "fragment"}
# Countries sit next to countries (often neighbours with the same language or region), capitals next to capitals,
# chemical elements next to elements, continents next to continents, and the relation words of the corpus
# (`capital`, `currency`, `demonym`) next to each other. Nobody told the model these categories; it only predicted the
# next token of statements like *"The capital of France is Paris."* Tokens that can fill the same slot get
# similar rows. (With `COURSE_MODEL=gpt2` the same cell shows GPT-2's neighbours.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. A 2-D map of the embedding space
#
# 256 dimensions cannot be drawn. Principal component analysis (PCA) finds the two directions along which a chosen
# set of rows varies most and projects onto them. Take a dozen single-token words from five kinds of fact in our
# corpus:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** PCA of a dozen words from five kinds of fact; let the room guess the clusters first.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
def single_token_words(relation: str, field: str, n: int = 12) -> list[str]:
    # Words of one kind from the fact table that the tokenizer keeps as a single token (with a leading space).
    words = sorted({fact[field] for fact in load_facts() if fact["relation"] == relation})
    return [w for w in words if len(tokenizer.encode(" " + w)) == 1][:n]


groups = {
    "country": single_token_words("capital", "subject"),
    "capital city": single_token_words("capital", "answer"),
    "chemical element": single_token_words("symbol", "subject"),
    "language": single_token_words("language", "answer"),
    "number": [str(n) for n in range(1, 13)],
}
words = [w for ws in groups.values() for w in ws]
labels = [g for g, ws in groups.items() for _ in ws]
word_ids = torch.tensor([tokenizer.encode(" " + w)[0] for w in words])
print({group: len(ws) for group, ws in groups.items()})

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
points = E[word_ids] - E[word_ids].mean(dim=0)
U, S, Vh = torch.linalg.svd(points, full_matrices=False)
signs = torch.sign(Vh[:2].gather(1, Vh[:2].abs().argmax(dim=1, keepdim=True)))  # fixed signs: same picture every run
projected = points @ (Vh[:2] * signs).T
explained = (S[:2] ** 2).sum() / (S ** 2).sum()
ax = scatter_labelled(projected, words, groups=labels, xlabel="principal component 1", ylabel="principal component 2",
                      title=f"bundled model's token embeddings, PCA to 2-D ({explained:.0%} of the variance)")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The groups separate even in two of 256 dimensions. PCA keeps only a slice of the variance, so overlaps in the
# picture do not mean the rows coincide — section 3 measured that no two rows are closer than the printed distance.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. `E` has shape `(4000, 256)`. What is the shape of `E[ids]` for `ids` of shape `(8, 20)` (a batch of 8
#    sequences of 20 tokens)?
# 2. Your colleague writes `E[:, ids]`. What goes wrong?
# 3. A linear map from 4,000 to 256 dimensions. Can it be one-to-one on all inputs? On the 4,000 one-hot vectors?
# 4. Two tokens never appear in the training data. Why might their rows end up almost equal, and what would that mean?
#
# <details><summary>Answers</summary>
#
# 1. `(8, 20, 256)`: indexing keeps the shape of `ids` and appends `d_model`.
# 2. That selects *columns* (model dimensions), not token rows: with ids ≥ 256 it fails, otherwise it silently
#    returns the wrong numbers, shape `(4000, T)`.
# 3. Not on all inputs (rank ≤ 256, a 3,744-dimensional null space). On one-hot vectors it is one-to-one exactly when the
#    4,000 rows are pairwise different.
# 4. They only receive gradient through the tied output layer, which pushes every unused token the same way; nearly equal
#    rows make the two tokens nearly indistinguishable to the model.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - The embedding matrix $E$ is $V \times d_{\text{model}}$ (here $4000 \times 256$, a quarter of the bundled model); GPT-2 ties it to the
#   output layer.
# - `one_hot(ids) @ E == E[ids]`: the product is a row lookup, so models index `E` and never build the one-hot matrix.
# - Linearity does not prevent information loss (this map has a 3,744-dimensional null space). Tokens stay
#   distinguishable because their **rows differ** — measured: no two rows coincide.
# - Training arranges the rows by role: nearest neighbours and the PCA map group countries, capitals, elements,
#   languages and numbers.
