"""What the trusted grader runs for a student, and how it reads the outcome.

    assemble   the notebook to execute, built from the lab source: every cell's metadata and every locked or test
               cell's source come from the source; only solution cells (and cells the student added) come from the
               submission, matched by grade_id or, when the metadata is stripped or foreign, by position between
               the locked cells the student kept (matched by their text)
    preamble   trusted code run before any student cell: two audit hooks (a guard against reaching the grader's
               objects or the test's frames, and the grader, which holds the key that signs evidence), a record
               of the objects the tests rely on, and a seccomp filter: no program starts from the kernel after it
    test_code  what is sent for a test cell: the hidden test, encrypted, rewritten into a function of the lab's
               trusted names (its imports and helpers, the builtins, `torch.allclose` from the record), which the
               grader compiles and hands back, and whose run it signs: `<marker><token> <verdict> <hmac>`
    verdict    a test cell's evidence line, checked with the key: ok | fail | tampered | missing
    scan       a static look at the student's cells for constructs that only tampering needs (flagged for review)
    scrub      outputs made safe for feedback: no hidden-test line, no grader marker
"""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

import nbformat

from grading.labsource import HIDDEN_BEGIN, HIDDEN_END, strip_hidden_tests, strip_reference

# CPython 3.11 keeps the AST converter's recursion counter in state shared by all threads: two grading threads
# parsing at once can fail with "SystemError: AST constructor recursion depth mismatch" (a student's row would
# read `error`). Every ast.parse/unparse of the grading process goes through this lock.
_AST_LOCK = threading.RLock()


def _one_at_a_time(function):
    @functools.wraps(function)
    def locked(*args, **kwargs):
        with _AST_LOCK:
            return function(*args, **kwargs)
    return locked


@dataclass
class Planned:
    """One cell of the notebook to execute. kind: markdown | locked | test | solution | extra."""

    kind: str
    key: str  # "<notebook>:<grade_id>" for lab cells, "<notebook>:extra<k>" for cells the student added
    source: str  # what runs (test cells: with their hidden tests)
    shown: str  # what feedback shows
    cell_type: str = "code"


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
    return meta if isinstance(meta, dict) else {}


def assemble(stem: str, source: nbformat.NotebookNode, submitted: nbformat.NotebookNode | None,
             stub: nbformat.NotebookNode | None = None) -> tuple[list[Planned], list[str]]:
    """The cells to execute for notebook `stem` of a lab, and notes on how the submission was matched.

    source: the lab source (solutions/); submitted: the student's notebook (None: not handed in); stub: the released
    notebook, whose solution cells stand in for ones the student did not hand in (defaults to `raise`)."""
    notes: list[str] = []
    lab_cells = [(c, _meta(c)) for c in source.cells]
    locked = {i for i, (c, m) in enumerate(lab_cells) if m.get("locked") and not m.get("solution")}
    solution = [i for i, (c, m) in enumerate(lab_cells) if m.get("solution")]
    ids = {m.get("grade_id"): i for i, (c, m) in enumerate(lab_cells) if m.get("grade_id")}
    texts = {}
    for i in locked:
        for text in (_norm(lab_cells[i][0].source), _norm(strip_hidden_tests(lab_cells[i][0].source))):
            texts.setdefault(text, []).append(i)
    stub_sources = {}
    for cell in (stub.cells if stub is not None else []):
        if _meta(cell).get("solution") and _meta(cell).get("grade_id") in ids:
            stub_sources[ids[_meta(cell)["grade_id"]]] = cell.source

    # walk the submission: kept locked cells are anchors (in lab order); everything else belongs to the gap after
    # the last anchor. gaps[a] = student cells after lab cell a (a = -1: before the first anchor)
    gaps: dict[int, list] = {-1: []}
    assigned: dict[int, str] = {}
    last, edited, reordered, foreign, seen = -1, [], False, [], set()
    for cell in (submitted.cells if submitted is not None else []):
        meta = _meta(cell)
        gid = meta.get("grade_id")
        text = _norm(cell.get("source", "") if isinstance(cell.get("source", ""), str) else "")
        target = ids.get(gid) if gid in ids else None
        if target is not None and cell.get("cell_type") != lab_cells[target][0].cell_type:
            gid, target = None, None  # a markdown cell pasted with an answer's metadata claims no grade_id
        if gid in seen:  # a copied cell keeps its grade_id: only the first copy counts
            continue
        if gid:
            seen.add(gid)
        if target is not None and target in locked:
            if text not in (_norm(lab_cells[target][0].source), _norm(strip_hidden_tests(lab_cells[target][0].source))):
                edited.append(gid)
            if target > last:
                last = target
                gaps.setdefault(last, [])
            else:
                reordered = True
            continue
        if target is not None and lab_cells[target][1].get("solution") and target not in assigned \
                and cell.get("cell_type") == lab_cells[target][0].cell_type:
            assigned[target] = cell.source
            reordered = reordered or target < last
            continue
        match = [i for i in texts.get(text, []) if i > last] if text else []
        if match:
            last = match[0]
            gaps.setdefault(last, [])
            continue
        if gid and gid not in ids:
            foreign.append(gid)
        if cell.get("cell_type") in ("code", "markdown") and text:
            gaps[last].append(cell)
    if edited:
        notes.append(f"locked/test cell(s) {', '.join(dict.fromkeys(edited))} edited: graded with the original")
    if reordered:
        notes.append("cells re-ordered: graded in the lab's order")
    if foreign:
        notes.append(f"cell(s) {', '.join(foreign)} are not from this lab: run where they were pasted")

    # give each lab solution cell without a matching grade_id the first unassigned student cell of its gap
    anchors = sorted(gaps)
    owner = {}  # lab solution cell -> the anchor of its gap
    for i in solution:
        owner[i] = max(a for a in anchors if a < i)
    extras_after: dict[int, list] = {}
    for a in anchors:
        free = [i for i in solution if owner[i] == a and i not in assigned]
        rest = []
        for cell in gaps[a]:
            fits = [i for i in free if lab_cells[i][0].cell_type == cell.cell_type]
            if fits:
                assigned[fits[0]] = cell.source
                free.remove(fits[0])
            else:
                rest.append(cell)
        if rest:
            mine = [i for i in solution if owner[i] == a]
            extras_after.setdefault(max(mine) if mine else a, []).extend(rest)
    unmatched = [lab_cells[i][1]["grade_id"] for i in solution
                 if i not in assigned and lab_cells[i][0].cell_type == "code"]
    if submitted is not None and unmatched:
        notes.append(f"no answer found for {', '.join(unmatched)}: the released stub runs instead")

    plan: list[Planned] = []
    extra = 0

    def add_extras(i: int) -> None:
        nonlocal extra
        for cell in extras_after.get(i, []):
            kind = "extra" if cell.cell_type == "code" else "markdown"
            plan.append(Planned(kind, f"{stem}:extra{extra}", cell.source, cell.source, cell.cell_type))
            extra += 1

    add_extras(-1)
    for i, (cell, meta) in enumerate(lab_cells):
        key = f"{stem}:{meta.get('grade_id', f'cell{i}')}"
        if meta.get("solution"):
            text = assigned.get(i, stub_sources.get(i, "raise NotImplementedError()" if cell.cell_type == "code"
                                                      else ""))
            kind = "solution" if cell.cell_type == "code" else "markdown"
            plan.append(Planned(kind, key, text, text, cell.cell_type))
        elif cell.cell_type != "code":
            plan.append(Planned("markdown", key, cell.source, cell.source, cell.cell_type))
        elif meta.get("grade"):
            shown = strip_hidden_tests(cell.source)
            if HIDDEN_BEGIN in cell.source:
                shown += "\n# (hidden tests run here when the lab is graded)"
            plan.append(Planned("test", key, cell.source, shown))
        else:
            plan.append(Planned("locked", key, cell.source, strip_hidden_tests(cell.source)))
        add_extras(i)
    return plan, notes


