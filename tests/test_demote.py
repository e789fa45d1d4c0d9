"""`make grade --unsafe-no-sandbox` where bubblewrap cannot run (grading.demote): as root, each kernel runs as a uid of
its own that cannot read the course, the other students or the results, has no network, and leaves no process or
temporary file behind; as another user the output says student code runs as that user."""

from __future__ import annotations

import copy
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest

from grading import LABS, load_lab, student_versions
from grading.demote import STUDENT_UIDS, course_secrets, hide, restore, take_uid
from grading.sandbox import PIDS_MAX, demote_command, wrap_command
from utils import ROOT

LAB = "lab00_setup"


def test_each_kernel_takes_a_uid_of_its_own():
    assert take_uid(None) is None and take_uid(65534) == 65534  # one uid (Gradescope's nobody) is used as given
    taken, lock = [], threading.Lock()

    def take():
        for _ in range(50):
            uid = take_uid(STUDENT_UIDS)
            with lock:
                taken.append(uid)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(taken)) == 200 and all(uid in STUDENT_UIDS for uid in taken)
    assert os.getuid() not in taken
    mine = range(os.getuid(), os.getuid() + 1)  # a range whose one uid a process has now: never given out again
    with pytest.raises(RuntimeError, match="no free uid"):
        take_uid(mine)


def test_what_is_hidden_is_what_bubblewrap_would_not_show(tmp_path):
    root = tmp_path / "course"
    for name in (".venv", "utils", "data", "solutions", "tests", ".git", "labs", "submitted"):
        (root / name).mkdir(parents=True)
    (root / "README.md").write_text("x")
    outside = tmp_path / "results"
    outside.mkdir()
    secrets = course_secrets([root / "submitted", outside, tmp_path / "absent"], root)
    assert {p.name for p in secrets} == {"solutions", "tests", ".git", "labs", "submitted", "README.md", "results"}
    assert len(secrets) == len(set(secrets))  # submitted/ once: it is inside the course

    (root / "solutions").chmod(0o755)
    (root / "README.md").chmod(0o640)  # others could not read it already: left as it is
    (root / "link").symlink_to(root / "utils")
    saved = hide([root / "solutions", root / "README.md", root / "link"])
    assert saved == {root / "solutions": 0o755}
    assert (root / "solutions").stat().st_mode & 0o777 == 0o750 and (root / "utils").stat().st_mode & 0o007
    restore(saved)
    assert (root / "solutions").stat().st_mode & 0o777 == 0o755


def test_a_demoted_kernel_is_limited_and_cut_off(tmp_path):
    argv = wrap_command(["python"], tmp_path, {"HOME": "/x"}, None, 60, None, sandbox=False, run_as=1_600_000_123)
    command = argv[4:]
    at = command.index("setpriv")
    assert command[at:at + len(demote_command(1))] == demote_command(1_600_000_123)
    assert "prlimit" in command[:at] and f"--nproc={PIDS_MAX}" in command[:at]
    assert f"chown -R 1600000123:1600000123 {tmp_path}" in argv[2]
    assert command[-3:] == ["env", "-i", "HOME=/x", "python"][-3:]


def _course_for_others(folder: Path) -> Path | None:
    """A copy of this working tree any account can read, its .venv made from the system Python with this checkout's
    packages (as an instructor would make it with `make setup PYTHON=/usr/bin/python3.11`). None where there is no
    such Python or no git."""
    system = Path("/usr/bin") / f"python{sys.version_info.major}.{sys.version_info.minor}"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if not system.is_file() or files.returncode != 0:
        return None
    course = folder / "course"
    for name in files.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (course / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, course / name)
    venv = course / ".venv"
    if subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], capture_output=True).returncode:
        return None
    site = next((venv / "lib").glob("python*/site-packages"))
    shutil.rmtree(site)  # ours, under this venv's prefix (library frames under it are the harness's trusted code)
    site.symlink_to(next((ROOT / ".venv" / "lib").glob("python*/site-packages")))
    (venv / "share").symlink_to(ROOT / ".venv" / "share")  # nbconvert's templates, for the feedback page
    return course


