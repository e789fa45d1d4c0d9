"""The zygote's own program, run inside the sandbox as `python -c <this file's text>` (grading/ itself is not
visible in there). It imports what a lab imports once, then forks one Jupyter kernel per request.

argv: SOCKET_PATH then the import statements to run once (each a string such as "from peft import LoraConfig").
Protocol on the unix socket: one JSON line per request, {"connection_file", "cwd", "env", "cpu_seconds",
"memory_bytes", "log"}; the answer is one line, "forked" once the child exists. The child never returns into this
loop: it becomes an IPython kernel and leaves with os._exit.
"""

import json
import os
import resource
import signal
import socket
import sys

for statement in sys.argv[2:]:
    exec(statement, {})  # noqa: S102 - the lab's own import lines, chosen by the trusted grader
import ipykernel.kernelapp  # noqa: E402,F401 - the kernel itself, imported once

server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(64)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel children are reaped by the system, no zombies
print("ready", flush=True)


def become_kernel(request: dict) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # student code may wait for its own subprocesses
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    resource.setrlimit(resource.RLIMIT_CPU, (request["cpu_seconds"], request["cpu_seconds"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if request["memory_bytes"]:
        resource.setrlimit(resource.RLIMIT_AS, (request["memory_bytes"], request["memory_bytes"]))
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request["log"] or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", request["connection_file"], "--HistoryManager.hist_file=:memory:"])
    app.start()


while True:
    conn, _ = server.accept()
    with conn:
        request = json.loads(conn.makefile("r").readline())
        pid = os.fork()
        if pid == 0:
            server.close()
            conn.close()
            try:
                become_kernel(request)
                os._exit(0)
            except BaseException:  # noqa: BLE001 - never back into the loop: this process is a student's kernel
                os._exit(1)
        conn.sendall(b"forked\n")
