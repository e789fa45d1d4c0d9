"""The trusted side of running a notebook: a Jupyter kernel started inside the sandbox (`grading.sandbox`), cells
sent to it one at a time, and what comes back collected here with limits (time per cell, output size). Nothing the
kernel sends is trusted beyond being data: a cell's outcome is its execute_reply status and its outputs.
"""

from __future__ import annotations

import os
import queue
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import zmq
from jupyter_client import KernelManager

from grading.sandbox import TreeLimits, kernel_env, wrap_command

MAX_OUTPUT_CHARS = 100_000  # kept per cell; the rest is dropped (and noted)
MAX_MARKER_CHARS = 64 * 2 ** 20  # a line of the grader's (a test's expectations, as data): longer is dropped
MAX_MARKER_LINES = 10_000  # grader lines kept per cell (a test prints a few), and their characters together:
MAX_MARKED_CHARS = 4 * MAX_MARKER_CHARS  # past either, more are dropped (a flood costs its own test the evidence)
# What one message from a kernel may weigh: a larger one is dropped by ZeroMQ before this process holds it (a
# student's print of 2 GB in one write would cost the grading process about three times that). Above any line the
# grader prints (MAX_MARKER_CHARS) with room for JSON's escapes.
MAX_MESSAGE_BYTES = 4 * MAX_MARKER_CHARS
OUTPUT_SILENCE = 30.0  # seconds without any output message after a cell's reply: its output channel is gone
INTERRUPT_GRACE = 10.0  # seconds a cell gets to stop after SIGINT before the kernel is killed
KEPT_MIME = ("text/plain", "image/png")  # what a cell may display in feedback (no HTML or JavaScript from students)


@dataclass
class CellRun:
    """What one executed cell gave back. status: ok | error | timeout (interrupted at its time limit) |
    hung (ignored the interrupt; the kernel was killed) | died (the kernel exited) | lost (it replied but its output
    channel stayed silent for OUTPUT_SILENCE s, even after a reconnection: nothing later can be seen).
    dropped: a message of this cell over MAX_MESSAGE_BYTES was dropped by ZeroMQ, which closed the output channel;
    it was opened again and the cell went on, but what the kernel sent meanwhile is missing."""

    status: str
    outputs: list[dict] = field(default_factory=list)
    ename: str = ""
    evalue: str = ""
    markers: list[str] = field(default_factory=list)
    truncated: bool = False
    execution_count: int | None = None
    dropped: bool = False


class _WrappedKernelManager(KernelManager):
    """A KernelManager whose kernel command is wrapped by the sandbox (bubblewrap, cgroup, rlimits)."""

    wrap = None  # set per instance: list[str] -> list[str]

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return self.wrap([sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                          "--HistoryManager.hist_file=:memory:"])  # no history database to create per student


def limit_messages(kc) -> None:
    """Make the sockets `kc` is about to open drop any message over MAX_MESSAGE_BYTES (ZeroMQ's ZMQ_MAXMSGSIZE). ZeroMQ
    then closes that connection as a protocol error and never reconnects it: `OutputChannel` notices and reopens it."""
    kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)


class OutputChannel:
    """Watches the IOPub connection of `kc` (started) for the disconnection that follows a dropped message."""

    def __init__(self, kc):
        self.kc = kc
        self.monitor = kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    def dropped(self) -> bool:
        """Whether the connection was closed since the last call (the monitor's events are consumed)."""
        closed = False
        while self.monitor.poll(0):
            self.monitor.recv_multipart()
            closed = True
        return closed

    def reopen(self) -> None:
        """A new IOPub socket, subscribed and connected to the same kernel (and watched like the first)."""
        self.close()
        self.kc.iopub_channel.close()
        self.kc._iopub_channel = None  # jupyter_client makes the channel again on first use
        self.kc.iopub_channel.start()
        self.monitor = self.kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    def close(self) -> None:
        """Stop watching; again, or after the client's channels were stopped, it does nothing more."""
        socket = getattr(self.kc._iopub_channel, "socket", None)  # (the property would make a new channel)
        if socket is not None and not socket.closed:
            try:
                socket.disable_monitor()
            except zmq.ZMQError:
                pass
        self.monitor.close(linger=0)


