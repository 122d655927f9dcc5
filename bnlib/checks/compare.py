"""Closeness of plain data, and a located message when no known mistake matches.

Messages are short sentences a student reads in a notebook: each output is named
(``dx``, not "return value #1"), a nested answer says where the difference is
("block 2, `running_var`: largest error 0.05 at index 1"), two numbers shown side by
side always differ in the digits shown, and no array is ever dumped.
"""

import itertools

import numpy as np


def same(a, b, rtol, atol):
    """Structural closeness of plain data (shapes must match exactly)."""
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and len(a) == len(b)
                and all(same(x, y, rtol, atol) for x, y in zip(a, b)))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(
            same(a[k], b[k], rtol, atol) for k in b)
    if isinstance(b, (int, float)) and isinstance(a, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):  # 3 and 3.0: one count
        return bool(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True))  # as arrays
    return type(a) is type(b) and a == b


def shape_words(obj):
    """What a value is, in a few words (an array by its shape, never its entries)."""
    if obj is None:
        return "None"
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)} values"
    if isinstance(obj, bool):
        return repr(obj)
    if isinstance(obj, (int, float)):
        return f"the number {obj:.6g}"
    if isinstance(obj, str):
        return "a string" if len(obj) > 30 or " " in obj else f"the string {obj!r}"
    return f"a {type(obj).__name__}"


def two_numbers(got, expected):
    """``got`` and ``expected`` formatted with just enough digits to tell them apart."""
    for digits in range(4, 18):
        g, e = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if g != e:
            return g, e
    return g, e


def output_names(outputs, n):
    """Names for the ``n`` items of a tuple or list answer, from a part's ``outputs``."""
    if isinstance(outputs, dict):  # {"each": "block", "then": inner}: a list of items
        return [f"{outputs['each']} {i + 1}" for i in range(n)]
    if isinstance(outputs, (tuple, list)) and len(outputs) == n:
        return [f"`{name}`" for name in outputs]
    return [f"value {i + 1}" for i in range(n)]


def _inner(outputs):
    return outputs.get("then") if isinstance(outputs, dict) else None


def _names_list(outputs, n):
    return ", ".join(name.strip("`") for name in output_names(outputs, n))


def _array_words(label, got, expected):
    if not isinstance(got, np.ndarray):
        return f"{label} should be an array of shape {expected.shape}; it is {shape_words(got)}."
    if got.shape != expected.shape:
        return f"{label} has shape {got.shape}; expected shape {expected.shape}."
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(float) - expected)
    if not np.isfinite(got).all():
        where = np.unravel_index(np.argmax(~np.isfinite(got)), got.shape)
        return (f"{label} holds {got[where]} at index {_index(where)}: look for a division "
                "by zero or the square root of a negative number.")
    where = np.unravel_index(np.argmax(err), err.shape)
    g, e = two_numbers(float(got[where]), float(expected[where]))
    return (f"{label} differs: largest error {err.max():.3g} at index {_index(where)} "
            f"(got {g}, expected {e}).")


def _index(where):
    where = tuple(int(i) for i in where)
    return str(where[0]) if len(where) == 1 else str(where)


def locate(label, got, expected, outputs=None):
    """Where ``got`` first differs from ``expected``, in one or two sentences."""
    if isinstance(expected, (tuple, list)):
        n = len(expected)
        if not isinstance(got, (tuple, list)) or len(got) != n:
            return (f"{label} should be {n} values ({_names_list(outputs, n)}); "
                    f"it is {shape_words(got)}.")
        order = _reordered(got, expected)
        if order is not None:
            return (f"{label} holds the right values in the wrong order: give them in the "
                    f"order ({_names_list(outputs, n)}).")
        for name, g, e in zip(output_names(outputs, n), got, expected):
            if not same(g, e, 1e-6, 1e-8):
                return locate(f"{label}, {name}", g, e, _inner(outputs))
    if isinstance(expected, np.ndarray):
        return _array_words(label, got, expected)
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)) \
            and not isinstance(got, bool) and not isinstance(expected, bool):
        g, e = two_numbers(float(got), expected)
        return f"{label} is {g}; expected {e}."
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in expected:
            if key not in got:
                return f"{label} has no entry {key!r}."
            if not same(got[key], expected[key], 1e-6, 1e-8):
                return locate(f"{label}[{key!r}]", got[key], expected[key])
    return f"{label} is {shape_words(got)}; expected {shape_words(expected)}."


def _reordered(got, expected):
    """A permutation (not the identity) under which ``got`` equals ``expected``, or None."""
    n = len(expected)
    if n > 6:
        return None
    for order in itertools.permutations(range(n)):
        if order != tuple(range(n)) and all(
                same(got[i], expected[j], 1e-6, 1e-8) for j, i in enumerate(order)):
            return order
    return None


def leaves(got, expected, outputs=None, label=""):
    """(label, got, expected) for each leaf of two answers of the same structure, in order."""
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) \
            and len(got) == len(expected):
        for name, g, e in zip(output_names(outputs, len(expected)), got, expected):
            yield from leaves(g, e, _inner(outputs), f"{label}, {name}" if label else name)
    else:
        yield label or "the output", got, expected


def describe_mismatch(target, got, expected, outputs=None):
    """A specific message when no known mistake matches: the first difference, located."""
    if isinstance(expected, (tuple, list)) and (
            not isinstance(got, (tuple, list)) or len(got) != len(expected)):
        n = len(expected)
        return (f"`{target}` must return {n} values, ({_names_list(outputs, n)}); "
                f"it returned {shape_words(got)}.")
    if isinstance(expected, (tuple, list)):
        if _reordered(got, expected) is not None:
            return (f"`{target}` returns the right values in the wrong order: return "
                    f"({_names_list(outputs, len(expected))}) in this order.")
        for name, g, e in zip(output_names(outputs, len(expected)), got, expected):
            if not same(g, e, 1e-6, 1e-8):
                return f"`{target}`: " + locate(name, g, e, _inner(outputs))
    return f"`{target}`: " + locate("the output", got, expected, outputs)
