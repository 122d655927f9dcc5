"""Switching bnlib's reference code off for the answers graded in a sandbox child.

Runs only inside a forked sandbox child (a copy-on-write copy of the zygote),
never in the grader. Every function of bnlib's reference modules (not its
checkers) gets its ``__code__`` swapped for a stub that raises. Swapping the
code object, rather than the names, reaches every path to the function: ``import
bnlib``, ``from bnlib import ...``, references bound inside ``bnlib.checks``,
closures and ``gc``. The stub keeps the reference's file name, so
:class:`bnlib.checks.watch.ReferenceWatch` still names the function the answer
called. Functions a part explicitly allows (``Part.allowed_reference``) keep
working.
"""

import sys
import types

from bnlib.checks.watch import _BNLIB_DIR, _CHECKS_DIR

MESSAGE = ("{name} is the course's reference implementation: it is switched off while your "
           "answer is graded. Implement it yourself with numpy.")


def _functions_of(obj):
    if isinstance(obj, types.FunctionType):
        yield obj
    elif isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                yield from (f for f in (value.fget, value.fset, value.fdel)
                            if isinstance(f, types.FunctionType))
            elif isinstance(value, types.FunctionType):
                yield value


def _is_reference(fn):
    path = fn.__code__.co_filename
    return path.startswith(_BNLIB_DIR) and not path.startswith(_CHECKS_DIR)


def reference_functions():
    """Every function object reachable from a loaded bnlib module, once each."""
    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "bnlib" or name.startswith("bnlib.")):
            continue
        for obj in list(vars(module).values()):
            for fn in _functions_of(obj):
                if _is_reference(fn):
                    found[id(fn)] = fn
    return list(found.values())


def _stub_code(fn):
    """A code object that raises, with ``fn``'s name, file and free variables."""
    code = fn.__code__
    label = f"bnlib.{fn.__qualname__}"
    free = code.co_freevars
    lines = ["def _outer():"] + [f"    {v} = None" for v in free] + [
        f"    def {code.co_name}(*args, **kwargs):",
        *(f"        {v}" for v in free),
        f"        raise NotImplementedError({MESSAGE.format(name=label)!r})",
        f"    return {code.co_name}",
    ]
    namespace = {}
    exec(compile("\n".join(lines), code.co_filename, "exec"), namespace)
    stub = namespace["_outer"]().__code__
    return stub.replace(co_name=code.co_name, co_qualname=code.co_qualname)


class Poison:
    """Swap the reference's code objects out (:meth:`close`) and back (:meth:`open`)."""

    def __init__(self, allowed=()):
        self.pairs = []
        for fn in reference_functions():
            if fn.__name__ in allowed:
                continue
            stub = _stub_code(fn)
            if stub.co_freevars == fn.__code__.co_freevars:
                self.pairs.append((fn, fn.__code__, stub))

    def close(self):
        """Answers are running: the reference raises."""
        for fn, _real, stub in self.pairs:
            fn.__code__ = stub

    def open(self):
        """The instructor's own set-up code is running: the reference works."""
        for fn, real, _stub in self.pairs:
            fn.__code__ = real

    def seal(self):
        """Close for good and forget the real code (no set-up code is left to run)."""
        self.close()
        self.pairs = []
