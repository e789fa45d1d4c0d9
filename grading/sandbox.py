"""Where student code runs: one Jupyter kernel per student inside bubblewrap (Debian's `bubblewrap` package), with
the trusted grading process outside talking to it over unix sockets (jupyter_client's `ipc` transport) in a scratch
directory that both sides see.

Inside the sandbox: no network (own network namespace), its own pid namespace (every process of the student ends
with the kernel: `--die-with-parent`, and when the scratch directory's cgroup is killed), an empty environment but
a whitelist, read-only views of the interpreter, the virtualenv, `utils/` and `data/` only (no `solutions/`, no
wrong answers, no grades, no other student), and one writable scratch directory. Limits on the whole process tree:
memory and number of processes through a cgroup when the machine lets us
create one (cgroup v2: a delegated subtree; v1: the `memory` and `pids` hierarchies; neither: RLIMIT_AS per
process); CPU seconds per process (RLIMIT_CPU); the wall clock is kept by the caller.

Graded as root, bubblewrap is started as an unprivileged uid (`wrap_command`'s run_as, `reach_command`): one that
root starts maps the sandbox's uid to root outside, and root's files it sees (/etc/shadow) would be readable.

`sandbox_problem()` says why a sandbox cannot be built here (None: it can). The grader refuses to grade without
one unless the instructor passes `--unsafe-no-sandbox`.
"""

from __future__ import annotations

import atexit
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from utils import ROOT

SCRATCH_ROOT = Path(tempfile.gettempdir()) / f"course-grading-{os.getuid()}"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
PIDS_MAX = 256
FILE_MAX_BYTES = 2 ** 30  # RLIMIT_FSIZE: no file a student's process writes grows past 1 GB (its kernel log too)
DISK_BUDGET_BYTES = 2 * 2 ** 30  # all of a student's files in the scratch folder together (`DiskWatch`)
DISK_MAX_ENTRIES = 50_000  # and as many files and folders
# Read-only inside the sandbox: what a lab's code imports and loads. Never solutions/, labs/, grading/, .git.
VISIBLE = [ROOT / ".venv", ROOT / "utils", ROOT / "data"]
SYSTEM = ["/usr", "/etc", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]
TEMP_FOLDERS = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))  # where any uid may leave files (no sandbox)