# --------------------------------------------------------------------------------------------------------------
# The trusted preamble, run inside the student's kernel before any student code.
#
# It installs two audit hooks (CPython keeps them for the life of the process: no Python code can remove them):
#   guard   refuses what would let student code reach the grader's objects (gc.get_objects/get_referrers/referents,
#           sys._current_frames, sys.settrace/setprofile, sys.addaudithook, replacing a function's __code__, reading
#           a traceback frame of the hooks) and notes when student code takes a frame (sys._getframe, inspect,
#           traceback, a generator's or a traceback's frame) while a hidden test runs: that is how a function
#           called by a test would read the test's expected values or the grader's locals.
#   grader  keeps a random key that exists nowhere but in its closure (never on a stack where student code runs:
#           it calls no Python-level library code, and garbage collection is off while it works) and answers
#           the events the trusted side sends: `locked` (the names a lab cell bound: its imports and helpers),
#           `begin` (compile the test, hand back the function and the trusted objects it runs with), `end` (sent
#           by the test function itself, as its last statement) and `done` (from the test cell, after the test).
#           At `done` it checks the machinery again and appends one evidence line, signed with the key:
#           `<marker><token> <verdict> <hmac>`. The key was printed once, by the preamble, before any student code
#           ran; the trusted side verifies every evidence line with it, so no line a student prints can pass.
# The test itself runs as a function whose parameters are the lab's imports and helpers and the builtins as they
# were before any student cell ran (a student rebinding `torch`, `abs` or `_reference_mha` changes nothing the
# test sees), whose attribute chains on those (`torch.allclose`, `F.scaled_dot_product_attention`) are taken
# from the snapshot (patching torch mid-test changes nothing the test calls), and whose own variables are locals
# (a student function cannot overwrite the test's expected value in the notebook's globals).

