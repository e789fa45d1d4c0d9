"""Kernels forked from a pre-imported process (grading.zygote), the lab proofs' way of starting ~300 kernels: each
forked kernel starts in its own folder and environment with the lab's libraries already imported (never the course's
own `utils`), obeys interrupts and limits like a fresh kernel, ends at close, and grades exactly as a fresh one."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from grading import sandbox
from grading.grade import GradingOptions, grade_all
from grading.harness import Harness
from grading.labsource import LABS, load_lab
from grading.sandbox import new_scratch, sandbox_problem
from grading.submissions import Submission
from grading.validity import check_lab, release_labs, student_versions
from grading.zygote import (
    ALWAYS,
    PRELOADABLE,
    WARM_TRANSFORMERS,
    ForkedKernel,
    Zygote,
    for_class,
    preload_lines,
)

ISOLATION = sandbox_problem()


def test_preloads_are_the_labs_libraries_never_the_course_modules():
    for name in ("lab00_setup", "lab04_attention", "lab08_peft", "lab12_qlora"):
        lines = preload_lines(load_lab(name))
        assert lines[:len(ALWAYS)] == ALWAYS
        assert all(line.split()[1].split(".")[0] in PRELOADABLE for line in lines), lines  # never `utils`
        assert len(lines) == len(set(lines))
    assert any("peft" in line for line in preload_lines(load_lab("lab08_peft")))
    assert any("bitsandbytes" in line for line in preload_lines(load_lab("lab12_qlora")))
    # lab01 imports transformers only through utils.models: followed, and the lazy GPT-2 code added
    assert "import transformers.models.gpt2.modeling_gpt2" in preload_lines(load_lab("lab01_tokens"))
    # and the imports inside the course's functions: lab13's setup() (matplotlib) and load_qa() (datasets)
    lab13 = preload_lines(load_lab("lab13_chatbot"))
    assert "import matplotlib.pyplot as plt" in lab13 and "from datasets import load_dataset" in lab13, lab13


def test_the_zygote_fills_transformers_first_load_cache(monkeypatch):
    """WARM_TRANSFORMERS builds transformers' checkpoint-renaming table (0.2 s of each kernel's first load_model)
    in the zygote; fails when a transformers upgrade renames what it fills, so the saving cannot vanish unseen."""
    import transformers.conversion_mapping as mapping

    assert all(line in preload_lines(load_lab("lab08_peft")) for line in WARM_TRANSFORMERS)
    monkeypatch.setattr(mapping, "_checkpoint_conversion_mapping_cache", None)
    for line in WARM_TRANSFORMERS:
        exec(line, {})  # noqa: S102 - our own line
    assert mapping._checkpoint_conversion_mapping_cache is not None


@pytest.mark.slow
def test_a_forked_kernel_is_its_own_process_in_its_own_folder():
    # the zygote asks for its temporary folder once, as some libraries do at import: tempfile caches the answer
    zygote = Zygote(["import torch", "import tempfile; tempfile.gettempdir()"], threads=1,
                    sandbox=sandbox_problem() is None)
    kernels = []
    try:
        for k in range(2):
            scratch = new_scratch(f"zygote-test-{k}-")
            kernel = ForkedKernel(zygote, scratch, scratch.name, memory_gb=2.0, cpu_seconds=120, threads=1,
                                  marker=Harness.new().marker)
            kernel.start(60)
            kernels.append((kernel, scratch))
        for kernel, scratch in kernels:
            # the zygote's imports are frozen out of the collector's reach: a kernel's full collections neither walk
            # nor copy them
            run = kernel.run("import gc, os, sys; print(os.getcwd(), os.environ['HOME'], 'torch' in sys.modules, "
                             "'utils' in sys.modules, os.environ.get('COURSE_DEVICE'), gc.get_freeze_count() > 10**5)",
                             30)
            text = "".join(o.get("text", "") for o in run.outputs).split()
            assert run.status == "ok" and text == [str(scratch / "work")] * 2 + ["True", "False", "cpu", "True"], text
        for kernel, _ in kernels:  # each kernel's own TMPDIR, not the zygote's (lab08 saves an adapter there)
            run = kernel.run("import os, tempfile\nwith tempfile.TemporaryDirectory() as d:\n"
                             "    print(tempfile.gettempdir() == os.environ['TMPDIR'], os.path.isdir(d))", 30)
            assert run.status == "ok" and "".join(o.get("text", "") for o in run.outputs).split() == ["True"] * 2
        first, _ = kernels[0]
        assert first.run("x = 41", 30).status == "ok"
        assert "NameError" in kernels[1][0].run("x", 30).ename  # no state shared between two forked kernels
        start = time.monotonic()
        assert first.run("import time\ntime.sleep(60)", 2).status == "timeout"  # the interrupt reaches it
        assert time.monotonic() - start < 30 and first.alive()
        assert first.run("print(x + 1)", 30).outputs[0]["text"].strip() == "42"
        pid = first.pid
        first.close()
        kernels = kernels[1:]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    finally:
        for kernel, _ in kernels:
            kernel.close()
        zygote.close()


@pytest.mark.slow
def test_a_checkout_under_tmp_stays_visible_to_a_forked_kernel(monkeypatch):
    """A forked kernel mounts a /tmp of its own. What the sandbox shows read-only under /tmp (a clone there: its
    virtualenv, utils/, data/) is bound back over it, read-only; the rest of the checkout is not. Without that, every
    forked kernel of a checkout under /tmp died at its first import and a class fell back to fresh kernels."""
    if ISOLATION:
        pytest.skip(f"no grading sandbox here: {ISOLATION}")
    checkout = Path(tempfile.mkdtemp(prefix="checkout-", dir="/tmp"))
    try:
        (checkout / "utils").mkdir()
        (checkout / "utils" / "seen.txt").write_text("shown")
        (checkout / "solutions").mkdir()
        monkeypatch.setattr(sandbox, "VISIBLE", [*sandbox.VISIBLE, checkout / "utils"])
        zygote = Zygote(["import torch"], threads=1, sandbox=True)
        scratch = new_scratch("zygote-tmp-checkout-")
        kernel = ForkedKernel(zygote, scratch, scratch.name, memory_gb=2.0, cpu_seconds=120, threads=1,
                              marker=Harness.new().marker)
        try:
            if not zygote.isolated:
                pytest.skip(f"forked kernels cannot be isolated here: {zygote.problem}")
            kernel.start(60)
            said = _said(kernel, f"import os\nroot = {str(checkout)!r}\n"
                                 "print(open(root + '/utils/seen.txt').read(), sorted(os.listdir(root)))\n"
                                 "try:\n    open(root + '/utils/new.txt', 'w')\nexcept OSError as err:\n"
                                 "    print('errno', err.errno)\n")
            assert said.split("\n")[:2] == ["shown ['utils']", "errno 30"], said  # EROFS
        finally:
            kernel.close()
            zygote.close()
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


@pytest.mark.slow
def test_forked_kernels_grade_exactly_as_fresh_ones(monkeypatch, tmp_path):
    """lab00's solution, stub and wrong answers, graded once through the zygote and once with a fresh kernel
    each (one release for both): every cell's points equal."""
    released = release_labs(["lab00_setup"], tmp_path / "course")
    scores = {}
    for setting in ("1", "0"):
        monkeypatch.setenv("COURSE_GRADING_ZYGOTE", setting)
        check = check_lab("lab00_setup", workers=2, released=released)
        scores[setting] = {s: (r.status, r.cells) for s, r in check.results.items()}
    assert scores["1"] == scores["0"]
    assert scores["1"]["solution"][0] == "ok" and len(scores["1"]) >= 4
    total = {s: sum(cells.values()) for s, (_, cells) in scores["1"].items()}
    assert total["stub"] == 0 and total["solution"] == check.lab.max_score
    assert any(0 < total[s] < check.lab.max_score for s in total if s.startswith("wrong"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lab04_attention", "lab12_qlora"])
def test_a_class_grades_the_same_forked_and_fresh(name, monkeypatch, tmp_path):
    """A small class (solution, stub, three wrong answers) graded as `python -m grading` does, once with kernels
    forked from the zygote, each isolated, and once with a fresh sandboxed kernel each: the same points in every
    cell; the solution full, the stub 0, a wrong answer between."""
    if ISOLATION:
        pytest.skip(f"no grading sandbox here: {ISOLATION}")
    lab = load_lab(name)
    versions = student_versions(lab, LABS / name)
    subs = []
    for student in ["solution", "stub", "wrong0", "wrong1", "wrong2"]:
        folder = tmp_path / student / name
        folder.mkdir(parents=True)
        for stem, nb in versions[student].items():
            nbformat.write(nb, folder / f"{stem}.ipynb")
        subs.append(Submission(student, sorted(folder.glob("*.ipynb"))))
    zygote, how = for_class(lab, 1, sandbox=True)
    if zygote is None:
        pytest.skip(how)
    graded = {}
    try:
        for setting, options in (("forked", GradingOptions(feedback=False, zygote=zygote)),
                                 ("fresh", GradingOptions(feedback=False))):
            monkeypatch.setenv("COURSE_GRADING_ZYGOTE", "1" if setting == "forked" else "0")
            results = grade_all(lab, subs, None, workers=2, options=options, progress=False)
            graded[setting] = {r.student: (r.status, r.cells) for r in results}
    finally:
        zygote.close()
    assert graded["forked"] == graded["fresh"]
    total = {s: sum(cells.values()) for s, (_, cells) in graded["forked"].items()}
    assert total["solution"] == lab.max_score and total["stub"] == 0, total
    assert any(0 < total[s] < lab.max_score for s in ("wrong0", "wrong1", "wrong2")), total


# --- one student's forked kernel against another's (issue 18 item 7: a class graded through the zygote) -----------


@pytest.fixture(scope="module")
def two_students():
    """Two forked kernels of one isolating zygote, as two students of a class get them, and a listener on the
    machine's loopback."""
    if ISOLATION:
        pytest.skip(f"no grading sandbox here: {ISOLATION}")
    zygote = Zygote(["import torch"], threads=1, sandbox=True)
    if not zygote.isolated:
        zygote.close()
        pytest.skip(f"forked kernels cannot be isolated here: {zygote.problem}")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    kernels = {}
    try:
        for name in ("anna", "ben"):
            scratch = new_scratch(f"zygote-{name}-")
            kernel = ForkedKernel(zygote, scratch, scratch.name, memory_gb=2.0, cpu_seconds=300, threads=1,
                                  marker=Harness.new().marker)
            kernel.start(60)
            kernels[name] = (kernel, scratch)
        yield kernels, listener.getsockname()[1], listener
    finally:
        for kernel, scratch in kernels.values():
            kernel.close()
            shutil.rmtree(scratch, ignore_errors=True)
        zygote.close()
        listener.close()


def _said(kernel, code: str, timeout: float = 60) -> str:
    run = kernel.run(code, timeout)
    assert run.status == "ok", (run.ename, run.evalue, run.outputs)
    return "".join(o.get("text", "") for o in run.outputs if o.get("output_type") == "stream")


def test_each_forked_kernel_has_its_own_namespaces_and_no_capability(two_students):
    kernels, _, _ = two_students
    seen = {}
    for name, (kernel, scratch) in kernels.items():
        seen[name] = json.loads(_said(kernel, (
            "import json, os\n"
            "status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())\n"
            "print(json.dumps({'pid': os.getpid(), 'procs': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),"
            " 'caps': [status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')],"
            " 'nnp': status['NoNewPrivs'].strip(), 'cwd': os.getcwd(),"
            " 'ns': {n: os.readlink('/proc/self/ns/' + n) for n in ('user', 'mnt', 'pid', 'net', 'ipc', 'uts')}}))")))
        assert seen[name]["pid"] == 1 and seen[name]["procs"] == [1], seen[name]  # alone in its pid namespace
        assert seen[name]["caps"] == ["0000000000000000"] * 5 and seen[name]["nnp"] == "1", seen[name]
        assert seen[name]["cwd"] == str(scratch / "work")
    for ns, anna in seen["anna"]["ns"].items():
        assert anna != seen["ben"]["ns"][ns], ns


def test_a_student_cannot_read_or_write_another_students_files(two_students):
    kernels, _, _ = two_students
    (anna, anna_scratch), (ben, ben_scratch) = kernels["anna"], kernels["ben"]
    _said(anna, "import os\n"
                "for p in ('secret.txt', '/tmp/secret.txt', '/dev/shm/secret.txt'):\n"
                "    open(p, 'w').write('anna was here')\n")
    assert (anna_scratch / "work" / "secret.txt").read_text() == "anna was here"
    targets = [str(anna_scratch / "work" / "secret.txt"), "/tmp/secret.txt", "/dev/shm/secret.txt",
               str(anna_scratch / "kernel.json")]
    out = _said(ben, (
        "import glob, os\n"
        f"for p in {targets!r}:\n"
        "    try:\n        print('READ', p, open(p).read()[:40])\n"
        "    except OSError as e:\n        print('cannot read', p, type(e).__name__)\n"
        f"print('others', sorted(glob.glob({str(anna_scratch.parent)!r} + '/*')))\n"
        f"os.makedirs({str(anna_scratch / 'work')!r}, exist_ok=True)\n"  # only ever in ben's own private /tmp
        f"open({str(anna_scratch / 'work' / 'from_ben.txt')!r}, 'w').write('ben')\n"
        "for p in ('/usr/ben.txt', '/etc/ben.txt', '/ben.txt', '/dev/ben.txt'):\n"
        "    try:\n        open(p, 'w').write('ben')\n        print('WROTE', p)\n"
        "    except OSError as e:\n        print('cannot write', p, type(e).__name__)\n"))
    assert "READ" not in out and out.count("cannot read") == len(targets), out
    assert f"others {[str(ben_scratch)]}" in out, out  # the batch folder holds ben's scratch only
    assert "WROTE" not in out and out.count("cannot write") == 4, out
    assert not (anna_scratch / "work" / "from_ben.txt").exists()
    assert "from_ben.txt" not in _said(anna, "import os\nprint(os.listdir('.'))")
    assert _said(anna, "print(open('/tmp/secret.txt').read())").strip() == "anna was here"


def test_a_student_reaches_no_network_and_no_other_student(two_students):
    kernels, port, listener = two_students
    ben = kernels["ben"][0]
    anna = kernels["anna"][0]
    _said(anna, "import socket\n"
                "tcp = socket.socket()\ntcp.bind(('127.0.0.1', 0))\ntcp.listen()\nprint(tcp.getsockname()[1])\n"
                "unix = socket.socket(socket.AF_UNIX)\nunix.bind('\\0course-anna')\nunix.listen()\n")
    anna_port = int(_said(anna, "print(tcp.getsockname()[1])"))
    out = _said(ben, (
        "import socket\n"
        f"for port in ({port}, {anna_port}):\n"
        "    try:\n        socket.create_connection(('127.0.0.1', port), timeout=3)\n        print('CONNECTED', port)\n"
        "    except OSError as e:\n        print('no network', type(e).__name__)\n"
        "try:\n    s = socket.socket(socket.AF_UNIX)\n    s.connect('\\0course-anna')\n    print('CONNECTED unix')\n"
        "except OSError as e:\n    print('no socket', type(e).__name__)\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=3)\n    print('CONNECTED outside')\n"
        "except OSError as e:\n    print('no route', type(e).__name__)\n"))
    assert "CONNECTED" not in out and out.count("no network") == 2 and "no socket" in out, out
    with pytest.raises(TimeoutError):
        listener.accept()


def test_a_student_cannot_see_or_signal_another_students_processes(two_students):  # last: it closes anna
    kernels, _, _ = two_students
    (anna, _), (ben, _) = kernels["anna"], kernels["ben"]
    _said(anna, "import subprocess\nnap = subprocess.Popen(['sleep', '4711.25'])\n")
    host_view = [p for p in psutil.process_iter(["cmdline"]) if "4711.25" in (p.info["cmdline"] or [])]
    assert len(host_view) == 1
    out = _said(ben, (
        "import os, signal\n"
        "print('procs', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "hit, mine = [], {int(t) for t in os.listdir('/proc/self/task')}  # its own threads: kill(tid) is kill(1)\n"
        "for pid in sorted(set(range(2, 4096)) - mine):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n        hit.append(pid)\n"
        "    except OSError:\n        pass\n"
        "print('killed', hit)\n"
        "try:\n    os.kill(-1, signal.SIGKILL)  # every process it may signal but itself: none\n"
        "except ProcessLookupError:\n    print('none to kill')\n"), timeout=120)
    assert "procs [1]" in out and "killed []" in out and "none to kill" in out, out
    assert host_view[0].is_running() and anna.alive()
    assert _said(anna, "print(nap.poll())").strip() == "None"
    anna_pid = anna.pid
    anna.close()  # everything of anna ends with her kernel
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (host_view[0].is_running() or psutil.pid_exists(anna_pid)):
        time.sleep(0.1)
    assert not host_view[0].is_running() or host_view[0].status() == psutil.STATUS_ZOMBIE
    assert ben.alive()
