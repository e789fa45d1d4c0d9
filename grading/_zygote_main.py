"""The zygote's own program, run inside the sandbox as `python -c <this file's text>` (grading/ itself is not
visible in there). It imports what a lab imports once, then forks one Jupyter kernel per request.

argv: SOCKET_PATH, MODE ("isolate" or "shared"), then the import statements to run once (each a string such as
"from peft import LoraConfig").
Protocol on the unix socket, one connection per kernel: the grader sends one JSON line, {"connection_file", "cwd",
"scratch", "env", "cpu_seconds", "memory_bytes", "tmp_bytes", "log", "isolate"}; the forked child answers
"forked"; the grader moves it into the student's cgroup and answers "go"; the child answers "isolated" (or "ready"
without isolation) once it is the student's own sandbox, or "failed: why", and then becomes the kernel. The zygote
itself never answers and never returns a child into its loop: a child leaves with os._exit.

Isolation of one student (MODE isolate, request "isolate"), all before any student code, with what Linux offers an
unprivileged process (the Python 3.11 os module has no unshare: libc through ctypes):
- a nested user namespace (this uid only, no other uid or group mapped) with its own mount, pid, network, IPC and
  UTS namespaces: other students' processes do not exist for it (no pid to signal or trace), it has no network
  at all (its loopback only, not the one the other kernels of this zygote share), no shared memory or SysV IPC
  with them;
- every mount it inherits read-only; its writable places are a private /tmp, a private /dev/shm and its own scratch
  folder (bound back at the same path inside the new /tmp: other students' folders and the zygote's are not there);
- a /proc of its own pid namespace (with /proc/sys, /proc/sysrq-trigger, /proc/irq and /proc/bus read-only, as
  bubblewrap has them) and its own devpts instance;
- every capability dropped (effective, permitted, inheritable, ambient, bounding set) and no_new_privs;
- the kernel is pid 1 of its namespace: when it ends, the kernel ends every process of the student; its parent
  (the "keeper", outside that namespace, the pid the grader sees) forwards interrupts and exits with it, and the
  kernel is killed with its keeper (PDEATHSIG). The student's cgroup (memory, pids) holds both from the start.
"""

import ctypes
import fcntl
import gc
import json
import os
import resource
import signal
import socket
import struct
import sys
import tempfile

SOCKET_PATH, MODE, PRELOADS = sys.argv[1], sys.argv[2], sys.argv[3:]

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MOUNT_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "nodiratime": 2048,
                 "relatime": 1 << 21}
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 38, 47, 4
PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus")
STUDENT_ID = 65534


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target: str, fstype, flags: int, data=None) -> None:
    _check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                      data and data.encode()), f"mount {target}")


def _mounts() -> list[tuple[str, list[str]]]:
    """(mount point, per-mount options) of every mount this process sees, in /proc/self/mountinfo's order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
            out.append((point, fields[5].split(",")))
    return out


def _remount(point: str, options: list[str], readonly: bool) -> None:
    """The mount at `point` made read-only or writable, its other flags kept (a nested namespace may not clear them)."""
    flags = MS_BIND | MS_REMOUNT | (MS_RDONLY if readonly else 0) | sum(MOUNT_OPTIONS.get(o, 0) for o in set(options))
    _mount(None, point, None, flags)


def drop_capabilities(strict: bool = True) -> None:
    """No capability left in any set, for this process and whatever it execs; no_new_privs. Not strict: what this
    process may drop (the bounding set needs CAP_SETPCAP, which a shared zygote under bubblewrap lacks)."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL for caps this kernel lacks: nothing to drop
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two (effective, permitted, inheritable) triples, all zero
    _check(libc.capset(ctypes.c_char_p(header), data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    status = open("/proc/self/status").read()
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        value = next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":"))
        if int(value, 16) and (strict or field != "CapBnd"):
            raise OSError(f"{field} still {value} after dropping every capability")


