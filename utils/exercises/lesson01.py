"""Your-turn checks of lesson 01 (tokens and one-hot vectors): decoding by vocabulary lookup, BPE training,
the one-hot matrix."""

from __future__ import annotations

import torch

from utils.exercises import exercise, expect_tensor
from utils.tokenization import train_bpe_merges

# A toy byte-level vocabulary: "Ġ" is how the tokenizer shows a leading space
_VOCAB = {"The": 0, "Ġcapital": 1, "Ġof": 2, "ĠFrance": 3, "Ġis": 4, "ĠParis": 5, ".": 6, "Ġ": 7, "Par": 8,
          "is": 9, "Ġ Ġ": 10, "Ġcap": 11, "ital": 12, "<|endoftext|>": 13}


def _decode_reference(ids: list[int]) -> str:
    by_id = {i: token for token, i in _VOCAB.items()}
    return "".join(by_id[i] for i in ids).replace("Ġ", " ")


@exercise("01.1", hint="invert the dictionary ({id: token}), join the tokens with no separator, then turn 'Ġ' "
          "back into a space", done="your decoder gives the text back for 5 id sequences, spaces included")
def _(decode_by_hand) -> None:
    cases = [[0, 1, 2, 3, 4, 5, 6], [0, 11, 12, 2, 3, 4, 8, 9, 6], [5], [7, 7, 5], [3, 10, 4]]
    for ids in cases:
        got = decode_by_hand(list(ids), dict(_VOCAB))
        want = _decode_reference(ids)
        if not isinstance(got, str):
            raise AssertionError(f"decode should return a str, got {type(got).__name__}")
        assert got == want, f"the ids {ids} should decode to {want!r}, yours gave {got!r}"


_TOY_CORPUS = ("low low low lower lower newest newest newest newest widest widest banana bandana "
               "Ġlow Ġlow Ġnew Ġnew Ġnew aaab").split()


@exercise("01.2", hint="each round: count adjacent pairs over all words, take the most frequent (ties: the pair "
          "that sorts first, min over (-count, pair)), then replace it in every word before counting again",
          done="your merges are the BPE merges of 3 toy corpora, ties and repeated pairs included")
def _(train_merges_by_hand) -> None:
    for words, n in [(_TOY_CORPUS, 10), (["aaaa", "aaaa", "abab"], 3), (list("hello world".split()) * 2, 6)]:
        want = train_bpe_merges(words, n)
        got = train_merges_by_hand(list(words), n)
        if not isinstance(got, list):
            raise AssertionError(f"return a list of (left, right) pairs, got {type(got).__name__}")
        got = [tuple(pair) for pair in got]
        for rank, (g, w) in enumerate(zip(got, want, strict=False)):
            assert g == w, (f"on the corpus {' '.join(words)!r}, merge #{rank} should be {w}, yours is {g} "
                            f"(the merges before it were right)")
        assert len(got) == len(want), f"asked for {n} merges on {' '.join(words)!r}: expected {len(want)}, got " \
                                      f"{len(got)}"


@exercise("01.3", hint="start from torch.zeros(len(ids), vocab_size) and set X[torch.arange(len(ids)), ids] = 1 "
          "in one indexing step", done="your one-hot matrices match torch's for 4 sequences, repeats included")
def _(one_hot_by_hand) -> None:
    g = torch.Generator().manual_seed(1)
    for length, vocab in [(6, 10), (1, 4), (9, 9), (12, 50)]:
        ids = torch.randint(vocab, (length,), generator=g).tolist()
        if length == 9:
            ids[3] = ids[5] = ids[7]                     # a repeated token
        got = expect_tensor(one_hot_by_hand(list(ids), vocab), f"the one-hot matrix of {length} tokens",
                            shape=(length, vocab))
        assert got.is_floating_point(), f"the one-hot matrix should hold floats (it gets multiplied by E), got " \
                                        f"{got.dtype}"
        want = torch.nn.functional.one_hot(torch.tensor(ids), vocab).to(got.dtype)
        wrong = (got != want).nonzero().tolist()
        assert not wrong, f"for ids {ids}, entry (t, v) = {tuple(wrong[0])} is {got[tuple(wrong[0])].item():g}, " \
                          f"expected {want[tuple(wrong[0])].item():g}"
