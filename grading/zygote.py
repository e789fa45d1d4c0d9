"""Kernels forked from a pre-imported process: the lab proofs' way to start ~300 kernels without paying for
`import torch` (and peft, transformers, bitsandbytes) in each.

A fresh kernel spends about 7 s of CPU importing what a lab imports (torch, transformers) before the first graded
line runs; a kernel forked from a process that already imported them spends about 0.3 s. Measured on 2 cores while
other work ran: lab04's proof (24 versions, 2 at a time) took 52 s through a zygote and 135 s with fresh kernels,
with the same points in every cell.
The zygote runs inside the same sandbox as a kernel (`grading.sandbox.wrap_command`: no network, read-only views of
the interpreter, the virtualenv, `utils/` and `data/`, a clean environment), imports the lab's import lines once,
and forks one kernel per graded version on request. Each forked kernel gets its own scratch folder, environment,
CPU limit and cgroup (or address-space limit), and runs the same harness as a fresh kernel: only how its process
started differs.

Each forked kernel is then a sandbox of its own inside the zygote's (grading/_zygote_main.py, before any student
code): nested user, mount, pid, network, IPC and UTS namespaces; every inherited mount read-only and its own
scratch folder, a private /tmp and /dev/shm as its only writable places (no other student's folder is there); its
own /proc (other students' processes do not exist for it: nothing to see, signal or trace) and loopback; no
capability, no_new_privs; pid 1 of its namespace, so every process of the student ends with it. What it shares
with the other kernels of its zygote: the read-only files every sandbox sees, the zygote's memory as it was at the
fork (the lab's imported libraries, nothing of any student), and the CPU.

Who uses it: `python -m grading` for a class (`for_class`), and `grading.validity.check_lab` for our own answers.
Where a forked kernel cannot be isolated (no nested user namespaces: user.max_user_namespaces, an AppArmor or
seccomp policy, bubblewrap's --disable-userns), the zygote's start-up probe says why and a class gets a fresh
sandboxed kernel per student; lab proofs still fork (their kernels then share the zygote's sandbox, acceptable for
our own answers). COURSE_GRADING_ZYGOTE=0 turns forking off: every student and version gets a fresh kernel.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from grading.demote import end_uid, take_uid
from grading.execute import OutputChannel, SandboxedKernel, append_tail, limit_messages, wait_until_ready
from grading.labsource import LabSource
from grading.sandbox import (
    FILE_MAX_BYTES,
    TreeLimits,
    give,
    kernel_env,
    new_scratch,
    read_only_views,
    wrap_command,
)
from utils import ROOT

MAIN = Path(__file__).with_name("_zygote_main.py")
# Packages whose import a forked kernel may inherit: third-party libraries only, never `utils` (a lab's rules watch
# how the course's own modules are reached). Some fix per-process folders at import: huggingface_hub and datasets
# their caches under HF_HOME, matplotlib its MPLCONFIGDIR. A kernel then keeps the zygote's, which lie in the
# zygote's own scratch folder: an isolated kernel does not see that folder, and what it writes there (datasets'
# Arrow cache of load_qa; matplotlib writes nothing after import) lands in its private /tmp, created on first use
# and gone with it. Nothing of the zygote's folder is readable from an isolated kernel, nor another kernel's.
# (Shared kernels, a lab proof's where nested namespaces are refused, write that cache together: our own answers.)
PRELOADABLE = frozenset({"torch", "numpy", "transformers", "peft", "bitsandbytes", "safetensors", "tokenizers",
                         "datasets", "matplotlib"})
ZYGOTE_CPU_SECONDS = 24 * 3600  # the zygote's own limit; each kernel sets its own, lower one


def enabled() -> bool:
    return os.environ.get("COURSE_GRADING_ZYGOTE", "1") != "0"


# transformers imports its model code lazily, at the first from_pretrained: the course's model is a GPT-2
LAZY_TRANSFORMERS = ["import transformers.models.gpt2.modeling_gpt2", "import transformers.models.gpt2.tokenization_gpt2"]
# A first-call cache, filled once here: transformers' first `from_pretrained` builds its table of checkpoint
# renamings (about 1,000 regular expressions, 0.2 s of each kernel that loads a model). The table is the library's
# code alone, the same for every kernel; `getattr`: a transformers without it skips this and loses nothing else.
WARM_TRANSFORMERS = ["import transformers.conversion_mapping as m; "
                     "getattr(m, 'get_checkpoint_conversion_mapping', lambda model_type: None)('gpt2')"]
ALWAYS = ["import torch", "import torch.testing", "import numpy", "import numpy.testing"]  # the harness's own


def preload_lines(lab: LabSource) -> list[str]:
    """What a kernel of `lab` imports from PRELOADABLE packages, as import statements in order: the harness's own
    imports, the lab's top-level imports (from its non-solution cells), and those of the course modules it imports,
    followed through `utils` (itself never preloaded), including the imports inside their functions (`load_qa`
    imports datasets, `setup` matplotlib: 0.75 s and 0.5 s of every lab13 kernel's first cell)."""
    lines = list(ALWAYS)
    seen: set[str] = set()

    def visit(source: str, nested: bool = False) -> None:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return
        for node in (ast.walk(tree) if nested else tree.body):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "utils" and name not in seen:
                    seen.add(name)
                    path = ROOT / (name.replace(".", "/") + ".py")
                    if path.is_file():
                        visit(path.read_text(), nested=True)
            if {name.split(".")[0] for name in names} <= PRELOADABLE and ast.unparse(node) not in lines:
                lines.append(ast.unparse(node))

    for nb in lab.notebooks.values():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and not meta.get("solution") and not meta.get("grade"):
                visit(cell.source)
    if any(line.split()[1].startswith("transformers") for line in lines):
        lines += LAZY_TRANSFORMERS + WARM_TRANSFORMERS
    return lines


class Zygote:
    """One pre-imported process in its own sandbox; `fork()` asks it for a kernel and returns its pid.

    `isolated`: whether each kernel it forks becomes its own sandbox inside the zygote's (nested user, mount, pid,
    network and IPC namespaces, its scratch folder and a private /tmp as its only writable places, no
    capabilities; see grading/_zygote_main.py). Asked for with `isolate` (default: whenever `sandbox` is on), and
    checked once at start by a probe child that goes through every step; `problem` says why not where it failed
    (e.g. nested user namespaces not allowed): the zygote then forks shared kernels, and a class is graded with
    fresh kernels instead (`for_class`)."""

    def __init__(self, preloads: list[str], threads: int, sandbox: bool, start_timeout: float = 300,
                 isolate: bool | None = None, run_as: int | range | None = None):
        isolate = sandbox if isolate is None else isolate
        self.uid = take_uid(run_as)  # as root: the zygote's sandbox is started as this uid, its kernels have it too
        self.home = new_scratch("zygote-", other_user=self.uid is not None)
        self.root = self.home.parent  # the batch folder: every scratch folder of this grading process is under it
        (self.root / "work").mkdir(exist_ok=True)
        self.socket_path = str(self.home / "zygote.sock")
        self.threads = threads
        self.limits = TreeLimits(f"course-grading-{os.getpid()}-{self.home.name}", None)
        env = kernel_env(threads, self.home / "work")
        argv = [sys.executable, "-c", MAIN.read_text(), self.socket_path, "isolate" if isolate else "shared",
                *preloads]
        # Where bubblewrap covers parts of /proc (run as root), the zygote uncovers them once with CAP_SYS_ADMIN in
        # the sandbox's own user namespace (a nested pid namespace may mount its own /proc only over a procfs that
        # nothing covers), becomes 65534 in a user namespace of its own (mapping that namespace's uid 0 takes
        # CAP_SETFCAP), then drops every capability before importing anything.
        # (A bubblewrap that refuses --cap-add, e.g. a setuid one: once more without; the probe then says why.)
        for caps in ([["CAP_SYS_ADMIN", "CAP_SETFCAP"], []] if isolate and sandbox else [[]]):
            self.proc = subprocess.Popen(wrap_command(argv, self.root, env, self.limits, ZYGOTE_CPU_SECONDS, None,
                                                      sandbox, caps=caps, run_as=self.uid, home=self.home),
                                         stdout=subprocess.PIPE, stderr=open(self.home / "zygote.log", "ab"),
                                         text=True, start_new_session=True)
            ready: list[str] = []
            reader = threading.Thread(target=lambda out=ready, proc=self.proc: out.append(proc.stdout.readline()),
                                      daemon=True)
            reader.start()
            reader.join(start_timeout)
            if ready and ready[0].startswith("ready "):
                break
            if caps and self.proc.poll() is not None:
                Path(self.socket_path).unlink(missing_ok=True)
                continue
            log = (self.home / "zygote.log").read_text(errors="replace")[-2000:]
            self.close()
            raise RuntimeError(f"the grading zygote did not start: {log}")
        self.isolated = ready[0].split()[1] == "isolated"
        self.problem = None if self.isolated else ready[0].split(None, 2)[-1].strip()
        self.pid = next(p.pid for p in [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
                        if p.name().startswith("python"))
        self._lock = threading.Lock()

    def fork(self, request: dict, forked=None) -> int:
        """A new kernel for `request` (see grading/_zygote_main.py); its pid as this machine sees it. `forked(pid)`
        runs before the child goes on (e.g. to move it into its cgroup before it starts anything)."""
        with self._lock:  # one fork at a time, so the new child is the one pid that was not there before
            before = {c.pid for c in psutil.Process(self.pid).children()}
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(60)
                conn.connect(self.socket_path)
                conn.sendall((json.dumps(request) + "\n").encode())
                reader = conn.makefile("r")
                if reader.readline().strip() != "forked":
                    raise RuntimeError("the grading zygote did not fork")
                new = [c.pid for c in psutil.Process(self.pid).children() if c.pid not in before]
                if len(new) != 1:
                    raise RuntimeError(f"cannot tell the forked kernel among {new}")
                if forked is not None:
                    forked(new[0])
                conn.sendall(b"go\n")
                answer = reader.readline().strip()
        if answer != ("isolated" if request.get("isolate") else "ready"):
            try:
                os.killpg(new[0], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            raise RuntimeError(f"the forked kernel did not start: {answer or 'no answer'}")
        return new[0]

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.limits.remove()
        self.proc.wait()
        if self.uid is not None:
            end_uid(self.uid)  # a kernel of the zygote's still running (its keeper killed): none is left behind
        shutil.rmtree(self.home, ignore_errors=True)


def for_class(lab: LabSource, threads: int, sandbox: bool, run_as: int | range | None = None
              ) -> tuple[Zygote | None, str]:
    """The zygote a class of `lab` is graded with, and one sentence on how each student's kernel starts. None
    (fresh kernels) when COURSE_GRADING_ZYGOTE=0, when the zygote does not start, or when the sandbox is on and its
    kernels cannot each be isolated here. run_as: see Zygote."""
    fresh = "a fresh sandboxed kernel per student" if sandbox else "a fresh kernel per student"
    if not enabled():
        return None, f"{fresh} (COURSE_GRADING_ZYGOTE=0)"
    try:
        zygote = Zygote(preload_lines(lab), threads, sandbox, run_as=run_as)
    except Exception as err:  # noqa: BLE001 - fresh kernels are slower, not worse
        return None, f"{fresh}: the zygote did not start ({str(err)[-300:]})"
    if sandbox and not zygote.isolated:
        zygote.close()
        return None, f"{fresh}: forked kernels cannot each be isolated here ({zygote.problem})"
    how = "each in its own namespaces inside the sandbox" if sandbox else "no sandbox"
    return zygote, f"kernels forked from one process that imported {lab.name}'s libraries ({how})"


class ForkedKernel(SandboxedKernel):
    """A SandboxedKernel whose process is forked by a Zygote instead of started fresh (same harness, same
    cell runner, same limits: CPU seconds, and memory through its own cgroup or the address space)."""

    def __init__(self, zygote: Zygote, scratch: Path, name: str, memory_gb: float | None, cpu_seconds: int,
                 threads: int, marker: str, log: Path | None = None):
        self.zygote, self.scratch, self.marker, self.cpu_seconds = zygote, scratch, marker, cpu_seconds
        self.limits = TreeLimits(f"course-grading-{os.getpid()}-{name}", memory_gb)
        self.memory_bytes = int(memory_gb * 2**30) if memory_gb and not self.limits.available else 0
        self.tmp_bytes = int(memory_gb * 2**30) if memory_gb else 0  # its private /tmp (memory) never holds more
        self.env = kernel_env(threads, scratch / "work")
        self.log_path = log
        self.pid: int | None = None
        self.kc = None
        self.output: OutputChannel | None = None

    def start(self, timeout: float) -> None:
        connection_file = str(self.scratch / "kernel.json")
        write_connection_file(connection_file, ip=str(self.scratch / "kernel"), transport="ipc")
        if self.zygote.uid is not None:  # the kernel reads the connection file, writes its log and sockets here
            give(self.scratch, self.zygote.uid)
        self.pid = self.zygote.fork({"connection_file": connection_file, "cwd": str(self.scratch / "work"),
                                     "scratch": str(self.scratch), "env": self.env, "cpu_seconds": self.cpu_seconds,
                                     "memory_bytes": self.memory_bytes, "tmp_bytes": self.tmp_bytes,
                                     "file_bytes": FILE_MAX_BYTES,
                                     "log": str(self.scratch / "kernel.log"), "isolate": self.zygote.isolated,
                                     "keep": [str(p) for p in read_only_views() if str(p).startswith("/tmp/")]},
                                    forked=self._join_cgroup)
        self.kc = BlockingKernelClient()
        limit_messages(self.kc)
        self.kc.load_connection_file(connection_file)
        self.kc.start_channels()
        wait_until_ready(self.kc, timeout, self.alive)
        self.output = OutputChannel(self.kc)

    def _join_cgroup(self, pid: int) -> None:
        for d in self.limits.dirs:  # into this kernel's own cgroup before it starts anything
            (d / "cgroup.procs").write_text(str(pid))

    def alive(self) -> bool:
        try:
            return self.pid is not None and psutil.Process(self.pid).status() not in (psutil.STATUS_ZOMBIE,
                                                                                       psutil.STATUS_DEAD)
        except psutil.NoSuchProcess:
            return False

    def interrupt(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.limits.kill_all()
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> bool:
        oom = self.limits.out_of_memory()
        if self.output is not None:
            self.output.close()
        if self.kc is not None:
            self.kc.stop_channels()
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the kernel and whatever it started (its own session)
            except (ProcessLookupError, PermissionError):
                pass
        self.limits.remove()
        log = self.scratch / "kernel.log"
        if self.log_path and log.is_file():
            append_tail(log, self.log_path)
        return oom
