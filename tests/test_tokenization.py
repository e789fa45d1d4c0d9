"""utils.tokenization against independent references: torch's one_hot, row lookup, the bundled tokenizer."""

from __future__ import annotations

import pytest
import torch

from utils.data import load_corpus
from utils.models import load_tokenizer
from utils.tokenization import chars_per_token, format_bytes, one_hot, one_hot_memory_bytes, train_bpe_merges


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("course-gpt2")


@pytest.mark.parametrize("seed", range(5))
def test_one_hot_equals_torch_reference(seed):
    g = torch.Generator().manual_seed(seed)
    vocab = int(torch.randint(1, 5000, (), generator=g))
    ids = torch.randint(0, vocab, (int(torch.randint(1, 300, (), generator=g)),), generator=g)
    out = one_hot(ids, vocab)
    assert out.dtype == torch.float32 and out.shape == (len(ids), vocab)
    assert torch.equal(out, torch.nn.functional.one_hot(ids, vocab).float())


def test_one_hot_accepts_a_list_and_an_empty_sequence():
    assert one_hot([2, 0, 1], 3).tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert one_hot([], 7).shape == (0, 7)


@pytest.mark.parametrize(("ids", "vocab", "match"), [
    ([0, 5], 5, r"\[0, 5\)"), ([-1, 2], 5, r"\[0, 5\)"), ([[1, 2]], 5, "1-D"),
    ([1.0, 2.0], 5, "integers"), ([1], 0, "vocab_size"),
])
def test_one_hot_bad_input_is_a_clear_value_error(ids, vocab, match):
    with pytest.raises(ValueError, match=match):
        one_hot(ids, vocab)


def test_one_hot_times_embedding_is_row_lookup():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(97, 16, generator=g)
    ids = torch.randint(0, 97, (40,), generator=g)
    assert torch.allclose(one_hot(ids, 97) @ emb, emb[ids])
    assert torch.allclose(one_hot(ids, 97) @ emb, torch.nn.functional.embedding(ids, emb))


def test_memory_arithmetic_matches_the_materialized_tensor():
    ids = torch.randint(0, 300, (123,))
    t = one_hot(ids, 300)
    assert one_hot_memory_bytes(123, 300) == t.numel() * t.element_size()
    assert one_hot_memory_bytes(125_000, 4000) == 2_000_000_000  # the seed's 2 GB: 4 chars/token, fp32
    assert one_hot_memory_bytes(10, 10, bytes_per_value=2) == 200
    with pytest.raises(ValueError):
        one_hot_memory_bytes(-1, 10)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(2_000_000_000) == "2.00 GB"
    assert format_bytes(1_750_000) == "1.75 MB"


def test_chars_per_token_on_the_corpus(tokenizer):
    lines = load_corpus()[:500]
    expected = sum(map(len, lines)) / sum(len(tokenizer(line)["input_ids"]) for line in lines)
    assert chars_per_token(lines, tokenizer) == pytest.approx(expected)
    assert 2.0 < expected < 8.0  # BPE merges frequent words: several characters per token
    with pytest.raises(ValueError):
        chars_per_token(["", ""], tokenizer)


def test_bundled_tokenizer_round_trips_corpus_lines(tokenizer):
    for line in load_corpus()[:200] + ["Zürich 🙂 is not in the corpus"]:
        ids = tokenizer.encode(line)
        assert all(0 <= i < len(tokenizer) for i in ids)
        assert tokenizer.decode(ids) == line


def test_train_bpe_merges_by_hand_example():
    # (a, n) occurs 6 times (twice in banana and bandana, once per ban); then (b, an) 4 times; then (an, a) twice
    assert train_bpe_merges(["banana", "bandana", "ban", "ban"], 4) == [("a", "n"), ("b", "an"), ("an", "a"),
                                                                        ("ban", "ana")]
    assert train_bpe_merges(["aaaa"], 5) == [("a", "a"), ("aa", "aa")]   # left to right, then stops: one symbol left
    assert train_bpe_merges([], 3) == []


def test_train_bpe_merges_equals_the_tokenizers_library_trainer():
    """The same merges, in the same order, as Hugging Face's BpeTrainer on 400 corpus lines (byte-level words)."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    lines = load_corpus()[:400]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=256 + 40, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    theirs = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in json.loads(tok.to_str())["model"]["merges"]]
    words = [word for line in lines for word, _ in tok.pre_tokenizer.pre_tokenize_str(line)]
    assert train_bpe_merges(words, 40) == theirs[:40]