_PREAMBLE = r'''
def _grader_install(export_name, marker, trusted_dirs):
    import _hashlib, _imp, _signal, _thread, binascii, builtins, gc, importlib, json, os, re, stat, sys, types
    shell = get_ipython()  # noqa: F821
    user = shell.user_ns
    _compile, _getframe, _audit, _vars, _type, _len, _isinstance = (builtins.compile, sys._getframe, sys.audit,
                                                                     builtins.vars, builtins.type, builtins.len,
                                                                     builtins.isinstance)
    _append, _dict_get, _locals, _str, _tuple, _list = list.append, dict.get, builtins.locals, str, tuple, list
    importlib.import_module("importlib.util")
    _id, _dict, _zip, _enumerate, _sorted, _set = builtins.id, dict, zip, enumerate, sorted, set
    _RuntimeError, _BaseException, _int, _fromhex = RuntimeError, BaseException, int, bytes.fromhex
    scalar_bases = ((float, float.__float__), (int, int.__int__), (complex, complex.__complex__), (str, str.__str__),
                    (bytes, bytes.__bytes__))
    _bytes, _open, _OSError, _ValueError, _callable = bytes, builtins.open, OSError, ValueError, builtins.callable
    _spec_type = importlib.import_module("importlib.machinery").ModuleSpec
    _gc_off, _gc_on, _gc_enabled = gc.disable, gc.enable, gc.isenabled
    _ident, _getsignal, _typetype = _thread.get_ident, _signal.getsignal, type
    _hmac, _sha = _hashlib.hmac_digest, _hashlib.openssl_sha256
    CodeType, FunctionType, ModuleType = types.CodeType, types.FunctionType, types.ModuleType
    FrameType = types.FrameType
    _proxy, _current_frames, _stat, _realpath, _is_dir = (types.MappingProxyType, sys._current_frames, os.stat,
                                                           os.path.realpath, stat.S_ISDIR)
    _mem_path = re.compile(r"/proc/(self|thread-self|[0-9]+)(/task/[0-9]+)?/mem").fullmatch
    plain = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
    key = os.urandom(32)
    try:  # not dumpable: no other process of the student (a fresh python has none of these hooks) may open this
        importlib.import_module("ctypes").CDLL(None).prctl(4, 0, 0, 0, 0)  # one's /proc/<pid>/mem (PR_SET_DUMPABLE)
    except (OSError, AttributeError):
        pass

    def no_new_programs():
        # A seccomp filter on every thread of this kernel and every process it forks: execve and execveat fail with
        # EPERM from here on. A program started by student code (a fresh python has none of these hooks, nor a test's
        # rules) could compute a forbidden function for an answer, as a child of the call or as a server started
        # while a cell ran. Forked children keep the filter, the hooks and the rules. None when the filter holds,
        # else why not (the guard then refuses the audited ways student code starts a program).
        ctypes = importlib.import_module("ctypes")
        machine = os.uname().machine  # (audit arch, execve, execveat, seccomp) of each architecture's syscall table
        numbers = {"x86_64": (0xC000003E, 59, 322, 317), "aarch64": (0xC00000B7, 221, 281, 277)}.get(machine)
        if numbers is None:
            return "no seccomp filter written for " + machine
        arch, execve, execveat, seccomp = numbers
        # BPF: load the arch (offset 4), anything but this one's table is refused; load the syscall number (offset
        # 0): x32 numbers (bit 30) and execve/execveat are refused, the rest allowed
        allow, refuse_eperm = 0x7FFF0000, 0x00050001  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
        code = [(0x20, 0, 0, 4), (0x15, 0, 5, arch), (0x20, 0, 0, 0), (0x35, 3, 0, 0x40000000),
                (0x15, 2, 0, execve), (0x15, 1, 0, execveat), (0x06, 0, 0, allow), (0x06, 0, 0, refuse_eperm)]

        class Instruction(ctypes.Structure):
            _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                        ("k", ctypes.c_uint)]

        class Program(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]
        instructions = (Instruction * len(code))(*code)
        program = Program(len(code), ctypes.cast(instructions, ctypes.POINTER(Instruction)))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS: required to add a filter without privileges
            return "no_new_privs refused (errno " + str(ctypes.get_errno()) + ")"
        # SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_TSYNC: every thread (ipykernel's control and iopub
        # threads too), or none
        done = libc.syscall(ctypes.c_long(seccomp), ctypes.c_long(1), ctypes.c_long(1), ctypes.byref(program))
        return None if done == 0 else "seccomp refused (" + str(done) + ", errno " + str(ctypes.get_errno()) + ")"
    try:
        no_filter_because = no_new_programs()
    except (OSError, AttributeError, ImportError) as error:
        no_filter_because = "no seccomp filter: " + type(error).__name__
    try:  # hidden tests run with Tensor subclasses' __torch_function__ off: a student's Tensor subclass cannot
        plain_tensors = importlib.import_module("torch")._C.DisableTorchFunctionSubclass  # answer torch.allclose
    except (ImportError, AttributeError):
        plain_tensors = importlib.import_module("contextlib").nullcontext
    try:  # and with float32 as the default dtype, as the labs' tests are written and the reference kernel runs them
        default_dtype = (importlib.import_module("torch").get_default_dtype,  # (a student cell that set float64 would
                         importlib.import_module("torch")._C._set_default_dtype,  # draw other inputs from the
                         importlib.import_module("torch").float32)  # tests' generators than the reference kernel)
    except (ImportError, AttributeError):
        default_dtype = None

    class test_context:
        # what a hidden test runs inside: Tensor subclasses' __torch_function__ off, float32 the default dtype;
        # the student's default dtype comes back after the test
        def __enter__(self):
            self.inner = plain_tensors()
            self.inner.__enter__()
            self.saved = default_dtype[0]() if default_dtype else None
            if default_dtype:
                default_dtype[1](default_dtype[2])

        def __exit__(self, *exc):
            if self.saved is not None:
                default_dtype[1](self.saved)
            return self.inner.__exit__(*exc)
    main = _ident()
    missing = object()

    rules = importlib.import_module("utils.rules")
    raiser_code, forbidden_module = rules._raiser("").__code__, rules._ForbiddenModule
    watched = {}
    for name in ("builtins", "math", "torch", "torch.nn", "torch.nn.functional", "torch.testing", "numpy",
                 "numpy.testing", "utils.rules"):
        try:
            watched[name] = importlib.import_module(name)
        except ImportError:
            pass
    if "torch" in watched:
        watched["torch.Tensor"] = watched["torch"].Tensor
        watched["torch.nn.Module"] = watched["torch"].nn.Module
    # ipykernel sets input per request; torch.set_default_dtype (an honest student's float64) rebinds torch.Storage
    skip = {"_", "__", "___", "__warningregistry__", "input", "raw_input", "Storage"}
    snapshot = {}  # id(object) -> (label, object, its type, its attributes then)
    for label, obj in watched.items():
        snapshot[id(obj)] = (label, obj, _type(obj), {k: v for k, v in _vars(obj).items() if k not in skip})

    def watch_more():
        # what a lab's helpers call without naming it in the test: the course's modules and the classes of torch.nn
        # and utils (a reference built from torch.nn.MultiheadAttention runs MultiheadAttention.forward, live)
        for name, module in _list(sys_modules.items()):
            if _type(name) is not _str or not (name == "utils" or name.startswith(("utils.", "torch.nn."))) \
                    or _type(module) is not ModuleType:
                continue
            if name.startswith("utils") and _id(module) not in snapshot:
                snapshot[_id(module)] = (name, module, ModuleType, {k: v for k, v in _vars(module).items()
                                                                    if k not in skip})
            for value in _list(_vars(module).values()):
                if _type(value) is _typetype and _id(value) not in snapshot \
                        and _str(_vars(value).get("__module__", "")).startswith(("utils", "torch.nn")):
                    snapshot[_id(value)] = (_str(_vars(value).get("__module__")) + "." + value.__qualname__, value,
                                            _typetype, _dict(_vars(value)))
    modules = {k: sys.modules[k] for k in watched if k in sys.modules}
    sys_dict, sys_modules = _vars(sys), sys.modules
    watch_more()
    streams = {k: sys_dict.get(k) for k in ("stdout", "stderr", "displayhook", "audit", "_getframe", "modules",
                                              "_current_frames")}
    signals = {}
    for n in range(1, 65):
        try:
            signals[n] = _getsignal(n)
        except (ValueError, OSError):
            pass
    user_builtins = user.get("__builtins__")
    builtin_values = snapshot[id(builtins)][3]
    trusted = {}  # names bound by the lab's own (locked) cells -> the object they were bound to

    prefixes = _tuple(p for p in (sys.prefix, sys.base_prefix, *trusted_dirs) if p)
    # Frames of the standard library's inspect and traceback modules are looked through to the code that called
    # them. One exception is allowed: the traceback functions that turn frames into text and hand none back
    # (`traceback.print_exc()` in an honest except block); capture_locals is unreachable through them.
    traceback_module = importlib.import_module("traceback")
    transparent = frozenset({importlib.import_module("inspect").__file__, traceback_module.__file__})
    text_only = frozenset({"print_exc", "format_exc", "print_exception", "format_exception", "print_tb", "format_tb",
                           "extract_tb", "print_stack", "format_stack", "extract_stack", "print_last"})
    # A library's function copied with its code (FunctionType(f.__code__, ...)) escapes the body a test's "do not use
    # X" rule swaps into X. Student code may not read a library function's __code__, directly or through the
    # standard library's helpers that hand a code object back (dis, inspect.getmembers); inspect.signature may.
    code_handing = (importlib.import_module("dis").__file__, importlib.import_module("inspect").__file__)
    code_handing_names = frozenset({"getmembers", "_getmembers", "getmembers_static"})
    blocked = frozenset({"sys.addaudithook", "sys._current_frames", "sys._current_exceptions", "gc.get_objects",
                         "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile"})
    # Raw memory: ctypes (its audited calls), /proc/<pid>/mem. Refused for student code, and every later test is
    # marked tampered (what was written may still be there). Unaudited ctypes (a pointer's own buffer) is not seen.
    memory_events = frozenset({"ctypes.addressof", "ctypes.call_function", "ctypes.cdata", "ctypes.cdata/buffer",
                               "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.string_at",
                               "ctypes.wstring_at"})
    numpy_dir = os.path.dirname(watched["numpy"].__file__) + "/" if "numpy" in watched else "/nonexistent/"
    ctypes_plumbing = (os.path.dirname(importlib.util.find_spec("ctypes").origin) + "/",
                       numpy_dir + "core/_internal.py", numpy_dir + "_core/_internal.py", numpy_dir + "ctypeslib")
    signal_plumbing = (importlib.import_module("signal").__file__,)
    program_events = frozenset({"os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "pty.spawn"})
    program_plumbing = _tuple(importlib.import_module(m).__file__ for m in ("os", "subprocess", "pty", "shutil")) + (
        os.path.dirname(importlib.import_module("multiprocessing").__file__) + "/",
        os.path.dirname(importlib.import_module("concurrent.futures").__file__) + "/")
    thread_plumbing = (importlib.import_module("threading").__file__,)
    importing = frozenset({"<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>"})
    try:
        proc_dev = _stat("/proc").st_dev
    except OSError:
        proc_dev = None
    sticky = []  # reasons every later test is marked tampered
    frame_attrs = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
    state = {"test": False, "function": None, "grader": False}
    flags = []  # what the guard saw or refused since the last test began
    busy = set()
    hook_codes = []

    def untrusted(frame, plumbing):
        # the code that asked, past the library frames it went through: not the libraries', the course's or ours
        while frame is not None and frame.f_code.co_filename.startswith(plumbing):
            frame = frame.f_back
        return frame is not None and frame.f_code not in hook_codes and frame.f_code.co_filename != "<hidden test>" \
            and not frame.f_code.co_filename.startswith(prefixes)

    def refuse(reason, sticks=False):
        _append(sticky if sticks else flags, reason)
        raise _RuntimeError(reason + ": not allowed while grading")

    def guard(event, args):
        # every builtin used here was captured above: a student's global `id` or `RuntimeError` never runs here
        if _type(event) is not _str or _type(args) is not _tuple:
            return
        if event in blocked:
            if _getframe(1).f_code in hook_codes:  # the grader's own look at the other threads
                return
            _append(flags, event)
            raise _RuntimeError(event + " is not allowed while grading")
        if event in memory_events:
            if untrusted(_getframe(1), ctypes_plumbing):
                refuse("raw memory access (" + event + ")", True)
            return
        if event in program_events:  # only where the seccomp filter could not be added; a library's own is allowed
            if no_filter_because is not None and untrusted(_getframe(1), program_plumbing):
                raise _RuntimeError("starting a program is not allowed while grading (" + no_filter_because + ")")
            return
        if event == "open":
            memory_file(args[0])
            return
        if event == "compile" or event == "code.__new__":
            spoofed_file(event, args)
            return
        attr = args[1] if _len(args) > 1 and _type(args[1]) is _str else ""
        if event == "object.__setattr__" and attr == "__code__":
            if not untrusted(_getframe(1), ()):  # utils.rules swaps a forbidden function's body for a block
                return
            _append(flags, "replaces a function's __code__")
            raise _RuntimeError("replacing __code__ is not allowed while grading")
        if event == "object.__getattr__" and attr == "__code__" and args[0] is state["function"] is not None:
            _append(flags, "read the hidden test's code")
            raise _RuntimeError("the hidden test's code is not readable")
        if event == "object.__getattr__" and attr == "__code__" and _type(args[0]) is FunctionType \
                and _type(args[0].__module__) is _str and args[0].__module__ != "__main__":
            frame = _getframe(1)
            while frame is not None and frame.f_code.co_filename in code_handing \
                    and (frame.f_code.co_filename == code_handing[0] or frame.f_code.co_name in code_handing_names):
                frame = frame.f_back
            if untrusted(frame, ()):
                refuse("copies the code of a library's function (" + _str(args[0].__module__) + "."
                       + _str(args[0].__qualname__) + ")")
        if event == "object.__getattr__" and attr == "f_code" and _type(args[0]) is FrameType and _ident() not in busy:
            # the same code, taken from a library function's frame (a traceback of an error raised inside it)
            scope = args[0].f_globals
            module = _dict_get(scope, "__name__") if _type(scope) is _dict else None
            if _type(module) is _str and module != "__main__":
                me = _ident()
                busy.add(me)
                try:
                    if untrusted(_getframe(1), ()):
                        refuse("copies the code of a library's function (a frame of " + module + ")")
                finally:
                    busy.discard(me)
        if event == "object.__getattr__" and attr in ("__code__", "__defaults__", "__kwdefaults__") \
                and _id(args[0]) in sealed and _getframe(1).f_code not in hook_codes:
            refuse("reads the grader's own functions", True)
        if event != "sys._getframe" and not (event == "object.__getattr__" and attr in frame_attrs):
            return
        me = _ident()
        if me in busy:
            return
        busy.add(me)
        try:
            if attr == "tb_frame" and args[0].tb_frame.f_code in hook_codes:
                raise _RuntimeError("the grader's frames are not readable")
            if state["grader"] and me == main:  # student code run by the grader's thread while it works (a
                if _getframe(1).f_code not in hook_codes:  # __del__, an __eq__): no frame at all
                    refuse("took a stack frame while the grader worked", True)
                return
            if not state["test"]:
                return
            frame = _getframe(1)
            if frame.f_code in hook_codes:  # the grader's own look at the test's frame
                return
            entry = None  # the outermost inspect/traceback frame: the function student code called
            while frame is not None and frame.f_code.co_filename in transparent:
                entry, frame = frame, frame.f_back
            if frame is not None and not frame.f_code.co_filename.startswith(prefixes) \
                    and frame.f_code.co_filename != "<hidden test>":
                if entry is not None and entry.f_code.co_filename == traceback_module.__file__ \
                        and entry.f_code.co_name in text_only:
                    return
                _append(flags, "student code took a stack frame during the test (" + (attr or event) + " in "
                        + frame.f_code.co_name + ")")
        finally:
            busy.discard(me)

    def memory_file(path):
        # /proc/<pid>/mem (under any name: a symlink, /proc/self/fd/N) and /proc directories (openat relative to them)
        if proc_dev is None or not (_type(path) is _str or _type(path) is _bytes):
            return
        try:
            info = _stat(path)
        except (_OSError, _ValueError):
            return
        if info.st_dev != proc_dev:
            return
        real = _realpath(path)
        real = real.decode("utf-8", "replace") if _type(real) is _bytes else real
        if _is_dir(info.st_mode) or _mem_path(real):
            refuse("opened " + real, True)

    def spoofed_file(event, args):
        # code compiled under a library's file name (or the hidden test's) would pass for library code in the guard
        name = args[1] if _len(args) > 1 else None
        name = name.decode("utf-8", "replace") if _type(name) is _bytes else name
        if _type(name) is not _str or not (name.startswith(prefixes) or name == "<hidden test>"):
            return
        caller = _getframe(2)
        if caller.f_code in hook_codes:
            return
        if caller.f_code.co_filename in importing and event == "compile":  # an import: the file's own text
            source = args[0]
            try:
                with _open(name, "rb") as f:
                    text = f.read()
            except _OSError:
                text = None
            if _type(source) is _str:
                source = source.encode("utf-8")
            if _type(source) is _bytes and source == text:
                return
        elif not untrusted(caller, ()):
            return
        refuse("compiled code under the file name " + name, True)

    def thread_started(frame):
        if state["test"] and untrusted(frame, thread_plumbing):
            _append(flags, "student code started a thread during the test")

    def handler_set(frame, handler):
        if _callable(handler) and untrusted(frame, signal_plumbing):
            refuse("a signal handler (it would run inside the grader)")

    def threads(problems):
        for ident, frame in _current_frames().items():
            while ident != main and frame is not None:
                name = frame.f_code.co_filename
                if not name.startswith(prefixes) and not name.startswith("<frozen "):
                    _append(problems, "a thread of the student runs beside the test")
                    return
                frame = frame.f_back

    def rules_at_work(value):
        # inside a test's `with forbidden(...)`/`substituted(...)` block: the rule's stand-ins (they only raise), a
        # forbidden module's name removed, a name bound to one of the test's own functions
        if value is missing or value is None or _type(value) is forbidden_module:
            return True
        return _type(value) is FunctionType and (value.__code__ is raiser_code
                                                 or value.__code__.co_filename == "<hidden test>")

    def check(mid=False):
        problems = _list(sticky)
        threads(problems)
        for label, obj, kind, attrs in snapshot.values():
            if _type(obj) is not kind:
                _append(problems, label + ".__class__")
                continue
            now = _vars(obj)
            for k, v in attrs.items():
                current = now.get(k, missing)  # a dict, or a class's mappingproxy: both C
                if current is not v and not wrapper_of(current, v) and not (mid and rules_at_work(current)):
                    _append(problems, label + "." + k)
        for k, mod in modules.items():
            current = _dict_get(sys_modules, k)
            if current is not mod and not (mid and current is None):
                _append(problems, "sys.modules[" + k + "]")
        for k, v in streams.items():
            if _dict_get(sys_dict, k) is not v:
                _append(problems, "sys." + k)
        for n, handler in signals.items():
            if _getsignal(n) is not handler:
                _append(problems, "a signal handler")
                break
        if _dict_get(user, "__builtins__") is not user_builtins:
            _append(problems, "the notebook's __builtins__")
        for name, value in trusted.items():
            current = _dict_get(user, name, missing)
            if current is not value and not (mid and rules_at_work(current)):
                _append(problems, name + " (a name the lab's own cells define)")
        return problems

    def wrapper_of(current, original):
        # a library's own wrapper of the original (torch._dynamo wraps torch.manual_seed when it is imported)
        if _type(current) is not FunctionType:
            return False
        code = current.__code__
        return _dict_get(current.__dict__, "__wrapped__") is original and code.co_filename.startswith(prefixes)

    def strings(values):
        if _type(values) is not _tuple:
            return False
        for value in values:
            if _type(value) is not _str:
                return False
        return True

    def unseal(secret, token):
        # the test's text travels encrypted with the key (a SHA-256 keystream per token): neither the cell's
        # source, which IPython keeps in linecache, nor anything else a student can read holds it in clear
        data = _fromhex(secret)
        blocks, i, salt = [], 0, token.encode()
        while i * 32 < _len(data):
            _append(blocks, _sha(key + salt + i.to_bytes(4, "big")).digest())
            i += 1
        stream = b"".join(blocks)[:_len(data)]
        return (_int.from_bytes(data, "big") ^ _int.from_bytes(stream, "big")).to_bytes(_len(data), "big").decode()

    def resolve(name):
        value = _dict_get(trusted, name, missing)
        if value is missing:
            value = _dict_get(builtin_values, name, missing)
        if value is missing:
            value = _dict_get(user, name, missing)
        return value

    # What a test hands `expect_close`/`expect_equal`, as JSON text for the trusted side (`grading.expect.decode`):
    # numbers, strings, None; tuples, lists, dicts of them; tensors and arrays as dtype, shape and base64 bytes
    # (bfloat16 travels as float32). Nothing here is secret and no verdict is taken here: a student who changes
    # what this sends can only send values, and the trusted side compares them with the reference kernel's.
    _b64, _dumps, _dict_type = binascii.b2a_base64, json.dumps, dict
    torch_module, numpy_module = watched.get("torch"), watched.get("numpy")
    if torch_module is not None:
        tensor_type, tensor_size, bfloat16 = torch_module.Tensor, torch_module.Size, torch_module.bfloat16
        t_detach, t_cpu, t_contiguous, t_numpy = (tensor_type.detach, tensor_type.cpu, tensor_type.contiguous,
                                                  tensor_type.numpy)
        t_float, t_dtype, t_shape, t_resolve = (tensor_type.float, tensor_type.dtype.__get__,
                                                tensor_type.shape.__get__, tensor_type.resolve_conj)
    else:
        tensor_type = tensor_size = None
    if numpy_module is not None:
        array_type, numpy_scalar, numpy_item = numpy_module.ndarray, numpy_module.generic, numpy_module.generic.item
        as_plain_array = numpy_module.asarray  # a plain ndarray (not a subclass), 0-d kept
    else:
        array_type = numpy_scalar = None
    type_flags, type_mro, type_name = (type.__dict__["__flags__"].__get__, type.__dict__["__mro__"].__get__,
                                       type.__dict__["__name__"].__get__)
    tuple_iter, list_iter, dict_items = tuple.__iter__, list.__iter__, dict.items
    sizes = [0]
    limit = 8 * 2 ** 20  # bytes of array data one expectation may send

    def raw(array):
        if sizes[0] + array.nbytes > limit:
            return None
        sizes[0] += array.nbytes
        return _b64(array.tobytes(), newline=False).decode("ascii")

    def encode(value, depth):
        kind = _type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if depth > 12:
            return {"unsupported": "nested too deeply"}
        if type_flags(kind) & 512:  # a class statement's float, int or str subclass: its plain value
            mro = type_mro(kind)
            for base, plain_value in scalar_bases:
                if base in mro and base is not complex and base is not bytes:
                    return plain_value(value)
        if tensor_type is not None and kind is tensor_size:
            return {"tuple": [encode(v, depth + 1) for v in value]}
        if tensor_type is not None and _isinstance(value, tensor_type):
            with plain_tensors():
                tensor = t_resolve(t_contiguous(t_cpu(t_detach(value))))
                dtype = t_dtype(tensor)
                array = t_numpy(t_float(tensor) if dtype is bfloat16 else tensor)
                data = raw(array)
                shape = [int(n) for n in t_shape(tensor)]
            return {"unsupported": "too large"} if data is None else \
                {"tensor": _str(dtype), "array": _str(array.dtype), "shape": shape, "data": data}
        if array_type is not None and _isinstance(value, array_type):
            array = as_plain_array(value, order="C")
            data = raw(array)
            return {"unsupported": "too large"} if data is None else \
                {"ndarray": _str(array.dtype), "shape": [int(n) for n in array.shape], "data": data}
        if array_type is not None and _isinstance(value, numpy_scalar):
            return encode(numpy_item(value), depth + 1)
        if kind is tuple or kind is list:
            return {type_name(kind): [encode(v, depth + 1) for v in value]}
        if kind is _dict_type:
            return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
        # a namedtuple, torch.return_types, a Counter, a defaultdict: their items, read by the builtin type's own C
        # code (an override of __iter__ or items in the subclass never runs here)
        mro = type_mro(kind)
        if tuple in mro or list in mro:
            items = tuple_iter(value) if tuple in mro else list_iter(value)
            return {"tuple" if tuple in mro else "list": [encode(v, depth + 1) for v in items]}
        if _dict_type in mro:
            return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict_items(value)]}
        return {"unsupported": type_name(kind)[:80]}

    def record(kind, got, want, options):
        # one expectation: its kind, what the student's code gave, the reference's value (None in a student's
        # kernel, where the test's REFERENCE blocks are not sent), the comparison's options
        sizes[0] = 0
        entry = {"kind": kind}
        for name, value in (("got", got), ("want", want)):
            try:
                entry[name] = encode(value, 0)
            except _BaseException as err:  # noqa: BLE001 - whatever the value does, the test goes on
                entry[name] = {"unsupported": "error " + _type(err).__name__}
        entry["options"] = {k: v for k, v in options.items() if _type(v) in (bool, int, float, str)}
        return _dumps(entry, allow_nan=True)

    run = {}

    def grader(event, args):
        if _type(event) is not _str or not event.startswith("course-grader."):
            return
        if _ident() != main:
            _append(flags, "grader event from another thread")
            return
        was, inside = _gc_enabled(), state["grader"]
        _gc_off()
        state["grader"] = True
        try:
            handle(event, args)
        except _BaseException as err:  # never let an exception (and this frame) reach student code
            _append(flags, "grader error " + _type(err).__name__)
        finally:
            state["grader"] = inside
            if was:
                _gc_on()

    def handle(event, args):
        if event == "course-grader.check":  # after a call of student code inside the test
            if run and state["test"]:
                run["problems"].extend(check(True))
            return
        if event == "course-grader.locked":
            if not strings(args[0]):
                return
            watch_more()
            for name in args[0]:
                value = _dict_get(user, name, missing)
                if value is not missing and _isinstance(value, plain):
                    trusted[name] = value
                elif name in trusted:
                    del trusted[name]
            return
        if event == "course-grader.begin":
            if _len(args) != 6:
                return
            token, secret, params, keys, protect, box = args
            if _type(box) is not _list or _type(secret) is not _str or _type(token) is not _str \
                    or not (strings(params) and strings(keys) and strings(protect)) or _len(params) < 6:
                return
            run.clear()
            problems = check() + flags
            flags.clear()
            text = unseal(secret, token)
            code = _compile(text, "<hidden test>", "exec")
            inner = [c for c in code.co_consts if _type(c) is CodeType and c.co_name == "__grader_test__"][0]
            refs = {}
            values = [_audit, _proxy(refs), _locals, test_context, checked, expect] + \
                [resolve(name) for name in params[6:]]
            by_name = _dict(_zip(params, values))
            for dotted in keys:
                parts = dotted.split(".")
                obj = _dict_get(by_name, parts[0], missing)
                for depth, attr in _enumerate(parts[1:]):
                    entry = _dict_get(snapshot, _id(obj))
                    if entry is None or entry[1] is not obj or attr not in entry[3]:
                        break
                    obj = entry[3][attr]
                    refs[".".join(parts[:depth + 2])] = obj
            run.update(token=token, digest=_sha(text.encode()).hexdigest(), inner=inner, box=box,
                       frame=_getframe(2), problems=problems, ended=False, expects=[],
                       protect={n: by_name[n] for n in protect if n in by_name})
            function = FunctionType(inner, user)
            _append(box, function)
            _append(box, _tuple(values))
            state["test"], state["function"] = True, function
            return
        if event == "course-grader.expect":
            if run and state["test"] and _len(args) == 1 and _type(args[0]) is _str \
                    and _getframe(3).f_code is run["inner"]:
                _append(run["expects"], args[0])
            else:
                _append(flags, "an expectation sent from outside the test")
            return
        if not run or _len(args) != 1 or _type(args[0]) is not _str:
            return
        frame = _getframe(2)
        if event == "course-grader.end":
            if args[0] != run["token"] or frame.f_code is not run["inner"] or frame.f_back is not run["frame"] \
                    or run["ended"]:
                _append(run["problems"], "test evidence asked for from outside the test")
                return
            seen = frame.f_locals
            for name, value in run["protect"].items():
                if _dict_get(seen, name, missing) is not value:
                    _append(run["problems"], "the test's own " + name)
            run["ended"] = True
        elif event == "course-grader.done":
            if args[0] != run["token"] or frame is not run["frame"]:
                _append(flags, "test evidence asked for from outside the test cell")
                return
            state["test"], state["function"] = False, None
            problems = run["problems"] + check() + flags
            flags.clear()
            if problems:
                verdict = "tampered " + " ".join(_sorted(_set(problems)))[:400]
            else:
                verdict = "ok" if run["ended"] else "fail"
            message = (run["token"] + " " + run["digest"] + " " + verdict).encode()
            _append(run["box"], marker + run["token"] + " " + verdict + " " + _hmac(key, message, "sha256").hex()
                    + "\n" + marker + "expect " + run["token"] + " [" + ",".join(run["expects"]) + "]")
            run.clear()

    owned = set()  # notebook globals a hidden test created first: later tests may rebind them
    builtin_copy = _dict(builtin_values)  # (the export helper is the student's to see: nothing it holds matters)

    def export(values, visible=()):
        """The variables the test's visible part binds into the notebook (later cells may use them), never over a
        student's name; what only its hidden part binds (references, expected values) stays inside the test."""
        for name, value in values.items():
            if name not in visible:
                continue
            if name.startswith("__grader") or _dict_get(builtin_copy, name, missing) is value \
                    or _dict_get(user, name, missing) is value:
                continue
            if name in user and name not in owned:
                continue
            user[name] = value
            owned.add(name)

    # Sealed wrappers: what they hold is in their keyword defaults (reading those is audited and refused), never
    # in a closure (not audited). No Python signal handler from student code (a handler runs wherever the main
    # thread is, the grader's hook included, and gets its frame); threads started by student code are noted;
    # a fresh copy of _signal, _thread or _imp is the wrapped one.
    def checked(value, *, _g_audit=_audit, _g_type=_type, _g_flags=type.__dict__["__flags__"].__get__,
                _g_mro=type.__dict__["__mro__"].__get__, _g_plain=scalar_bases):
        # What student code hands back: a float, int, str, complex or bytes of a class defined in Python (a student's
        # `class Lie(float)` whose `__sub__` returns 0) is judged as the plain value it holds, read by the base
        # type's own C code; C types (numpy.float64, bool) pass as they are.
        _g_audit("course-grader.check")
        kind = _g_type(value)
        if _g_flags(kind) & 512:  # Py_TPFLAGS_HEAPTYPE: a class statement's
            mro = _g_mro(kind)
            for base, plain in _g_plain:
                if base in mro:
                    return plain(value)
        return value

    def expect(kind, got, want, *, _g_audit=_audit, _g_record=record, _g_callable=_callable, _g_str=_str,
               _g_exception=Exception, **options):
        # a test's `expect_close(got, want, ...)`/`expect_equal(...)`, rewritten by `Harness.test_code`. Its message
        # comes as a function: an assert's message was built only when it failed, and one that cannot be built
        # for an odd value (a format spec for a float given a list) must not fail an honest answer
        if _g_callable(options.get("message")):
            try:
                options["message"] = _g_str(options["message"]())
            except _g_exception:
                options["message"] = ""
        _g_audit("course-grader.expect", _g_record(kind, got, want, options))

    def signal_(signalnum, handler, *, _g_set=_signal.signal, _g_check=handler_set, _g_frame=_getframe,
                _g_int=_int, _g_isinstance=_isinstance, _g_callable=_callable):
        # nothing of the caller's runs while this frame (which holds the real function) is on the stack: a
        # signal number or handler that is an int subclass is read as a plain int, without its __index__
        _g_check(_g_frame(1), handler)
        if not _g_isinstance(signalnum, _g_int) or not (_g_callable(handler) or _g_isinstance(handler, _g_int)):
            raise TypeError("signal number and handler: an int, and a callable or an int")
        return _g_set(_g_int.__index__(signalnum), handler if _g_callable(handler) else _g_int.__index__(handler))

    def start_new_thread(function, args, kwargs=None, *, _g_start=_thread.start_new_thread, _g_note=thread_started,
                         _g_frame=_getframe):
        _g_note(_g_frame(1))
        return _g_start(function, args) if kwargs is None else _g_start(function, args, kwargs)

    def create_builtin(spec, *, _g_create=_imp.create_builtin, _g_own={"_signal": _signal, "_thread": _thread,
                                                                         "_imp": _imp},
                       _g_type=_type, _g_spec=_spec_type, _g_str=_str):
        if _g_type(spec) is not _g_spec or _g_type(spec.name) is not _g_str:
            raise TypeError("a ModuleSpec")
        return _g_own[spec.name] if spec.name in _g_own else _g_create(spec)

    def exec_builtin(module, *, _g_exec=_imp.exec_builtin, _g_own=(_signal, _thread, _imp)):
        for own in _g_own:
            if own is module:
                return 0
        return _g_exec(module)

    sealed = frozenset(_id(f) for f in (checked, expect, signal_, start_new_thread, create_builtin, exec_builtin))
    _signal.signal = signal_
    signal_module = importlib.import_module("signal")
    signal_module.signal.__dict__.pop("__wrapped__", None)
    _thread.start_new_thread = _thread.start_new = start_new_thread
    threading_module = importlib.import_module("threading")
    threading_module._start_new_thread = start_new_thread
    _imp.create_builtin, _imp.exec_builtin = create_builtin, exec_builtin

    user[export_name] = export
    hook_codes.extend(f.__code__ for f in (guard, grader, handle, check, threads, untrusted, refuse, memory_file,
                                            spoofed_file, thread_started, handler_set, unseal, resolve, watch_more,
                                            wrapper_of, strings, rules_at_work, checked, signal_, start_new_thread,
                                            create_builtin, exec_builtin, expect, record, encode, raw,
                                            test_context.__enter__, test_context.__exit__))
    sys.addaudithook(grader)
    sys.addaudithook(guard)  # last: from now on no other hook can be added
    print(marker + "key " + key.hex())


_grader_install({export!r}, {marker!r}, {trusted_dirs!r})
del _grader_install
'''

