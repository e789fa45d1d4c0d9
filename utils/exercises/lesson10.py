"""Your-turn checks of lesson 10 (precision and memory): the bytes of a model, the training bill, Adam's state."""

from __future__ import annotations

import math

import torch

from utils.exercises import as_number, exercise
from utils.memory import GB, model_memory_gb, training_memory

_REL = 1e-9   # the same arithmetic in another order: equal far below this relative difference


@exercise("10.1", hint="bytes per value: torch.tensor([], dtype=dtype).element_size(); GB = 10**9 bytes",
          done="your sizes match for 5 models in 5 dtypes")
def _(weights_gb_by_hand) -> None:
    for n, dtype in [(7e9, torch.float32), (7e9, torch.bfloat16), (13e9, torch.float16),
                     (124_439_808, torch.float64), (3.2e9, torch.int8)]:
        got = as_number(weights_gb_by_hand(n, dtype), f"weights_gb_by_hand({n:g}, {dtype})")
        want = model_memory_gb(n, dtype)
        if math.isclose(got, want * GB / 2**30, rel_tol=_REL):
            raise AssertionError(f"{n:g} parameters in {dtype}: you divided by 1024**3 (GiB); the task asks GB")
        assert math.isclose(got, want, rel_tol=_REL), (
            f"{n:g} parameters in {dtype}: you return {got:g} GB, which is not parameters × bytes per value")


@exercise("10.2", hint="every trainable parameter pays 4 (weight) + 4 (gradient) + 8 (Adam m and v) bytes; "
                       "a frozen one only its 4-byte weight; in a full fine-tune every parameter is trainable",
          done="your bill matches for a full fine-tune and for LoRA adapters, from 1 M to 7 B parameters")
def _(training_bytes_by_hand) -> None:
    for n, trainable in [(7e9, 7e9), (7e9, 8_388_608), (124_439_808, 294_912), (1e6, 1e6), (3.2e9, 4_587_520)]:
        kind = "full fine-tune" if trainable == n else f"LoRA, {trainable:,.0f} trainable"
        got = as_number(training_bytes_by_hand(n, trainable), f"training_bytes_by_hand({n:g}, {trainable:g})")
        want = training_memory(n, trainable).total
        assert math.isclose(got, want, rel_tol=_REL), (
            f"{n:g} parameters, {kind}: you return {got:,.0f} bytes, which is not the bill "
            "(weights + gradients + Adam's two states)")


def _adam_state_bytes(n_values: int, eight_bit: bool) -> int:
    """Bytes of m and v that a real optimizer keeps for one parameter tensor of n_values (torch AdamW, or
    bitsandbytes AdamW8bit), after one step; step counters left out."""
    import bitsandbytes as bnb

    param = torch.nn.Parameter(torch.randn(n_values))
    param.grad = torch.randn(n_values)
    optimizer = (bnb.optim.AdamW8bit if eight_bit else torch.optim.AdamW)([param])
    optimizer.step()
    return sum(v.numel() * v.element_size() for k, v in optimizer.state[param].items()
               if torch.is_tensor(v) and k != "step")


@exercise("10.3", hint="per tensor of n values: fp32 Adam keeps m and v at 4 bytes each; 8-bit keeps 1 byte each, "
                       "plus, for each of m and v, a 4-byte scale per started block of 256 values and a 256-entry "
                       "4-byte code table; under 4,096 values bitsandbytes keeps the fp32 states",
          done="your counts equal the states real optimizers keep, for 7 sizes")
def _(adam_state_bytes_by_hand) -> None:
    for n in (100, 4095, 4096, 4097, 65_536, 65_537, 256 * 1000 + 1):
        for eight_bit in (False, True):
            what = f"adam_state_bytes_by_hand({n}, eight_bit={eight_bit})"
            got = as_number(adam_state_bytes_by_hand(n, eight_bit), what)
            want = _adam_state_bytes(n, eight_bit)
            assert got == want, f"{what}: you return {got:,.0f} bytes; the optimizer keeps {want:,}"
