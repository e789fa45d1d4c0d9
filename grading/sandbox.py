"""Where student code runs: a worker process per job, with its own environment, resource limits and a kill of
its whole process tree when it is done or out of time. (The worker itself is `grading.worker`.)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from utils import ROOT


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1",
               MPLBACKEND="Agg", TQDM_DISABLE="1", PYDEVD_DISABLE_FILE_VALIDATION="1",
               CUDA_VISIBLE_DEVICES="", COURSE_DEVICE="cpu")  # a memory limit and CUDA's start-up do not mix
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def limits(memory_gb: float | None):
    def apply() -> None:
        if memory_gb:
            limit = int(memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def kill_tree(pid: int) -> None:
    """Kill a worker and everything it started: the kernel runs in its own session, so a process group kill misses it."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def run_worker(args: list[str], timeout: float, memory_gb: float | None = None, threads: int = 1,
                log: Path | None = None) -> tuple[int | None, float]:
    """Run `python -m grading.worker ARGS`; returns (exit code or None when killed at `timeout`, seconds)."""
    start = time.monotonic()
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, "-m", "grading.worker", *args], cwd=args[1],
                                env=worker_env(threads), stdout=out, stderr=subprocess.STDOUT if log else None,
                                stdin=subprocess.DEVNULL, preexec_fn=limits(memory_gb), start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            code = None
        else:
            kill_tree(proc.pid)  # a kernel left behind (e.g. by a crashed worker) must not outlive its student
    finally:
        if log:
            out.close()
    if code not in (0, None) and args[0] == "release":
        raise RuntimeError(f"nbgrader generate_assignment failed for {args[2]} in {args[1]}")
    return code, time.monotonic() - start
