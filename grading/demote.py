"""As root: student code runs as an unprivileged uid, in the sandbox and without it.

With bubblewrap, a grader running as root starts each sandbox as a uid of the range below (`sandboxed_uids`,
`grading.sandbox.reach_command`): a sandbox started by root is root outside its namespaces, and root's files it
sees (/etc/shadow, an ssh host key) are readable to it.
Where bubblewrap cannot run (a Docker container refuses namespaces), `make grade --unsafe-no-sandbox` as root and
the Gradescope runner still keep student code from root's power, with what Linux gives every root process:

    sandboxed_uids    can a sandbox started as one of STUDENT_UIDS import the course? (a probe, once per process)
    unprivileged_uid  can a kernel started as this uid import the course? (a probe, started as a kernel starts)
    STUDENT_UIDS      the uids `make grade` gives kernels: one of its own per kernel (per zygote, for the kernels
                      it forks), in no /etc/passwd, so no file and no other student's process belongs to it
    take_uid          the uid the next kernel runs as: `run_as` itself, or a fresh one of a range
    course_secrets    what bubblewrap would not show: every entry of the checkout but .venv, utils/ and data/,
                      and the submissions and results folders
    hide, restore     chmod o-rwx on those for the batch, and the modes put back after it
    readable_to       which of them a uid can still read (an ACL, a group): the probe after `hide`
    end_uid           every process of a kernel's own uid killed, its files in /tmp, /var/tmp, /dev/shm removed
                      (and in the world-writable folders below them)

`grading.sandbox.wrap_command` starts such a kernel: its scratch folder made the uid's, its processes limited in number
per uid (RLIMIT_NPROC: with a uid of its own, the student's whole tree, with a cgroup or without one), and without
network where this process may make a network namespace (`network_cut`).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from grading.sandbox import VISIBLE, demote_command, kernel_env, new_scratch, shared_places, wrap_command
from utils import ROOT

NOBODY = 65534  # Debian's and Ubuntu's `nobody`: the Gradescope runner's one student
STUDENT_UIDS = range(1_600_000_000, 1_600_000_000 + 2 ** 24)  # far above the uids of accounts and containers
_uid_lock = threading.Lock()
_next_uid = [secrets.randbelow(len(STUDENT_UIDS))]  # two batches at once start far apart


def unprivileged_uid(uid: int = NOBODY, python: str = sys.executable) -> tuple[int | None, str]:
    """(`uid`, "") when this process is root and a kernel started as `uid` with `python` can import the course
    (the interpreter, the virtualenv and utils/ are readable to it); else (None, why not)."""
    if os.geteuid() != 0:
        return None, "the grader is not root"
    if not shutil.which("setpriv"):
        return None, "setpriv (util-linux) is missing"
    # through `env`, as a kernel is started: setpriv itself still holds root's capabilities when it execs
    probe = subprocess.run(demote_command(uid) + ["env", "-i", f"PYTHONPATH={ROOT}", "HOME=/", python, "-c",
                                                  "import utils, ipykernel"], cwd="/", capture_output=True,
                           text=True, timeout=300)
    if probe.returncode != 0:
        return None, f"uid {uid} cannot start the course's Python {python}: {probe.stderr.strip()[-160:]}"
    return uid, ""


_READS_THE_COURSE = """import os, sys, utils, ipykernel
unreadable = [os.path.join(folder, name) for top in sys.argv[1:] for folder, _, names in os.walk(top)
              for name in names if not os.access(os.path.join(folder, name), os.R_OK)]