def sandbox_problem() -> str | None:
    """Why bubblewrap cannot isolate a kernel on this machine, or None when it can (checked by running one)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return "bubblewrap is not installed (Debian/Ubuntu: `sudo apt-get install bubblewrap`)"
    try:
        proc = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                               "--dev", "/dev", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap does not start: {err}"
    if proc.returncode != 0:
        return (f"bubblewrap cannot create user/network/pid namespaces here ({proc.stderr.strip()[:200]}); "
                "on Ubuntu 24.04 allow them: `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`")
    return None


def kernel_threads(workers: int) -> int:
    """BLAS/OpenMP threads for each of `workers` kernels that run at once: this process's share of the cores,
    divided among them, at least 1. The share is the CPU count, or OMP_NUM_THREADS when that is smaller (a
    pytest-xdist worker's share, set by conftest.py; an instructor's own cap). More threads than cores make torch's
    OpenMP threads spin against each other: four lab proofs on 2 cores, one kernel at a time in each of two pytest
    workers, took 830 s with 2 threads per kernel and 134 s with 1."""
    share = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "")
    if cap.isdigit() and int(cap) > 0:
        share = min(share, int(cap))
    return max(1, share // max(1, workers))


def kernel_env(threads: int, home: Path) -> dict[str, str]:
    """The kernel's whole environment: a whitelist, nothing inherited from the instructor's shell."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
           "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": str(home),
           "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / ".matplotlib"),
           "HF_HOME": str(home / ".hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "CUDA_VISIBLE_DEVICES": "", "COURSE_DEVICE": "cpu"}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


class TreeLimits:
    """A cgroup for one student's process tree: memory and process count of all its processes together.

    cgroup v2 (most current distributions): a child of a delegated subtree this user may write (systemd gives
    every user `user@UID.service`), found from /proc/self/cgroup or named by $COURSE_GRADING_CGROUP, with
    memory.max, memory.swap.max = 0, pids.max, and cgroup.kill to end the tree. cgroup v1: the `memory` and
    `pids` hierarchies. `available` is False where neither can be created; `version` says which one is used
    (2, 1 or None), and `limits_note()` what limits the tree then (per-process RLIMITs only).
    """

    def __init__(self, name: str, memory_gb: float | None, pids: int = PIDS_MAX, root: Path | None = None,
                 proc_cgroup: Path = PROC_CGROUP):
        self.root = root or CGROUP_ROOT
        self.dirs: list[Path] = []
        self.version: int | None = None
        base = v2_base(self.root, proc_cgroup)
        if base is not None:
            path = base / name
            settings = {"pids.max": str(pids)}
            if memory_gb:
                settings["memory.max"] = str(int(memory_gb * 2**30))
                settings["memory.swap.max"] = "0"  # no escape into swap
            if self._create([(path, settings)]):
                self.version = 2
                return
        groups = []
        if memory_gb:
            groups.append((self.root / "memory" / name, _memory_settings(memory_gb, self.root)))
        groups.append((self.root / "pids" / name, {"pids.max": str(pids)}))
        if (self.root / "pids").is_dir() and self._create(groups):
            self.version = 1

    def _create(self, groups: list[tuple[Path, dict[str, str]]]) -> bool:
        for path, settings in groups:
            try:
                path.mkdir()
                self.dirs.append(path)
                for key, value in settings.items():
                    try:
                        (path / key).write_text(value)
                    except OSError:
                        if key != "memory.swap.max":  # absent where swap is not accounted: nothing to escape into
                            raise
            except OSError:
                self.remove()
                self.dirs = []
                return False
        return True

    @property
    def available(self) -> bool:
        return bool(self.dirs)

    def join_command(self) -> str:
        """Shell lines that move the calling shell (and so everything it execs) into the cgroup."""
        return "".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))} && " for d in self.dirs)

    def out_of_memory(self) -> bool:
        for d in self.dirs:
            events = d / "memory.events"  # v2
            if events.is_file():
                fields = dict(line.split() for line in events.read_text().splitlines() if len(line.split()) == 2)
                if int(fields.get("oom_kill", 0)) > 0 or int(fields.get("max", 0)) > 0:
                    return True
            control = d / "memory.oom_control"  # v1
            if control.exists():
                fields = dict(line.split() for line in control.read_text().splitlines() if len(line.split()) == 2)
                if int(fields.get("oom_kill", 0)) > 0 or int((d / "memory.failcnt").read_text() or 0) > 0:
                    return True
        return False

    def kill_all(self) -> None:
        for d in self.dirs:  # v2 (Linux >= 5.14): the kernel kills the whole tree at once, forks included
            if (d / "cgroup.kill").exists():
                try:
                    (d / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        for _ in range(50):  # a fork loop may add processes while we kill: repeat until empty
            pids = {int(p) for d in self.dirs if (d / "cgroup.procs").exists()
                    for p in (d / "cgroup.procs").read_text().split()}
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(40):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy while the killed processes exit
                    time.sleep(0.05)


def v2_base(root: Path = None, proc_cgroup: Path = None) -> Path | None:  # type: ignore[assignment]
    """The cgroup v2 directory under which this user may create a student's cgroup, or None.

    $COURSE_GRADING_CGROUP names one; otherwise the nearest ancestor of this process's own cgroup that this user
    may write and that hands the memory and pids controllers to its children (a cgroup holding processes
    cannot, so it is never this process's own cgroup)."""
    root = root or CGROUP_ROOT
    proc_cgroup = proc_cgroup or PROC_CGROUP
    if not (root / "cgroup.controllers").is_file():
        return None
    candidates = []
    if os.environ.get("COURSE_GRADING_CGROUP"):
        candidates.append(Path(os.environ["COURSE_GRADING_CGROUP"]))
    try:
        own = next(line[3:].strip() for line in proc_cgroup.read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        own = None
    if own is not None:
        path = root / own.lstrip("/")
        candidates += [a for a in path.parents if a != root and root in a.parents]
    for candidate in candidates:
        control = candidate / "cgroup.subtree_control"
        if not (control.is_file() and os.access(candidate, os.W_OK)):
            continue
        wanted = {"memory", "pids"}
        enabled = set(control.read_text().split())
        if not wanted <= enabled:
            offered = set((candidate / "cgroup.controllers").read_text().split()) \
                if (candidate / "cgroup.controllers").is_file() else set()
            if not wanted <= offered:
                continue
            try:
                control.write_text(" ".join(f"+{c}" for c in sorted(wanted - enabled)))
            except OSError:
                continue
        return candidate
    return None


def disk_use(folder: Path, max_entries: int = DISK_MAX_ENTRIES) -> tuple[int, int]:
    """(bytes on disk, entries) under `folder`, links not followed; the walk stops past `max_entries`."""
    used, entries, stack = 0, 0, [str(folder)]
    while stack and entries <= max_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > max_entries:
                        break
                    try:
                        used += entry.stat(follow_symlinks=False).st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                    except OSError:  # gone meanwhile
                        pass
        except OSError:
            pass
    return used, entries


def shared_places(folders: Sequence[Path] = TEMP_FOLDERS, depth: int = 3) -> list[Path]:
    """`folders` and the folders below them that every uid may write (world-writable, such as /tmp/.X11-unix),
    `depth` levels down, links not followed: where a kernel without a private /tmp may leave files."""
    places, level = [], [Path(f) for f in folders]
    for _ in range(depth + 1):
        places += level
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as it:
                    below += [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)
                              and e.stat(follow_symlinks=False).st_mode & 0o002]
            except OSError:
                pass
        level = below
    return places


def owned_use(uid: int, folders: Sequence[Path], max_entries: int = DISK_MAX_ENTRIES) -> tuple[int, int]:
    """(bytes on disk, entries) of what `uid` left at the top of each of `folders` (a file, or a folder with all
    under it), links not followed: a kernel's own uid's files in the shared temporary folders."""
    used, entries = 0, 0
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    try:
                        info = entry.stat(follow_symlinks=False)
                        if info.st_uid != uid:
                            continue
                        used, entries = used + info.st_blocks * 512, entries + 1
                        if entry.is_dir(follow_symlinks=False):
                            below = disk_use(Path(entry.path), max_entries - entries)
                            used, entries = used + below[0], entries + below[1]
                    except OSError:  # gone meanwhile
                        pass
                    if entries > max_entries:
                        return used, entries
        except OSError:
            pass
    return used, entries


class DiskWatch(threading.Thread):
    """Watches a student's scratch folder while the kernel runs; past `budget` bytes or `max_entries` files it calls
    `on_exceed` (which kills the student's processes) once, and `exceeded` says why. A student's files would
    otherwise fill the instructor's disk: RLIMIT_FSIZE bounds each file, not how many there are.
    `owner`: the kernel's own uid where it runs without bubblewrap (`grading.demote`), whose files in `shared`
    (default: `shared_places()` as they are at each look, the temporary folders every uid may write, one made
    while the kernel runs included) count as well."""

    def __init__(self, folder: Path, on_exceed, budget: int | None = None, max_entries: int | None = None,
                 every: float = 0.5, owner: int | None = None, shared: Sequence[Path] | None = None):
        super().__init__(daemon=True, name=f"disk-watch-{folder.name}")
        self.folder, self.on_exceed, self.every = folder, on_exceed, every
        self.owner = owner
        self.shared = shared
        self.budget = DISK_BUDGET_BYTES if budget is None else budget
        self.max_entries = DISK_MAX_ENTRIES if max_entries is None else max_entries
        self.exceeded = ""
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every):
            used, entries = disk_use(self.folder, self.max_entries)
            if self.owner is not None:
                shared = self.shared if self.shared is not None else shared_places()
                more = owned_use(self.owner, shared, self.max_entries - entries)
                used, entries = used + more[0], entries + more[1]
            if used > self.budget or entries > self.max_entries:
                self.exceeded = (f"more than {self.budget / 2 ** 30:g} GB of files" if used > self.budget
                                 else f"more than {self.max_entries:,} files and folders")
                self.on_exceed()
                return

    def stop(self) -> str:
        self._stop_event.set()
        self.join()
        return self.exceeded


