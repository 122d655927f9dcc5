"""The rest of the family: layer norm, group norm and RMS norm.

Each is batch norm's standardisation over other axes, with no batch dependence
and no running statistics (``chapters/05-placement-and-family.md``):

* layer norm: over the features of one example (the last axis);
* group norm: over a group of channels (and space) of one example; one group
  is layer norm over (C, H, W), C groups is instance norm;
* RMS norm: divides by the root mean square; no centring, no ``beta``.
"""

import numpy as np

from ._validate import as_float_array, check_eps, check_ndim, check_param
from .batchnorm import check_dy
from .core import batch_axes, channel_view, standardize, standardize_backward


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer norm over the last axis of ``x``.

    Parameters
    ----------
    x : array_like, shape (N, D) or (..., D)
    gamma, beta : array_like, shape (D,)
    eps : float, default 1e-5

    Returns
    -------
    y : ndarray, same shape as ``x``
    cache : dict for :func:`layernorm_backward`
    """
    x = as_float_array(x, "x")
    check_ndim(x, range(1, 33), "at least 1-D with features on the last axis")
    gamma = check_param(gamma, x.shape[-1], "gamma")
    beta = check_param(beta, x.shape[-1], "beta")
    x_hat, _, _, inv_std = standardize(x, (x.ndim - 1,), check_eps(eps))
    cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}
    return gamma * x_hat + beta, cache


def layernorm_backward(dy, cache):
    """Backward of :func:`layernorm_forward`; returns ``(dx, dgamma, dbeta)``."""
    dy = check_dy(dy, cache)
    x_hat = cache["x_hat"]
    lead = tuple(range(x_hat.ndim - 1))
    dx = standardize_backward(cache["gamma"] * dy, x_hat, cache["inv_std"], (x_hat.ndim - 1,))
    return dx, (dy * x_hat).sum(axis=lead), dy.sum(axis=lead)


def groupnorm_forward(x, gamma, beta, num_groups, eps=1e-5):
    """Group norm: per example, over groups of ``C // num_groups`` channels and space.

    Parameters
    ----------
    x : array_like, shape (N, C) or (N, C, H, W) (any trailing spatial axes)
    gamma, beta : array_like, shape (C,)
    num_groups : int, dividing C
    eps : float, default 1e-5

    Returns
    -------
    y : ndarray, same shape as ``x``
    cache : dict for :func:`groupnorm_backward`
    """
    x = as_float_array(x, "x")
    check_ndim(x, range(2, 33), "(N, C) or (N, C, H, W)")
    n, c = x.shape[:2]
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or c % num_groups:
        raise ValueError(f"num_groups must be a positive integer dividing C={c}, "
                         f"got {num_groups!r}")
    gamma = check_param(gamma, c, "gamma")
    beta = check_param(beta, c, "beta")
    grouped = x.reshape(n, num_groups, -1)
    x_hat_g, _, _, inv_std = standardize(grouped, (2,), check_eps(eps))
    x_hat = x_hat_g.reshape(x.shape)
    y = channel_view(gamma, x.ndim) * x_hat + channel_view(beta, x.ndim)
    cache = {"x_hat": x_hat, "x_hat_g": x_hat_g, "inv_std": inv_std,
             "gamma": channel_view(gamma, x.ndim)}
    return y, cache


def groupnorm_backward(dy, cache):
    """Backward of :func:`groupnorm_forward`; returns ``(dx, dgamma, dbeta)``."""
    dy = check_dy(dy, cache)
    x_hat, x_hat_g = cache["x_hat"], cache["x_hat_g"]
    dx_hat = (cache["gamma"] * dy).reshape(x_hat_g.shape)
    dx = standardize_backward(dx_hat, x_hat_g, cache["inv_std"], (2,)).reshape(dy.shape)
    axes = batch_axes(dy)
    return dx, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


def rmsnorm_forward(x, gamma, eps=None):
    """RMS norm over the last axis: ``y = gamma * x / sqrt(mean(x**2) + eps)``.

    Parameters
    ----------
    x : array_like, shape (N, D) or (..., D)
    gamma : array_like, shape (D,)
    eps : float or None
        None means the machine epsilon of ``x``'s dtype, as in PyTorch.

    Returns
    -------
    y : ndarray, same shape as ``x``
    cache : dict for :func:`rmsnorm_backward`
    """
    x = as_float_array(x, "x")
    check_ndim(x, range(1, 33), "at least 1-D with features on the last axis")
    gamma = check_param(gamma, x.shape[-1], "gamma")
    eps = np.finfo(x.dtype).eps if eps is None else check_eps(eps)
    inv_rms = 1.0 / np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)
    x_hat = x * inv_rms
    return gamma * x_hat, {"x_hat": x_hat, "inv_rms": inv_rms, "gamma": gamma}


def rmsnorm_backward(dy, cache):
    """Backward of :func:`rmsnorm_forward`; returns ``(dx, dgamma)``.

    Only the scale path exists (no mean)::

        dx = inv_rms * (dx_hat - x_hat * mean(dx_hat * x_hat))
    """
    dy = check_dy(dy, cache)
    x_hat = cache["x_hat"]
    dx_hat = cache["gamma"] * dy
    dx = cache["inv_rms"] * (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True))
    return dx, (dy * x_hat).sum(axis=tuple(range(x_hat.ndim - 1)))