_BUILTIN_NAMES = frozenset(dir(builtins)) | {"display", "get_ipython"}


def module_bindings(tree: ast.Module) -> set[str]:
    """Names a cell binds in the notebook's namespace (its imports, defs, classes, assignments, globals)."""
    found, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            todo += [n for n in ast.walk(node) if isinstance(n, ast.Global)]
            continue
        if isinstance(node, ast.Global):
            found.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        todo += list(ast.iter_child_nodes(node))
    return found


def _bound_anywhere(tree: ast.AST) -> set[str]:
    """Every name stored, deleted, imported or taken as a parameter anywhere in `tree` (any scope)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return names


def _chain(node: ast.AST) -> list[str] | None:
    """['torch', 'nn', 'functional', 'gelu'] for a pure attribute chain `torch.nn.functional.gelu`, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or not parts:
        return None
    return [node.id, *reversed(parts)]


class _Snapshotted(ast.NodeTransformer):
    """Attribute chains on the test's trusted names read from the grader's snapshot when it has them:
    `torch.allclose` becomes `(R['torch.allclose'] if 'torch.allclose' in R else torch.allclose)`."""

    def __init__(self, roots: set[str]):
        self.roots, self.keys = roots, set()

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        parts = _chain(node)
        if parts is None or parts[0] not in self.roots or not isinstance(node.ctx, ast.Load):
            return self.generic_visit(node)
        expr: ast.expr = ast.Name(parts[0], ast.Load())
        for attr in parts[1:]:
            expr = ast.Attribute(expr, attr, ast.Load())
        for cut in range(2, len(parts) + 1):  # the longest chain the snapshot resolves wins
            dotted = ".".join(parts[:cut])
            self.keys.add(dotted)
            found: ast.expr = ast.Subscript(ast.Name("__grader_refs", ast.Load()), ast.Constant(dotted), ast.Load())
            for attr in parts[cut:]:
                found = ast.Attribute(found, attr, ast.Load())
            test = ast.Compare(ast.Constant(dotted), [ast.In()], [ast.Name("__grader_refs", ast.Load())])
            expr = ast.IfExp(test, found, expr)
        return expr


