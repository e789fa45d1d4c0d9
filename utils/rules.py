"""A lab's "do not use X" rule, enforced: `forbidden(...)` makes X raise while a test calls the student's function.

A lab's hidden test computes its reference with X first, then calls the student's answer inside
`with forbidden("torch.nn.functional.one_hot"):` — an answer that calls X (under any name it was imported as, or
through a Tensor method, or by importing a forbidden module inside the call, or through a reference it kept
anywhere: a list, a dict, a class attribute) fails that test with a message that names the rule. Everything is
restored when the block ends, also when the answer raises.

`substituted(name=reference)` binds a notebook global to the reference while a test runs a later answer that calls
it, so each test judges its own cell, not the earlier answers it builds on.
"""

from __future__ import annotations

import functools
import sys
from importlib import import_module
from types import CodeType, FunctionType, ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch._C import is_anomaly_check_nan_enabled, is_anomaly_enabled, set_anomaly_enabled
from torch._decomp import global_decomposition_table
from torch._prims.context import torch_to_refs_map
from torch.overrides import TorchFunctionMode

# Where else a forbidden object may live under another name (F.one_hot is torch._C._nn.one_hot).
_ALIAS_HOMES = (torch, F, torch._C._nn, torch.Tensor)



_DELETE = object()


class ForbiddenCall(AssertionError):
    """Raised by a forbidden function, or on import of a forbidden module, inside `forbidden(...)`."""


def _resolve(dotted: str) -> tuple[Any, str, Any]:
    """(owner, attribute, object) of a dotted name: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"cannot resolve {dotted!r}")


def _raiser(what: str) -> Any:
    def forbidden_call(*args: Any, **kwargs: Any) -> Any:
        raise ForbiddenCall(f"this exercise must not use {what} (the test compares with it)")
    return forbidden_call


@functools.cache
def _raiser_code(what: str, free: int) -> CodeType:
    """A function body that raises ForbiddenCall naming `what`, for a function with `free` closure cells (a body
    swapped in must have as many free variables as the function has cells). It reads no global: it runs with the
    globals of the function it is swapped into, so the exception class is one of its constants."""
    import warnings

    held = [f"_held{i}" for i in range(free)]
    lines = ["def _outer():"]
    if held:
        lines.append(f"    {', '.join(held)} = {', '.join('None' for _ in held)},")
    lines += ["    def forbidden_call(*args, **kwargs):",
              f"        raise '_exception'({f'this exercise must not use {what} (the test compares with it)'!r})"]
    if held:
        lines.append(f"        {', '.join(held)},  # never reached: makes them this body's free variables")
    lines.append("    return forbidden_call")
    namespace: dict[str, Any] = {}
    with warnings.catch_warnings():  # "'str' object is not callable": the string is a placeholder, replaced below
        warnings.simplefilter("ignore", SyntaxWarning)
        exec(compile("\n".join(lines), "<forbidden>", "exec"), namespace)
    code = namespace["_outer"]().__code__
    return code.replace(co_consts=tuple(ForbiddenCall if c == "_exception" else c for c in code.co_consts))


def _blocked(function: FunctionType) -> bool:
    """Whether `function` runs a body `_raiser_code` made (an outer block swapped it). Under grading, only trusted
    code may set a function's __code__, so a student cannot make a function look blocked."""
    return function.__code__.co_filename == "<forbidden>" and function.__code__.co_name == "forbidden_call"


def _module_of(value: Any) -> str | None:
    """`value.__module__`, read without running code of value's type: a metaclass's own `__getattribute__`
    (transformers' DummyObject has one) may be a body the block has already swapped for a raising one."""
    try:
        module = (type.__getattribute__ if isinstance(value, type) else object.__getattribute__)(value, "__module__")
    except AttributeError:
        return None
    return module if isinstance(module, str) else None


