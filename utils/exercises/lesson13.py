"""Your-turn checks of lesson 13 (the chatbot): one training example's ids and labels, a greedy step with stop rules,
the nucleus, a few-shot prompt."""

from __future__ import annotations

import torch

from utils.exercises import exercise, expect_close
from utils.exercises._answers import as_pair
from utils.training import IGNORE_INDEX


def _ints(value, what: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    assert isinstance(value, (list, tuple)), f"{what} should be a list of ints, got {type(value).__name__}"
    assert all(isinstance(v, int) for v in value), f"{what} should hold ints only"
    return list(value)


@exercise("13.1", hint="input_ids = prompt + answer + [eos]; labels = [-100] for every prompt token, "
                       "then the answer ids and the EOS id (kept: it teaches the model to stop)",
          done="your ids and labels match for 4 examples (EOS id 0 and 50256, an empty answer)")
def _(example_by_hand) -> None:
    g = torch.Generator().manual_seed(13)
    for n_prompt, n_answer, eos in [(7, 3, 0), (12, 1, 50256), (5, 0, 0), (9, 6, 3)]:
        prompt = torch.randint(1, 4000, (n_prompt,), generator=g).tolist()
        answer = torch.randint(1, 4000, (n_answer,), generator=g).tolist()
        input_ids, labels = as_pair(example_by_hand(list(prompt), list(answer), eos), "(input_ids, labels)")
        input_ids, labels = _ints(input_ids, "input_ids"), _ints(labels, "labels")
        want_ids = [*prompt, *answer, eos]
        want_labels = [IGNORE_INDEX] * n_prompt + [*answer, eos]
        assert input_ids == want_ids, (f"input_ids for a {n_prompt}-token prompt and a {n_answer}-token answer: "
                                       "the prompt, then the answer, then one EOS")
        assert len(labels) == len(input_ids), (f"one label per input id: {len(input_ids)} ids but "
                                               f"{len(labels)} labels")
        assert labels[-1] != IGNORE_INDEX, "the final EOS lost its label: a model trained so never learns to stop"
        assert labels[:n_prompt] == want_labels[:n_prompt], "every prompt position gets the label -100"
        assert labels == want_labels, ("the answer positions should carry the answer's own ids (the model shifts "
                                       "labels by one itself: do not shift them)")


@exercise("13.2", hint="append logits.argmax() to new_ids first; then stop when that token is a stop id "
                       "(it stays in the answer, as generate keeps it) or when len(new_ids) reaches max_new_tokens",
          done="your step follows the rules in 6 situations (a stop token, the budget spent, the last token allowed)")
def _(greedy_step_by_hand) -> None:
    g = torch.Generator().manual_seed(21)
    logits = torch.randn(12, generator=g)                                   # (vocab,)
    best, second = logits.topk(2).indices.tolist()
    cases = [  # (tokens already generated, stop ids, max_new_tokens, must stop, what it tests)
        (0, [second], 8, False, "a fresh answer whose best token is not a stop id"),
        (3, [best], 8, True, "the best token is a stop id"),
        (7, [second], 8, True, "this token is the last one max_new_tokens allows"),
        (6, [second], 8, False, "one more token will still be allowed after this one"),
        (2, [], 4, False, "no stop ids at all"),
        (0, [best, second], 1, True, "a stop id on the first step, with a budget of 1"),
    ]
    for n_before, stop_ids, budget, must_stop, what in cases:
        before = torch.randint(0, 12, (n_before,), generator=g).tolist()
        new_ids = list(before)
        stop = greedy_step_by_hand(logits.clone(), new_ids, list(stop_ids), budget)
        assert new_ids[:n_before] == before and len(new_ids) == n_before + 1, (
            f"{what}: new_ids went from {n_before} to {len(new_ids)} tokens; append exactly the chosen token to the "
            "list you were given")
        assert new_ids[-1] == best, f"{what}: you appended token {new_ids[-1]}, not the one with the largest logit"
        assert isinstance(stop, bool), f"return True (stop) or False (go on), got {stop!r}"
        assert stop == must_stop, (f"{what} ({n_before + 1} of {budget} tokens, stop ids {stop_ids}): you return "
                                   f"{stop}, the rules say {'stop' if must_stop else 'go on'}")


def _nucleus(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Top-p by sorting: keep the most likely tokens until their mass reaches p (the one that crosses p included)."""
    sorted_probs, order = probs.double().sort(descending=True)             # (vocab,), (vocab,)
    mass_before = sorted_probs.cumsum(0) - sorted_probs                    # (vocab,): mass of the more likely tokens
    kept = torch.zeros_like(sorted_probs).scatter(0, order, (mass_before < p).double())  # (vocab,) back in place
    filtered = probs.double() * kept
    return filtered / filtered.sum()


@exercise("13.3", hint="sort the probabilities, largest first; keep a token while the mass of the tokens before "
                       "it is below p (so the token that crosses p stays); zero the rest and renormalise",
          done="your nucleus matches on 4 distributions, for p from 0.05 to 0.99")
def _(top_p_by_hand) -> None:
    g = torch.Generator().manual_seed(33)
    distributions = [torch.softmax(torch.randn(50, generator=g) * scale, 0) for scale in (0.5, 2.0, 6.0)]
    distributions.append(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))       # round numbers: the crossing token
    for probs in distributions:
        for p in (0.05, 0.45, 0.6, 0.9, 0.99):    # none at a cumulative sum of the round distribution
            got = top_p_by_hand(probs.clone(), p)
            want = _nucleus(probs, p).to(probs.dtype)
            assert isinstance(got, torch.Tensor) and got.shape == probs.shape, (
                f"return a tensor of the probabilities' shape {tuple(probs.shape)}")
            assert bool(torch.isfinite(got).all()), f"p = {p}: your probabilities contain nan or inf (nothing kept?)"
            kept, want_kept = int((got > 0).sum()), int((want > 0).sum())
            assert kept == want_kept, (f"p = {p} on a distribution whose largest probability is "
                                       f"{probs.max().item():.3f}: you keep {kept} token(s), top-p keeps {want_kept}")
            expect_close(got, want, reduction=len(probs), what=f"the renormalised probabilities at p = {p}")


@exercise("13.4", hint="each worked example is 'Question: <q>\\nAnswer: <a>' and a newline; after them the question "
                       "to answer, 'Question: <q>\\nAnswer:' with nothing after the colon (the model writes ' <answer>')",
          done="your prompts match for 0, 1 and 3 worked examples")
def _(few_shot_prompt_by_hand) -> None:
    cases = [
        ([], "What is the capital of Peru?"),
        ([("What is the capital of France?", "Paris")], "What is the capital of Peru?"),
        ([("Which currency is used in Japan?", "Yen"), ("What is the currency of Chile?", "Chilean peso"),
          ("In Spain, what do people pay with?", "Euro")], "Which currency is used in Peru?"),
    ]
    for shots, question in cases:
        want = "".join(f"Question: {q}\nAnswer: {a}\n" for q, a in shots) + f"Question: {question}\nAnswer:"
        got = few_shot_prompt_by_hand([tuple(s) for s in shots], question)
        assert isinstance(got, str), f"return the prompt as one str, got {type(got).__name__}"
        what = f"with {len(shots)} worked example(s)"
        assert got.endswith(f"Question: {question}\nAnswer:"), (
            f"{what}: the prompt should end with the question in the training format, 'Question: …\\nAnswer:' "
            "(no space after the colon: the answer's first token carries its own space)")
        assert got.count("Question:") == len(shots) + 1, (
            f"{what}: the prompt holds {got.count('Question:')} 'Question:' markers, expected {len(shots) + 1}")
        assert got == want, (f"{what}: each worked example is 'Question: <q>\\nAnswer: <a>' (one space after "
                             f"'Answer:') followed by one newline; got {got!r}")
