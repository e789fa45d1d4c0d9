"""The memory wall (lessons 10 and 12): what weights, gradients and optimizer states cost, computed and measured.

    model_memory_gb(7e9, "fp16")                  # 14.0 GB for the weights alone
    training_memory(7e9, 7e9)                     # full fine-tune, fp32 + Adam: 16 bytes per parameter
    measure_training_step("lora")                 # peak memory of one real step of GPT-2-124M on this CPU
    saved_activation_bytes(model, **batch)         # what autograd keeps for backward, counted exactly

GB here means 10**9 bytes (what disk and GPU vendors print); divide by 1.074 more for GiB (2**30).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from utils._moved import renamed
from utils.lora import lora_parameter_count

GB = 1e9
BITS = {"fp32": 32, "float32": 32, "fp16": 16, "float16": 16, "bf16": 16, "bfloat16": 16,
        "int8": 8, "int4": 4, "nf4": 4, "fp4": 4}


def dtype_bits(dtype: str | torch.dtype | float) -> float:
    """Bits per parameter of a dtype name ("fp16", "nf4"…), a torch dtype, or a number of bits (4.127 is fine)."""
    if isinstance(dtype, torch.dtype):
        return float(torch.finfo(dtype).bits if dtype.is_floating_point else torch.iinfo(dtype).bits)
    if isinstance(dtype, (int, float)):
        if dtype <= 0:
            raise ValueError(f"bits must be positive, got {dtype}")
        return float(dtype)
    if dtype not in BITS:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(BITS)} or a number of bits")
    return float(BITS[dtype])


def model_memory_gb(n_params: float, dtype: str | torch.dtype | float = "fp16") -> float:
    """Memory of the weights alone, in GB (10**9 bytes): n_params × bits / 8."""
    return n_params * dtype_bits(dtype) / 8 / GB


@dataclass
class MemoryBill:
    """A training-memory bill in bytes, one field per item."""

    weights: float
    gradients: float
    optimizer: float
    activations: float = 0.0

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def gb(self) -> dict[str, float]:
        """Every item and the total in GB."""
        return {**{k: v / GB for k, v in asdict(self).items()}, "total": self.total / GB}


def training_memory(n_params: float, n_trainable: float, frozen_bits: float | str = 32,
                    trainable_bits: float | str = 32, adam_states: int = 2, state_bits: float = 32,
                    activations_bytes: float = 0.0) -> MemoryBill:
    """The memory bill of training with Adam.

    n_params: parameters of the base model. n_trainable: parameters that get gradients — all of them for a full
    fine-tune (then the base model *is* the trainable part), the adapter's for LoRA (then they come on top).
    frozen_bits: storage of frozen weights (16 for a bf16 base, ≈ 4.127 for NF4 + double quant).
    trainable_bits: storage of trainable weights and of their gradients. Adam keeps `adam_states` = 2 tensors
    (m and v) of `state_bits` per trainable parameter. Full fp32 fine-tune: 4 + 4 + 8 = 16 bytes per parameter.
    """
    full = n_trainable >= n_params
    frozen = 0.0 if full else n_params * dtype_bits(frozen_bits) / 8
    trainable = n_trainable * dtype_bits(trainable_bits) / 8
    return MemoryBill(weights=frozen + trainable, gradients=trainable,
                      optimizer=n_trainable * adam_states * state_bits / 8, activations=activations_bytes)


def activation_memory_bytes(n_layers: int, d_model: int, n_heads: int, seq_len: int, batch_size: int,
                            bytes_per_value: int = 2) -> float:
    """Rough activation memory kept for backward by a GPT-style stack, without checkpointing.

    Korthikanti et al. 2022 ("Reducing Activation Recomputation"): per layer s·b·h·(34 + 5·a·s/h) bytes for
    16-bit activations (s sequence length, b batch, h d_model, a heads); scaled by bytes_per_value / 2.
    An estimate, not an exact count: the measured step below is the ground truth on this machine.
    """
    per_layer = seq_len * batch_size * d_model * (34 + 5 * n_heads * seq_len / d_model)
    return n_layers * per_layer * bytes_per_value / 2


lora_param_count = renamed(lora_parameter_count, "utils.memory.lora_param_count")  # the 0.1 name; removed in 0.3


# ---------------------------------------------------------------- counting what a step keeps (lesson 10, section 5)

def saved_activation_bytes(model: torch.nn.Module, **batch: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Bytes of the tensors autograd keeps from the forward pass of `model(**batch)` until backward, and the loss.

    Counted exactly, with a saved-tensors hook: every tensor an operation saves for its backward is seen once per
    storage (views share one), and the model's own parameters are left out (they are the weights, not
    activations). With reentrant gradient checkpointing only each checkpointed block's inputs are kept; the
    block's internals are recomputed during backward. The count depends only on shapes and dtypes, so it is the
    same on every machine. Call `.backward()` on the returned loss to finish the step.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch).loss
    return sum(kept.values()), loss


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor an optimizer keeps per parameter (Adam's m and v, their 8-bit codes and block scales,
    step counters): what it adds to the training bill once it has taken a step."""
    return sum(value.numel() * value.element_size() for state in optimizer.state.values()
               for value in state.values() if torch.is_tensor(value))


