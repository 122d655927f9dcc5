"""Switching bnlib's reference code off for the answers graded in a sandbox child.

Runs only inside a forked sandbox child (a copy-on-write copy of the zygote),
never in the grader. Every function of bnlib's reference modules (not its
checkers) gets its ``__code__`` swapped, which reaches every path to it:
``import bnlib``, ``from bnlib import ...``, references bound inside
``bnlib.checks``, closures. The new code raises -- unless a *gate* is open:

* functions a part allows (``Part.allowed_reference``) open the gate while
  they run, so the bnlib helpers they call work;
* the instructor's read-only set-up cells run with the gate open.

The swapped code keeps the reference's file and function names, so
:class:`bnlib.checks.watch.ReferenceWatch` still names what an answer called.
"""

import os
import sys
import types

from bnlib.checks.watch import _BNLIB_DIR, _CHECKS_DIR

MESSAGE = ("{name} is the course's reference implementation: it is switched off while your "
           "answer is graded. Implement it yourself with numpy.")
GATE = "__bngrade_gate__"  # the name under which every bnlib module sees the gate

# The gate's own frames must look like bnlib's to ReferenceWatch (which records the
# outermost bnlib frame an answer reaches), so its code carries a bnlib file name.
_GATE_SOURCE = '''
class Gate:
    def __init__(self):
        self.depth, self.real = 0, {}

    def through(self, key, args, kwargs):
        self.depth += 1
        try:
            return self.real[key](*args, **kwargs)
        finally:
            self.depth -= 1

    def run(self, key, args, kwargs):
        return self.real[key](*args, **kwargs)
'''
_namespace = {}
exec(compile(_GATE_SOURCE, os.path.join(_BNLIB_DIR, "__init__.py"), "exec"), _namespace)
Gate = _namespace["Gate"]


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


def _modules():
    return [m for name, m in list(sys.modules.items())
            if m is not None and (name == "bnlib" or name.startswith("bnlib."))
            and not name.startswith("bnlib.checks")]


def reference_functions():
    """Every function object reachable from a loaded bnlib module, once each."""
    found = {}
    for module in _modules() + [m for n, m in list(sys.modules.items())
                                if n.startswith("bnlib.checks") and m is not None]:
        for obj in list(vars(module).values()):
            for fn in _functions_of(obj):
                path = fn.__code__.co_filename
                if path.startswith(_BNLIB_DIR) and not path.startswith(_CHECKS_DIR):
                    found[id(fn)] = fn
    return list(found.values())


def _stub_code(fn, key, allowed):
    """Code with ``fn``'s name, file and free variables that goes through the gate."""
    code = fn.__code__
    message = MESSAGE.format(name=f"bnlib.{fn.__qualname__}")
    body = ([f"        return {GATE}.through({key}, args, kwargs)"] if allowed else [
        f"        if {GATE}.depth:",
        f"            return {GATE}.run({key}, args, kwargs)",
        f"        raise NotImplementedError({message!r})"])
    free = code.co_freevars
    lines = ["def _outer():", *(f"    {v} = None" for v in free),
             f"    def {code.co_name}(*args, **kwargs):", *(f"        {v}" for v in free),
             *body, f"    return {code.co_name}"]
    namespace = {}
    exec(compile("\n".join(lines), code.co_filename, "exec"), namespace)
    stub = namespace["_outer"]().__code__
    return stub.replace(co_name=code.co_name, co_qualname=code.co_qualname)


def install(allowed=()):
    """Switch the reference off in this process; return the gate (depth 0: closed)."""
    gate = Gate()
    for module in _modules():
        setattr(module, GATE, gate)
    for key, fn in enumerate(reference_functions()):
        if GATE not in fn.__globals__:
            fn.__globals__[GATE] = gate
        stub = _stub_code(fn, key, fn.__name__ in allowed)
        if stub.co_freevars != fn.__code__.co_freevars:
            continue  # cannot be swapped safely; ReferenceWatch still sees it
        real = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                                  fn.__closure__)
        real.__kwdefaults__ = fn.__kwdefaults__
        gate.real[key] = real
        fn.__code__ = stub
    return gate
