"""Replaying a scripted sequence of operations on a layer class, step by step.

A script is ``(num_features, kwargs, ops)``: build ``cls(num_features, **kwargs)``,
then run each op -- ``("train",)``, ``("eval",)``, ``("set", name, value)`` or
``("forward", x)`` -- recording after each the output, the exception (if any),
whether ``x`` was changed in place, and the layer's ``state`` attributes, all
as plain data (:mod:`bnlib.checks.scenario` compares such records).
"""

import copy

import numpy as np

from .compare import same
from .plain import to_plain

STATE = ("running_mean", "running_var", "num_batches_tracked", "training")


def _snapshot(obj, names):
    if hasattr(type(obj), "snapshot_of"):  # an object in another process (the grading engine)
        return obj.snapshot_of(names)
    return {n: to_plain(getattr(obj, n, "<missing>")) for n in names}


def replay(cls, case, state=STATE):
    """Run the script ``case`` on ``cls``; return one plain record per step."""
    num_features, kwargs, ops = case
    try:
        obj = cls(num_features, **kwargs)
    except Exception as exc:
        return [{"op": "new", "error": type(exc).__name__, "detail": str(exc)[:200]}]
    steps = [{"op": "new", "error": None, "state": _snapshot(obj, state)}]
    for op in ops:
        rec = {"op": op[0], "error": None}
        x = copy.deepcopy(op[1]) if op[0] == "forward" else None
        try:
            if op[0] == "forward":
                rec["out"] = to_plain(obj(x))
            elif op[0] == "set":
                setattr(obj, op[1], np.array(op[2], dtype=float))
            else:
                getattr(obj, op[0])()
        except Exception as exc:
            rec.update(error=type(exc).__name__, detail=str(exc)[:200], out=None)
        if x is not None:
            rec["mutated"] = not same(to_plain(x), op[1], 0, 0)
        rec["state"] = _snapshot(obj, state)
        steps.append(rec)
    return steps


def describe_step(case, i, cls):
    """The script up to step ``i`` in words, e.g. ``bn = BatchNorm1d(3); bn.eval(); bn(x)``."""
    num_features, kwargs, ops = case
    args = ", ".join([str(num_features)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    words = [f"bn = {cls}({args})"]
    for op in ops[:i]:
        if op[0] == "forward":
            words.append(f"bn(x) with x of shape {tuple(op[1].shape)}")
        elif op[0] == "set":
            words.append(f"bn.{op[1]} = <array>")
        else:
            words.append(f"bn.{op[0]}()")
    return "; ".join(words)


def as_float(obj):
    """Numbers compared as numbers: 3 and 3.0 are the same count."""
    if isinstance(obj, dict):
        return {k: as_float(v) for k, v in obj.items()}
    if isinstance(obj, int) and not isinstance(obj, bool):
        return float(obj)
    return obj


def _step_same(a, b, rtol, atol):
    keys = ("error", "out", "state", "mutated")
    return same(as_float({k: a.get(k) for k in keys}), as_float({k: b.get(k) for k in keys}),
                rtol, atol)


def first_difference(got, expected, rtol, atol):
    """Index of the first step where the two records differ, or None."""
    for i, (g, e) in enumerate(zip(got, expected)):
        if not _step_same(g, e, rtol, atol):
            return i
    return None if len(got) == len(expected) else min(len(got), len(expected))
