"""Gradient checking: compare an analytic gradient with a numerical one.

``chapters/03-backward.md`` uses these to test both backward passes.
"""

import numpy as np


def numerical_gradient(f, x, dy=None, h=1e-5):
    """Centred finite-difference gradient of ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        Takes an array shaped like ``x``. Returns a scalar, or (with ``dy``) an
        array shaped like ``dy``.
    x : ndarray, float64, any shape
        Perturbed in place one entry at a time and restored.
    dy : ndarray, optional
        Upstream gradient: the gradient returned is that of ``sum(f(x) * dy)``.
    h : float
        Step. The error is O(h**2) from truncation plus O(eps_machine / h).

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    def scalar(z):
        out = f(z)
        return float(np.sum(out * dy)) if dy is not None else float(out)

    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = scalar(x)
        x[i] = old - h
        minus = scalar(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b):
    """Relative error ``|a - b| / (|a| + |b|)`` in the Euclidean norm.

    The norm, not the entry-wise ratio: a batch-norm gradient sums to zero, so
    some entries are tiny and their entry-wise ratio only measures round-off.
    Two zero arrays have error 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)
