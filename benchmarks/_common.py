"""What every benchmark shares: one row format, the machine it ran on, and fair timing.

A benchmark script is `main(quick: bool) -> list[dict]` wrapped by `cli(main, __file__)`, so that each one runs alone

    python benchmarks/bench_lora_vs_peft.py [--quick] [--json out.json]

and `run_all.py` collects their rows. A row is one figure of the course:

    figure   which of the seven figures ("3 hand-built LoRA vs PEFT")
    name     what was measured ("max abs logit diff")
    value    the number (float); unit says in what
    target   "≤ 1e-05" or "" (reported, no target); met: True / False / None (no target)
    device   what produced it ("cpu", "cuda (NVIDIA H100 80GB HBM3)"); a ratio is never taken across devices
    note     how it was measured, and what limits it when a target is missed

run_all adds machine, date and command. Ratios are taken in one process, same inputs, repetitions alternated
(A B B A ...) so that a noisy neighbour on a shared machine slows both sides alike; medians, not means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

ROW_KEYS = ("figure", "name", "value", "unit", "target", "met", "device", "note")
RUN_KEYS = ("machine", "date", "command")
OPS = {"<=": ("≤", lambda v, t: v <= t), ">=": ("≥", lambda v, t: v >= t), "==": ("=", lambda v, t: v == t)}


def row(figure: str, name: str, value: float, unit: str = "", target: tuple[str, float] | None = None,
        device: str = "cpu", note: str = "") -> dict:
    """One measured figure. target: ("<=", 1e-5), (">=", 0.9), ("==", 1.0) or None (reported, no target)."""
    value = float(value)
    if target is None:
        target_text, met = "", None
    else:
        op, threshold = target
        symbol, test = OPS[op]
        target_text, met = f"{symbol} {threshold:g}", bool(test(value, threshold))
    return {"figure": figure, "name": name, "value": value, "unit": unit, "target": target_text, "met": met,
            "device": device, "note": note}


def device_label(device) -> str:
    """"cpu", or "cuda (<GPU name>)": what a row was measured on."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def pick_device():
    """The course's own choice (`utils.device.get_device`: a GPU when present, `COURSE_DEVICE` overrides)."""
    from utils.device import get_device

    return get_device()


def sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def alternate(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1, device="cpu") -> dict[str, list[float]]:
    """Time each function `reps` times, interleaved A B, B A, A B ... after `warmup` untimed rounds.

    Returns name -> list of seconds. Alternating (and reversing the order every round) means that a slow
    minute on a shared machine hits every contender, so the ratio of medians stays fair.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for k in range(reps):
        for name in (names if k % 2 == 0 else names[::-1]):
            sync(device)
            t0 = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def ratio_of_medians(times: dict[str, list[float]], num: str, den: str) -> float:
    """median(times[num]) / median(times[den]): how many times slower `num` is than `den`."""
    return median(times[num]) / median(times[den])


def adamw_step(model, batch: dict) -> Callable[[], None]:
    """A closure that runs one training step of `model` on `batch` (forward, backward, AdamW, zero grads).

    batch: keyword arguments of the model, `labels` included (e.g. {"input_ids": ids, "labels": ids}, each
    (batch, seq)). AdamW (lr 1e-4) covers the parameters that require grad; the model is put in train mode.
    """
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step() -> None:
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds all processes on the machine have used since boot, CPU seconds this process and its finished
    children have used). The difference of two readings tells how much CPU *other* work took meanwhile."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for field in ("ru_utime", "ru_stime"))
    return busy, own


def other_cpu_share(start: tuple[float, float] | None, wall: float, cores: int) -> float | None:
    """Share of the machine's CPU capacity (wall × cores) used by processes other than this run since `start`."""
    end = cpu_seconds()
    if start is None or end is None or wall <= 0:
        return None
    others = (end[0] - start[0]) - (end[1] - start[1])
    return max(0.0, others) / (wall * max(1, cores))


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return None


def machine_info() -> dict:
    """What the numbers were measured on; `label` is the short form for the table."""
    import torch

    cores = os.cpu_count() or 0
    mem = memory_gb()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    label = f"{cores}-core {cpu_model()}"
    if mem:
        label += f", {mem:.0f} GB RAM"
    if gpu:
        label += f", {gpu}"
    return {"label": label, "cpu": cpu_model(), "cores": cores, "memory_gb": mem, "gpu": gpu,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(), "load_average_1min": load_average()}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def command_for(script: str, quick: bool) -> str:
    rel = Path(script).resolve().relative_to(ROOT)
    return f"python {rel}" + (" --quick" if quick else "")


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        met = {True: "met", False: "MISSED", None: "-"}[r["met"]]
        print(f"  [{r['figure']}] {r['name']}: {fmt(r['value'])} {r['unit']}  target {r['target'] or '-'}  "
              f"{met}  ({r['device']})")


def fmt(value: float) -> str:
    """A value for the table: 3 significant figures, scientific only for tiny or huge numbers."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e6:
        return f"{value:.2e}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


_PARTIAL: dict = {}


def save_partial(rows: list[dict]) -> None:
    """For long benchmarks: write the rows measured so far to --json (marked partial), so a stopped run keeps them."""
    if not _PARTIAL.get("path"):
        return
    stamp = {"machine": _PARTIAL["machine"], "date": now(), "command": _PARTIAL["command"]}
    _PARTIAL["path"].write_text(json.dumps({"script": _PARTIAL["script"], "quick": _PARTIAL["quick"], "partial": True,
                                            "rows": [{**r, **stamp} for r in rows]}, indent=2) + "\n")


def cli(main: Callable[[bool], list[dict]], script: str, description: str) -> None:
    """Parse --quick / --json, run `main`, stamp the rows with machine, date and command, print and save them."""
    parser = argparse.ArgumentParser(prog=f"python {Path(script).resolve().relative_to(ROOT)}",
                                     description=description)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (CI); numbers not meaningful")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        _PARTIAL.update(path=args.json, script=Path(script).name, quick=args.quick, machine=machine_info()["label"],
                        command=command_for(script, args.quick))
    start = time.perf_counter()
    rows = main(args.quick)
    seconds = time.perf_counter() - start
    machine = machine_info()
    stamp = {"machine": machine["label"], "date": now(), "command": command_for(script, args.quick)}
    rows = [{**r, **stamp} for r in rows]
    print(f"{Path(script).name}: {len(rows)} rows in {seconds:.1f} s")
    print_rows(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"script": Path(script).name, "quick": args.quick, "seconds": seconds,
                                         "machine": machine, "rows": rows}, indent=2) + "\n")