def _class_dict(cls: type) -> Any:
    """`vars(cls)` without running a metaclass's own `__getattribute__` (see `_module_of`)."""
    return type.__getattribute__(cls, "__dict__")


def _python_functions(obj: Any) -> list[FunctionType]:
    """The Python functions that run when `obj` is used: a function and the ones it wraps (`__wrapped__`); for a
    class, the methods it defines (static and class methods, property accessors included) and what they wrap, not
    a function defined elsewhere that it only holds (which another class may share)."""
    if isinstance(obj, type):
        found: list[Any] = []
        for value in _class_dict(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            found += [value.fget, value.fset, value.fdel] if isinstance(value, property) else [value]
        mine = f"{type.__getattribute__(obj, '__qualname__')}."
        return [f for value in found if isinstance(value, FunctionType)
                and value.__qualname__.startswith(mine) for f in _python_functions(value)]
    functions = []
    while obj is not None and len(functions) < 16:  # a decorator's chain: torch.no_grad() around the function
        if isinstance(obj, FunctionType):
            functions.append(obj)
        obj = vars(obj).get("__wrapped__") if hasattr(obj, "__dict__") else None
    return functions


class _Dispatch(TorchFunctionMode):
    """Raises when a forbidden torch function is reached by dispatch, however the answer held it: a default
    argument (`_f=F.one_hot`), a closure, a `functools.partial`, a dict filled before the block began."""

    def __init__(self, originals: dict[int, str]) -> None:
        super().__init__()
        self.originals = originals

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        what = self.originals.get(id(func))
        if what is not None:
            raise ForbiddenCall(f"this exercise must not use {what} (the test compares with it)")
        return func(*args, **(kwargs or {}))


class _AtenKernels:
    """The same rule one level lower, for a forbidden torch builtin that is an ATen operator of the same name
    (`F.scaled_dot_product_attention` is `aten::scaled_dot_product_attention`): for the block, that operator's
    CPU and CompositeImplicitAutograd kernels raise. The dispatcher is global, so this holds where a
    TorchFunctionMode is not seen: another thread, `torch._C.DisableTorchFunction`, the mode popped off its stack
    (`torch._C._pop_torch_function_stack`) and pushed back, `torch.ops.aten.<name>`. Every overload of the
    operator is covered: `gelu.out` and `_log_softmax.out` have CPU kernels of their own. The operator's own kernels
    come back when the block ends."""

    KEYS = ("CPU", "CompositeImplicitAutograd")

    def __init__(self, ops: dict[str, str]) -> None:
        import warnings

        self.library = None
        if not ops:
            return
        library = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():  # "overriding a previously registered kernel": that is the point
            warnings.simplefilter("ignore")
            for op, what in ops.items():
                for overload in _aten_overloads().get(op, (op,)):
                    for key in self.KEYS:
                        try:
                            library.impl(overload, _raiser(what), key)
                        except Exception:  # noqa: BLE001 - an overload this torch registers differently: the mode
                            pass  # still holds for it
        self.library = library

    def close(self) -> None:
        if self.library is not None:
            library, self.library = self.library, None
            library._destroy()


# forbidden(no_autograd=True), for a gradient the exercise derives by hand. Autograd records a node for every
# operation on a tensor that requires grad, on any thread, and a backward pass needs those nodes. With anomaly mode
# on (a process-wide switch, unlike grad mode or a dispatch mode, which the answer's thread could step around),
# each node created calls a Python function, torch.fx.traceback.format_stack: for the block, its body raises. By
# name too: forward mode (it records no node; its aten::_make_dual kernel raises on every thread), the usual calls
# (so that the message names them), and the switch itself.
_AUTOGRAD_NAMES = ("torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad",
                   "torch.autograd.forward_ad.make_dual", "torch._make_dual", "torch.set_anomaly_enabled",
                   "torch._C.set_anomaly_enabled")  # the last two: the answer may not turn the node watch off
_NODE_WATCH = "torch.fx.traceback.format_stack"


def _next_node_number() -> int:
    """The sequence number the next autograd node made on this thread gets (a per-thread count of every node): the
    outermost no_autograd block reads it before and after, so a node made while the answer had turned the watch
    off with a switch it kept (`held[0](False)`) is still counted."""
    with torch.enable_grad():
        return (torch.zeros((), requires_grad=True) * 1).grad_fn._sequence_nr() + 1


def _aten_op(original: Any) -> str | None:
    """The ATen operator a torch builtin (not a Python function or class) is, when it has the builtin's name."""
    if isinstance(original, (type, FunctionType, ModuleType)):
        return None
    name = getattr(original, "__name__", "")
    try:
        packet = getattr(torch.ops.aten, name) if name else None
    except (AttributeError, RuntimeError):
        return None
    return name if isinstance(packet, torch._ops.OpOverloadPacket) else None


# ATen's fused implementations of an operator whose names do not start with the operator's own: attention's
# _scaled_dot_product_flash_attention_for_cpu, _efficient_, _cudnn_ and the rest
_FUSED_PREFIXES = {"scaled_dot_product_attention": ("_scaled_dot_product_", "_triton_scaled_dot_attention")}


@functools.cache
def _aten_names() -> frozenset[str]:
    """Every registered ATen operator's name, listed once per process (about 2.5 ms; a lab forbids up to 8
    operators)."""
    return frozenset(n.split("::", 1)[1].split(".")[0] for n in torch._C._dispatch_get_all_op_names()
                     if n.startswith("aten::"))


@functools.cache
def _aten_overloads() -> dict[str, tuple[str, ...]]:
    """Every registered ATen operator's overloads as `library.impl` names them ("gelu", "gelu.out"), listed once
    per process from the dispatcher (not from torch.ops.aten, where a rule may have put a stand-in)."""
    overloads: dict[str, list[str]] = {}
    for name in torch._C._dispatch_get_all_op_names():
        if name.startswith("aten::"):
            full = name.split("::", 1)[1]
            overloads.setdefault(full.split(".")[0], []).append(full)
    return {op: tuple(names) for op, names in overloads.items()}


@functools.cache
def _private_variants(op: str) -> tuple[str, ...]:
    """ATen's own implementations of `op` under other names: _log_softmax, _scaled_dot_product_attention_math,
    _scaled_dot_product_flash_attention_for_cpu, native_layer_norm (what aten::layer_norm calls). Computed once
    per process and operator: a hidden test enters `forbidden` for each case. A tuple, so the cached answer cannot
    be changed by whoever holds it."""
    prefixes = (f"_{op}_", f"native_{op}_", *_FUSED_PREFIXES.get(op, ()))
    return tuple(sorted(n for n in _aten_names() if n in (f"_{op}", f"native_{op}") or n.startswith(prefixes)))


def _python_twins(original: Any, ops: list[str], refs: dict[Any, Any]) -> list[Any]:
    """Torch's own Python implementations of a forbidden computation, which compute it on ordinary tensors when
    called: its reference implementation (`torch._refs.nn.functional.gelu` for `F.gelu`; `refs` is
    `torch_to_refs_map()`, taken before any stand-in was put in torch), the references named like its ATen
    operators, and the decompositions registered for every overload of those (`torch._decomp.decompositions.
    _log_softmax` for `aten::_log_softmax`). Shape-only meta functions are left alone: they compute no values."""
    twins = [refs.get(original)] if not isinstance(original, (type, ModuleType)) else []
    for op in ops:
        twins += [vars(home).get(op) for home in (torch._refs, torch._refs.nn.functional, torch._refs.special)]
        packet = getattr(torch.ops.aten, op)
        for overload in packet.overloads():
            for kind, table in global_decomposition_table.items():
                if kind != "meta":
                    twins.append(table.get(getattr(packet, overload)))
    return [twin for twin in twins if twin is not None]


def _global_names(code: CodeType) -> set[str]:
    """The global (and attribute) names a body and the bodies nested in it mention."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            names |= _global_names(constant)
    return names


def _kept_working(objects: list[Any]) -> set[int]:
    """ids of what `allow` keeps: the objects, the Python functions they run, and the functions and classes of
    their own module that those call by name (LoRALinear's layer_shape and lora_scaling), followed through."""
    kept = {id(obj) for obj in objects}
    functions = [f for obj in objects for f in _python_functions(obj)]
    read: set[int] = set()
    while functions:
        function = functions.pop()
        if id(function) in read:
            continue
        read.add(id(function))
        kept.add(id(function))
        module = function.__globals__.get("__name__")
        for name in _global_names(function.__code__):
            value = function.__globals__.get(name)
            if isinstance(value, (type, FunctionType)) and _module_of(value) == module \
                    and id(value) not in kept:
                kept.add(id(value))
                functions += _python_functions(value)
    return kept


class _ForbiddenModule(ModuleType):
    def __getattr__(self, name: str) -> Any:
        raise ForbiddenCall(f"this exercise must not use {self.__name__} (the test compares with it)")


class forbidden:
    """Context manager: inside it, each name in `names` raises `ForbiddenCall` when called, and each module in
    `modules` cannot be imported (nor used through a name it was imported as before the block).

    names: dotted paths of functions, classes or methods ("torch.nn.functional.gelu", "torch.Tensor.log_softmax",
    "torch.nn.MultiheadAttention"); every other name the same object has in torch, torch.nn.functional, Tensor and
    the calling notebook's globals is replaced too. modules: dotted module names ("utils.quant"); a package covers
    its submodules ("transformers": every model file's copy of an attention function).
    allow: dotted names of a forbidden module's objects the test itself hands the answer ("utils.lora.LoRALinear"
    with `substituted(LoRALinear=...)`): they keep working.
    no_autograd: for a gradient the exercise derives by hand: the answer may not run a backward pass, record an
    operation for one (on any thread) or use forward-mode AD.

    A Python function among them (a forbidden function, a forbidden class's methods, a forbidden module's own
    functions and classes) has its body swapped for one that raises, for the block: however the answer reached it
    (a list, a dict, a class attribute, a bound method filled before the block), calling it raises.
    """

    def __init__(self, *names: str, modules: tuple[str, ...] = (), allow: tuple[str, ...] = (),
                 no_autograd: bool = False) -> None:
        self.names = tuple(dict.fromkeys(names + (_AUTOGRAD_NAMES if no_autograd else ())))
        self.modules, self.allow, self.no_autograd = modules, allow, no_autograd
        self._undo: list[tuple[Any, str, bool, Any]] = []  # (owner, attribute, was it in owner's own dict, value)
        self._bodies: list[tuple[FunctionType, CodeType]] = []  # (function, its own body)
        self._mode: _Dispatch | None = None
        self._anomaly: tuple[bool, bool] | None = None  # anomaly mode's settings before the block
        self._first_node: int | None = None  # the number the answer's first autograd node would get
        self._kernels: _AtenKernels | None = None

    def _block_bodies(self, obj: Any, what: str, allowed: set[int]) -> None:
        """Swap the body of every Python function `obj` runs for one that raises (restored by __exit__)."""
        for function in _python_functions(obj):
            if id(function) in allowed or _blocked(function):  # an outer block already did
                continue
            body = function.__code__
            self._bodies.append((function, body))
            function.__code__ = _raiser_code(what, len(body.co_freevars))

    def _set(self, owner: Any, attr: str, value: Any) -> None:
        own = owner if isinstance(owner, dict) else vars(owner)
        self._undo.append((owner, attr, attr in own, own.get(attr)))
        _put(owner, attr, value)

    def __enter__(self) -> forbidden:
        caller = sys._getframe(1).f_globals
        originals: dict[int, str] = {}
        ops: dict[str, str] = {}
        stand_ins: dict[int, Any] = {}  # id(forbidden object) -> what the answer's own functions get in its place
        try:
            allowed = _kept_working([_resolve(dotted)[2] for dotted in self.allow])
            refs = torch_to_refs_map()
            for dotted in self.names:
                owner, attr, original = _resolve(dotted)
                self._block_bodies(original, dotted, allowed)
                originals[id(original)] = dotted
                op = _aten_op(original)
                own_ops = [op, *_private_variants(op)] if op is not None else []
                if op is not None:  # torch.ops.aten.<op> and its overloads are the same function, and
                    ops.update(dict.fromkeys(own_ops, dotted))  # _<op>_math its implementation
                    packet = getattr(torch.ops.aten, op)
                    originals.update({id(packet): dotted, **{id(getattr(packet, o)): dotted
                                                             for o in packet.overloads()}})
                for twin in _python_twins(original, own_ops, refs):
                    self._block_bodies(twin, dotted, allowed)
                stand_in = _raiser(dotted)
                stand_ins[id(original)] = stand_in
                self._set(owner, attr, stand_in)
                for home in _ALIAS_HOMES:
                    for name, value in list(vars(home).items()):
                        if value is original and not (home is owner and name == attr):
                            self._set(home, name, stand_in)
                for name, value in list(caller.items()):
                    if value is original:
                        self._set(caller, name, stand_in)
            loaded = {m for m, value in list(sys.modules.items()) if isinstance(value, ModuleType)
                      and any(m.startswith(f"{package}.") for package in self.modules)}  # a package's submodules
            for module in sorted(set(self.modules) | loaded, key=lambda m: (-m.count("."), m)):  # before the package
                original = sys.modules.get(module)
                parent, _, child = module.rpartition(".")
                self._set(sys.modules, module, None)  # `import module` now fails
                if isinstance(sys.modules.get(parent), ModuleType) and child in vars(sys.modules[parent]):
                    self._set(sys.modules[parent], child, _DELETE)  # so does `from parent import child`
                functions = {id(v) for v in vars(original).values()
                             if callable(v) and id(v) not in allowed} if original else set()
                if original is not None:
                    own = {n: v for n, v in vars(original).items()
                           if callable(v) and _module_of(v) == module and id(v) not in allowed}
                    for name, value in own.items():
                        self._block_bodies(value, f"{module}.{name}", allowed)
                    stand_ins[id(original)] = _ForbiddenModule(module)
                    stand_ins.update({id(v): _raiser(f"{module}.{n}") for n, v in own.items()})
                for name, value in list(caller.items()):
                    if value is original and original is not None:
                        self._set(caller, name, _ForbiddenModule(module))
                    elif id(value) in functions and _module_of(value) == module:
                        self._set(caller, name, _raiser(f"{module}.{name}"))
            self._hide_in_answers(caller, stand_ins)
            if originals:  # what torch dispatches: a forbidden function held under a name the loops above never see
                self._mode = _Dispatch(originals)
                self._mode.__enter__()
            self._kernels = _AtenKernels(ops)
            if self.no_autograd:
                watch = _resolve(_NODE_WATCH)[2]
                if not _blocked(watch):  # the outermost no_autograd block (an inner one makes no node to count)
                    self._first_node = _next_node_number()
                self._block_bodies(watch, "autograd (an operation was recorded for a backward pass: a tensor that "
                                   "requires grad)", set())
                self._anomaly = (is_anomaly_enabled(), is_anomaly_check_nan_enabled())
                set_anomaly_enabled(True, False)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _hide_in_answers(self, caller: dict, stand_ins: dict[int, Any]) -> None:
        """The notebook's own functions may hold a forbidden object where no name reaches it: a default argument
        (`def f(x, _ref=utils.quant.nf4_codebook)`, `_fwd=GPT2Block.forward`) or a closure's cell. For the block,
        such a default or cell holds the stand-in instead. A function held there would raise anyway (its body is
        swapped, a torch builtin is caught at dispatch); a forbidden module held there is reached only this way."""
        if not stand_ins:
            return
        for fn in list(caller.values()):
            if not isinstance(fn, FunctionType) or fn.__globals__ is not caller:
                continue
            if fn.__defaults__ and any(id(v) in stand_ins for v in fn.__defaults__):
                self._set_attr(fn, "__defaults__", tuple(stand_ins.get(id(v), v) for v in fn.__defaults__))
            if fn.__kwdefaults__ and any(id(v) in stand_ins for v in fn.__kwdefaults__.values()):
                self._set_attr(fn, "__kwdefaults__", {k: stand_ins.get(id(v), v) for k, v in fn.__kwdefaults__.items()})
            for cell in fn.__closure__ or ():
                try:
                    held = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if id(held) in stand_ins:
                    self._set_attr(cell, "cell_contents", stand_ins[id(held)])

    def _set_attr(self, owner: Any, attr: str, value: Any) -> None:
        """owner.attr = value for the block, for objects without a __dict__ to record (functions' defaults, cells)."""
        self._undo.append((owner, attr, True, getattr(owner, attr)))
        setattr(owner, attr, value)

    def __exit__(self, *exc: object) -> None:
        while self._bodies:
            function, body = self._bodies.pop()
            function.__code__ = body
        if self._kernels is not None:
            kernels, self._kernels = self._kernels, None
            kernels.close()
        removed = False
        if self._anomaly is not None:  # anomaly mode is still on, unless the answer turned it off
            removed = not is_anomaly_enabled()
            set_anomaly_enabled(*self._anomaly)
            self._anomaly = None
        made = 0
        if self._first_node is not None:  # nodes made on this thread during the block, the probe's not counted
            made, self._first_node = _next_node_number() - 1 - self._first_node, None
        if self._mode is not None:  # still the innermost torch function mode, unless the answer popped it
            mode, self._mode = self._mode, None
            depth = torch._C._len_torch_function_stack()
            if depth == 0 or torch._C._get_function_stack_at(depth - 1) is not mode:
                removed = True
            else:
                mode.__exit__(None, None, None)
        while self._undo:
            owner, attr, existed, value = self._undo.pop()
            _put(owner, attr, value if existed else _DELETE)
        if made and exc[0] is None:
            raise ForbiddenCall(f"this exercise must not use autograd ({made} operations were recorded for a "
                                "backward pass)")
        if removed and exc[0] is None:
            raise ForbiddenCall("the rule's watch over torch calls was removed while the answer ran")


def _put(owner: Any, attr: str, value: Any) -> None:
    """owner.attr = value (owner[attr] for a dict); value _DELETE deletes it."""
    if isinstance(owner, dict):
        if value is _DELETE:
            owner.pop(attr, None)
        else:
            owner[attr] = value
    elif value is _DELETE:
        delattr(owner, attr)
    else:
        setattr(owner, attr, value)


class substituted:
    """Context manager: inside it, the calling notebook's globals `name=value` are bound to the given values (then
    restored), so a test of one answer calls the reference instead of the student's earlier answers it builds on.

    Example: `with substituted(lora_param_count=reference_count): r = largest_rank(model, targets, budget)`.
    """

    def __init__(self, **names: Any) -> None:
        self.names = names
        self._undo: list[tuple[str, bool, Any]] = []

    def __enter__(self) -> substituted:
        caller = sys._getframe(1).f_globals
        self._namespace = caller
        for name, value in self.names.items():
            self._undo.append((name, name in caller, caller.get(name)))
            caller[name] = value
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            name, existed, value = self._undo.pop()
            _put(self._namespace, name, value if existed else _DELETE)
