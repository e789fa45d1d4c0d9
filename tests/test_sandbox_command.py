"""The bubblewrap command line of grading.sandbox: mount order matters (no kernel starts in a wrong one); the threads
each kernel gets; how a sandbox started as a student's uid reaches what it binds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grading import sandbox
from grading.demote import STUDENT_UIDS, take_uid
from grading.sandbox import demote_command, kernel_threads, reach_command, wrap_command


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


@pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in ("setpriv", "unshare", "mount")),
                    reason="changing uid and mounting need root and util-linux")
def test_a_folder_below_one_only_root_may_enter_is_reached_and_nothing_beside_it(tmp_path: Path):
    """A sandbox started as a student's uid must bind the interpreter, which pyenv puts under /root (0700): the
    folder root alone may enter is covered, in a mount namespace of the command's own, by one that holds only the
    folders the sandbox binds."""
    private = tmp_path / "private"
    wanted, beside = private / "a" / "python", private / "a" / "secrets"
    for folder in (wanted, beside):
        folder.mkdir(parents=True)
    (wanted / "lib.py").write_text("reached\n")
    (beside / "key").write_text("root's\n")
    for path in (wanted, wanted / "lib.py", beside / "key"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    private.chmod(0o700)
    uid = take_uid(STUDENT_UIDS)
    read = ["/bin/sh", "-c", f'cat {wanted / "lib.py"}; cat {beside / "key"} || echo refused']
    demoted = subprocess.run(demote_command(uid) + read, capture_output=True, text=True, timeout=60)
    assert "reached" not in demoted.stdout  # the test can fail: without the cover, the uid cannot pass `private`
    reached = subprocess.run(reach_command([wanted], uid) + read, capture_output=True, text=True, timeout=60)
    assert reached.stdout.split() == ["reached", "refused"], (reached.stdout, reached.stderr)
    assert "course-reach" not in Path("/proc/self/mountinfo").read_text()  # this machine's mounts are untouched
    assert sorted(p.name for p in private.iterdir()) == ["a"] and (beside / "key").read_text() == "root's\n"
