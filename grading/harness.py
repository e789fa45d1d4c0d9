"""What the trusted grader runs for a student, and how it reads the outcome.

    assemble   the notebook to execute, built from the lab source: every cell's metadata and every locked or test
               cell's source come from the source; only solution cells (and cells the student added) come from the
               submission, matched by grade_id or, when the metadata is stripped or foreign, by position between
               the locked cells the student kept (matched by their text)
    preamble   trusted code run before any student cell: it captures the functions the tests rely on and the
               IPython machinery, and installs the runner every test cell goes through
    test_code  what is sent for a test cell: the runner, called with the test's source and a fresh token; the runner
               checks the machinery before and after, runs the test with the globals it binds that a student also
               defined renamed (a hidden test never rebinds a student's name), and prints `<marker><token> ok` only when it reached the end untampered
    scan       a static look at the student's cells for constructs that only tampering needs (flagged for review)
    scrub      outputs made safe for feedback: no hidden-test line, no grader marker
"""

from __future__ import annotations

import ast
import secrets
from dataclasses import dataclass

import nbformat

from grading.labsource import HIDDEN_BEGIN, HIDDEN_END, strip_hidden_tests


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
# The trusted preamble and the test runner, run inside the student's kernel before any student code.

_PREAMBLE = r'''
def _grader_install(runner_name, marker):
    import builtins, importlib, sys
    shell = get_ipython()  # noqa: F821
    _exec, _compile, _dict, _sorted, _vars, _tuple = builtins.exec, builtins.compile, dict, sorted, vars, tuple
    _getattr, _isinstance, _str, _hasattr = builtins.getattr, builtins.isinstance, str, builtins.hasattr
    out = sys.stdout
    watched = {}
    for name in ("builtins", "math", "torch", "torch.nn.functional", "torch.testing", "numpy", "numpy.testing"):
        try:
            watched[name] = importlib.import_module(name)
        except ImportError:
            pass
    if "torch" in watched:
        watched["torch.Tensor"] = watched["torch"].Tensor
        watched["torch.nn.Module"] = watched["torch"].nn.Module
        try:  # the hidden tests' rule enforcers (a student could otherwise make `forbidden` a no-op)
            watched["utils.rules"] = importlib.import_module("utils.rules")
            watched["utils.rules.forbidden"] = watched["utils.rules"].forbidden
            watched["utils.rules.substituted"] = watched["utils.rules"].substituted
        except ImportError:
            pass
    skip = {"_", "__", "___", "__warningregistry__", "input", "raw_input"}  # ipykernel sets input per request
    snapshot = {label: (obj, {k: v for k, v in _vars(obj).items() if k not in skip}) for label, obj in watched.items()}
    modules = {k: sys.modules[k] for k in watched if k in sys.modules}
    methods = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell", "transform_ast",
               "showtraceback", "should_run_async", "ex", "ev", "get_ipython")
    shell_methods = {m: _getattr(type(shell), m, None) for m in methods}
    itm = shell.input_transformer_manager
    prefixes = _tuple(p for p in {sys.prefix, sys.base_prefix} if p)

    def hooks():
        return (_tuple(shell.input_transformers_cleanup), _tuple(shell.input_transformers_post),
                _tuple(shell.ast_transformers), _tuple(itm.cleanup_transforms), _tuple(itm.line_transforms),
                _tuple(itm.token_transformers), itm, shell.compile, sys.gettrace(), sys.getprofile(),
                sys.stdout, sys.stderr, sys.displayhook, shell.user_ns.__class__)
    before = hooks()

    def wrapper_of(current, original):
        # a library's own wrapper of the original (torch._dynamo wraps torch.manual_seed when it is imported)
        code = _getattr(current, "__code__", None)
        return _getattr(current, "__wrapped__", None) is original and code is not None \
            and code.co_filename.startswith(prefixes)

    def check():
        problems = []
        for label, (obj, attrs) in snapshot.items():
            now = _vars(obj)
            for k, v in attrs.items():
                current = now.get(k, check)
                if current is not v and not wrapper_of(current, v):
                    problems.append(label + "." + k)
        for k, mod in modules.items():
            if sys.modules.get(k) is not mod:
                problems.append("sys.modules[" + k + "]")
        for m, f in shell_methods.items():
            if _getattr(type(shell), m, None) is not f or m in _vars(shell):
                problems.append("shell." + m)
        if hooks() != before:
            problems.append("IPython input/ast transformers, tracing or output streams")
        for event, callbacks in shell.events.callbacks.items():
            for cb in callbacks:
                code = _getattr(cb, "__code__", None)
                if code is None or not code.co_filename.startswith(prefixes):
                    problems.append("IPython event callback on " + event)
        return _sorted(set(problems))

    owned = set()  # globals a test created first: tests may rebind them
    aliases = {}  # a student's global that a test also binds -> the test's own name for it
    ast = importlib.import_module("ast")

    def module_bindings(tree):
        found, todo = set(), list(tree.body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.add(node.name)
                todo += [n for n in ast.walk(node) if isinstance(n, ast.Global)]
                continue
            if isinstance(node, ast.Global):
                found.update(node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                found.add(node.id)
            elif isinstance(node, ast.alias):
                found.add(node.asname or node.name.split(".")[0])
            elif isinstance(node, ast.Lambda):
                continue
            todo += list(ast.iter_child_nodes(node))
        return found

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = aliases.get(node.id, node.id)
            return node

        def visit_arg(self, node):
            node.arg = aliases.get(node.arg, node.arg)
            return node

        def visit_alias(self, node):
            bound = node.asname or node.name.split(".")[0]
            if bound in aliases and (node.asname or "." not in node.name):
                node.asname = aliases[bound]
            return node

        def visit_FunctionDef(self, node):
            node.name = aliases.get(node.name, node.name)
            return self.generic_visit(node)

        visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

        def visit_Global(self, node):
            node.names = [aliases.get(n, n) for n in node.names]
            return node

    def run(gid, token, source):
        # The test runs in the notebook's namespace (what `utils.rules.substituted` binds is what the student's
        # functions see), but a global it binds that a student's cell defined gets the test's own name: a hidden
        # test never changes what a student's `_ref` means.
        problems = check()
        if not problems:
            user = shell.user_ns
            tree = ast.parse(source)
            for name in module_bindings(tree):
                if name in user and name not in owned and name not in aliases and not name.startswith("__"):
                    aliases[name] = name + "__hidden_test"
            before = set(user)
            _exec(_compile(Rename().visit(tree), "<test " + gid + ">", "exec"), user)
            owned.update(set(user) - before)
            problems = check()
        verdict = "ok" if not problems else "tampered " + " ".join(problems)[:400]
        out.write("\n" + marker + token + " " + verdict + "\n")
        out.flush()

    shell.user_ns[runner_name] = run


_grader_install({runner!r}, {marker!r})
del _grader_install
'''