def _map_ids(uid: int, gid: int) -> None:
    """After unshare(CLONE_NEWUSER): STUDENT_ID inside is (uid, gid) outside, nothing else is mapped."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{STUDENT_ID} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{STUDENT_ID} {gid} 1")


def prepare_zygote() -> None:
    """Once, before any import. Isolating, the zygote starts as uid 0 of the sandbox's user namespace with
    CAP_SYS_ADMIN there: it uncovers /proc (a nested pid namespace may mount its own /proc only where no procfs is
    partly covered; bubblewrap covers /proc/irq and /proc/bus where it can write them, i.e. run as root; each
    kernel covers them again in its own /proc), makes sure /dev/shm exists to mount over, then becomes STUDENT_ID
    in a user namespace of its own (a kernel's namespace maps that id, never a uid 0). Then: no capability."""
    if MODE == "isolate":
        for point, _ in reversed(_mounts()):
            if point.startswith("/proc/"):
                libc.umount2(point.encode(), MNT_DETACH)  # without CAP_SYS_ADMIN here, the probe will say why
        try:
            os.makedirs("/dev/shm", exist_ok=True)
        except OSError:
            pass
        if os.getuid() != STUDENT_ID:
            uid, gid = os.getuid(), os.getgid()
            _check(libc.unshare(CLONE_NEWUSER), "unshare")
            _map_ids(uid, gid)
    drop_capabilities(strict=False)  # a bounding set it may not drop: each isolated kernel drops its own, all of it


def isolate_keeper(request: dict) -> None:
    """In the forked child, before its kernel is forked: new namespaces, read-only mounts, private /tmp, /dev/shm,
    /dev/pts and the student's scratch folder only."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
           "unshare")
    _map_ids(uid, gid)  # the student is nobody, as in a fresh kernel's sandbox
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    scratch = request["scratch"]
    fd = os.open(scratch, os.O_PATH | os.O_DIRECTORY)
    for point, options in _mounts():  # everything inherited becomes read-only (/proc: replaced by the kernel's own)
        if "rw" in options and point != "/proc" and not point.startswith("/proc/"):
            _remount(point, options, readonly=True)
    # what the sandbox shows read-only under /tmp (a checkout there: its virtualenv, utils/, data/) stays visible
    # over the private /tmp below, read-only; the rest of /tmp (other students' folders, the zygote's) does not
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in request.get("keep", ())
            if os.path.isdir(path)]
    size = int(request.get("tmp_bytes") or 2**31)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
    os.makedirs(scratch, mode=0o700)
    _mount(f"/proc/self/fd/{fd}", scratch, None, MS_BIND)
    os.close(fd)
    _remount(scratch, [opts for point, opts in _mounts() if point == scratch][-1], readonly=False)  # was bound ro
    for path, view in kept:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{view}", path, None, MS_BIND | MS_REC)
        os.close(view)
        _remount(path, [opts for point, opts in _mounts() if point == path][-1], readonly=True)
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")


def isolate_kernel() -> None:
    """In the kernel, pid 1 of the new pid namespace: its own /proc, loopback up, no capability."""
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_COVERED:
        path = f"/proc/{name}"
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # SIOCSIFFLAGS lo: IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", 0x1 | 0x8 | 0x40))
    drop_capabilities()


def keep(kernel_pid: int) -> None:
    """The keeper: outside the student's pid namespace, the process the grader signals and watches."""
    signal.signal(signal.SIGINT, lambda *_: os.kill(kernel_pid, signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: os.kill(kernel_pid, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(kernel_pid, 0)
        except ChildProcessError:
            os._exit(1)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def become_kernel(request: dict) -> None:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # an import in the zygote may have cached the zygote's TMPDIR, which this kernel cannot see
    resource.setrlimit(resource.RLIMIT_CPU, (request["cpu_seconds"], request["cpu_seconds"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (request["file_bytes"], request["file_bytes"]))  # the log's too
    if request["memory_bytes"]:
        resource.setrlimit(resource.RLIMIT_AS, (request["memory_bytes"], request["memory_bytes"]))
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request["log"] or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1024)  # nothing of the zygote's (its socket, its pipe to the grader) stays open
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", request["connection_file"], "--HistoryManager.hist_file=:memory:"])
    app.start()


def child(conn: socket.socket, reader, request: dict, probe: bool = False) -> None:
    """The forked child: wait for the grader's go (it is in the student's cgroup by then), isolate, become the
    kernel. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # student code (and the keeper) may wait for its children
    try:
        os.setsid()
        conn.sendall(b"forked\n")
        if reader.readline().strip() != "go":
            os._exit(1)
        isolate = MODE == "isolate" and request.get("isolate")
        if isolate:
            isolate_keeper(request)
            pid = os.fork()
            if pid:
                conn.close()
                keep(pid)
            os.setsid()
            isolate_kernel()
        conn.sendall(b"isolated\n" if isolate else b"ready\n")
        conn.close()
        if probe:
            os._exit(0)
        become_kernel(request)
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 - never back into the loop: this process is a student's kernel
        try:
            conn.sendall(f"failed: {type(err).__name__}: {err}\n".replace("\n", " ").strip().encode() + b"\n")
        except OSError:
            pass
        os._exit(1)


def probe() -> str:
    """Whether a forked child can be isolated here: one child goes through every step, then exits."""
    if MODE != "isolate":
        return "shared not asked"
    home = os.path.dirname(SOCKET_PATH)
    parent, kid = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        parent.close()
        child(kid, kid.makefile("r"), {"scratch": home, "isolate": True}, probe=True)
    kid.close()
    reader = parent.makefile("r")
    answers = [reader.readline().strip()]
    parent.sendall(b"go\n")
    answers.append(reader.readline().strip())
    os.waitpid(pid, 0)
    parent.close()
    if answers == ["forked", "isolated"]:
        return "isolated"
    limit = open("/proc/sys/user/max_user_namespaces").read().strip()
    return f"shared {answers[-1] or 'no answer'} (user.max_user_namespaces here: {limit})"


prepare_zygote()
for statement in PRELOADS:
    exec(statement, {})  # noqa: S102 - the lab's own import lines, chosen by the trusted grader
# The kernel itself, imported once, with what its start imports (ipykernel.debugger imports debugpy: 60 ms of the
# 90 ms a kernel's start took when each kernel imported it)
import ipykernel.debugger  # noqa: E402,F401
import ipykernel.ipkernel  # noqa: E402,F401
import ipykernel.kernelapp  # noqa: E402,F401

# What is imported now lives as long as every kernel: moved out of the collector's reach, so that a kernel's first
# full collection neither walks it (about 75 ms of CPU after torch) nor writes to every page of it (copy-on-write).
gc.collect()
gc.freeze()

server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(SOCKET_PATH)
server.listen(64)
print("ready", probe(), flush=True)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel children are reaped by the system, no zombies

while True:
    conn, _ = server.accept()
    reader = conn.makefile("r")
    request = json.loads(reader.readline())
    pid = os.fork()
    if pid == 0:
        server.close()
        child(conn, reader, request)
    reader.close()
    conn.close()