EXPECTATIONS = {"expect_close": "close", "expect_equal": "equal"}


class _Expectations(ast.NodeTransformer):
    """`expect_close(got, want, **options)` becomes `__grader_expect('close', got, want, **options)`; in a student's
    kernel (reference=False) `want` becomes None: the expected value is never computed there."""

    def __init__(self, reference: bool):
        self.reference = reference

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if not (isinstance(node.func, ast.Name) and node.func.id in EXPECTATIONS):
            return node
        if len(node.args) != 2 or any(k.arg in (None, "want", "got", "kind") for k in node.keywords):
            raise SyntaxError(f"{node.func.id}(got, want, **options): two positional arguments "
                              f"(line {node.lineno})")
        want = node.args[1] if self.reference else ast.Constant(None)
        keywords = [ast.keyword(k.arg, ast.Lambda(ast.arguments([], [], None, [], [], None, []), k.value))
                    if k.arg == "message" else k for k in node.keywords]  # built only if it can be (see `expect`)
        return ast.Call(ast.Name("__grader_expect", ast.Load()),
                        [ast.Constant(EXPECTATIONS[node.func.id]), node.args[0], want], keywords)


class _Checked(ast.NodeTransformer):
    """A call of the notebook's (the student's) code in a test, `f(x)` or `model.forward(x)`, becomes
    `__grader_checked(f(x))`: the grader checks the test machinery again as soon as student code hands back control
    (a patch made inside the call and undone before the test ends is seen)."""

    def __init__(self, trusted: set[str]):
        self.trusted = trusted

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        root = node.func
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or root.id in self.trusted or root.id.startswith("__grader"):
            return node
        return ast.Call(ast.Name("__grader_checked", ast.Load()), [node], [])


