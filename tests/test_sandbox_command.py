"""The bubblewrap command line of grading.sandbox: mount order matters (no kernel starts in a wrong one); and the
threads each kernel gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading import sandbox
from grading.sandbox import kernel_threads, wrap_command


def test_tmp_is_mounted_before_the_binds_so_a_checkout_under_tmp_stays_visible(tmp_path: Path):
    # A repository under /tmp (a CI checkout, a quick clone) is bound into the sandbox's /tmp; a tmpfs mounted after
    # the binds hid the virtualenv and every kernel died before it could start.
    argv = wrap_command(["python"], tmp_path, {"HOME": str(tmp_path)}, None, 10, None, sandbox=True)
    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs + 1] == "/tmp"
    binds = [i for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")]
    assert binds and all(i > tmpfs for i in binds), argv
    assert argv.index("--remount-ro") > max(binds)


@pytest.mark.parametrize(("cap", "workers", "threads"), [
    (None, 1, 8), (None, 2, 4), (None, 3, 2), (None, 16, 1),  # the cores shared out
    ("2", 1, 2), ("1", 1, 1), ("1", 2, 1),  # a pytest-xdist worker's share (conftest.py), an instructor's cap
    ("32", 2, 4), ("0", 2, 4), ("two", 2, 4), ("", 1, 8)])  # never more than the cores; nonsense is ignored
def test_kernels_share_this_process_share_of_the_cores(monkeypatch, cap, workers, threads):
    """Two kernels with 2 threads each on a 2-core machine whose other pytest worker is busy spin against each
    other (lab proofs took six times as long): a kernel's threads come from this process's share of the cores."""
    monkeypatch.setattr(sandbox.os, "cpu_count", lambda: 8)
    if cap is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", cap)
    assert kernel_threads(workers) == threads