@pytest.mark.slow  # two students graded for real without bubblewrap
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="grading as root without a sandbox")
def test_as_root_without_bubblewrap_student_code_cannot_read_reach_or_outlive(tmp_path):
    public = Path(tempfile.mkdtemp(prefix="demote-test-"))  # pytest's tmp_path is its owner's alone
    public.chmod(0o755)
    nested = Path(tempfile.mkdtemp(prefix=".demote-test-shared-", dir="/tmp"))  # like /tmp/.X11-unix
    nested.chmod(0o1777)
    try:
        course = _course_for_others(public)
        if course is None:
            pytest.skip(f"no /usr/bin/python{sys.version_info.major}.{sys.version_info.minor} or no git checkout")
        submitted, out, drop = public / "submitted", public / "out", public / "drop"
        drop.mkdir(mode=0o777)
        drop.chmod(0o777)
        sol = student_versions(load_lab(LAB), LABS / LAB)["solution"][LAB]
        probe = copy.deepcopy(sol)
        targets = [course / "solutions" / LAB / f"{LAB}.ipynb", course / "solutions", course / "tests",
                   course / "README.md", submitted / "alice" / LAB / f"{LAB}.ipynb", out]
        probe.cells.append(nbformat.v4.new_code_cell(
            "import os, socket\n"
            f"open({str(drop / 'uid')!r}, 'w').write(str(os.getuid()))\n"
            f"readable = [p for p in {list(map(str, targets))!r} if os.access(p, os.R_OK)]\n"
            f"open({str(drop / 'readable')!r}, 'w').write(repr(readable))\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', 9), timeout=2)\n"
            "except OSError as e:\n"
            f"    open({str(drop / 'network')!r}, 'w').write(str(e.errno))\n"
            "open('/tmp/left-by-mallory', 'w').write('x')\n"
            f"open({str(nested / 'left-by-mallory')!r}, 'w').write('x')\n"
            "daemon = os.fork()  # no program may start: a forked daemon in a session of its own\n"
            "if daemon == 0:\n"
            "    os.setsid()\n"
            "    open('/proc/self/comm', 'w').write('mallory-daemon')\n"
            "    __import__('time').sleep(300)\n"
            "    os._exit(0)\n"
            f"open({str(drop / 'daemon')!r}, 'w').write(str(daemon))\n"))
        for student, nb in (("alice", sol), ("mallory", probe)):
            (submitted / student / LAB).mkdir(parents=True)
            nbformat.write(nb, submitted / student / LAB / f"{LAB}.ipynb")
        no_bwrap = public / "bin"  # the system's commands but bubblewrap: a machine where it cannot run
        no_bwrap.mkdir()
        for tool in Path("/usr/bin").iterdir():
            if tool.name != "bwrap" and not (no_bwrap / tool.name).exists():
                (no_bwrap / tool.name).symlink_to(tool)
        modes = {p: p.stat().st_mode for p in (course / "solutions", course / "tests", submitted)}
        env = {"PATH": f"{course / '.venv' / 'bin'}:{no_bwrap}", "PYTHONPATH": str(course),
               "HF_HUB_OFFLINE": "1", "HOME": str(public)}
        proc = subprocess.run([str(course / ".venv" / "bin" / "python"), "-m", "grading", "--lab", LAB,
                               "--submissions", str(submitted), "--out", str(out), "--unsafe-no-sandbox"],
                              cwd=course, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        if "each student's kernel runs as a uid of its own" not in proc.stderr:
            assert "student code runs as root" in proc.stderr, proc.stderr  # and it says why, and how to change it
            pytest.skip("this machine's uids cannot start the system Python's venv: " + proc.stderr[-300:])
        rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
        assert rows["alice"]["score"] == rows["alice"]["max_score"] == "6", rows["alice"]
        assert rows["mallory"]["score"] == "6", rows["mallory"]  # her probe costs her nothing: the scan flags it
        assert int((drop / "uid").read_text()) in STUDENT_UIDS
        assert (drop / "readable").read_text() == "[]"
        if "without network" in proc.stderr:
            assert (drop / "network").read_text() == "101"  # ENETUNREACH: no interface at all
        assert not Path("/tmp/left-by-mallory").exists() and list(nested.iterdir()) == []
        daemon = int((drop / "daemon").read_text())
        assert not Path(f"/proc/{daemon}").exists() or "mallory-daemon" not in Path(f"/proc/{daemon}/comm").read_text()
        assert {p: p.stat().st_mode for p in modes} == modes  # put back
    finally:
        shutil.rmtree(public, ignore_errors=True)
        shutil.rmtree(nested, ignore_errors=True)
