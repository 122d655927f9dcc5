"""Batch normalisation as functions: training forward, inference forward, backward.

The chapters derive what these compute: ``chapters/02-forward.md`` the forward
pass and ``chapters/03-backward.md`` the backward pass. The layer classes in
``bnlib/layers.py`` call these functions and add the running statistics.

Shapes: fully connected ``(N, D)``; sequences ``(N, C, L)``; images
``(N, C, H, W)``. Statistics are per feature/channel (axis 1), over the other
axes: m = N, N*L or N*H*W values each.
"""

import numpy as np

from ._validate import as_float_array, check_batch_size, check_eps, check_ndim, check_param
from .core import batch_axes, channel_view, standardize, standardize_backward, sum_product

LAYOUT = "(N, D), (N, C, L) or (N, C, H, W) with features/channels on axis 1"


def check_bn_input(x, gamma, beta, eps):
    """Validate and convert the inputs of a batch-norm call; return them as arrays."""
    x = as_float_array(x, "x")
    check_ndim(x, (2, 3, 4), LAYOUT)
    gamma = check_param(gamma, x.shape[1], "gamma")
    beta = check_param(beta, x.shape[1], "beta")
    return x, gamma, beta, check_eps(eps)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm: normalise with the statistics of this batch.

    Parameters
    ----------
    x : array_like, shape (N, D), (N, C, L) or (N, C, H, W)
    gamma, beta : array_like, shape (D,) or (C,)
        Learned scale and shift (initialised to 1 and 0).
    eps : float, default 1e-5 (PyTorch's default)

    Returns
    -------
    y : ndarray, same shape as ``x``
        ``gamma * x_hat + beta``.
    cache : dict
        What the backward pass needs: ``x``, ``x_hat``, ``mu``, ``var`` (biased),
        ``inv_std``, ``gamma``, ``eps`` and ``axes``.

    Raises
    ------
    ValueError
        Wrong shapes, eps <= 0, non-finite values, or one value per channel.
    """
    x, gamma, beta, eps = check_bn_input(x, gamma, beta, eps)
    check_batch_size(x)
    axes = batch_axes(x)
    x_hat, mu, var, inv_std = standardize(x, axes, eps)
    g = channel_view(gamma, x.ndim)
    y = x_hat * g
    y += channel_view(beta, x.ndim)
    cache = {"x": x, "x_hat": x_hat, "mu": mu, "var": var, "inv_std": inv_std,
             "gamma": g, "eps": eps, "axes": axes}
    return y, cache


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Inference-mode batch norm: a fixed affine map built from running statistics.

    Parameters
    ----------
    x : array_like, shape (N, D), (N, C, L) or (N, C, H, W); N may be 1
    gamma, beta, running_mean, running_var : array_like, shape (D,) or (C,)
    eps : float, default 1e-5

    Returns
    -------
    y : ndarray, same shape as ``x``
        ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta``; each
        example's output depends on that example alone.
    cache : dict
        ``x_hat``, ``inv_std``, ``gamma`` and ``axes``: at inference batch norm
        is affine, so ``dx = gamma * inv_std * dy``.
    """
    x, gamma, beta, eps = check_bn_input(x, gamma, beta, eps)
    mean = channel_view(check_param(running_mean, x.shape[1], "running_mean"), x.ndim)
    var = channel_view(check_param(running_var, x.shape[1], "running_var"), x.ndim)
    if (var < 0).any():
        raise ValueError("running_var must be >= 0")
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    g = channel_view(gamma, x.ndim)
    y = g * x_hat + channel_view(beta, x.ndim)
    return y, {"x_hat": x_hat, "inv_std": inv_std, "gamma": g, "axes": batch_axes(x)}


def check_dy(dy, cache):
    """Validate the upstream gradient against the cached forward pass."""
    if not isinstance(cache, dict) or "x_hat" not in cache:
        raise ValueError("cache must be the dict returned by the forward pass")
    dy = as_float_array(dy, "dy")
    if dy.shape != cache["x_hat"].shape:
        raise ValueError(
            f"dy must have the shape of the forward output {cache['x_hat'].shape}, "
            f"got {dy.shape}"
        )
    return dy


def batchnorm_backward(dy, cache):
    """Backward pass of :func:`batchnorm_forward` in the compact closed form.

    With ``g = dL/dy`` and m values per channel::

        dgamma = sum(g * x_hat)     dbeta = sum(g)
        dx = gamma / (m * sqrt(var + eps)) * (m*g - sum(g) - x_hat * sum(g * x_hat))

    Parameters
    ----------
    dy : array_like, same shape as the forward input
    cache : dict from :func:`batchnorm_forward`

    Returns
    -------
    dx : ndarray, same shape as ``dy``
    dgamma, dbeta : ndarray, shape (D,) or (C,)
    """
    dy = check_dy(dy, cache)
    x_hat, axes = cache["x_hat"], cache["axes"]
    dbeta = dy.sum(axis=axes, keepdims=True)  # sum(g)
    dgamma = sum_product(dy, x_hat, axes)  # sum(g * x_hat)
    scale = cache["gamma"] * cache["inv_std"]  # gamma / sqrt(var + eps)
    dx = standardize_backward(dy, x_hat, scale, axes, sum_d=dbeta, sum_dx=dgamma)
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)