sys.exit(f"cannot read {unreadable[0]}" if unreadable else 0)"""


@functools.cache
def sandboxed_uids(python: str = sys.executable) -> tuple[range | None, str]:
    """As root, with bubblewrap: (STUDENT_UIDS, "") when a sandbox started as one of them (`wrap_command`'s run_as)
    can import the course; else (None, why not), and sandboxes are started as root, whose uid they then have
    outside their namespaces. Checked once per process, by starting one."""
    if os.geteuid() != 0:
        return None, "the grader is not root"
    missing = [tool for tool in ("setpriv", "unshare", "mount") if not shutil.which(tool)]
    if missing:
        return None, f"{', '.join(missing)} (util-linux) missing"
    scratch = new_scratch("uid-probe-", other_user=True)
    try:
        # the course's files too: a checkout made under `umask 077` imports, but its data/ is root's alone
        argv = wrap_command([python, "-c", _READS_THE_COURSE, *(str(path) for path in VISIBLE[1:])], scratch,
                            kernel_env(1, scratch / "work"), None, 300, None, True, run_as=STUDENT_UIDS.start)
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if probe.returncode != 0:
        return None, f"a sandbox started as uid {STUDENT_UIDS.start} cannot start the course: " \
                     f"{probe.stderr.strip()[-200:]}"
    return STUDENT_UIDS, ""


def take_uid(run_as: int | range | None) -> int | None:
    """The uid the next kernel runs as: `run_as` itself (an int, or None: this process's own), or, from a range, one
    no process has now and no other kernel of this process got."""
    if not isinstance(run_as, range):
        return run_as
    busy = {p.info["uids"].real for p in psutil.process_iter(["uids"]) if p.info["uids"]}
    with _uid_lock:
        for _ in range(len(run_as)):
            uid = run_as[_next_uid[0] % len(run_as)]
            _next_uid[0] += 1
            if uid not in busy:
                return uid
    raise RuntimeError(f"no free uid in {run_as}: every one has a process")


def course_secrets(extra: list[Path], root: Path = ROOT) -> list[Path]:
    """What student code must not read, as bubblewrap would show it: every entry of `root` but what the sandbox binds
    (.venv, utils/, data/), and each of `extra` (the submissions, the results) not inside one of those."""
    shown = {path.name for path in VISIBLE}
    paths = sorted(entry for entry in root.iterdir() if entry.name not in shown)
    for path in extra:
        path = path.resolve()
        if path.exists() and path != root and not any(path.is_relative_to(p) for p in paths):
            paths.append(path)
    return paths


def hide(paths: list[Path]) -> dict[Path, int]:
    """chmod o-rwx on each of `paths` (never following a link); returns the modes it changed, for `restore`."""
    saved = {}
    for path in paths:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not mode & 0o007:
            continue
        os.chmod(path, stat.S_IMODE(mode) & ~0o007)
        saved[path] = stat.S_IMODE(mode)
    return saved


def restore(saved: dict[Path, int]) -> None:
    for path, mode in saved.items():
        try:
            os.chmod(path, mode)
        except OSError:  # gone meanwhile: nothing to give back
            pass


def readable_to(uid: int, paths: list[Path], python: str = sys.executable) -> list[Path]:
    """Those of `paths` a process of `uid` can read or list (after `hide`: what an ACL or a group still opens)."""
    probe = subprocess.run(demote_command(uid) + ["env", "-i", "HOME=/", python, "-c",
                                                  "import json, os, sys\nprint(json.dumps([p for p in sys.argv[1:] "
                                                  "if os.access(p, os.R_OK)]))", *map(str, paths)],
                           cwd="/", capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        return list(paths)  # it could not say: assume the worst
    return [Path(p) for p in json.loads(probe.stdout)]


def end_uid(uid: int) -> int:
    """Kill every process of `uid` (a kernel's own: the student's whole tree, daemons included) and remove the
    files it left in the shared temporary folders and the world-writable folders below them (`shared_places`).
    Returns how many processes were still there."""
    left = 0
    for _ in range(5):
        # a zombie holds nothing and cannot be killed: the killed sandbox's processes wait there for their reaper
        procs = [p for p in psutil.process_iter(["uids", "status"]) if p.info["uids"] and uid in p.info["uids"]
                 and p.info["status"] != psutil.STATUS_ZOMBIE]
        if not procs:
            break
        left = max(left, len(procs))
        # kill(-1) from a process of that uid: every process it may signal, in one call, whatever they fork meanwhile
        subprocess.run(demote_command(uid) + ["/bin/sh", "-c", "kill -KILL -1"], capture_output=True, timeout=30)
        psutil.wait_procs(procs, timeout=2)
    for folder in shared_places():
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.lstat().st_uid != uid:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)  # fd-based on Linux: a link inside is not followed
                else:
                    entry.unlink()
            except OSError:
                pass
    return left
