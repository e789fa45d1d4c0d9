"""A student's files and output cannot exhaust the instructor's machine. No file a kernel writes grows past
FILE_MAX_BYTES (RLIMIT_FSIZE, the kernel's own log included); a student whose scratch folder passes DISK_BUDGET_BYTES
or DISK_MAX_ENTRIES is stopped with status `disk` (grading.sandbox.DiskWatch); the instructor's log keeps a tail; a
message over MAX_MESSAGE_BYTES never reaches the grading process's memory (status `output`)."""

from __future__ import annotations

import copy
import json
import os
import queue
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import grading.sandbox
from grading import LABS, GradingOptions, grade_all, load_lab, student_versions
from grading.execute import (
    MAX_MARKER_LINES,
    MAX_MESSAGE_BYTES,
    SandboxedKernel,
    append_tail,
)
from grading.grade import interpret
from grading.harness import Harness
from grading.sandbox import (
    FILE_MAX_BYTES,
    DiskWatch,
    bwrap_sizes_tmpfs,
    disk_use,
    new_scratch,
    owned_use,
    sandbox_problem,
    shared_places,
)
from grading.submissions import Submission
from utils import ROOT

LAB = "lab00_setup"
PROBLEM = sandbox_problem()


def test_disk_use_counts_what_is_on_disk_and_stops_counting_early(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data.bin").write_bytes(b"x" * 300_000)
    (tmp_path / "sparse").write_bytes(b"")
    with open(tmp_path / "sparse", "r+b") as f:
        f.truncate(10 * 2 ** 30)  # 10 GB long, nothing on disk: not a disk's worth
    (tmp_path / "link").symlink_to("/usr")  # never followed
    used, entries = disk_use(tmp_path)
    assert 300_000 <= used < 1_000_000 and entries == 4
    for k in range(30):
        (tmp_path / f"f{k}").touch()
    assert disk_use(tmp_path, max_entries=10)[1] == 11  # past the limit: the walk stops there


def test_the_watch_stops_a_student_past_the_budget_once(tmp_path):
    calls = []
    watch = DiskWatch(tmp_path, lambda: calls.append(1), budget=1_000_000, every=0.05)
    watch.start()
    time.sleep(0.3)
    assert not calls and not watch.exceeded
    (tmp_path / "big").write_bytes(b"x" * 2_000_000)
    time.sleep(0.3)
    assert watch.stop() == "more than 0.000931323 GB of files" and calls == [1]

    many = tmp_path / "many"
    many.mkdir()
    for k in range(50):
        (many / str(k)).touch()
    watch = DiskWatch(tmp_path, lambda: calls.append(2), max_entries=20, every=0.05)
    watch.start()
    time.sleep(0.3)
    assert watch.stop() == "more than 20 files and folders" and calls == [1, 2]


def test_without_bubblewrap_a_kernels_files_in_the_shared_temporary_folders_count(tmp_path):
    """A demoted kernel (`grading.demote`: its own uid, no private /tmp) may write /tmp, /var/tmp and /dev/shm;
    what its uid left at their top counts against its budget, what others left does not."""
    shared, scratch = tmp_path / "tmp", tmp_path / "scratch"
    shared.mkdir()
    scratch.mkdir()
    uid = os.getuid() + 1 if os.getuid() != 0 else 1_600_000_777  # another uid: only root can give files to it
    (shared / "someone_elses.bin").write_bytes(b"x" * 3_000_000)  # this user's: never the student's
    assert owned_use(uid, [shared]) == (0, 0)
    if os.getuid() != 0:
        pytest.skip("files of another uid need root (chown)")
    (shared / "dump").mkdir()
    (shared / "dump" / "a.bin").write_bytes(b"x" * 1_500_000)
    (shared / "b.bin").write_bytes(b"x" * 600_000)
    for path in (shared / "dump", shared / "dump" / "a.bin", shared / "b.bin"):
        os.chown(path, uid, uid)
    used, entries = owned_use(uid, [shared, tmp_path / "absent"])
    assert 2_100_000 <= used < 2_300_000 and entries == 3
    calls = []
    watch = DiskWatch(scratch, lambda: calls.append(1), budget=2_000_000, every=0.05, owner=uid, shared=[shared])
    watch.start()
    time.sleep(0.3)
    assert watch.stop() == "more than 0.00186265 GB of files" and calls == [1]
    watch = DiskWatch(scratch, lambda: calls.append(2), budget=2_000_000, every=0.05, shared=[shared])  # no owner
    watch.start()
    time.sleep(0.3)
    assert watch.stop() == "" and calls == [1]


@pytest.mark.skipif(os.getuid() != 0, reason="files of another uid need root (chown)")
def test_a_world_writable_folder_made_while_the_kernel_runs_counts_too(tmp_path, monkeypatch):
    """The shared folders are looked for at each look: a student who makes one of its own (mkdir, chmod 1777) while
    its kernel runs, or fills one another process made meanwhile, is not outside the budget until the next student."""
    top, scratch = tmp_path / "tmp", tmp_path / "scratch"
    top.mkdir()
    scratch.mkdir()
    monkeypatch.setattr(grading.sandbox, "shared_places", lambda: shared_places([top]))
    uid, calls = 1_600_000_778, []
    watch = DiskWatch(scratch, lambda: calls.append(1), budget=2_000_000, every=0.05, owner=uid)
    watch.start()
    time.sleep(0.2)
    (top / "made-later").mkdir()
    (top / "made-later").chmod(0o1777)
    (top / "made-later" / "dump.bin").write_bytes(b"x" * 3_000_000)
    os.chown(top / "made-later" / "dump.bin", uid, uid)
    time.sleep(0.3)
    assert watch.stop().startswith("more than") and calls == [1]


def test_shared_places_are_the_world_writable_folders_below(tmp_path):
    for name, mode in (("open", 0o1777), ("open/deeper", 0o777), ("closed", 0o755), ("closed/open", 0o777)):
        (tmp_path / name).mkdir()
        (tmp_path / name).chmod(mode)
    (tmp_path / "link").symlink_to(tmp_path / "open")  # never followed
    assert shared_places([tmp_path]) == [tmp_path, tmp_path / "open", tmp_path / "open" / "deeper"]
    assert shared_places([tmp_path], depth=1) == [tmp_path, tmp_path / "open"]


def test_the_instructors_log_keeps_the_tail(tmp_path):
    log, dest = tmp_path / "kernel.log", tmp_path / "alice.log"
    log.write_bytes(b"a" * 5000 + b"THE END\n")
    append_tail(log, dest, keep=100)
    text = dest.read_text()
    assert text.startswith("[... the first 4,908 bytes of the kernel's log were cut ...]\n") and text.endswith("THE END\n")
    assert len(text) < 200

    secret = tmp_path / "solutions.txt"  # a student's kernel replaced its log: nothing of what it put there is read
    secret.write_text("SOLUTION")
    for planted in ("link", "fifo"):
        log.unlink()
        log.symlink_to(secret) if planted == "link" else os.mkfifo(log)
        append_tail(log, dest)
    assert "SOLUTION" not in dest.read_text() and dest.read_text() == text


def test_a_student_stopped_for_disk_is_told_why():
    lab = load_lab(LAB)
    cells = {k: {"kind": "test", "status": "ok", "verdict": "ok"} for k in lab.points}
    first = next(iter(lab.points))
    cells[first] = {"kind": "test", "status": "died"}
    status, points, notes = interpret(lab, {"kernel": "disk", "error": "more than 2 GB of files", "cells": cells},
                                      GradingOptions())
    assert status == "disk" and points[first] == 0
    assert any("wrote more than 2 GB of files" in n and "the kernel was stopped" in n for n in notes), notes


FILL = ("import os, resource\n"
        "limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]\n"
        "with open('probe.bin', 'wb') as f:\n"
        "    try:\n"
        "        f.truncate(limit + 1)\n"
        "        print('grew past the limit')\n"
        "    except OSError as e:\n"
        "        print('file size limit', limit, e.errno)\n"
        "os.remove('probe.bin')\n"
        "os.makedirs('junk', exist_ok=True)\n"
        "for k in range(400):\n"
        "    with open(f'junk/{k}', 'wb') as f:\n"
        "        f.write(os.urandom(2 ** 20))\n"
        "print('wrote it all')\n")


@pytest.mark.slow  # three students graded for real: one fresh kernel, then a class of two forked from the zygote
@pytest.mark.skipif(PROBLEM is not None, reason=f"no grading sandbox here: {PROBLEM}")
def test_a_student_who_fills_the_disk_is_stopped_and_harms_no_one(tmp_path, monkeypatch):
    monkeypatch.setattr(grading.sandbox, "DISK_BUDGET_BYTES", 64 * 2 ** 20)  # 400 MB would be written
    lab = load_lab(LAB)
    sol = student_versions(lab, LABS / LAB)["solution"][LAB]
    filler = copy.deepcopy(sol)
    cell = next(c for c in filler.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "count_tokens")
    cell.source += "\n\n" + FILL

    def submit(student: str, nb) -> Submission:
        folder = tmp_path / "submitted" / student
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
        return Submission(student, [folder / f"{LAB}.ipynb"])

    filling, honest = submit("filler", filler), submit("honest", sol)
    out = tmp_path / "out"
    alone = grade_all(lab, [filling], out, workers=1, progress=False)  # a fresh kernel
    forked = grade_all(lab, [submit("filler2", filler), honest], out, workers=2, progress=False)  # the zygote's
    for result in (alone[0], forked[0]):
        assert result.status == "disk" and result.score < lab.max_score, result
        assert any("wrote more than 0.0625 GB of files" in n for n in result.notes), result.notes
    assert forked[1].status == "ok" and forked[1].score == lab.max_score, forked[1]
    for student in ("filler", "filler2"):
        executed = nbformat.read(out / "autograded" / student / LAB / f"{LAB}.ipynb", as_version=4)
        shown = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
        assert f"file size limit {FILE_MAX_BYTES} 27" in shown  # EFBIG: the write failed, the kernel lived
        assert "wrote it all" not in shown and "grew past the limit" not in shown
    assert not list(Path(grading.sandbox.SCRATCH_ROOT).glob("batch-*/*/work/junk"))  # removed with the scratch


@pytest.mark.skipif(PROBLEM is not None, reason=f"no grading sandbox here: {PROBLEM}")
def test_a_fresh_kernels_tmp_and_files_are_bounded():
    """A fresh sandboxed kernel (a class's fallback, Gradescope): its private /tmp is a tmpfs no larger than its
    memory limit (a tmpfs is memory, which the RLIMIT_AS fallback does not count), and no file it writes may pass
    FILE_MAX_BYTES."""
    scratch = new_scratch("disk-")
    kernel = SandboxedKernel(scratch, scratch.name, 1.0, cpu_seconds=120, threads=1, sandbox=True,
                             marker=Harness.new().marker)
    try:
        kernel.start(120)
        run = kernel.run("import os, resource\ns = os.statvfs('/tmp')\n"
                         "print(s.f_blocks * s.f_frsize, resource.getrlimit(resource.RLIMIT_FSIZE)[0])", 60)
    finally:
        kernel.close()
        shutil.rmtree(scratch, ignore_errors=True)
    tmp_bytes, file_max = map(int, "".join(o.get("text", "") for o in run.outputs).split())
    assert file_max == FILE_MAX_BYTES
    if bwrap_sizes_tmpfs():
        assert tmp_bytes == 2 ** 30


GRADER = """
import json, resource, shutil, sys, time
from grading.execute import SandboxedKernel
from grading.harness import Harness
from grading.sandbox import new_scratch

scratch = new_scratch("big-")
kernel = SandboxedKernel(scratch, scratch.name, 4.0, cpu_seconds=300, threads=1, sandbox=True,
                         marker=Harness.new().marker)
try:
    kernel.start(120)
    kernel.run("x = 1", 60)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    big = kernel.run("import sys, time\\nsys.stdout.write('x' * %d)\\nsys.stdout.flush()\\ntime.sleep(2)\\n"
                     "print('later')", 120)
    seconds = time.monotonic() - start
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    after = [kernel.run("print('next', x)", 60) for _ in range(2)]
    said = [[run.status, "".join(o.get("text", "") for o in run.outputs)] for run in [big, *after]]
    print(json.dumps({"dropped": big.dropped, "seconds": seconds, "grew_mb": grew // 1024, "said": said}))
finally:
    kernel.close()
    shutil.rmtree(scratch, ignore_errors=True)
"""


@pytest.mark.slow  # a kernel that prints 300 MB at once
@pytest.mark.skipif(PROBLEM is not None, reason=f"no grading sandbox here: {PROBLEM}")
def test_one_huge_message_never_reaches_the_graders_memory():
    """A student's single print of 300 MB (over MAX_MESSAGE_BYTES) is dropped by ZeroMQ: the grading process, run
    here as its own process to measure its peak memory, does not grow by it (it grew by about three times the
    message before); the cell says what happened, promptly, and goes on (ZeroMQ closed the output channel and
    never reopens it: the grader does), what it prints later arrives and so does every later cell's output."""
    size = 300 * 2 ** 20
    assert size > MAX_MESSAGE_BYTES
    proc = subprocess.run([sys.executable, "-c", GRADER % size], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["dropped"] and got["seconds"] < 60, got
    assert got["grew_mb"] < 100, got  # MB of peak memory the grading process gained
    assert got["said"] == [["ok", "later\n"], ["ok", "next 1\n"], ["ok", "next 1\n"]], got


def test_a_student_whose_output_was_dropped_is_told_why():
    """A dropped message costs only the tests whose result went with it (not tampering: the student's own print);
    the other cells keep their points. A cell whose output never ends stops the notebook, and says so."""
    lab = load_lab(LAB)
    keys = list(lab.points)
    cells = {k: {"kind": "test", "status": "ok", "verdict": "ok", "expect": "ok"} for k in keys}
    cells[keys[0]] = {"kind": "test", "status": "ok", "verdict": "missing", "dropped": True, "truncated": True}
    cells[keys[1]] = {"kind": "test", "status": "ok", "verdict": "ok", "expect": "forged", "dropped": True}
    cells[keys[2]] = {"kind": "test", "status": "ok", "verdict": "ok", "expect": "ok", "dropped": True}
    status, points, notes = interpret(lab, {"kernel": "ok", "cells": cells}, GradingOptions())
    assert status == "output" and points[keys[0]] == points[keys[1]] == 0, (status, notes)
    assert points[keys[2]] == lab.points[keys[2]] and all(points[k] == lab.points[k] for k in keys[3:])
    assert sum("MB of output in one message" in n and "dropped" in n for n in notes) == 3, notes
    assert sum("lost with the dropped output: 0 points" in n for n in notes) == 2, notes
    assert not any("later cells did not run" in n for n in notes), notes

    cells = {k: {"kind": "test", "status": "not_run"} for k in keys}
    cells[keys[0]] = {"kind": "test", "status": "lost"}
    status, points, notes = interpret(lab, {"kernel": "lost", "cells": cells}, GradingOptions())
    assert status == "output" and not any(points.values())
    assert any("its output never did" in n and "later cells did not run" in n for n in notes), notes


class Flood:
    """A client whose kernel answers one cell with `errors` error messages and `lines` grader-marked lines."""

    def __init__(self, errors: int, lines: int, marker: str):
        self.messages = [{"msg_type": "error", "content": {"ename": "E", "evalue": "v" * 1000,
                                                           "traceback": ["t" * 4000] * 100}}] * errors
        self.messages += [{"msg_type": "stream", "content": {"name": "stdout", "text": f"{marker}x {k}\n"}}
                          for k in range(lines)]
        self.messages.append({"msg_type": "status", "content": {"execution_state": "idle"}})
        self.replied = False

    def execute(self, *args, **kwargs) -> str:
        return "cell"

    def get_shell_msg(self, timeout: float) -> dict:
        if self.replied:
            raise queue.Empty
        self.replied = True
        return {"parent_header": {"msg_id": "cell"}, "content": {"status": "ok", "execution_count": 1}}

    def get_iopub_msg(self, timeout: float) -> dict:
        if not self.messages:
            raise queue.Empty
        return dict(self.messages.pop(0), parent_header={"msg_id": "cell"})


def test_a_flood_of_errors_or_grader_lines_is_not_kept():
    """Every kind of message a cell sends counts against what the grader keeps of it: a loop of showtraceback()
    (error messages, up to 500 kB each) or of fake grader lines (the marker is no secret from student code)."""
    kernel = SandboxedKernel.__new__(SandboxedKernel)
    kernel.marker, kernel.alive = "@@grader-1@@", lambda: True
    kernel.kc = Flood(errors=2000, lines=3 * MAX_MARKER_LINES, marker=kernel.marker)
    run = kernel.run("loop()", 60)
    assert run.status == "ok" and run.truncated
    assert len(run.outputs) == 1  # the first error message (400,000 characters) passes the cap: no other is kept
    assert len(run.markers) == MAX_MARKER_LINES
