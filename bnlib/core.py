"""Standardisation: the step every normaliser in bnlib shares.

A normaliser picks the axes it averages over, then computes
``x_hat = (x - mean) / sqrt(var + eps)``. Batch norm averages over the batch
(and space); layer norm over the features of one example; group norm over a
group of channels of one example. Only the axes differ, so the forward and
backward of that step live here once. The maths is derived in
``chapters/03-backward.md``.
"""

import numpy as np


def batch_axes(x):
    """Axes batch norm averages over: all but the channel axis 1.

    ``(N, D) -> (0,)``, ``(N, C, L) -> (0, 2)``, ``(N, C, H, W) -> (0, 2, 3)``.
    """
    return (0,) + tuple(range(2, x.ndim))


def channel_view(p, ndim):
    """Reshape a per-channel vector of shape ``(C,)`` to broadcast against axis 1.

    For ``ndim == 4`` the result has shape ``(1, C, 1, 1)``.
    """
    return np.reshape(p, (1, -1) + (1,) * (ndim - 2))


def count(x, axes):
    """m: how many values of ``x`` each statistic over ``axes`` summarises."""
    return int(np.prod([x.shape[a] for a in axes]))


def sum_product(a, b, axes):
    """``sum(a * b)`` over ``axes`` (kept as size 1), without allocating ``a * b``."""
    letters = "abcdefghijklmnopqrstuvwxyz"[:a.ndim]
    axes = {ax % a.ndim for ax in axes}
    kept = "".join(c for i, c in enumerate(letters) if i not in axes)
    total = np.einsum(f"{letters},{letters}->{kept}", a, b)
    return total.reshape([1 if i in axes else n for i, n in enumerate(a.shape)])


def standardize(x, axes, eps):
    """Centre and scale ``x`` over ``axes``.

    Parameters
    ----------
    x : ndarray, any shape
    axes : tuple of int
        The axes the statistics are taken over (m values each).
    eps : float
        Added to the variance inside the square root.

    Returns
    -------
    x_hat : ndarray, same shape as ``x`` (a new array)
    mu, var : ndarray
        Mean and *biased* variance (divide by m), with ``axes`` kept as size 1.
    inv_std : ndarray
        ``1 / sqrt(var + eps)``, same shape as ``var``.
    """
    m = count(x, axes)
    mu = x.mean(axis=axes, keepdims=True)
    x_hat = x - mu  # centred; becomes x_hat in place below
    var = sum_product(x_hat, x_hat, axes) / m  # biased: divide by m
    inv_std = 1.0 / np.sqrt(var + eps)  # eps inside the square root
    x_hat *= inv_std
    return x_hat, mu, var, inv_std


def standardize_backward(d, x_hat, scale, axes, sum_d=None, sum_dx=None):
    """Gradient through the standardisation ``x_hat = (x - mean) / sqrt(var + eps)``.

    Each ``x_i`` reaches ``x_hat`` directly and through the mean and the
    variance, which gives the compact form (m values per statistic)::

        dx = scale / m * (m * d - sum(d) - x_hat * sum(d * x_hat))

    For batch norm ``d = dL/dy`` and ``scale = gamma / sqrt(var + eps)``, and the
    two sums are ``dbeta`` and ``dgamma``; for layer and group norm
    ``d = gamma * dL/dy`` and ``scale = 1 / sqrt(var + eps)``.

    Parameters
    ----------
    d : ndarray, same shape as ``x_hat``
    x_hat : ndarray
        As returned by :func:`standardize`.
    scale : ndarray, broadcastable to ``x_hat``
    axes : tuple of int
        The axes of the statistics.
    sum_d, sum_dx : ndarray, optional
        ``sum(d)`` and ``sum(d * x_hat)`` over ``axes`` (kept as size 1), if the
        caller has them already.

    Returns
    -------
    dx : ndarray, same shape as ``x_hat``
    """
    m = count(x_hat, axes)
    if sum_d is None:
        sum_d = d.sum(axis=axes, keepdims=True)
    if sum_dx is None:
        sum_dx = sum_product(d, x_hat, axes)
    # Evaluated in place to avoid temporaries: dx = scale * (d - (sum_d + x_hat*sum_dx) / m).
    dx = x_hat * (sum_dx / m)
    dx += sum_d / m
    np.subtract(d, dx, out=dx)
    dx *= scale
    return dx
