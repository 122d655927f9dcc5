"""Plain data: what may cross from a student's process to the grader.

A grader must never unpickle what student code produced (unpickling runs
code). Records are reduced to plain values -- None, bool, int, float, str,
numeric numpy arrays, and lists/tuples/dicts of those -- and travel as JSON.
"""

import base64
import json

import numpy as np

MAX_DEPTH = 8


def to_plain(obj, depth=0):
    """Reduce ``obj`` to plain data; anything else becomes its type name in a string.

    Student objects (including subclasses of ndarray or float with a rigged
    ``__eq__``) are converted to fresh builtin or numpy values, so nothing the
    student defined survives the trip.
    """
    if depth > MAX_DEPTH:
        return "<too deeply nested>"
    if obj is None or type(obj) in (bool, int, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, np.ndarray) or (hasattr(obj, "__array__") and not isinstance(obj, type)):
        try:
            arr = np.array(obj, copy=True)
        except Exception:
            return f"<unconvertible {type(obj).__name__}>"
        if arr.dtype.kind in "biuf":
            return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
        return f"<array of dtype {arr.dtype}>"
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, depth + 1) for v in list(obj)[:10_000]]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, dict):
        return {str(k): to_plain(v, depth + 1) for k, v in list(obj.items())[:1_000]}
    return f"<{type(obj).__name__}>"


def _default(obj):
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": str(obj.dtype), "shape": list(obj.shape),
                "data": base64.b64encode(obj.tobytes()).decode("ascii")}
    raise TypeError(f"not plain data: {type(obj).__name__}")


def _hook(d):
    if "__ndarray__" in d:
        dtype = np.dtype(d["__ndarray__"])
        if dtype.kind not in "biuf":
            raise ValueError(f"refusing array of dtype {dtype}")
        return np.frombuffer(base64.b64decode(d["data"]), dtype=dtype).reshape(d["shape"]).copy()
    if "__tuple__" in d:
        return tuple(d["__tuple__"])
    return d


def _mark_tuples(obj):
    if isinstance(obj, tuple):
        return {"__tuple__": [_mark_tuples(v) for v in obj]}
    if isinstance(obj, list):
        return [_mark_tuples(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _mark_tuples(v) for k, v in obj.items()}
    return obj


def encode(obj):
    """Plain data -> JSON text (arrays as base64, tuples kept)."""
    return json.dumps(_mark_tuples(to_plain(obj)), default=_default)


def decode(text):
    """JSON text from :func:`encode` -> plain data. Never executes anything."""
    return json.loads(text, object_hook=_hook)
