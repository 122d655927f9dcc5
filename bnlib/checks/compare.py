"""Closeness of plain data, and a located message when no known mistake matches."""

import numpy as np


def same(a, b, rtol, atol):
    """Structural closeness of plain data (shapes must match exactly)."""
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))
    if isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and len(a) == len(b)
                and all(same(x, y, rtol, atol) for x, y in zip(a, b)))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(
            same(a[k], b[k], rtol, atol) for k in b)
    if isinstance(b, float) and isinstance(a, (int, float)) and not isinstance(a, bool):
        return bool(np.isclose(a, b, rtol=rtol, atol=atol))
    return type(a) is type(b) and a == b


def shape_words(obj):
    """What a value is, in a few words (an array by its shape, never its entries)."""
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)}: ({', '.join(map(shape_words, obj))})"
    return f"{obj!r:.80}"


def describe_mismatch(target, got, expected):
    """A generic but specific message when no known mistake matches."""
    if isinstance(expected, tuple) and not (isinstance(got, tuple) and len(got) == len(expected)):
        return (f"`{target}` must return a tuple of {len(expected)} values "
                f"({', '.join(map(shape_words, expected))}); it returned {shape_words(got)}.")
    if isinstance(expected, tuple) and isinstance(got, tuple) and len(got) == len(expected):
        for i, (g, e) in enumerate(zip(got, expected)):
            if not same(g, e, 1e-6, 1e-8):
                return f"`{target}`: return value #{i + 1} is wrong. " + \
                    describe_mismatch(target, g, e).split(": ", 1)[-1]
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            return (f"`{target}`: expected an array of shape {expected.shape}, "
                    f"got {shape_words(got)}")
        if got.shape != expected.shape:
            return f"`{target}`: expected shape {expected.shape}, got {got.shape}"
        err = np.abs(got - expected)
        where = np.unravel_index(np.argmax(err), err.shape)
        return (f"`{target}`: values differ (largest error {err.max():.3g} at index "
                f"{tuple(int(i) for i in where)}: got {got[where]:.6g}, "
                f"expected {expected[where]:.6g})")
    return f"`{target}`: expected {expected!r:.80}, got {got!r:.80}"
