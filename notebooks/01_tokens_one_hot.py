# %% [markdown] slideshow={"slide_type": "slide"}
# # 01 · Tokens and one-hot vectors
#
# A language model never sees letters. It sees a list of integers, one per *token*, and the first thing it does
# with each integer is pick a row of a matrix. This lesson follows a sentence from the corpus all the way to that
# point.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - split text into tokens with the course's byte-level BPE tokenizer and map them to ids and back;
# - explain how BPE builds its vocabulary from merges, and why it never needs an "unknown" token;
# - write the one-hot matrix `(seq, vocab)` of a token sequence;
# - compute what a one-hot representation of real text would cost, with the characters-per-token ratio measured
#   on our corpus, and say why no model ever builds it.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`. Lab: `labs/lab01_tokens`.*

# %% slideshow={"slide_type": "skip"}
import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from utils.data import load_corpus
from utils.exercises import check
from utils.models import load_tokenizer, resolve_model_path
from utils.notebook import setup
from utils.plotting import heatmap
from utils.tokenization import chars_per_token, format_bytes, one_hot, one_hot_memory_bytes, train_bpe_merges

device = setup(seed=0)
tokenizer = load_tokenizer()  # the bundled course tokenizer (or $COURSE_MODEL's)
corpus = load_corpus()        # the pretraining corpus: one statement of a fact per line

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. From text to token ids
#
# A *vocabulary* is a fixed list of strings. The tokenizer cuts the text into pieces that are all in that list and
# replaces each piece by its index. Three choices are possible:
#
# | unit | vocabulary | sequence length |
# |---|---|---|
# | characters (bytes) | tiny: 256 | long: one id per character |
# | whole words | huge, and still misses new words | short |
# | **subwords (BPE)** | chosen: here 4,000 | a few characters per token |
#
# Byte-pair encoding sits in between: frequent words become one token, rare words are spelled from smaller pieces.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 4.9 s. 90-minute path: block 2 (15 minutes for 01, 02, 03) runs §1 (ids) live. Half-day path:
# block 2 (25 minutes for 01 and 02, both whole, with lab01 in the room for 10 minutes). Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print("vocabulary size:", len(tokenizer))
sentence = corpus[3]
ids = tokenizer.encode(sentence)
tokens = tokenizer.convert_ids_to_tokens(ids)
print("text  :", sentence)
print("tokens:", tokens)
print("ids   :", ids)

# %% [markdown] slideshow={"slide_type": "fragment"}
# `Ġ` is how GPT-2-style tokenizers *display* a leading space: the space belongs to the token that follows it, so
# `" capital"` and `"capital"` are different tokens. Decoding maps each id back to its bytes and joins them, so the
# round trip gives the text back exactly:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
print(repr(tokenizer.decode(ids)))
print("round trip exact:", tokenizer.decode(ids) == sentence)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 01.1 · decoding is a vocabulary lookup
#
# The tokenizer's vocabulary is a dictionary `{token string: id}` (`tokenizer.get_vocab()`). Write
# `decode_by_hand(ids, vocab)` that turns a list of ids back into text using only that dictionary: look up each id's
# string, join them, and show each `Ġ` as the space it stands for. The check uses its own small vocabulary.

# %% tags=["your-turn"]
def decode_by_hand(ids: list[int], vocab: dict[str, int]) -> str:
    ...  # your code here: the text the ids spell