def wait_until_ready(kc, timeout: float, alive) -> None:
    """Return once the kernel has answered every kernel_info request sent here on its shell channel and one of its
    IOPub messages has arrived (a subscription that is not connected yet would lose the first cell's output);
    RuntimeError when `alive()` turns False or `timeout` seconds pass.

    jupyter_client's `wait_for_ready` checks the same two things, but a client without a KernelManager (a forked
    kernel) first polls heartbeats in 0.2 s sleeps and then waits 0.2 s on IOPub per try: about 0.43 s for a kernel
    that answers in 0.17 s (measured on 2 cores). No reply is left on the shell channel for `run` to mistake."""
    end = time.monotonic() + timeout
    pending, connected = {kc.kernel_info()}, False  # ZeroMQ holds the request until the kernel's socket is up
    while pending or not connected:
        if time.monotonic() > end:
            raise RuntimeError(f"the kernel did not answer within {timeout:.0f} s")
        try:
            pending.discard(kc.get_shell_msg(timeout=0.05)["parent_header"].get("msg_id"))
        except queue.Empty:
            if not alive():
                raise RuntimeError("the kernel died before it answered") from None
        if not connected:
            try:
                kc.get_iopub_msg(timeout=0.02)
                connected = True
            except queue.Empty:
                if not pending:  # answered, but IOPub missed the status of that request: ask once more
                    pending.add(kc.kernel_info())


