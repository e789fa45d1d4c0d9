"""The benchmarks cannot rot: every script's --quick mode runs here, and the published figures agree with their data.

Quick modes check the machinery and the row format, not timings (the machine running CI may be anything).
Correctness figures that do not depend on the machine are asserted for real: hand-built LoRA = PEFT to 1e-5,
NF4 codes = bitsandbytes, merged adapter = unmerged adapter.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import readme_table  # noqa: E402
import run_all  # noqa: E402


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


def check_rows(rows: list[dict], figure: str) -> None:
    assert rows, "a benchmark must return at least one row"
    for r in rows:
        assert set(_common.ROW_KEYS) <= set(r), f"missing keys in {r}"
        assert r["figure"].split()[0] == figure
        assert isinstance(r["value"], float) and math.isfinite(r["value"]), r
        assert r["met"] in (True, False, None)
        assert (r["met"] is None) == (r["target"] == ""), r
        assert r["device"] and r["note"], r
        assert "FAILED" not in r["note"] and "DIFFERENT" not in r["note"], r["note"]


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
@pytest.mark.parametrize("figure", sorted(run_all.SCRIPTS))
def test_quick_mode(figure):
    module = importlib.import_module(Path(run_all.SCRIPTS[figure]).stem)
    rows = module.main(quick=True)
    check_rows(rows, figure)
    named = by_name(rows)
    if figure == "1":
        total = named["total, every lesson and lab solution"]["value"]
        assert total == pytest.approx(sum(r["value"] for r in rows[1:])) and total > 0
    elif figure == "2":
        for name in ("held-out exact match before training", "held-out exact match after training"):
            assert 0 <= named[name]["value"] <= 100
        assert named["training seconds"]["value"] > 0
    elif figure == "3":
        assert named["max abs logit diff hand-built vs PEFT"]["value"] <= 1e-5
        assert named["train-step time hand / PEFT"]["value"] > 0
    elif figure == "4":
        assert 0 < named["peak training memory LoRA / full"]["value"] < 1
        assert named["train-step time LoRA / full"]["value"] > 0
    elif figure == "5":
        assert named["NF4 codes equal to bitsandbytes"]["value"] == 100.0
        assert all(named[f"MAE {k}"]["value"] > 0 for k in ("NF4", "INT4 (absmax)", "FP4 (E2M1)"))
        assert 0 < named["4-bit ÷ fp32 footprint, fp32 non-quantized layers"]["value"] < 1
        assert named["QLoRA / LoRA train-step time on CPU"]["value"] > 0
    elif figure == "6":
        assert all(r["value"] > 0 for r in rows)
        assert "1/1 solutions got full marks" in rows[0]["note"]
    elif figure == "7":
        assert named["merged generates the same tokens as unmerged"]["value"] == 1.0
        assert named["generation latency merged / base"]["value"] > 0


@pytest.mark.slow  # make test-fast leaves it out; make test runs it
def test_script_runs_alone_and_writes_json(tmp_path):
    out = tmp_path / "rows.json"
    subprocess.run([sys.executable, str(BENCH / "bench_course_runtime.py"), "--quick", "--json", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["rows"]
    for r in data["rows"]:
        assert set(_common.ROW_KEYS + _common.RUN_KEYS) <= set(r)
        assert r["command"] == "python benchmarks/bench_course_runtime.py --quick"


def fake_results() -> dict:
    stamp = {"machine": "2-core test CPU", "date": "2026-01-01 00:00 UTC", "command": "python benchmarks/x.py"}
    rows = [
        {**_common.row("3 hand-built LoRA vs PEFT", "max abs logit diff hand-built vs PEFT", 0.0, "",
                       ("<=", 1e-5), "cpu", "same A and B"), **stamp},
        {**_common.row("4 LoRA vs full fine-tune (GPT-2-124M)", "train-step time LoRA / full", 0.95, "×",
                       ("<=", 0.9), "cpu", "limited by the backward pass through frozen layers"), **stamp},
        {**_common.row("5 quantization", "QLoRA / LoRA train-step time on CPU", 1.7, "×", None, "cpu", "no target"),
         **stamp},
    ]
    machine = {"label": "2-core test CPU", "torch_threads": 2, "python": "3.11", "torch": "2", "platform": "linux",
               "cores": 2}
    return {"generated": "2026-01-01 00:00 UTC", "command": "make bench", "quick": False, "wall_seconds": 60.0,
            "machine": machine, "load_average": {"start": 3.0, "end": 3.0}, "other_cpu_share": 0.4, "shared": True,
            "scripts": {"bench_x.py": {"seconds": 60.0, "returncode": 0}}, "rows": rows}


def test_row_targets():
    assert _common.row("f", "n", 1e-6, target=("<=", 1e-5))["met"] is True
    assert _common.row("f", "n", 0.95, target=("<=", 0.9))["met"] is False
    assert _common.row("f", "n", 95, target=(">=", 90))["met"] is True
    assert _common.row("f", "n", 1.7)["met"] is None


def test_ratio_of_medians():
    times = {"a": [3.0, 1.0, 2.0], "b": [4.0, 8.0, 100.0]}  # medians 2 and 8: the outlier 100 does not count
    assert _common.ratio_of_medians(times, "a", "b") == 0.25


def test_adamw_step_is_one_optimizer_step_on_the_trainable_parameters():
    import torch

    class Tiny(torch.nn.Module):  # a model that answers model(**batch).loss, like Hugging Face's
        def __init__(self):
            super().__init__()
            self.frozen, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 1)
            self.frozen.requires_grad_(False)

        def forward(self, x, labels):
            return type("Out", (), {"loss": ((self.head(self.frozen(x)) - labels) ** 2).mean()})()

    torch.manual_seed(0)
    model, batch = Tiny().eval(), {"x": torch.randn(8, 4), "labels": torch.randn(8, 1)}
    frozen, head = model.frozen.weight.clone(), model.head.weight.clone()
    reference = torch.optim.AdamW([torch.nn.Parameter(head.clone())], lr=1e-4)  # the same step, by hand
    ref_param = reference.param_groups[0]["params"][0]
    ((torch.nn.functional.linear(model.frozen(batch["x"]), ref_param, model.head.bias) - batch["labels"]) ** 2
     ).mean().backward()
    reference.step()
    step = _common.adamw_step(model, batch)
    assert model.training
    step()
    assert torch.equal(model.frozen.weight, frozen)                       # frozen stays frozen
    torch.testing.assert_close(model.head.weight, ref_param.detach())     # one AdamW step, lr 1e-4
    assert all(p.grad is None for p in model.parameters())               # gradients cleared for the next step


def test_results_md_reports_misses_and_shared_machine():
    md = run_all.render_results_md(fake_results())
    assert "| 2 | 4 LoRA vs full fine-tune (GPT-2-124M) | train-step time LoRA / full | 0.95 × | ≤ 0.9 | **MISSED** |" in md
    missed = md.split("## Targets missed", 1)[1].split("##", 1)[0]
    assert "train-step time LoRA / full" in missed and "limited by the backward pass" in missed
    assert "max abs logit diff" not in missed
    assert "shared machine" in md and "other processes used 40% of its CPU time" in md
    quiet = run_all.render_results_md({**fake_results(), "shared": False, "other_cpu_share": 0.012})
    assert "shared machine" not in quiet and "other processes used 1.2% of its CPU time" in quiet


def test_other_cpu_share_counts_only_other_processes(monkeypatch):
    reading = _common.cpu_seconds()
    if reading is None:
        pytest.skip("no /proc/stat on this system")
    assert reading[0] > 0 and reading[1] > 0  # machine-wide busy seconds, and our own
    start = (1000.0, 10.0)  # (busy seconds of the whole machine, our own CPU seconds), then 10 s on 2 cores:
    monkeypatch.setattr(_common, "cpu_seconds", lambda: (1020.0, 14.0))  # 20 s busy, 4 of them ours
    assert _common.other_cpu_share(start, wall=10.0, cores=2) == pytest.approx(16 / 20)
    monkeypatch.setattr(_common, "cpu_seconds", lambda: (1014.0, 24.0))  # all the busy time was ours
    assert _common.other_cpu_share(start, wall=10.0, cores=2) == 0.0
    assert _common.other_cpu_share(None, wall=10.0, cores=2) is None


def test_readme_block_render_and_replace(tmp_path):
    results = fake_results()
    block = readme_table.render(results)
    assert block.startswith(readme_table.START) and block.endswith(readme_table.END)
    assert "max abs logit diff hand-built vs PEFT" in block and "❌ missed" in block
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{readme_table.START}\nold\n{readme_table.END}\n\nmore\n")
    results_json = tmp_path / "results.json"
    results_json.write_text(json.dumps(results))
    assert readme_table.main(["--results", str(results_json), "--check", str(readme)]) == 1
    assert readme_table.main(["--results", str(results_json), "--write", str(readme)]) == 0
    assert readme_table.main(["--results", str(results_json), "--check", str(readme)]) == 0
    assert readme.read_text().endswith("\n\nmore\n")


def published() -> dict:
    path = BENCH / "results.json"
    assert path.is_file(), "benchmarks/results.json is missing: run `make bench`"
    return json.loads(path.read_text(encoding="utf-8"))


def test_results_md_is_rendered_from_results_json():
    results = published()
    assert (BENCH / "RESULTS.md").read_text(encoding="utf-8") == run_all.render_results_md(results), \
        "benchmarks/RESULTS.md was edited by hand or is stale: rerun `make bench`"


def test_readme_headline_equals_results():
    results = published()
    block = readme_table.readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert block is not None, "README.md lost its <!-- bench:start --> block: python benchmarks/readme_table.py --write README.md"
    assert block == readme_table.render(results), \
        "README's benchmark block differs from benchmarks/results.json: python benchmarks/readme_table.py --write README.md"


def test_make_bench_fails_when_a_script_crashes(monkeypatch, tmp_path):
    monkeypatch.setattr(run_all, "SCRIPTS", {"3": "bench_lora_vs_peft.py"})
    monkeypatch.setattr(run_all, "run_script", lambda script, quick, workdir: ([], {"seconds": 1.0, "returncode": 1,
                                                                                    "error": "boom"}))
    assert run_all.main(["--quick", "--out", str(tmp_path)]) == 1
    assert "bench_lora_vs_peft.py failed" in (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