def limits_note(limits: TreeLimits | None) -> str:
    """One sentence: what limits a student's process tree on this machine."""
    if limits is not None and limits.version == 2:
        return f"cgroup v2 ({limits.dirs[0].parent}): memory.max and pids.max on the whole process tree"
    if limits is not None and limits.version == 1:
        return "cgroup v1 (memory and pids hierarchies): memory and process count of the whole process tree"
    return ("no cgroup can be created here (neither a writable cgroup v2 subtree, e.g. under systemd's "
            "user@UID.service or $COURSE_GRADING_CGROUP, nor cgroup v1): only per-process limits apply "
            "(RLIMIT_AS for memory, RLIMIT_CPU), so a student's several processes together may use more memory")


def _memory_settings(memory_gb: float | None, root: Path | None = None) -> dict[str, str]:
    if not memory_gb:
        return {}
    root = root or CGROUP_ROOT
    limit = str(int(memory_gb * 2**30))
    settings = {"memory.limit_in_bytes": limit}
    if (root / "memory" / "memory.memsw.limit_in_bytes").exists():
        settings["memory.memsw.limit_in_bytes"] = limit  # no escape into swap
    return settings


def read_only_views() -> list[Path]:
    """What a sandbox binds read-only beyond the system folders: the interpreter, the virtualenv, `utils/`, `data/`
    (where they exist). A kernel forked from the zygote binds those under /tmp again over its own /tmp."""
    return [path for path in [Path(sys.base_prefix), *VISIBLE] if path.exists() and not str(path).startswith("/usr/")]


