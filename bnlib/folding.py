"""Folding an eval-mode batch norm into the linear layer before it.

At inference batch norm is the affine map ``y = s * (z - mean) + beta`` with
``s = gamma / sqrt(running_var + eps)``. Applied to ``z = x @ W.T + b`` it gives
another linear layer (``chapters/04-train-vs-inference.md``)::

    W' = W * s[:, None]        b' = (b - mean) * s + beta
"""

import numpy as np

from ._validate import as_float_array, check_param
from .layers import BatchNorm1d


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
    if not isinstance(bn, BatchNorm1d):
        raise ValueError(f"bn must be a BatchNorm1d, got {type(bn).__name__}")
    if bn.training:
        raise ValueError("bn is in training mode; folding uses the running statistics, "
                         "so call bn.eval() first")
    if not bn.track_running_stats:
        raise ValueError("bn has track_running_stats=False: no running statistics to fold")
    w = as_float_array(weight, "weight")
    if w.ndim != 2 or w.shape[0] != bn.num_features:
        raise ValueError(f"weight must have shape ({bn.num_features}, D_in) to feed a "
                         f"BatchNorm1d({bn.num_features}), got {w.shape}")
    b = np.zeros(bn.num_features) if bias is None else check_param(bias, bn.num_features, "bias")
    gamma, beta = bn._params()
    scale = gamma / np.sqrt(bn.running_var + bn.eps)
    return w * scale[:, None], (b - bn.running_mean) * scale + beta