_TOKEN_SLOT = secrets.token_hex(16)  # random per process: no test text can contain it by chance


@functools.lru_cache(maxsize=1024)
def _test_function(source: str, reference: bool, locked_names: frozenset[str]
                   ) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """A test cell as the function `__grader_test__` (its text, its parameters, the names snapshotted, those
    protected) and the names a later cell may use (`visible`). A pure function of the lab's own test text and the
    names its locked cells bound: computed once per process, not once per student (about 12 ms a test cell). The
    text holds _TOKEN_SLOT where the test's own token goes: `Harness.test_code` puts each student's in, and adds the
    other per-student parts (seal, marker). Callers hold _AST_LOCK."""
    tree = _Expectations(reference).visit(ast.parse(source if reference else strip_reference(source)))
    try:  # what a later cell may use: the names the student can see bound (hidden tests' own stay in the test)
        visible = module_bindings(ast.parse(strip_hidden_tests(source)))
    except SyntaxError:
        visible = set()
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    declared = {n for node in ast.walk(tree) if isinstance(node, (ast.Global, ast.Nonlocal)) for n in node.names}
    params = sorted((loaded & (locked_names | _BUILTIN_NAMES)) - declared)
    rebound = _bound_anywhere(tree)
    protect = [p for p in params if p not in rebound]
    snap = _Snapshotted(set(protect))
    checked = _Checked(set(params) | rebound | _BUILTIN_NAMES)
    plain = ast.withitem(ast.Call(ast.Name("__grader_plain_tensors", ast.Load()), [], []), None)
    body = [ast.With([plain], [checked.visit(snap.visit(stmt)) for stmt in tree.body] or [ast.Pass()])]
    end = ast.Expr(ast.Call(ast.Name("__grader_audit", ast.Load()),
                            [ast.Constant("course-grader.end"), ast.Constant(_TOKEN_SLOT)], []))
    ret = ast.Return(ast.Call(ast.Name("__grader_locals", ast.Load()), [], []))
    args = ["__grader_audit", "__grader_refs", "__grader_locals", "__grader_plain_tensors", "__grader_checked",
            "__grader_expect", *params]
    func = ast.FunctionDef("__grader_test__", ast.arguments([], [ast.arg(a) for a in args], None, [], [], None, []),
                           [*body, end, ret], [], None)
    text = ast.unparse(ast.fix_missing_locations(ast.Module([func], [])))
    return text, tuple(args), tuple(sorted(snap.keys)), tuple(protect), tuple(sorted(visible))