class SandboxedKernel:
    """One student's kernel. `marker` is the prefix of the lines the grader's own code prints as evidence."""

    def __init__(self, scratch: Path, name: str, memory_gb: float | None, cpu_seconds: int, threads: int,
                 sandbox: bool, marker: str, log: Path | None = None, run_as: int | None = None):
        self.scratch, self.marker = scratch, marker
        self.limits = TreeLimits(f"course-grading-{os.getpid()}-{name}", memory_gb)
        env = kernel_env(threads, scratch / "work")
        self.km = _WrappedKernelManager(transport="ipc", ip=str(scratch / "kernel"),
                                        connection_file=str(scratch / "kernel.json"))
        self.km.wrap = lambda argv: wrap_command(argv, scratch, env, self.limits, cpu_seconds, memory_gb, sandbox,
                                                 run_as=run_as)
        self.log_path = log
        self.kc = None
        self.output: OutputChannel | None = None

    def start(self, timeout: float) -> None:
        with open(self.scratch / "kernel.log", "ab") as log:  # in the scratch folder: DiskWatch counts it
            self.km.start_kernel(env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                 stdout=subprocess.DEVNULL, stderr=log)
        self.kc = self.km.client()
        limit_messages(self.kc)
        self.kc.start_channels()
        wait_until_ready(self.kc, timeout, self.alive)
        self.output = OutputChannel(self.kc)

    def alive(self) -> bool:
        return self.km.has_kernel and self.km.provisioner is not None and self.km.provisioner.process is not None \
            and self.km.provisioner.process.poll() is None

    def interrupt(self) -> None:
        """SIGINT to the kernel's Python process inside the sandbox (the outermost python of the tree)."""
        try:
            procs = psutil.Process(self.km.provisioner.process.pid).children(recursive=True)
        except (psutil.NoSuchProcess, AttributeError):
            return
        pythons = [p for p in procs if _is_kernel(p)]
        if pythons:
            try:
                os.kill(min(pythons, key=lambda p: p.create_time()).pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def _reply(self, msg_id: str, timeout: float) -> dict:
        """The content of the shell reply to `msg_id` (another request's reply is skipped)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = self.kc.get_shell_msg(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]
        return {"status": "error", "ename": "NoReply", "evalue": "no execute_reply"}

    def run(self, code: str, timeout: float, store_history: bool = True) -> CellRun:
        """Execute `code`; at `timeout` seconds interrupt it, INTERRUPT_GRACE later give up on the kernel."""
        if not self.alive():
            return CellRun("died")
        msg_id = self.kc.execute(code, store_history=store_history, allow_stdin=False, stop_on_error=False)
        run = CellRun("ok")
        deadline, interrupted, idle, reply, size, carry = time.monotonic() + timeout, False, False, None, 0, ""
        marked = 0  # characters of grader lines kept
        heard = time.monotonic()  # when the output channel last brought anything, or the reply came
        probes, probed = set(), 0.0  # after a reopened channel: kernel_info requests, whose idle ends the cell
        while not (idle and reply is not None):
            if time.monotonic() > deadline:
                if interrupted:
                    run.status = "hung"
                    return run
                self.interrupt()
                interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE
            if reply is None:
                try:
                    msg = self.kc.get_shell_msg(timeout=0)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        reply, heard = msg["content"], time.monotonic()
                except queue.Empty:
                    pass
            if run.dropped and reply is not None and time.monotonic() - probed > 1.0:
                # this cell's idle may have gone with the old channel: the kernel answers a request only after the
                # cell, so the idle of one sent now comes after all of the cell's output (asked again until one
                # reaches the new subscription)
                probes.add(self.kc.kernel_info())
                probed = time.monotonic()
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
                heard = time.monotonic()
            except queue.Empty:
                if not self.alive():
                    run.status = "died"
                    return run
                if self.output is not None and self.output.dropped():  # a message over MAX_MESSAGE_BYTES
                    self.output.reopen()
                    run.dropped = run.truncated = True
                    heard = time.monotonic()
                elif reply is not None and time.monotonic() - heard > OUTPUT_SILENCE:  # replied, never went idle
                    run.status = "lost"
                    return run
                continue
            kind, content = msg["msg_type"], msg["content"]
            if msg["parent_header"].get("msg_id") in probes:
                idle = idle or (kind == "status" and content.get("execution_state") == "idle" and reply is not None)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "status" and content.get("execution_state") == "idle":
                idle = True
                if reply is None:  # the reply is sent before idle; allow it a moment on the shell channel
                    reply = self._reply(msg_id, 5.0)
            elif kind == "stream":
                text = str(content.get("text", ""))
                if content.get("name") == "stdout":  # the grader's lines are evidence, not output
                    text, found, carry = split_markers(carry + text, self.marker)
                    for line in found:  # the marker is no secret from student code: a flood of lines stops here
                        if len(run.markers) < MAX_MARKER_LINES and marked + len(line) <= MAX_MARKED_CHARS:
                            run.markers.append(line)
                            marked += len(line)
                if size + len(text) > MAX_OUTPUT_CHARS:
                    text, run.truncated = text[:max(0, MAX_OUTPUT_CHARS - size)], True
                size += len(text)
                if text:
                    run.outputs.append({"output_type": "stream", "name": content.get("name", "stdout"),
                                        "text": text})
            elif kind in ("execute_result", "display_data"):
                data = {k: v for k, v in dict(content.get("data", {})).items() if k in KEPT_MIME}
                if data and size < MAX_OUTPUT_CHARS:
                    size += sum(len(str(v)) for v in data.values())
                    out = {"output_type": kind, "data": data, "metadata": {}}
                    if kind == "execute_result":
                        out["execution_count"] = content.get("execution_count")
                    run.outputs.append(out)
                elif data:
                    run.truncated = True
            elif kind == "error" and size < MAX_OUTPUT_CHARS:  # (a loop of showtraceback() sends thousands)
                error = {"output_type": "error", "ename": str(content.get("ename", ""))[:200],
                         "evalue": str(content.get("evalue", ""))[:2000],
                         "traceback": [str(t)[:5000] for t in list(content.get("traceback", []))[:100]]}
                size += len(error["ename"]) + len(error["evalue"]) + sum(map(len, error["traceback"]))
                run.outputs.append(error)
            elif kind == "error":
                run.truncated = True
            elif kind == "clear_output":
                run.outputs.clear()
        at = carry.find(self.marker)
        if at >= 0 and len(run.markers) < MAX_MARKER_LINES and marked + len(carry) - at <= MAX_MARKED_CHARS:
            run.markers.append(carry[at:])
        if carry[:at] if at >= 0 else carry:
            run.outputs.append({"output_type": "stream", "name": "stdout",
                                "text": (carry[:at] if at >= 0 else carry)[:MAX_OUTPUT_CHARS]})
        run.execution_count = reply.get("execution_count") if isinstance(reply.get("execution_count"), int) else None
        if reply.get("status") != "ok":
            run.status = "timeout" if interrupted else "error"
            run.ename, run.evalue = str(reply.get("ename", ""))[:200], str(reply.get("evalue", ""))[:2000]
        elif interrupted:
            run.status = "timeout"
        return run

    def kill(self) -> None:
        """End the student's processes now (from another thread: the cell runner then finds the kernel dead)."""
        self.limits.kill_all()
        try:
            os.kill(self.km.provisioner.process.pid, signal.SIGKILL)  # bubblewrap: its whole pid namespace with it
        except (ProcessLookupError, AttributeError):
            pass

    def close(self) -> bool:
        """Stop the kernel and every process of the student; True when the tree ran out of memory."""
        oom = self.limits.out_of_memory()
        try:
            if self.output is not None:
                self.output.close()
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - the kernel may be long dead; the cgroup kill below ends the rest
            pass
        self.limits.remove()
        if self.log_path and (self.scratch / "kernel.log").is_file():
            append_tail(self.scratch / "kernel.log", self.log_path)
        return oom


LOG_TAIL_BYTES = 2 ** 20  # what the instructor's log keeps of a kernel's own output (stderr, C libraries)


def append_tail(log: Path, dest: Path, keep: int = LOG_TAIL_BYTES) -> None:
    """Append the last `keep` bytes of a kernel's log to `dest` (a student may write a gigabyte to fd 2). The log
    lies in the student's scratch folder: a link or a pipe put in its place is not read (nor waited on)."""
    try:
        fd = os.open(log, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    with open(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            return
        with open(dest, "ab") as out:
            if info.st_size > keep:
                out.write(f"[... the first {info.st_size - keep:,} bytes of the kernel's log were cut ...]\n".encode())
                src.seek(info.st_size - keep)
            out.write(src.read(keep))


def _is_kernel(proc: psutil.Process) -> bool:
    try:
        return proc.name().startswith("python") and "ipykernel_launcher" in proc.cmdline()
    except psutil.Error:
        return False


def split_markers(text: str, marker: str) -> tuple[str, list[str], str]:
    """(the output text without the grader's lines, the grader's lines, an unfinished line kept for the next stream
    message). A grader's line (evidence, expectations: up to MAX_MARKER_CHARS) starts at `marker`, at the start of
    a line or after a student's print(..., end="") or "\\r" progress bar; a tail that may still become one waits."""
    lines = text.split("\n")
    tail = lines.pop()
    shown, found = [], []
    for line in lines:
        at = line.find(marker)
        if at >= 0:
            shown.append(line[:at] + "\n" if at else "")
            found.append(line[at:])
        else:
            shown.append(line + "\n")
    at = tail.find(marker)
    waits = at >= 0 or any(tail.endswith(marker[:k]) for k in range(1, len(marker)))
    if len(tail) > MAX_MARKER_CHARS or not waits:
        shown.append(tail if at < 0 else tail[:at])
        tail = ""
    return "".join(shown), found, tail
