"""Folding an eval-mode batch norm into the linear layer before it.

At inference batch norm is the affine map ``y = s * (z - mean) + beta`` with
``s = gamma / sqrt(running_var + eps)``. Applied to ``z = x @ W.T + b`` it gives
another linear layer (``chapters/04-train-vs-inference.md``)::

    W' = W * s[:, None]        b' = (b - mean) * s + beta

A convolution followed by a spatial batch norm folds the same way, one output
channel at a time (``chapters/06-conv-on-digits.md``)::

    W'_c = W_c * s_c           b'_c = (b_c - mean_c) * s_c + beta_c
"""

import numpy as np

from ._validate import as_float_array, check_param
from .layers import BatchNorm1d, BatchNorm2d


def fold_batchnorm(weight, bias, bn):
    """Fold ``bn`` into the linear layer ``y = x @ weight.T + bias``.

    Parameters
    ----------
    weight : array_like, shape (D_out, D_in)
    bias : array_like, shape (D_out,), or None
    bn : BatchNorm1d with ``num_features == D_out``, in eval mode

    Returns
    -------
    weight, bias : ndarray, shapes (D_out, D_in) and (D_out,)
        ``x @ weight.T + bias`` equals ``bn(x @ W.T + b)`` in eval mode.
    """
    return _fold(_check_weight(weight, bn, BatchNorm1d, "D_in"), bias, bn)


def fold_batchnorm_conv(weight, bias, bn):
    """Fold ``bn`` into the convolution before it, one output channel at a time.

    With ``s_c = gamma_c / sqrt(running_var_c + eps)``:
    ``W'_c = W_c * s_c`` and ``b'_c = (b_c - running_mean_c) * s_c + beta_c``
    (``chapters/06-conv-on-digits.md``).

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in, KH, KW)
    bias : array_like, shape (C_out,), or None (a convolution before batch norm
        usually has none)
    bn : BatchNorm2d with ``num_features == C_out``, in eval mode

    Returns
    -------
    weight, bias : ndarray, shapes (C_out, C_in, KH, KW) and (C_out,)
        The convolution with these equals ``bn(conv(x, W, b))`` in eval mode.
    """
    return _fold(_check_weight(weight, bn, BatchNorm2d, "C_in, KH, KW"), bias, bn)


def _check_weight(weight, bn, layer_class, other_axes):
    """``weight`` as an array whose axis 0 feeds ``bn`` (a ``layer_class``)."""
    name = layer_class.__name__
    if not isinstance(bn, layer_class):
        raise ValueError(f"bn must be a {name}, got {type(bn).__name__}")
    w = as_float_array(weight, "weight")
    if w.ndim != 1 + len(other_axes.split(",")) or w.shape[0] != bn.num_features:
        raise ValueError(f"weight must have shape ({bn.num_features}, {other_axes}) to feed a "
                         f"{name}({bn.num_features}), got {w.shape}")
    return w


def _fold(w, bias, bn):
    """The folding formula, for weights with the output feature or channel on axis 0."""
    if bn.training:
        raise ValueError("bn is in training mode; folding uses the running statistics, "
                         "so call bn.eval() first")
    if not bn.track_running_stats:
        raise ValueError("bn has track_running_stats=False: no running statistics to fold")
    b = np.zeros(bn.num_features) if bias is None else check_param(bias, bn.num_features, "bias")
    gamma, beta = bn._params()
    scale = gamma / np.sqrt(bn.running_var + bn.eps)
    per_output = scale.reshape((-1,) + (1,) * (w.ndim - 1))  # one factor per row or filter
    return w * per_output, (b - bn.running_mean) * scale + beta