@dataclass
class Harness:
    """Per-student names: the marker evidence lines start with, the name of the preamble's export helper (both
    random), the key the preamble printed (set by `read_key`), and the names the lab's locked cells bound so far."""

    marker: str
    export: str
    key: bytes = b""
    locked_names: set = None  # type: ignore[assignment]

    def __post_init__(self):
        self.locked_names = set() if self.locked_names is None else self.locked_names

    @classmethod
    def new(cls) -> Harness:
        return cls(f"@@grader-{secrets.token_hex(8)}@@ ", f"_grader_{secrets.token_hex(6)}")

    def preamble(self) -> str:
        from utils import ROOT

        return (_PREAMBLE.replace("{export!r}", repr(self.export)).replace("{marker!r}", repr(self.marker))
                .replace("{trusted_dirs!r}", repr((str(ROOT / "utils") + "/",))))

    def read_key(self, markers: list[str]) -> bool:
        """Take the key from the preamble's output; False when it did not print exactly one."""
        keys = [m[len(self.marker) + 4:].strip() for m in markers if m.startswith(self.marker + "key ")]
        if len(keys) != 1:
            return False
        self.key = bytes.fromhex(keys[0])
        return True

    @_one_at_a_time
    def locked_code(self, source: str) -> str | None:
        """What to send after a locked cell ran: the names it bound, so that tests get them as the cell made them."""
        try:
            names = module_bindings(ast.parse(source))
        except SyntaxError:
            return None
        self.locked_names |= names
        return f"__import__('sys').audit('course-grader.locked', {tuple(sorted(names))!r})"

    @_one_at_a_time
    def test_code(self, key: str, source: str, reference: bool = False) -> tuple[str, str, str]:
        """(code to send for test cell `key`, its token, the digest of the test text the kernel compiles).

        reference: for the reference kernel (the lab's own solution): the test's REFERENCE blocks and the expected
        values of its expectations are kept; a student's kernel gets neither (`grading.expect`)."""
        token = secrets.token_hex(16)
        text, args, snapshotted, protect, visible = _test_function(source, reference, frozenset(self.locked_names))
        text = text.replace(repr(_TOKEN_SLOT), repr(token))
        box = f"{self.export}_box"
        mark = self.marker.strip()
        # one top-level statement: IPython runs each top-level statement as its own code object (frame), and the
        # grader checks that `begin`, the test function's caller and `done` are one and the same frame
        code = (f"try:\n"
                f"    {box} = []\n"
                f"    __import__('sys').audit('course-grader.begin', {token!r}, {self.seal(text, token)!r}, "
                f"{args!r}, {snapshotted!r}, {protect!r}, {box})  # {mark}\n"
                f"    {box}.append({box}[0](*{box}[1]))\n"
                f"finally:\n"
                f"    __import__('sys').audit('course-grader.done', {token!r})\n"
                f"    print({box}[-1])\n"
                f"{self.export}({box}[-2], {visible!r})\n"
                f"del {box}\n")
        return code, token, hashlib.sha256(text.encode()).hexdigest()

    def seal(self, text: str, token: str) -> str:
        """`text` encrypted for the grader's hook (see `unseal` in the preamble), as hex."""
        data = text.encode()
        stream = b"".join(hashlib.sha256(self.key + token.encode() + i.to_bytes(4, "big")).digest()
                          for i in range((len(data) + 31) // 32))[:len(data)]
        return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big").hex()

    def verdict(self, markers: list[str], token: str, digest: str) -> tuple[str, str]:
        """('ok' | 'fail' | 'tampered' | 'missing', what was tampered with) from the evidence lines of one test cell.
        A line counts only when its signature is right: the key exists only in the grader's audit hook."""
        mine = [m[len(self.marker) + len(token) + 1:].strip() for m in markers if m.startswith(self.marker + token + " ")]
        if not mine:
            return "missing", ""
        if len(mine) != 1:
            return "tampered", "evidence printed more than once"
        verdict, _, mac = mine[0].rpartition(" ")
        want = hmac.new(self.key, f"{token} {digest} {verdict}".encode(), "sha256").hexdigest()
        if not self.key or not hmac.compare_digest(mac, want):
            return "tampered", "forged test evidence"
        if verdict in ("ok", "fail"):
            return verdict, ""
        return "tampered", verdict.removeprefix("tampered ").strip()


# --------------------------------------------------------------------------------------------------------------
# Static scan of the student's cells: constructs only tampering needs. Flags for review; never changes a score.

_SUSPECT_ROOTS = {"torch", "np", "numpy", "F", "math", "builtins", "__builtins__", "sys", "nn", "IPython",
                  "get_ipython", "shell", "ip", "utils"}
_SUSPECT_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                  "input_transformer_manager", "set_custom_exc", "settrace", "setprofile", "register_magic_function",
                  "user_ns", "killpg", "setsid", "register", "run_cell", "_getframe", "currentframe", "f_back",
                  "f_locals", "f_globals", "f_lineno", "tb_frame", "gi_frame", "cr_frame", "get_referrers",
                  "get_referents", "get_objects", "_current_frames", "addaudithook", "__closure__", "cell_contents",
                  "ctypes", "ctypeslib", "__array_interface__", "DisableTorchFunction", "_pop_torch_function_stack",
                  "_disable_current_modes", "pythonapi", "_DisableTorchDispatch", "set_anomaly_enabled"}
_SUSPECT_MODULES = {"sqlite3", "ctypes", "socket", "urllib", "http", "requests"}
_SUSPECT_TEXT = ("gradebook", "solutions/", "wrong_answers", "grades.csv", "/proc/", ".ipynb")
_ALLOWED_ASSIGNMENTS = ("torch.backends.",)  # ordinary settings (cudnn.deterministic...), not the test machinery


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


@_one_at_a_time
def scan(source: str) -> list[str]:
    """What in `source` (a student's cell) looks like tampering; [] for ordinary code (or code that does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(t, (ast.Attribute, ast.Subscript)) and _root(t) in _SUSPECT_ROOTS \
                        and not ast.unparse(t).startswith(_ALLOWED_ASSIGNMENTS):
                    found.append(f"assigns to {ast.unparse(t)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") \
                and node.args and _root(node.args[0]) in _SUSPECT_ROOTS:
            found.append(f"{node.func.id} on {ast.unparse(node.args[0])}")
        if isinstance(node, ast.Attribute) and node.attr in _SUSPECT_ATTRS and \
                (node.attr not in ("register", "run_cell") or "events" in ast.unparse(node.value)
                 or node.attr == "run_cell"):
            found.append(f"uses {ast.unparse(node)}")
        if isinstance(node, ast.FunctionDef) and node.name in ("__torch_function__", "__torch_dispatch__",
                                                                 "__array_function__", "__array_ufunc__"):
            found.append(f"defines {node.name}")
        if isinstance(node, ast.Attribute) and node.attr == "kill" and _root(node) == "os":
            found.append("uses os.kill")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"imports {n}" for n in names if n.split(".")[0] in _SUSPECT_MODULES]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"mentions '{t}'" for t in _SUSPECT_TEXT if t in node.value]
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------------------------------------------
# Feedback: outputs without hidden-test lines or grader markers.

def hidden_lines(sources: list[str]) -> set[str]:
    """Stripped lines of hidden tests (8 characters or more) that are not also public lines of the lab."""
    secret, public = set(), set()
    for source in sources:
        inside = False
        for line in source.splitlines():
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            else:
                (secret if inside else public).add(line.strip())
    return {s for s in secret - public if len(s) >= 8}


GRADER_TEXT = ("@@grader-", "course-grader.")  # in every marker and in the grader's own cell code


def scrub_text(text: str, secret: set[str], marker: str) -> str:
    kept = []
    for line in text.split("\n"):
        if marker.strip() in line or any(t in line for t in GRADER_TEXT):
            continue
        kept.append("[hidden test line removed]" if any(s in line for s in secret) else line)
    return "\n".join(kept)


def scrub_outputs(outputs: list[dict], secret: set[str], marker: str, test_cell: bool) -> list[dict]:
    """Outputs safe to show the student. A test cell's error keeps only `ename: evalue` (its traceback quotes
    the failing line, possibly a hidden one)."""
    merged: list[dict] = []  # a line printed in several stream messages is scrubbed whole
    for out in outputs:
        if merged and out["output_type"] == "stream" and merged[-1]["output_type"] == "stream" \
                and merged[-1].get("name") == out.get("name"):
            merged[-1] = dict(merged[-1], text=merged[-1]["text"] + out["text"])
        else:
            merged.append(out)
    clean = []
    for out in merged:
        out = dict(out)
        if out["output_type"] == "stream":
            out["text"] = scrub_text(out["text"], secret, marker)
            if not out["text"].strip("\n"):
                continue
        elif out["output_type"] == "error":
            out["evalue"] = scrub_text(out.get("evalue", ""), secret, marker)
            out["traceback"] = [f"{out.get('ename', 'Error')}: {out['evalue'] or 'a check failed'}"] if test_cell \
                else [scrub_text(t, secret, marker) for t in out.get("traceback", [])]
        elif "text/plain" in out.get("data", {}):
            out["data"] = dict(out["data"], **{"text/plain": scrub_text(str(out["data"]["text/plain"]), secret,
                                                                       marker)})
        clean.append(out)
    return clean
