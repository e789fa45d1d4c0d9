"""JupyterHub for a class (issue 18 item 6, docs/instructors.md route D), run for real on localhost.

Two students, one instructor and one outsider become accounts of this machine (`python -m workshop.hub`, in
groups of their own); JupyterHub starts with the shipped workshop/jupyterhub/jupyterhub_config.py (PAM, the
LocalProcessSpawner, the Python configurable-http-proxy), the test overriding only ports, folders, group names and
one API token. Then, through the hub: PAM logins (a student in, a wrong password and an outsider out), each server
started through the REST API as its own account with its own room; the instructor releases lab04 with
`nbgrader release_assignment` in a terminal's environment of their server; each student fetches it, saves an answer
and submits it through their server's Assignments API (what the Assignments tab does); the instructor collects,
and `python -m grading`, run as the instructor, gives the solution full marks and the wrong answer less; the
feedback goes back (`workshop.hub release-feedback`, each student's Fetch Feedback gets their own). Along the
way, as the other student: no one reads another's home, the exchange's inbound folder, the collected submissions
or the gradebook, and a folder one student plants in the inbound folder in the other's name is not collected; and
`setup` closes a course folder to students but for what their servers need.

Everything lives in one temporary folder; the hub, the proxy, every process of the test accounts, the accounts and
their groups are removed at the end, also on failure. It needs root (useradd, a hub that starts servers as other
accounts) and user namespaces (the grading sandbox, run by an ordinary account): skipped with the reason where
they are missing, except with CI set, where that is an error. Not proven here: TLS (the Python proxy has none: a
reverse proxy in front does it), a real browser, many users at once.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import requests

from grading import load_lab
from grading.sandbox import sandbox_problem
from grading.validity import student_versions
from utils import ROOT

LINUX = "JupyterHub for a class runs on Linux: accounts, PAM, runuser"
pwd = pytest.importorskip("pwd", reason=LINUX)
grp = pytest.importorskip("grp", reason=LINUX)
hubmod = importlib.import_module("workshop.hub")  # after the two above: it imports them

LAB = "lab04_attention"
COURSE_ID = "lora-first-principles"
VENV_BIN = Path(sys.executable).parent
TOOLS = ("useradd", "usermod", "userdel", "groupadd", "groupdel", "runuser", "chpasswd")
RUNUSER = shutil.which("runuser") or "runuser"  # /usr/sbin: not on the PATH of a user's server


ACL = "system.posix_acl_access"  # a POSIX ACL as the kernel stores it (what setfacl writes)
USER_OBJ, GROUP_OBJ, GROUP, MASK, OTHER, UNDEFINED = 0x01, 0x04, 0x08, 0x10, 0x20, 0xFFFFFFFF


def blocked_folders() -> list[Path]:
    """The folders other accounts cannot enter on the way to the course's Python: a venv made from a Python
    under /root (pyenv, as on this project's machines) runs for root only."""
    python = Path(os.path.realpath(VENV_BIN / "python"))
    return sorted({p for target in (VENV_BIN, python) for p in hubmod.unreachable(target)})


def acl_entering(path: Path, gids: list[int]) -> bytes:
    """`path`'s mode as an ACL, plus "enter" (x) for each group in gids."""
    mode = path.stat().st_mode
    group = (mode >> 3) & 7
    entries = [(USER_OBJ, (mode >> 6) & 7, UNDEFINED), (GROUP_OBJ, group, UNDEFINED),
               *[(GROUP, 1, gid) for gid in sorted(gids)], (MASK, group | 1, UNDEFINED), (OTHER, mode & 7, UNDEFINED)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


@contextlib.contextmanager
def let_groups_enter(folders: list[Path], gids: list[int]):
    """For the test's duration, the test's groups (only they) may enter `folders`; mode and ACL restored after."""
    saved = []
    try:
        for folder in folders:
            mode = folder.stat().st_mode
            try:
                old = os.getxattr(folder, ACL)
            except OSError:
                old = None
            saved.append((folder, mode, old))
            os.setxattr(folder, ACL, acl_entering(folder, gids))
        yield
    finally:
        for folder, mode, old in reversed(saved):
            if old is None:
                with contextlib.suppress(OSError):
                    os.removexattr(folder, ACL)
            else:
                os.setxattr(folder, ACL, old)
            os.chmod(folder, stat.S_IMODE(mode))


def acl_problem() -> str | None:
    """Why the test could not let its accounts reach the course's Python, or None."""
    if not blocked_folders():
        return None
    with tempfile.TemporaryDirectory() as probe:
        try:
            os.setxattr(probe, ACL, acl_entering(Path(probe), [os.getgid()]))
        except OSError as err:
            return (f"the course's Python is under {blocked_folders()[0]}, which other accounts cannot enter, and "
                    f"this file system takes no ACL to let the test's accounts in ({err})")
    return None


def hub_problem() -> str | None:
    """Why this machine cannot run the class's hub for real, or None."""
    if os.name != "posix" or os.geteuid() != 0:
        return "not root: the test creates accounts (useradd) and the hub starts servers as them"
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        return f"no {', '.join(missing)} here (the passwd package)"
    sandbox = sandbox_problem()
    if sandbox:
        return f"no user namespaces for the grading sandbox: {sandbox}"
    return acl_problem()


PROBLEM = hub_problem()
if PROBLEM and os.environ.get("CI"):
    raise RuntimeError(f"the class's JupyterHub must run in CI: {PROBLEM}")  # a collection error, not a skip
pytestmark = [pytest.mark.skipif(PROBLEM is not None, reason=f"no JupyterHub for a class here: {PROBLEM}"),
              pytest.mark.slow]


START = time.monotonic()


def phase(what: str) -> None:
    """Elapsed time since the module started, per step: shown with -s, and with a failure's captured output."""
    print(f"[{time.monotonic() - START:6.1f} s, load {os.getloadavg()[0]:.1f}] {what}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: list[str], user: str | None = None, timeout: float = 120, umask: int | None = None,
        **kwargs) -> subprocess.CompletedProcess:
    """Run `command` (as the account `user`, through runuser, with `umask`), its output captured; fail with it."""
    if umask is not None:
        command = ["sh", "-c", f'umask {umask:03o} && exec "$0" "$@"', *command]
    full = [RUNUSER, "-u", user, "--", *command] if user else command
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{' '.join(full)} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


class Hub:
    """One running hub: its URL, its API token, its accounts and the temporary folder it lives in."""

    def __init__(self, tmp: Path, suffix: str):
        self.tmp = tmp
        self.students = [f"lfp{suffix}a", f"lfp{suffix}b"]
        self.instructor = f"lfp{suffix}i"
        self.outsider = f"lfp{suffix}x"
        self.groups = {"COURSE_HUB_STUDENTS": f"lfp{suffix}stu", "COURSE_HUB_INSTRUCTORS": f"lfp{suffix}ins"}
        self.password = secrets.token_urlsafe(12)
        self.token = secrets.token_hex(24)
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.course = tmp / "course"  # where all can enter, as /srv/course
        self.env = {**os.environ, **self.groups, "COURSE_HUB_EXCHANGE": str(tmp / "exchange"),
                    "COURSE_HUB_STATE": str(tmp / "state"), "COURSE_HUB_COURSE": str(self.course)}
        self.settings = hubmod.settings(self.env)
        self.process: subprocess.Popen | None = None
        self.log = tmp / "jupyterhub.log"

    def api(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 202, 204), **kwargs):
        response = requests.request(method, self.url + path, timeout=60,
                                    headers={"Authorization": f"token {self.token}"}, **kwargs)
        assert response.status_code in expect, (f"{method} {path}: {response.status_code} {response.text[:500]}"
                                                 f"\n{self.log_tail()}")
        return response

    def log_tail(self, n: int = 4000) -> str:
        return "hub log:\n" + (self.log.read_text(errors="replace")[-n:] if self.log.exists() else "(none)")

    def user_model(self, name: str) -> dict:
        return self.api("GET", f"/hub/api/users/{name}").json()

    def server_environ(self, name: str) -> dict[str, str]:
        """The environment the hub gave `name`'s server: what a terminal opened in it has."""
        raw = Path(f"/proc/{self.server_pid(name)}/environ").read_bytes().split(b"\0")
        return dict(item.decode().split("=", 1) for item in raw if b"=" in item)

    def server_pid(self, name: str) -> int:
        return self.user_model(name)["servers"][""]["state"]["pid"]

    def in_terminal(self, name: str, command: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
        """Run `command` as a terminal of `name`'s server would: their account, its environment and umask."""
        status = Path(f"/proc/{self.server_pid(name)}/status").read_text()
        umask = int(re.search(r"^Umask:\s*(\d+)", status, re.M).group(1), 8)
        return run(command, user=name, cwd=cwd, env=self.server_environ(name), umask=umask, **kwargs)


def write_test_config(h: Hub) -> Path:
    """The shipped config, then only what a test must change: ports on localhost and an API token."""
    config = h.tmp / "jupyterhub_test_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(ROOT / 'workshop' / 'jupyterhub' / 'jupyterhub_config.py')!r})  # noqa: F821\n"
        f"c.JupyterHub.bind_url = {h.url!r}\n"
        f"c.JupyterHub.hub_port = {h.hub_port}\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{h.api_port}'\n"
        f"c.JupyterHub.services = [{{'name': 'course-test', 'api_token': {h.token!r}}}]\n"
        "c.JupyterHub.load_roles = [{'name': 'course-test', 'services': ['course-test'], 'scopes': [\n"
        "    'admin:users', 'admin:servers', 'admin:server_state', 'access:servers', 'list:users']}]\n",
        encoding="utf-8")
    return config


def stop(h: Hub) -> None:
    """The hub (it stops the servers and the proxy), then whatever of the test's is still running, by pid."""
    if h.process and h.process.poll() is None:
        h.process.send_signal(signal.SIGTERM)
        try:
            h.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(h.process.pid, signal.SIGKILL)
            h.process.wait(timeout=10)
    pid_file = h.settings.state / "jupyterhub-proxy.pid"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
    uids = set()
    for name in [*h.students, h.instructor, h.outsider]:
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(name).pw_uid)
    for proc in psutil.process_iter(["uids"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["uids"] and proc.info["uids"].real in uids:
                proc.kill()


@pytest.fixture(scope="module")
def hub():
    tmp = Path(tempfile.mkdtemp(prefix="course-hub-"))
    os.chmod(tmp, 0o755)  # the accounts' homes live inside
    h = Hub(tmp, secrets.token_hex(3))
    phase("start")
    try:
        (tmp / "home").mkdir(mode=0o755)
        hub_cmd = [sys.executable, "-m", "workshop.hub"]
        run([*hub_cmd, "setup", "--keep-permissions"], env=h.env)
        run([*hub_cmd, "add-instructor", h.instructor, "--home-base", str(tmp / "home")], env=h.env)
        run([*hub_cmd, "add-students", *h.students, "--home-base", str(tmp / "home")], env=h.env)
        run(["useradd", "--no-create-home", "--shell", "/bin/bash", h.outsider])
        run(["chpasswd"], input=f"{h.students[0]}:{h.password}\n{h.outsider}:{h.password}\n")
        # The instructor's course folder: the course's nbgrader config and the released lab, as a clone would have
        h.course.mkdir()
        shutil.copy(ROOT / "nbgrader_config.py", h.course)
        shutil.copytree(ROOT / "labs" / LAB, h.course / "labs" / LAB)
        run(["chown", "-R", f"{h.instructor}:", str(h.course)])
        phase("accounts and folders made")
        config = write_test_config(h)
        gids = [grp.getgrnam(group).gr_gid for group in h.groups.values()]
        with let_groups_enter(blocked_folders(), gids):
            with h.log.open("w") as log:
                h.process = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(config)],
                                             cwd=h.settings.state, env=h.env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            try:
                wait_for(lambda: hub_answers(h), 90, "the hub to answer", h)
                phase("hub answers")
                yield h
            finally:
                stop(h)
    finally:
        stop(h)
        for name in [*h.students, h.instructor, h.outsider]:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        for group in h.groups.values():
            subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def hub_answers(h: Hub) -> bool:
    if h.process.poll() is not None:
        raise AssertionError(f"jupyterhub exited {h.process.returncode}\n{h.log_tail()}")
    with contextlib.suppress(requests.ConnectionError):
        return requests.get(h.url + "/hub/api/", timeout=5).status_code == 200
    return False


def wait_for(ready, seconds: float, what: str, h: Hub):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := ready():
            return result
        time.sleep(0.5)
    raise AssertionError(f"waited {seconds} s for {what}\n{h.log_tail()}")


def login(h: Hub, username: str, password: str) -> int:
    """A login through the hub's form (PAM behind it): the status of the POST (302: in, 403: refused)."""
    with requests.Session() as session:
        page = session.get(h.url + "/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert xsrf, page.text[:500]
        return session.post(h.url + "/hub/login", allow_redirects=False, timeout=60,
                            data={"username": username, "password": password, "_xsrf": xsrf.group(1)}).status_code


def test_hub_answers_and_logs_in_with_pam(hub):
    version = hub.api("GET", "/hub/api/").json()["version"]
    assert version == "6.1.1"
    assert login(hub, hub.students[0], hub.password) == 302  # the account's own password, checked by PAM
    assert login(hub, hub.students[0], hub.password + "x") == 403
    assert login(hub, hub.outsider, hub.password) == 403  # a real account, in neither group
    assert hub.user_model(hub.students[0])["admin"] is False


def servers(h: Hub) -> list[str]:
    """Start every course account's server through the REST API (once) and wait until each is ready."""
    people = [h.instructor, *h.students]
    for name in people:
        h.api("POST", "/hub/api/users", expect=(201, 409), json={"usernames": [name]})
        if not h.user_model(name)["servers"]:
            h.api("POST", f"/hub/api/users/{name}/server")
    for name in people:
        wait_for(lambda name=name: h.user_model(name)["servers"].get("", {}).get("ready"), 240,
                 f"{name}'s server", h)
    phase("servers ready")
    return people


def test_each_server_runs_as_its_account_in_its_room(hub):
    for name in servers(hub):
        proc = psutil.Process(hub.server_pid(name))
        assert proc.uids().real == pwd.getpwnam(name).pw_uid, name
        assert Path(proc.exe()).resolve() == Path(sys.executable).resolve()  # the course's .venv
    student, instructor = hub.students[0], hub.instructor
    # The rooms: Formgrader for the instructor only; the Assignments list for both
    hub.api("GET", f"/user/{instructor}/formgrader/api/status")
    hub.api("GET", f"/user/{student}/formgrader/api/status", expect=(404,))
    hub.api("GET", f"/user/{student}/assignments", params={"course_id": COURSE_ID})
    # A student's server opens at home, with their own copy of the lessons; the instructor's in the course folder
    lessons = hub.api("GET", f"/user/{student}/api/contents/notebooks").json()["content"]
    assert "00_setup.ipynb" in {item["name"] for item in lessons}
    assert (Path(pwd.getpwnam(student).pw_dir) / "notebooks").stat().st_uid == pwd.getpwnam(student).pw_uid
    course = {item["name"] for item in hub.api("GET", f"/user/{instructor}/api/contents/").json()["content"]}
    assert {"labs", "nbgrader_config.py"} <= course
    for name in (student, instructor):
        assert hubmod.settings(hub.server_environ(name)) == hub.settings  # the hub's settings reach every server


def test_release_fetch_submit_collect_grade(hub):
    servers(hub)
    instructor, (alice, bob) = hub.instructor, hub.students
    nbgrader = str(VENV_BIN / "nbgrader")
    hub.in_terminal(instructor, [nbgrader, "release_assignment", LAB], cwd=hub.course)
    phase("released")

    fetched_dir = hub.tmp / "fetched"
    fetched_dir.mkdir()
    lab = load_lab(LAB)
    answers = {}
    for student in (alice, bob):
        listed = hub.api("POST", f"/user/{student}/assignments/fetch",
                         data={"course_id": COURSE_ID, "assignment_id": LAB}).json()
        assert listed["success"], listed["value"]
        assert any(a["assignment_id"] == LAB and a["status"] == "fetched" for a in listed["value"]), listed
        path = f"/user/{student}/api/contents/{LAB}/{LAB}.ipynb"
        fetched = nbformat.from_dict(hub.api("GET", path).json()["content"])
        released = nbformat.read(ROOT / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
        assert [c.source for c in fetched.cells] == [c.source for c in released.cells]
        nbformat.write(fetched, fetched_dir / f"{LAB}.ipynb")
        answers = answers or student_versions(lab, fetched_dir)
        version = "solution" if student == alice else "wrong0"  # a plausible mistake: loses some points, not all
        hub.api("PUT", path, json={"type": "notebook", "format": "json", "content": answers[version][LAB]})
        out = hub.api("POST", f"/user/{student}/assignments/submit",
                      data={"course_id": COURSE_ID, "assignment_id": LAB}).json()
        assert out["success"], out["value"]
        assert any(a["assignment_id"] == LAB and a["status"] == "submitted" for a in out["value"]), out
    phase("fetched and submitted")
    # Students are kept apart: nbgrader's inbound folder is write-only for them, and homes are their own
    inbound = hub.settings.exchange / COURSE_ID / "inbound"
    alices_answer = Path(pwd.getpwnam(alice).pw_dir) / LAB / f"{LAB}.ipynb"
    assert alices_answer.exists()
    for peek in (["ls", str(inbound)], ["cat", str(alices_answer)]):
        assert subprocess.run([RUNUSER, "-u", bob, "--", *peek], capture_output=True).returncode != 0, peek
    assert {p.name.split("+")[0] for p in inbound.iterdir()} == {alice, bob}
    # But bob may create folders there: one named for alice, dated a year after hers, holding the unanswered lab.
    # nbgrader's own collect would take it as alice's latest; the course's (workshop.exchange) skips it, saying so
    stamp = next(p.name for p in inbound.iterdir() if p.name.startswith(f"{alice}+")).rsplit("+", 3)[2]
    planted = inbound / f"{alice}+{LAB}+{int(stamp[:4]) + 1}{stamp[4:]}+planted"
    stub = (ROOT / "labs" / LAB / f"{LAB}.ipynb").read_text(encoding="utf-8")
    run(["sh", "-c", 'mkdir "$0" && cat > "$0/$1"', str(planted), f"{LAB}.ipynb"], user=bob, input=stub)

    collected = hub.in_terminal(instructor, [nbgrader, "collect", LAB], cwd=hub.course)
    assert f"not collected: {planted} is named for {alice} but was made by {bob}" in collected.stderr, collected.stderr
    submitted = hub.course / "submitted"
    phase("collected")
    for student in (alice, bob):
        assert (submitted / student / LAB / f"{LAB}.ipynb").exists(), sorted(submitted.rglob("*"))
    # What the instructor's server creates is theirs alone (umask 027): a student reads no one's collected work
    for peek in (["ls", str(submitted)], ["cat", str(submitted / alice / LAB / f"{LAB}.ipynb")],
                 ["cat", str(hub.course / "gradebook.db")]):
        assert subprocess.run([RUNUSER, "-u", bob, "--", *peek], capture_output=True).returncode != 0, peek

    out = hub.course / "grading"
    hub.in_terminal(instructor, [str(VENV_BIN / "python"), "-m", "grading", "--lab", LAB, "--submissions",
                                 str(submitted), "--out", str(out), "--workers", "2"],
                    cwd=ROOT, timeout=300)
    phase("graded")
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert set(rows) == {alice, bob}
    assert rows[alice]["status"] == "ok" and float(rows[alice]["score"]) == float(rows[alice]["max_score"]) > 0
    assert 0 < float(rows[bob]["score"]) < float(rows[bob]["max_score"]), rows[bob]

    # The feedback goes back the same way: released by the instructor, fetched in each student's Assignments tab
    hub.in_terminal(instructor, [str(VENV_BIN / "python"), "-m", "workshop.hub", "release-feedback", "--lab", LAB,
                                 "--grading", str(out)], cwd=hub.course)
    for student in (alice, bob):
        listed = hub.api("POST", f"/user/{student}/assignments/fetch_feedback",
                         data={"course_id": COURSE_ID, "assignment_id": LAB}).json()
        assert listed["success"], listed["value"]
        html = list((Path(pwd.getpwnam(student).pw_dir) / LAB / "feedback").glob(f"*/{LAB}.html"))
        assert len(html) == 1, html
        assert html[0].read_bytes() == (out / "feedback" / student / LAB / f"{LAB}.html").read_bytes()
    phase("feedback fetched")


def test_setup_closes_the_course_to_students_but_what_servers_need(hub):
    """`workshop.hub setup` on a course folder: a student reads the venv, utils, lessons, labs; not solutions, .git."""
    course = hub.tmp / "locked-course"
    for rel in ("solutions/lab04/lab04.ipynb", ".git/HEAD", "grading/grade.py", "utils/x.py", ".venv/bin/python",
                "labs/lab04/lab04.ipynb", "notebooks/00.ipynb", "gradebook.db", "nbgrader_config.py"):
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        (course / rel).write_text("x")
    os.chmod(course, 0o755)
    closed = {p.name for p in hubmod.lock_course(course)}
    assert closed == {"solutions", ".git", "grading", "gradebook.db", "nbgrader_config.py"}
    student = hub.students[0]

    def readable(rel: str) -> bool:
        return subprocess.run([RUNUSER, "-u", student, "--", "cat", str(course / rel)],
                              capture_output=True).returncode == 0

    assert all(readable(r) for r in ("utils/x.py", ".venv/bin/python", "labs/lab04/lab04.ipynb", "notebooks/00.ipynb"))
    assert not any(readable(r) for r in ("solutions/lab04/lab04.ipynb", ".git/HEAD", "grading/grade.py",
                                         "gradebook.db"))
