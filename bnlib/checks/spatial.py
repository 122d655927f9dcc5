"""Inputs and wrong answers for spatial (N, C, H, W) batch norm, built on bnlib.core."""

import numpy as np

from ..core import channel_view, count, standardize
from .ps1 import features


def images(rng, shape):
    """(N, C, H, W) input whose channels have very different scales (one tiny next to eps)."""
    n, c, h, w = shape
    per_channel = features(rng, (n * h * w, c))  # each column one channel
    return per_channel.reshape(n, h, w, c).transpose(0, 3, 1, 2).copy()


def normalised_over(axes, unbiased=False, params_on_last_axis=False):
    """Batch norm with statistics over ``axes`` (and optionally two classic slips)."""
    def make(x, gamma, beta, eps):
        if unbiased:
            m = count(x, axes)
            x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
                x.var(axis=axes, keepdims=True) * m / (m - 1) + eps)
        else:
            x_hat = standardize(x, axes, eps)[0]
        if params_on_last_axis:
            return x_hat * gamma + beta  # broadcasts along W
        return x_hat * channel_view(gamma, x.ndim) + channel_view(beta, x.ndim)
    return make


def eps_outside(x, axes, eps):
    """x_hat and 1 / (sqrt(var) + eps) over ``axes``: eps outside the square root."""
    xc = x - x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / (np.sqrt(x.var(axis=axes, keepdims=True)) + eps)
    return xc * inv_std, inv_std


def affine(x_hat, gamma, beta, ndim):
    """gamma * x_hat + beta with per-channel parameters (``None``: left out)."""
    g = 1.0 if gamma is None else channel_view(gamma, ndim)
    b = 0.0 if beta is None else channel_view(beta, ndim)
    return g * x_hat + b


def flat_without_transpose(x):
    """``x.reshape(-1, C)`` of (N, C, H, W): rows that mix channels (C not moved last)."""
    return x.reshape(-1, x.shape[1])