# %% tags=["your-turn-check"]
check("01.1", decode_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def decode_by_hand(ids: list[int], vocab: dict[str, int]) -> str:
#     token_of = {i: token for token, i in vocab.items()}   # the dictionary, inverted: id -> string
#     return "".join(token_of[i] for i in ids).replace("Ġ", " ")
# ```
# The space is part of the token, so the pieces are joined with nothing between them. (The real tokenizer maps
# every one of the 256 bytes to a printable character, `Ġ` for the space byte, and decodes the bytes back; for
# ASCII text that is the replacement above.)
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. How BPE builds its vocabulary
#
# Training a BPE tokenizer starts from the 256 possible bytes and repeats one step: find the most frequent pair of
# adjacent symbols in the corpus and add their concatenation to the vocabulary as a new symbol. The list of merges,
# in the order they were learned, *is* the tokenizer. Ours learned its first merges from the course corpus:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** BPE starts from 256 bytes and repeats one merge; the list of merges is the tokenizer. Show
# the first merges, not the code. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
tokenizer_json = json.loads((Path(resolve_model_path()) / "tokenizer.json").read_text(encoding="utf-8"))
merges = [tuple(m) for m in tokenizer_json["model"]["merges"]]
print(f"256 byte symbols + 1 special token (EOS) + {len(merges):,} merges = {256 + 1 + len(merges):,} tokens")
print("the first ten merges:")
for rank, (a, b) in enumerate(merges[:10]):
    print(f"  {rank:2d}: {a!r:>6} + {b!r:<6} -> {a + b!r}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Where the merges come from
#
# Training is a counting loop. Split the corpus into words (a leading space stays with its word, shown as `Ġ`),
# spell each word as a list of characters, then repeat: count every pair of adjacent symbols over all words (a word
# that occurs 5 times counts 5 times), record the most frequent pair as the next merge, and join that pair
# everywhere before counting again. On `low low lower` the first round counts `(l, o)` and `(o, w)` 3 times each.
#
# ### Your turn 01.2 · train a few merges
#
# Write `train_merges_by_hand(words, n_merges)`: `words` is a list of strings, one entry per occurrence; return the
# first `n_merges` merges as a list of `(left, right)` pairs, in the order learned. Break ties by taking the pair
# that sorts first (`min` over `(-count, pair)`), and stop early if no word has two symbols left.

# %% slideshow={"slide_type": "subslide"} tags=["your-turn"]
def train_merges_by_hand(words: list[str], n_merges: int) -> list[tuple[str, str]]:
    ...  # your code here: count pairs, pick the best, merge it in every word, repeat

# %% tags=["your-turn-check"]
check("01.2", train_merges_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# from collections import Counter
#
# def train_merges_by_hand(words: list[str], n_merges: int) -> list[tuple[str, str]]:
#     counts = Counter(words)                          # each distinct word once, with how often it occurs
#     spelled = {word: list(word) for word in counts}  # its current symbols
#     merges = []
#     for _ in range(n_merges):
#         pairs = Counter()
#         for word, symbols in spelled.items():
#             for pair in zip(symbols[:-1], symbols[1:]):
#                 pairs[pair] += counts[word]
#         if not pairs:
#             break
#         best = min(pairs, key=lambda pair: (-pairs[pair], pair))
#         merges.append(best)
#         for word, symbols in spelled.items():          # join every occurrence of the pair, left to right
#             out, i = [], 0
#             while i < len(symbols):
#                 if symbols[i:i + 2] == list(best):
#                     out.append(symbols[i] + symbols[i + 1])
#                     i += 2
#                 else:
#                     out.append(symbols[i])
#                     i += 1
#             spelled[word] = out
#     return merges
# ```
# Counting each distinct word once, weighted by its frequency, is what makes it fast: a corpus repeats its words
# many times (counted below). The course keeps this loop as
# `utils.tokenization.train_bpe_merges`.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# Does this loop explain *our* tokenizer? Split the corpus into words with the tokenizer's own pre-tokenizer, train
# 20 merges with `utils.tokenization.train_bpe_merges`, and compare with the first 20 merges in `tokenizer.json`:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
pre_tokenize = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str   # text -> [(word, (start, end)), ...]
corpus_words = [word for line in corpus for word, _ in pre_tokenize(line)]
learned = train_bpe_merges(corpus_words, 20)
print(f"{len(corpus_words):,} words, {len(set(corpus_words)):,} distinct")
print("learned:", [a + b for a, b in learned[:8]], "...")
print(f"the same as the tokenizer's first 20 merges, in the same order: {learned == merges[:20]}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# To encode a word, apply the merges again: start from its characters and, while some adjacent pair is in the merge
# list, merge the pair that was learned *earliest*. Here is that loop by hand — a dozen lines — next to the real
# tokenizer.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
merge_rank = {pair: rank for rank, pair in enumerate(merges)}


def bpe_by_hand(word: str) -> list[str]:
    # Apply the learned merges to one word (ASCII here; a leading space is shown as 'Ġ'), printing each step.
    symbols = list(word.replace(" ", "Ġ"))
    print("start:", symbols)
    while True:
        pairs = [(merge_rank.get(pair, len(merges)), i) for i, pair in enumerate(zip(symbols[:-1], symbols[1:], strict=True))]
        rank, i = min(pairs, default=(len(merges), -1))
        if rank == len(merges):
            return symbols
        symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2:]
        print(f"merge #{rank:4d}:", symbols)


word = " Madagascar"
print("by hand  :", bpe_by_hand(word))
print("tokenizer:", tokenizer.tokenize(word))

# %% [markdown] slideshow={"slide_type": "subslide"}
# (The real tokenizer first splits text into words and punctuation with a regular expression, then runs this loop
# on each piece, merging every occurrence of the best pair at once; for a single word the result is the same.)
#
# Because the starting alphabet is *all 256 bytes*, any string can be encoded: a word the tokenizer never saw is
# spelled from smaller pieces, down to single bytes. There is no "unknown" token.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
for text in ["The capital of France is Paris.", "Zürich", "Ouagadougou", "🙂"]:
    pieces = tokenizer.tokenize(text)
    print(f"{text!r:34} {len(pieces)} token(s): {pieces}")
    assert tokenizer.decode(tokenizer.encode(text)) == text

# %% [markdown] slideshow={"slide_type": "subslide"}
# `Zürich` and the emoji are not in the corpus: their UTF-8 bytes show up as odd-looking single-byte symbols
# (`Ã`, `¼`, …) — the byte-level alphabet at work. A frequent corpus word like `Paris` is one token.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The one-hot matrix
#
# A neural network multiplies and adds, and an id is not a quantity: token 1360 is not "twice" token 680. So each id
# becomes a vector of length `V` (the vocabulary size) with a single 1 at the id's position. Stacking them for a
# sequence of `T` tokens gives the one-hot matrix
#
# $$X \in \{0, 1\}^{T \times V}, \qquad X_{t, v} = \begin{cases} 1 & v = \text{ids}_t \\ 0 & \text{otherwise.}\end{cases}$$
#
# Row `t` is token `t`. (The seed text draws the same matrix transposed, `V × T`, one column per token; it holds the
# same information. We use rows because PyTorch puts the sequence axis first.)

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** An id is not a quantity, so each becomes a one-hot row of length V. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
V = len(tokenizer)
X_by_hand = torch.zeros(len(ids), V)
for t, token_id in enumerate(ids):
    X_by_hand[t, token_id] = 1.0

X = one_hot(ids, V)  # the course's reference version, utils/tokenization.py
print("shape:", tuple(X.shape), " dtype:", X.dtype)
print("by hand == utils.one_hot:", torch.equal(X_by_hand, X))
print("== torch.nn.functional.one_hot:", torch.equal(X, torch.nn.functional.one_hot(torch.tensor(ids), V).float()))
print("ones per row:", X.sum(dim=1).tolist())
print("argmax of each row gives the ids back:", X.argmax(dim=1).tolist() == ids)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 01.3 · the one-hot matrix without a loop
#
# The loop above sets one entry per token. Write `one_hot_by_hand(ids, vocab_size)` that builds the same float32
# `(len(ids), vocab_size)` matrix with a single indexing step: a tensor of row numbers and the tensor of ids select
# the entries to set to 1. (No `one_hot` function from `torch` or `utils`: the point is the indexing.)

# %% tags=["your-turn"]
def one_hot_by_hand(ids: list[int], vocab_size: int) -> torch.Tensor:
    ...  # your code here: a float32 tensor of shape (len(ids), vocab_size)

# %% tags=["your-turn-check"]
check("01.3", one_hot_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def one_hot_by_hand(ids: list[int], vocab_size: int) -> torch.Tensor:
#     X = torch.zeros(len(ids), vocab_size)
#     X[torch.arange(len(ids)), torch.tensor(ids)] = 1.0   # entry (t, ids[t]) for every t at once
#     return X
# ```
# Two index tensors of the same length pick the pairs `(0, ids[0]), (1, ids[1]), …`. `X[ids] = 1` would instead
# fill whole *rows* numbered by the ids.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# The picture: all 4,000 columns (left — almost everything is white), and only the columns this sentence uses
# (right). Each row has exactly one lit cell.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
fig, (ax_full, ax_used) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [2, 1]})
rows, cols = X.nonzero(as_tuple=True)
ax_full.scatter(cols, rows, marker="s", s=18, color="black")
ax_full.set(xlim=(-1, V), ylim=(len(ids) - 0.5, -0.5), xlabel="vocabulary index v (all 4,000 columns)",
            ylabel="position t in the sentence", title=f"one-hot matrix: {X.numel():,} numbers, {len(ids)} ones")
ax_full.set_yticks(range(len(ids)), tokens)
used = sorted(set(ids))
heatmap(X[:, used], xlabels=[f"{v}" for v in used], ylabels=tokens, ax=ax_used, cmap="Greys", colorbar=False,
        title="only the columns in use", xlabel="token id", ylabel="")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. What a one-hot representation would cost
#
# The seed material says that a text of 0.5 MB would take about 2 GB as one-hot vectors. That depends on an
# assumption it does not state: **how many characters one token covers**. The arithmetic is
#
# $$\text{bytes} = \underbrace{\frac{\text{characters}}{\text{characters per token}}}_{T \text{ tokens}}
# \times V \times \underbrace{4}_{\text{bytes per fp32 value}}.$$
#
# First measure the exchange rate on our own corpus, encoding each statement the way the model reads it during
# pretraining:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 90-minute path: show this memory arithmetic from the slides (docs/workshops.md, block 2).
# The 2 GB figure hangs on the characters per token, measured here. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
n_chars = sum(len(line) for line in corpus)
cpt = chars_per_token(corpus, tokenizer)
print(f"corpus: {len(corpus):,} lines, {n_chars:,} characters, {round(n_chars / cpt):,} tokens")
print(f"measured: {cpt:.2f} characters per token")

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
text_bytes = 500_000  # "0.5 MB of text": plain English is one byte per character
for label, ratio in [("measured on our corpus", cpt), ("4 chars/token (what '2 GB' assumes)", 4.0)]:
    n_tokens = round(text_bytes / ratio)
    size = one_hot_memory_bytes(n_tokens, V, bytes_per_value=4)
    print(f"{label:38s}: {n_tokens:7,} tokens -> {format_bytes(size)} of fp32 one-hot "
          f"({size / text_bytes:,.0f}x the text)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# So the claim holds in order of magnitude: with our tokenizer (about 5 characters per statement token) 0.5 MB of
# text is about 1.6 GB of one-hot fp32; the round "2 GB" corresponds to exactly 4 characters per token. The ratio is `V × 4 / chars-per-token`: every character
# of text turns into thousands of bytes, almost all of them zeros.
#
# Is the formula right? Build a one-hot matrix for real and ask PyTorch how much memory it holds:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
sample_ids = tokenizer.encode(" ".join(corpus[:200]))
X_sample = one_hot(sample_ids, V)
measured = X_sample.numel() * X_sample.element_size()
print(f"{len(sample_ids):,} tokens: formula {format_bytes(one_hot_memory_bytes(len(sample_ids), V))}, "
      f"tensor holds {format_bytes(measured)}")
print("non-zero fraction:", f"{X_sample.count_nonzero().item() / X_sample.numel():.6f}", f"(= 1/V = {1 / V:.6f})")
del X_sample

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same 0.5 MB of text stored the ways a model could hold it:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
n_tokens = round(text_bytes / cpt)
d_model = 256  # width of the bundled model's embedding (lesson 02)
sizes = {
    "text (UTF-8)": text_bytes,
    "token ids (int64)": n_tokens * 8,
    "embeddings (fp32, d=256)": n_tokens * d_model * 4,
    "one-hot (fp32, V=4,000)": one_hot_memory_bytes(n_tokens, V),
    "one-hot at GPT-2's V=50,257": one_hot_memory_bytes(n_tokens, 50_257),
}
for name, size in sizes.items():
    print(f"{name:30s} {format_bytes(size):>10}")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(8, 3.2))
ax.barh(list(sizes), list(sizes.values()), color=["grey", "tab:blue", "tab:green", "tab:red", "darkred"])
ax.set_xscale("log")
ax.invert_yaxis()
ax.set(xlabel="bytes (log scale)", title="0.5 MB of text, five ways")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Why nobody materializes it
#
# The one-hot matrix is a mathematical device, not a data structure. Its only job is to be multiplied by the
# embedding matrix `E` (`V × d_model`), and multiplying a one-hot row by `E` just *selects one row* of `E`.
# So a model stores the ids (8 bytes per token), and `nn.Embedding` indexes `E[ids]` directly: no 4,000-wide vectors,
# no multiplications by zero. Lesson 02 proves `one_hot(ids) @ E == E[ids]` on the bundled model.
#
# (The seed also says the embedding "compresses" the one-hot matrix and saves memory. Nothing is saved, because
# the big matrix never existed; what the embedding gives is a *learned, dense* vector per token.)

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** `one_hot(ids) @ E` selects rows, so nobody builds the matrix; lesson 02 proves it. Section
# timing: see docs/workshops.md.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. Why does `" capital"` get a different id from `"capital"`?
# 2. A tokenizer has 50,257 tokens and averages 4 characters per token. How large is the fp32 one-hot of a 1 MB text?
# 3. Your friend writes the one-hot matrix as `(vocab, seq)`. Is information lost? What changes?
# 4. Why can a byte-level BPE tokenizer encode an emoji it never saw, while a word-level tokenizer cannot?
#
# <details><summary>Answers</summary>
#
# 1. The leading space is part of the token (`Ġcapital`); BPE learned the two strings as different symbols.
# 2. 1,000,000 / 4 = 250,000 tokens × 50,257 × 4 B ≈ 50.3 GB.
# 3. Nothing is lost — it is the transpose. But every shape downstream changes: you would write `Eᵀ @ X` instead of
#    `X @ E`, and PyTorch code expects the sequence axis first.
# 4. Its alphabet starts from all 256 bytes, so any UTF-8 string is a sequence of known symbols; merges only shorten it.
# </details>

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
# Try it: question 2, computed.
print(format_bytes(one_hot_memory_bytes(1_000_000 // 4, 50_257)))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Text → tokens → ids: the course tokenizer is byte-level BPE with 4,000 entries, built from merges learned on the
#   corpus; decoding gives the text back exactly, and no string is "unknown".
# - One-hot: `X[t, ids[t]] = 1`, shape `(seq, vocab)`, float; `utils.tokenization.one_hot` is the reference.
# - On our corpus a token is about 5 characters on average (measured), so 0.5 MB of text would be ≈ 1.6 GB of fp32
#   one-hot; the seed's "2 GB" assumes 4 characters per token. The rule: bytes = characters / (chars per token) × V × 4.
# - Nobody builds it: `one_hot @ E` is a row lookup, and models store ids and index `E` (lesson 02).
