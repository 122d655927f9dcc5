"""Batch-norm backward, one node of the computation graph at a time.

The forward pass, broken into elementary nodes (m values per channel)::

    mu     = mean(x)                 # 1. batch mean
    xc     = x - mu                  # 2. centred input
    var    = mean(xc ** 2)           # 3. biased variance
    std    = sqrt(var + eps)         # 4. standard deviation
    inv    = 1 / std                 # 5. its inverse
    x_hat  = xc * inv                # 6. normalised input
    scaled = gamma * x_hat           # 7. scale
    y      = scaled + beta           # 8. shift

We walk it backwards, applying the chain rule at each node. Where a value feeds
two nodes (``xc`` feeds 3 and 6), the gradients from both uses add up. The
result equals :func:`bnlib.batchnorm_backward`; this version is slower but each
line is one step of ``chapters/03-backward.md``.
"""

import numpy as np

from .batchnorm import check_dy


def forward_nodes(cache):
    """The forward pass's intermediate nodes that the staged backward pass reads.

    An automatic-differentiation system stores them during the forward pass;
    :func:`bnlib.batchnorm_forward` keeps only ``x``, ``x_hat`` and the
    statistics, so they are recomputed here (timing the backward pass alone
    computes them outside the timed call, chapters/03-backward.md).

    Parameters
    ----------
    cache : dict from :func:`bnlib.batchnorm_forward`

    Returns
    -------
    dict
        ``xc`` (the centred input, shape of ``x``), ``std`` and ``inv``
        (shape of the statistics) and ``x_hat`` (shape of ``x``).
    """
    xc = cache["x"] - cache["mu"]
    std = np.sqrt(cache["var"] + cache["eps"])
    inv = 1.0 / std
    return {"xc": xc, "std": std, "inv": inv, "x_hat": xc * inv}


def batchnorm_backward_staged(dy, cache, steps=None, nodes=None):
    """Backward pass of :func:`bnlib.batchnorm_forward`, node by node.

    Parameters
    ----------
    dy : array_like, same shape as the forward input
    cache : dict from :func:`bnlib.batchnorm_forward`
    steps : dict, optional
        If given, filled with the intermediate gradients ``dx_hat``, ``dxc``
        (both paths), ``dinv``, ``dstd``, ``dvar`` and ``dmu``, one per
        statistic, for inspecting each step of the derivation.
    nodes : dict, optional
        The forward nodes from :func:`forward_nodes` for this ``cache``;
        recomputed when not given.

    Returns
    -------
    dx : ndarray, same shape as ``dy``
    dgamma, dbeta : ndarray, shape (D,) or (C,)
    """
    dy = check_dy(dy, cache)
    gamma, axes = cache["gamma"], cache["axes"]
    m = cache["x"].size // cache["mu"].size

    def total(a):  # sum over the values that share one statistic
        return a.sum(axis=axes, keepdims=True)

    # The intermediate nodes of the forward pass.
    nodes = forward_nodes(cache) if nodes is None else nodes
    xc, std, inv, x_hat = nodes["xc"], nodes["std"], nodes["inv"], nodes["x_hat"]

    # 8. y = scaled + beta: the gradient passes through; beta is broadcast, so sum.
    dscaled = dy
    dbeta = total(dy)
    # 7. scaled = gamma * x_hat
    dgamma = total(dscaled * x_hat)
    dx_hat = dscaled * gamma
    # 6. x_hat = xc * inv: xc gets its first share; inv was broadcast, so sum.
    dxc = dx_hat * inv
    dinv = total(dx_hat * xc)
    # 5. inv = 1 / std
    dstd = -dinv / std**2
    # 4. std = sqrt(var + eps)
    dvar = dstd * 0.5 / std
    # 3. var = mean(xc ** 2): xc gets its second share.
    dxc = dxc + dvar * 2.0 * xc / m
    # 2. xc = x - mu: x gets the gradient directly; mu collects minus the sum.
    dmu = -total(dxc)
    # 1. mu = mean(x): each x_i gets 1/m of dmu.
    dx = dxc + dmu / m
    if steps is not None:
        steps.update(dx_hat=dx_hat, dxc=dxc, dinv=dinv, dstd=dstd, dvar=dvar, dmu=dmu)
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)
