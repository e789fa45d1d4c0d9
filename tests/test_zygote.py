"""Kernels forked from a pre-imported process (grading.zygote), the lab proofs' way of starting ~300 kernels: each
forked kernel starts in its own folder and environment with the lab's libraries already imported (never the course's
own `utils`), obeys interrupts and limits like a fresh kernel, ends at close, and grades exactly as a fresh one."""

from __future__ import annotations

import time

import psutil
import pytest

from grading.harness import Harness
from grading.labsource import load_lab
from grading.sandbox import new_scratch, sandbox_problem
from grading.validity import check_lab
from grading.zygote import ALWAYS, PRELOADABLE, ForkedKernel, Zygote, preload_lines


def test_preloads_are_the_labs_libraries_never_the_course_modules():
    for name in ("lab00_setup", "lab04_attention", "lab08_peft", "lab12_qlora"):
        lines = preload_lines(load_lab(name))
        assert lines[:len(ALWAYS)] == ALWAYS
        assert all(line.split()[1].split(".")[0] in PRELOADABLE for line in lines), lines  # never `utils`
        assert len(lines) == len(set(lines))
    assert any("peft" in line for line in preload_lines(load_lab("lab08_peft")))
    assert any("bitsandbytes" in line for line in preload_lines(load_lab("lab12_qlora")))
    # lab01 imports transformers only through utils.models: followed, and the lazy GPT-2 code added
    assert "import transformers.models.gpt2.modeling_gpt2" in preload_lines(load_lab("lab01_tokens"))


@pytest.mark.slow
def test_a_forked_kernel_is_its_own_process_in_its_own_folder():
    zygote = Zygote(["import torch"], threads=1, sandbox=sandbox_problem() is None)
    kernels = []
    try:
        for k in range(2):
            scratch = new_scratch(f"zygote-test-{k}-")
            kernel = ForkedKernel(zygote, scratch, scratch.name, memory_gb=2.0, cpu_seconds=120, threads=1,
                                  marker=Harness.new().marker)
            kernel.start(60)
            kernels.append((kernel, scratch))
        for kernel, scratch in kernels:
            run = kernel.run("import os, sys; print(os.getcwd(), os.environ['HOME'], 'torch' in sys.modules, "
                             "'utils' in sys.modules, os.environ.get('COURSE_DEVICE'))", 30)
            text = "".join(o.get("text", "") for o in run.outputs).split()
            assert run.status == "ok" and text == [str(scratch / "work")] * 2 + ["True", "False", "cpu"], text
        first, _ = kernels[0]
        assert first.run("x = 41", 30).status == "ok"
        assert "NameError" in kernels[1][0].run("x", 30).ename  # no state shared between two forked kernels
        start = time.monotonic()
        assert first.run("import time\ntime.sleep(60)", 2).status == "timeout"  # the interrupt reaches it
        assert time.monotonic() - start < 30 and first.alive()
        assert first.run("print(x + 1)", 30).outputs[0]["text"].strip() == "42"
        pid = first.pid
        first.close()
        kernels = kernels[1:]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    finally:
        for kernel, _ in kernels:
            kernel.close()
        zygote.close()


@pytest.mark.slow
def test_forked_kernels_grade_exactly_as_fresh_ones(monkeypatch):
    """lab00's solution, stub and wrong answers, graded once through the zygote and once with a fresh kernel
    each: every cell's points equal."""
    scores = {}
    for setting in ("1", "0"):
        monkeypatch.setenv("COURSE_GRADING_ZYGOTE", setting)
        check = check_lab("lab00_setup", workers=2)
        scores[setting] = {s: (r.status, r.cells) for s, r in check.results.items()}
    assert scores["1"] == scores["0"]
    assert scores["1"]["solution"][0] == "ok" and len(scores["1"]) >= 4
