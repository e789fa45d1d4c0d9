"""utils.training against F.cross_entropy and Hugging Face's own language-model loss."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from utils.numerics import assert_close, forward_reduction
from utils.training import (
    cross_entropy_by_hand,
    next_token_loss,
    pack_tokens,
    random_batches,
    train,
    train_step,
)


@pytest.mark.parametrize("shape, vocab", [((7,), 5), ((2, 9), 11), ((3, 1, 4), 4000)])
def test_cross_entropy_matches_torch(shape, vocab):
    g = torch.Generator().manual_seed(vocab)
    logits = 5 * torch.randn(*shape, vocab, generator=g)
    targets = torch.randint(vocab, shape, generator=g)
    assert_close(cross_entropy_by_hand(logits, targets),
                 F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1)),
                 reduction=vocab + targets.numel())          # log-sum-exp over the vocabulary, mean over tokens


def test_cross_entropy_ignores_padding_and_survives_huge_logits():
    logits = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0]])
    targets = torch.tensor([0, -100, 2])
    assert_close(cross_entropy_by_hand(logits, targets), F.cross_entropy(logits, targets), reduction=3 + 3)


@pytest.mark.parametrize("p", [1.0, 0.5, 0.1, 0.01])
def test_loss_is_minus_log_p(p):
    logits = torch.log(torch.tensor([[p, 1 - p + 1e-30]]))
    assert math.isclose(cross_entropy_by_hand(logits, torch.tensor([0])).item(), -math.log(p), abs_tol=1e-6)


def test_shape_error():
    with pytest.raises(ValueError, match="disagree"):
        cross_entropy_by_hand(torch.randn(3, 5), torch.zeros(4, dtype=torch.long))


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(n_embd=16, n_head=2, n_layer=1, n_positions=16, vocab_size=23,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))


def test_next_token_loss_equals_hf_loss():
    model = tiny_model()
    ids = torch.randint(23, (3, 10))
    out = model(ids, labels=ids)
    assert_close(next_token_loss(out.logits, ids), out.loss, reduction=23 + ids.numel())


def test_train_step_matches_a_reference_step():
    ids = torch.randint(23, (4, 8), generator=torch.Generator().manual_seed(1))
    ours, ref = tiny_model(), tiny_model()
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):  # two steps: a missing zero_grad would accumulate and differ on step 2
        loss = train_step(ours, ids, opt_ours)
        opt_ref.zero_grad()
        ref_loss = ref(ids, labels=ids).loss
        ref_loss.backward()
        opt_ref.step()
        assert_close(torch.tensor(loss), ref_loss, reduction=forward_reduction(ref.config) + 23 + ids.numel())
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):   # gradients run the forward path back
        assert_close(a, b, reduction=forward_reduction(ref.config))


def test_train_loop_lowers_the_loss():
    model = tiny_model()
    blocks = torch.randint(23, (6, 12), generator=torch.Generator().manual_seed(2))
    losses = train(model, random_batches(blocks, 4), torch.optim.AdamW(model.parameters(), lr=1e-2), steps=40,
                   progress=False)
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5


def test_pack_tokens_on_course_tokenizer():
    from utils.models import load_tokenizer

    tokenizer = load_tokenizer()
    blocks = pack_tokens(["The capital of France is Paris.", "Water is H2O."] * 20, tokenizer, block=16)
    assert blocks.shape[1] == 16
    assert (blocks == tokenizer.eos_token_id).sum() >= 1
