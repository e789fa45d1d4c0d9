"""Aliases for the commands that moved out of `utils` in 0.2, and for renamed functions; kept for one release
(removed in 0.3).

`utils` is the course API that lessons and labs import; the programs around it live in their own packages:
`chatbot` (the capstone's command-line apps), `grading` (instructors), `workshop` (presenters). The old spellings
`python -m utils.chat` and friends still work: they print where the command went, then run it. An old import
(`from utils.chat import ChatBox`) still resolves, with a DeprecationWarning naming the new module.
"""

from __future__ import annotations

import functools
import importlib
import runpy
import sys
import warnings
from collections.abc import Callable


def forward(alias: str, new_module: str, also: tuple[str, ...] = ()) -> None:
    """Make module `alias` run `new_module` (as `python -m alias`) or re-export its names (on import).

    also: further modules whose names the alias re-exports (where the old module's contents were split).
    """
    if alias == "__main__":
        print(f"note: this command moved to `python -m {new_module}`; the old name works until 0.3.", file=sys.stderr)
        sys.argv[0] = new_module
        runpy.run_module(new_module, run_name="__main__", alter_sys=True)
        return
    warnings.warn(f"{alias} moved to {new_module} (the alias is removed in 0.3)", DeprecationWarning, stacklevel=3)
    targets = [importlib.import_module(m) for m in (new_module, *also)]

    def __getattr__(name: str):
        for target in targets:
            if hasattr(target, name):
                return getattr(target, name)
        raise AttributeError(f"module {alias!r} (moved to {new_module}) has no attribute {name!r}")

    sys.modules[alias].__getattr__ = __getattr__  # type: ignore[method-assign]


def renamed(new: Callable, old: str) -> Callable:
    """A deprecated alias of function `new` under its old dotted name `old` ("utils.qa.train_steps").

    Calling it emits a DeprecationWarning that names the new function, then calls `new` with the same arguments.
    """
    new_name = f"{new.__module__}.{new.__qualname__}"

    @functools.wraps(new)
    def alias(*args, **kwargs):
        warnings.warn(f"{old} is now {new_name} (the old name is removed in 0.3)", DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old.rpartition(".")[2]
    alias.__doc__ = f"Deprecated alias of `{new_name}`; removed in 0.3."
    return alias