def wrap_command(argv: list[str], scratch: Path, env: dict[str, str], limits: TreeLimits | None, cpu_seconds: int,
                 memory_gb: float | None, sandbox: bool, caps: Sequence[str] = (), run_as: int | None = None,
                 home: Path | None = None) -> list[str]:
    """`argv` run in the sandbox (or, with sandbox=False, only under the limits and the clean environment).
    `caps`: capabilities `argv` keeps in the sandbox's own user namespace, as its uid 0 there (mapped to this user:
    only bubblewrap's first user namespace owns the mount namespace, one with another uid is nested inside it).
    The grading zygote's, which drops them before any import; never a student's kernel.
    `run_as`: for a grader running as root, the uid (and gid) that `argv` runs as on this machine; `home` (default:
    the scratch directory) becomes that uid's. In the sandbox: bubblewrap itself is started as that uid
    (`reach_command`), so that the sandbox's uid is that one outside, not root (whose files, /etc/shadow among them,
    a sandbox run by root could read wherever it sees them). Without it: the files only root may read stay out of
    the student's reach, its processes are limited in number (RLIMIT_NPROC: all of the student's where the uid is
    the kernel's own, `grading.demote`), and it has no network where this process may make a network namespace."""
    prefix = limits.join_command() if limits and limits.available else ""
    if run_as is not None:
        prefix += f"chown -R {run_as}:{run_as} {shlex.quote(str(home or scratch))} && "
    # -f: in 512-byte blocks (POSIX; dash, and bash as sh). Python ignores SIGXFSZ: a write past it is an OSError
    ulimits = f"ulimit -t {int(cpu_seconds)} && ulimit -c 0 && ulimit -f {FILE_MAX_BYTES // 512} && "
    if memory_gb and not (limits and limits.available):
        ulimits += f"ulimit -v {int(memory_gb * 2**20)} && "  # per process only: the fallback without a cgroup
    if sandbox:
        uid = "0" if caps else "65534"
        inner = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                 "--uid", uid, "--gid", uid, "--hostname", "grading"]
        for cap in caps:
            inner += ["--cap-add", cap]
        for key, value in env.items():
            inner += ["--setenv", key, value]
        # /tmp first: a repository checked out under /tmp (CI, a quick clone) is bound into the tmpfs below, not
        # hidden by it (the kernel died at start when the tmpfs came after the binds)
        # /proc/sys read-only: bubblewrap leaves it writable where the student's uid is root's outside the sandbox
        # (grading as root), and a written kernel.core_pattern would run a program of the student's as root
        # /tmp's size: a tmpfs is memory, which a cgroup counts but the RLIMIT_AS fallback does not (the same bound
        # as a forked kernel's /tmp); bubblewrap before 0.7 has no --size
        tmp_size = ["--size", str(int(memory_gb * 2 ** 30) if memory_gb else 2 ** 31)] if bwrap_sizes_tmpfs() else []
        inner += ["--proc", "/proc", "--dev", "/dev", *tmp_size, "--tmpfs", "/tmp", "--ro-bind", "/proc/sys",
                  "/proc/sys"]
        # each bound from its real path: the one a bubblewrap started as `run_as` must be able to reach
        sources = []
        for path in SYSTEM:
            if Path(path).is_symlink():
                inner += ["--symlink", os.readlink(path), path]
            elif Path(path).is_dir():
                sources.append(Path(os.path.realpath(path)))
                inner += ["--ro-bind", str(sources[-1]), path]
        for path in read_only_views():
            sources.append(Path(os.path.realpath(path)))
            inner += ["--ro-bind", str(sources[-1]), str(path)]
        sources.append(Path(os.path.realpath(scratch)))
        inner += ["--bind", str(sources[-1]), str(scratch), "--remount-ro", "/", "--chdir", str(scratch / "work"),
                  *argv]
        if run_as is not None:
            inner = [*reach_command(sources, run_as), *inner]
    else:  # --unsafe-no-sandbox, or our own code (check_lab): same command and environment, no isolation
        inner = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
        if run_as is not None:
            # processes and threads of that uid (RLIMIT_NPROC; the shell's `ulimit` spells it -u or -p)
            inner = [*network_cut(), "prlimit", f"--nproc={PIDS_MAX}", "--", *demote_command(run_as), *inner]
    return ["/bin/sh", "-c", prefix + ulimits + 'exec "$@"', "sh", *inner]