@dataclass
class Harness:
    """Per-student names: the runner's global name and the marker its evidence lines start with (both random)."""

    runner: str
    marker: str

    @classmethod
    def new(cls) -> Harness:
        return cls(f"_grader_{secrets.token_hex(6)}", f"@@grader-{secrets.token_hex(8)}@@ ")

    def preamble(self) -> str:
        return _PREAMBLE.replace("{runner!r}", repr(self.runner)).replace("{marker!r}", repr(self.marker))

    def test_code(self, key: str, source: str) -> tuple[str, str]:
        """(code to send for test cell `key`, its token)."""
        token = secrets.token_hex(16)
        return f"{self.runner}({key.split(':', 1)[1]!r}, {token!r}, {source!r})", token

    def verdict(self, markers: list[str], token: str) -> tuple[str, str]:
        """('ok' | 'tampered' | 'missing', what was tampered with) from the marker lines of one test cell."""
        mine = [m[len(self.marker):] for m in markers if m.startswith(self.marker + token + " ")]
        if len(mine) != 1:
            return ("missing", "") if not mine else ("tampered", "evidence printed more than once")
        verdict = mine[0][len(token) + 1:]
        return ("ok", "") if verdict == "ok" else ("tampered", verdict.removeprefix("tampered ").strip())


# --------------------------------------------------------------------------------------------------------------
# Static scan of the student's cells: constructs only tampering needs. Flags for review; never changes a score.

_SUSPECT_ROOTS = {"torch", "np", "numpy", "F", "math", "builtins", "__builtins__", "sys", "nn", "IPython",
                  "get_ipython", "shell", "ip", "utils"}
_SUSPECT_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                  "input_transformer_manager", "set_custom_exc", "settrace", "setprofile", "register_magic_function",
                  "user_ns", "killpg", "setsid", "register", "run_cell"}
_SUSPECT_MODULES = {"sqlite3", "ctypes", "socket", "urllib", "http", "requests"}
_SUSPECT_TEXT = ("gradebook", "solutions/", "wrong_answers", "grades.csv", "/proc/", ".ipynb")
_ALLOWED_ASSIGNMENTS = ("torch.backends.",)  # ordinary settings (cudnn.deterministic...), not the test machinery


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


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


def scrub_text(text: str, secret: set[str], marker: str) -> str:
    kept = []
    for line in text.split("\n"):
        if marker.strip() in line:
            continue
        kept.append("[hidden test line removed]" if any(s in line for s in secret) else line)
    return "\n".join(kept)


def scrub_outputs(outputs: list[dict], secret: set[str], marker: str, test_cell: bool) -> list[dict]:
    """Outputs safe to show the student. A test cell's error keeps only `ename: evalue` (its traceback quotes
    the failing line, possibly a hidden one)."""
    clean = []
    for out in outputs:
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