# ---------------------------------------------------------------- measuring one real training step

_STEP_SCRIPT = r"""
import ctypes, json, os, sys, time
import torch
methods, batch, seq, n_layer, r = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(int(os.environ.get("STEP_THREADS", "2")))

def rss():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024

def reset_peak():
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux >= 4.0: reset the peak RSS (VmHWM) to the current RSS

from transformers import GPT2Config, GPT2LMHeadModel
from transformers.initialization import no_init_weights
if "lora" in methods:  # imported before any baseline: a library's import is not the training's memory
    from peft import LoraConfig, get_peft_model

def measure(method):
    reset_peak()
    base, _ = rss()
    torch.manual_seed(0)
    config = GPT2Config() if n_layer <= 0 else GPT2Config(n_layer=n_layer)
    with no_init_weights():  # Hugging Face's per-module init takes seconds; N(0, 0.02) everywhere does for memory
        model = GPT2LMHeadModel(config)
    model.tie_weights()  # the LM head is the token embedding, as after a normal init
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=generator)
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=["c_attn"],
                                                 fan_in_fan_out=True, lora_dropout=0.0))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, foreach=False)
    ids = torch.randint(0, config.vocab_size, (batch, seq))
    model.train()
    reset_peak()
    loaded, _ = rss()
    t0 = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - t0
    _, peak = rss()
    return {"method": method, "baseline_bytes": base, "after_load_bytes": loaded, "peak_bytes": peak,
            "trainable": sum(p.numel() for p in params),
            "total_params": sum(p.numel() for p in model.parameters()), "step_seconds": seconds}

for method in methods:  # each in a child forked from this process: its own peak, the imports paid once
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            os.write(writer, json.dumps(measure(method)).encode())
            os._exit(0)
        except BaseException as err:
            sys.stderr.write(f"{method}: {type(err).__name__}: {err}\n")
            os._exit(1)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit(f"measuring {method} failed")
    print(data.decode())
"""


def measure_training_steps(methods: Sequence[str] = ("full", "lora"), batch_size: int = 2, seq_len: int = 128,
                           n_layer: int = 0, r: int = 8, threads: int | None = None) -> dict[str, dict]:
    """Peak CPU memory of one AdamW training step (forward, backward, optimizer step) of GPT-2 from `GPT2Config()`,
    for each method: {method: result}.

    method: "full" (every parameter trained) or "lora" (r-rank LoRA on c_attn with PEFT, base frozen). n_layer 0
    keeps GPT-2-124M's 12 layers (random init, nothing downloaded).

    How it is measured, honestly: `tracemalloc` cannot see torch's C++ allocations, so a fresh Python process
    imports torch, transformers (and PEFT), then forks one child per method; each child builds the model and reads the
    kernel's own counters in /proc/self/status — VmRSS (resident memory now) and VmHWM (its high-water mark), after
    resetting the mark via /proc/self/clear_refs and returning freed heap with malloc_trim. The allocator is told to
    serve every block ≥ 64 KiB with mmap (MALLOC_MMAP_THRESHOLD_), so freed tensors leave RSS at once and the peak
    counts live tensors, not stale heap. Returned bytes: `baseline` (Python and the imported libraries), `after_load`
    (model and optimizer built, before the step), `peak` (highest RSS during the step); `model_bytes = peak -
    baseline` is what the training costs. Linux only (a clear RuntimeError elsewhere). threads: the measuring
    process's torch threads; None: 2, or this process's own torch threads where fewer.
    """
    methods = list(methods)
    for method in methods:
        if method not in ("full", "lora"):
            raise ValueError(f"method must be 'full' or 'lora', got {method!r}")
    if not sys.platform.startswith("linux"):
        raise RuntimeError("measure_training_step reads /proc/self/status, which only Linux has")
    if threads is None:  # 2, or 1 where this process has 1 (a test worker): 2 threads beside a busy core took
        threads = min(2, torch.get_num_threads())  # 17 CPU-s for this measurement on 2 cores, 1 thread 12 CPU-s
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "STEP_THREADS": str(threads),
           "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _STEP_SCRIPT, ",".join(methods), str(batch_size), str(seq_len),
                          str(n_layer), str(r)], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-2000:]}")
    results = {}
    for line in out.stdout.strip().splitlines()[-len(methods):]:
        result = json.loads(line)
        result["model_bytes"] = result["peak_bytes"] - result["baseline_bytes"]
        results[result["method"]] = result
    return results


def measure_training_step(method: str = "full", batch_size: int = 2, seq_len: int = 128, n_layer: int = 0,
                          r: int = 8, threads: int | None = None) -> dict:
    """`measure_training_steps` for one method: its result dict."""
    return measure_training_steps([method], batch_size, seq_len, n_layer, r, threads)[method]