@functools.cache
def bwrap_sizes_tmpfs() -> bool:
    """Whether this bubblewrap can give a tmpfs a size (`--size`, bubblewrap 0.7 and later)."""
    try:
        return "--size" in subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def network_cut() -> tuple[str, ...]:
    """The prefix that starts a command in a network namespace of its own (no interface but a loopback that is
    down: no network at all; the kernel's unix sockets still work), or () where this process may not make one."""
    if not shutil.which("unshare"):
        return ()
    try:
        works = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        works = False
    return ("unshare", "--net", "--") if works else ()


def demote_command(uid: int) -> list[str]:
    """The prefix that runs a command as `uid` (its gid the same number), with no supplementary groups and no
    capabilities (util-linux's setpriv, in every Debian and Ubuntu)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--"]


def unreachable_ancestor(path: Path) -> Path | None:
    """The outermost folder above `path` that only its owner may pass through (no search permission for others, as
    /root, 0700, where pyenv installs Python), or None when any account may pass through every folder above it."""
    for parent in reversed(path.parents):
        try:
            if not os.stat(parent).st_mode & 0o001:
                return parent
        except OSError:
            return parent
    return None


MAX_REACHED = 7  # folders brought back under one covered folder: the shell's file descriptors 3 to 9


def reach_command(sources: Sequence[Path], uid: int) -> list[str]:
    """As root: the prefix that runs a command as `uid` (`demote_command`) where it can reach each of `sources`
    (real paths of folders), even one below a folder only root may pass through.

    In a mount namespace of its own (the machine's mounts are not touched), each such folder (`unreachable_ancestor`)
    is covered by an empty tmpfs that anyone may pass through, and the sources below it are bound back at their own
    paths, from file descriptors opened before the cover. Nothing else of the covered folder is there. Where no source
    needs it, the command only changes uid."""
    groups: dict[Path, list[Path]] = {}
    for source in sorted(set(sources), key=lambda p: len(p.parts)):
        top = unreachable_ancestor(source)
        if top is not None:
            groups.setdefault(top, []).append(source)
    if not groups:
        return demote_command(uid)
    steps = []
    for top, inside in groups.items():
        if len(inside) > MAX_REACHED:
            raise ValueError(f"more than {MAX_REACHED} folders to bind below {top}: {inside}")
        fds = range(3, 3 + len(inside))
        steps.append("exec " + " ".join(f"{fd}<{shlex.quote(str(path))}" for fd, path in zip(fds, inside, strict=True)))
        steps.append(f"mount -t tmpfs -o mode=0755,size=1m course-reach {shlex.quote(str(top))}")
        for fd, path in zip(fds, inside, strict=True):
            # --no-canonicalize: mount(8) would turn /proc/self/fd/N back into the path, now the cover's empty folder
            steps += [f"mkdir -p {shlex.quote(str(path))}",
                      f"mount --no-canonicalize --rbind /proc/self/fd/{fd} {shlex.quote(str(path))}"]
        steps.append("exec " + " ".join(f"{fd}<&-" for fd in fds))
    script = " && ".join(steps) + ' && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh",
            *demote_command(uid)]


def new_scratch(prefix: str, other_user: bool = False) -> Path:
    """A scratch directory under SCRATCH_ROOT/batch-<pid>: everything a student's run writes, removed after it;
    the batch folder is removed when this process exits, or at the next start if it was killed (`clean_stale`).
    other_user: a kernel running as another uid (`wrap_command`'s run_as) must pass through SCRATCH_ROOT and the
    batch folder (it still cannot list them)."""
    batch = SCRATCH_ROOT / f"batch-{os.getpid()}"
    if not SCRATCH_ROOT.is_dir():
        SCRATCH_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not batch.is_dir():
        batch.mkdir(mode=0o700, exist_ok=True)
        atexit.register(shutil.rmtree, batch, True)
    if other_user:  # and kept so: another kernel or batch of this user's, graded at the same time, passes too
        os.chmod(SCRATCH_ROOT, 0o711)
        os.chmod(batch, 0o711)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=batch))
    (path / "work").mkdir()
    return path


def give(folder: Path, uid: int) -> None:
    """`folder` and everything in it made `uid`'s (its gid the same number), links not followed."""
    for parent, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)


def clean_stale() -> list[Path]:
    """Remove scratch directories and cgroups left by grading processes that no longer run (killed batches)."""
    removed = []
    if SCRATCH_ROOT.is_dir():
        for batch in SCRATCH_ROOT.glob("batch-*"):
            pid = int(batch.name.split("-")[1]) if batch.name.split("-")[1].isdigit() else 0
            if not _alive(pid):
                shutil.rmtree(batch, ignore_errors=True)
                removed.append(batch)
    base = v2_base()
    for parent in ([base] if base else []) + [CGROUP_ROOT / "memory", CGROUP_ROOT / "pids"]:
        for group in parent.glob("course-grading-*"):
            pid = group.name.split("-")[2]
            if pid.isdigit() and not _alive(int(pid)):
                limits = TreeLimits.__new__(TreeLimits)
                limits.dirs = [group]
                limits.remove()
                removed.append(group)
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
