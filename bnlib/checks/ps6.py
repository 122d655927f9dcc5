"""Checks for ps6-in-practice: spatial batch norm backward, batch norm folded into a
convolution, and group norm forward and backward (``chapters/06-conv-on-digits.md``,
``chapters/05-placement-and-family.md``). Re-estimating the statistics (AdaBN) is in
:mod:`bnlib.checks.ps6_adabn`.

The wrong gradients are the right one with a path left out, or the gradient of a
normalisation over other axes: both built from :mod:`bnlib.core`'s standardisation.
"""

import numpy as np

from .. import batchnorm_backward, batchnorm_forward, groupnorm_backward, groupnorm_forward
from ..core import channel_view, count, standardize
from .core import Mistake, Part, register
from .ps1 import TINY_EPS, first
from .ps4_fold import fold_mistakes, folded
from .spatial import eps_outside, flat_without_transpose, images, normalised_over

ASSIGNMENT = "ps6-in-practice"
SPATIAL = (0, 2, 3)  # batch norm's axes for (N, C, H, W)


# -- the gradient of a standardisation, path by path ---------------------------------------

def _paths(d, x_hat, inv_std, axes):
    """dL/dx of ``x_hat = (x - mean) * inv_std`` over ``axes``, given ``d = dL/dx_hat``:
    the direct term and the two that flow through the mean and through the variance
    (dx = direct - through_mean - through_var)."""
    direct = inv_std * d
    through_mean = inv_std * d.mean(axis=axes, keepdims=True)
    through_var = inv_std * x_hat * (d * x_hat).mean(axis=axes, keepdims=True)
    return direct, through_mean, through_var


def _grads(dy, x_hat, inv_std, gamma, axes, keep=("mean", "var"), param_axes=SPATIAL,
           ratio=1.0):
    """(dx, dgamma, dbeta) of ``y = gamma * x_hat + beta``, with only the paths in ``keep``;
    ``ratio``: m / m' when the compact form divides by a wrong count m'."""
    direct, mean, var = _paths(channel_view(gamma, dy.ndim) * dy, x_hat, inv_std, axes)
    dx = direct - ratio * (("mean" in keep) * mean + ("var" in keep) * var)
    return dx, (dy * x_hat).sum(axis=param_axes), dy.sum(axis=param_axes)


def _unbiased_standardize(x, axes, eps):
    """x_hat with the unbiased variance (m - 1) and its 1 / sqrt(var + eps)."""
    m = count(x, axes)
    xc = x - x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt((xc**2).sum(axis=axes, keepdims=True) / (m - 1) + eps)
    return xc * inv_std, inv_std


def _unbiased_grads(dy, x, gamma, eps, axes):
    """The exact gradient of a forward pass that normalises with the unbiased variance:
    the variance path carries 1 / (m - 1) where the biased one has 1 / m."""
    m = count(x, axes)
    x_hat, inv_std = _unbiased_standardize(x, axes, eps)
    direct, mean, var = _paths(channel_view(gamma, x.ndim) * dy, x_hat, inv_std, axes)
    return direct - mean - var * m / (m - 1), (dy * x_hat).sum(axis=SPATIAL), dy.sum(axis=SPATIAL)


# -- Part 1: spatial batch norm backward ----------------------------------------------------

def _spatial_cases(rng, hidden):
    # W == C in the first visible shape; one channel of every input is tiny next to eps.
    shapes = [(3, 2, 3, 2), (1, 4, 2, 3), (5, 3, 1, 2), (2, 1, 4, 4)] if hidden else \
        [(2, 3, 4, 3), (4, 2, 3, 5), (1, 3, 2, 2)]
    eps = [1e-5, 1e-3, 1e-5, 1e-5] if hidden else [1e-5, 1e-5, 1e-3]
    return [(rng.normal(size=s), images(rng, s), rng.normal(1.0, 0.5, s[1]), e)
            for s, e in zip(shapes, eps)]


def spatial_backward(dy, x, gamma, eps):
    """bnlib's (dx, dgamma, dbeta) of training-mode spatial batch norm (beta plays no part)."""
    return batchnorm_backward(dy, batchnorm_forward(x, gamma, np.zeros(len(gamma)), eps)[1])


def _spatial_written(dgamma_from_x=False, ddof=0, centred=True):
    """The solution's spatial backward written out, with dgamma from x or the variance of
    1 / sqrt(var + eps) taken with ``ddof``."""
    def make(dy, x, gamma, eps):
        m = x.size // x.shape[1]
        mu = x.mean(axis=SPATIAL, keepdims=True)
        inv_std = 1.0 / np.sqrt(x.var(axis=SPATIAL, keepdims=True, ddof=ddof) + eps)
        x_hat = ((x - mu) if centred else x) * inv_std
        dgamma = ((dy * x) if dgamma_from_x else (dy * x_hat)).sum(axis=SPATIAL)
        dbeta = dy.sum(axis=SPATIAL)
        g = channel_view(gamma, 4) * inv_std
        return (g / m * (m * dy - channel_view(dbeta, 4) - x_hat * channel_view(dgamma, 4)),
                dgamma, dbeta)
    return make


def _spatial_over(axes, keep=("mean", "var"), param_axes=SPATIAL, outside=False,
                  gamma_on=True, batch_count=False):
    """The gradient when the statistics are taken over ``axes`` (and other slips: eps
    outside the square root, gamma left out, m = N)."""
    def make(dy, x, gamma, eps):
        if outside:
            x_hat, inv_std = eps_outside(x, axes, eps)
        else:
            x_hat, _, _, inv_std = standardize(x, axes, eps)
        ratio = count(x, axes) / x.shape[0] if batch_count else 1.0
        return _grads(dy, x_hat, inv_std, gamma if gamma_on else np.ones_like(gamma), axes,
                      keep, param_axes, ratio)
    return make


def _spatial_paths(dy, x, gamma, eps):
    """The terms of dx through the mean and through the variance (dx = direct + both)."""
    x_hat, _, _, inv_std = standardize(x, SPATIAL, eps)
    _, mean, var = _paths(channel_view(gamma, dy.ndim) * dy, x_hat, inv_std, SPATIAL)
    return -mean, -var


def _flat_backward(dy, x, gamma, eps):
    """The 2-D backward pass of x.reshape(-1, C), reshaped back (C not moved last)."""
    flat = flat_without_transpose(x)
    cache = batchnorm_forward(flat, gamma, np.zeros(len(gamma)), eps)[1]
    dx, dgamma, dbeta = batchnorm_backward(flat_without_transpose(dy), cache)
    return dx.reshape(x.shape), dgamma, dbeta


EPS_MISSING = ("eps_missing", "eps is missing: divide by sqrt(var + eps), not sqrt(var); the "
               "gradient must be that of the forward pass, eps included.")
STATS_AS_CONSTANTS = (
    "stats_as_constants",
    "dx treats the mean and the variance as constants: gamma * dy / sqrt(var + eps) is the "
    "eval-mode gradient. In training mode every input also reaches the loss through the "
    "statistics it helped compute; add both paths.")
MISSING_MEAN = (
    "missing_mean_path",
    "dx misses the path through the mean: subtract the mean of dL/dx_hat over the values that "
    "share the statistic, times 1 / sqrt(var + eps) (the -sum(d) / m term of the compact form).")
MISSING_VAR = (
    "missing_var_path",
    "dx misses the path through the variance: subtract x_hat times the mean of "
    "dL/dx_hat * x_hat over the values that share the statistic, times 1 / sqrt(var + eps).")

register(Part(
    grade_id="ps6_spatial_backward",
    assignment=ASSIGNMENT,
    target="batchnorm2d_backward",
    description="spatial batch norm, backward",
    points=4,
    make_cases=_spatial_cases,
    reference=spatial_backward,
    outputs=("dx", "dgamma", "dbeta"),
    paths=_spatial_paths,
    rtol=1e-6, atol=1e-9,
    mistakes=[
        Mistake("dgamma_from_x",
                "dgamma = sum of dy * x_hat over N, H and W: gamma multiplies the normalised "
                "x_hat, not x (and dx's variance term uses that dgamma).",
                _spatial_written(dgamma_from_x=True)),
        Mistake("x_hat_not_centred",
                "x_hat = (x - mu) * inv_std: subtract the channel's mean before scaling (dgamma "
                "and dx's variance term are built from x_hat).",
                _spatial_written(centred=False)),
        Mistake("unbiased_variance",
                "Training mode normalises with the biased variance (divide by m = N*H*W, "
                "np.var's default): no ddof=1 in the forward statistics.",
                _spatial_written(ddof=1)),
        Mistake("per_location_stats",
                "The gradient is that of statistics per location (over N only). Spatial batch "
                "norm has one mean and one variance per channel over N, H and W, so every sum "
                "of the backward pass runs over axis=(0, 2, 3) too (m = N*H*W).",
                _spatial_over((0,))),
        Mistake("over_channels",
                "The gradient is that of statistics per example over C, H and W (layer norm). "
                "Batch norm's sums run over each channel's N*H*W values: axis=(0, 2, 3).",
                _spatial_over((1, 2, 3))),
        Mistake("instance_norm",
                "The gradient is that of statistics per example and channel (over H and W: "
                "instance norm). Batch norm's sums also run over the batch: axis=(0, 2, 3).",
                _spatial_over((2, 3))),
        Mistake(*STATS_AS_CONSTANTS, _spatial_over(SPATIAL, keep=())),
        Mistake(*MISSING_MEAN, _spatial_over(SPATIAL, keep=("var",))),
        Mistake(*MISSING_VAR, _spatial_over(SPATIAL, keep=("mean",))),
        Mistake("unbiased_variance",
                "This is the gradient of a forward pass with the unbiased variance (ddof=1, "
                "m - 1). Training mode normalises with the biased one: "
                "var = x.var(axis=(0, 2, 3)), and its path carries 1 / m.",
                lambda dy, x, g, eps: _unbiased_grads(dy, x, g, eps, SPATIAL)),
        Mistake("params_over_batch_only",
                "dgamma and dbeta are summed over the batch only (shape (C, H, W)). gamma and "
                "beta are shared by every position of a channel: sum over axis=(0, 2, 3), "
                "one value per channel.",
                _spatial_over(SPATIAL, param_axes=(0,))),
        Mistake("eps_outside_sqrt",
                "eps belongs inside the square root, as in the forward pass: "
                "1 / sqrt(var + eps), not 1 / (sqrt(var) + eps).",
                _spatial_over(SPATIAL, outside=True)),
        Mistake("missing_gamma",
                "dx is missing the factor gamma: dL/dx_hat = gamma * dL/dy, with gamma "
                "reshaped to (1, C, 1, 1).", _spatial_over(SPATIAL, gamma_on=False)),
        Mistake(*EPS_MISSING, lambda dy, x, g, eps: _spatial_over(SPATIAL)(dy, x, g, TINY_EPS)),
        Mistake("batch_count_only",
                "m is the number of values each channel's statistics average: N*H*W "
                "(x.size // C), not the batch size N.", _spatial_over(SPATIAL, batch_count=True)),
        Mistake("channels_last_reshape",
                "x.reshape(-1, C) of an (N, C, H, W) array does not give one column per "
                "channel: move C last first, x.transpose(0, 2, 3, 1).reshape(-1, C) (and dx "
                "back the same way), or sum over axis=(0, 2, 3).", _flat_backward),
    ],
))


# -- Part 2: batch norm folded into a convolution -------------------------------------------

def _fold_cases(rng, hidden):
    """(C_out, C_in, K); square channel counts first, where a scale on axis 1 broadcasts."""
    dims = [(2, 2, 3), (4, 3, 1), (1, 2, 3), (3, 1, 2)] if hidden else \
        [(3, 3, 3), (4, 2, 1), (1, 1, 2)]
    cases = []
    for c_out, c_in, k in dims:
        bias = None if c_out == (4 if hidden else 1) else rng.normal(size=c_out)
        running_var = rng.uniform(0.01, 3.0, c_out)
        running_var[0] = 1e-4  # small next to eps: a missing eps shows
        cases.append((rng.normal(size=(c_out, c_in, k, k)), bias, rng.normal(1.0, 0.5, c_out),
                      rng.normal(size=c_out), rng.normal(size=c_out), running_var,
                      1e-3 if c_in == 1 else 1e-5))
    return cases


def _input_channels(w, b, g, bt, rm, rv, eps):
    s = g / np.sqrt(rv + eps)
    return w * s.reshape(1, -1, 1, 1), folded(w, b, g, bt, rm, rv, eps)[1]


register(Part(
    grade_id="ps6_fold_conv",
    channel_axis=0,
    assignment=ASSIGNMENT,
    target="fold_batchnorm_conv",
    description="batch norm folded into the convolution before it",
    points=3,
    make_cases=_fold_cases,
    reference=folded,
    outputs=("weight", "bias"),
    mistakes=[
        Mistake("scale_input_channels",
                "The scale multiplies the input channels (axis 1 of W). The statistics belong "
                "to the convolution's output channels: W' = W * s[:, None, None, None] with "
                "s = gamma / sqrt(running_var + eps), one factor per filter.",
                _input_channels),
        *fold_mistakes("convolution"),
    ],
))


# -- Part 3: group norm ----------------------------------------------------------------------

def _group_cases(rng, hidden):
    """(shape, groups): G = 1 is layer norm over (C, H, W), G = C instance norm."""
    settings = [((2, 6, 2, 3), 2), ((3, 4, 1, 2), 1), ((2, 3, 2, 2), 3), ((1, 4, 2, 4), 2)] \
        if hidden else [((2, 4, 3, 4), 2), ((3, 6, 2, 2), 3), ((1, 4, 2, 2), 1)]
    return [(images(rng, s), rng.normal(1.0, 0.5, s[1]), rng.normal(size=s[1]), g,
             1e-3 if g == 1 else 1e-5) for s, g in settings]


def _grouped(x, groups, interleaved=False):
    """x as (N, G, values per group); ``interleaved``: channel c in group c % G."""
    n, c = x.shape[:2]
    if interleaved:
        return x.reshape(n, c // groups, groups, -1).transpose(0, 2, 1, 3).reshape(n, groups, -1)
    return x.reshape(n, groups, -1)


def _ungrouped(g, shape, interleaved=False):
    n, c = shape[:2]
    groups = g.shape[1]
    if interleaved:
        g = g.reshape(n, groups, c // groups, -1).transpose(0, 2, 1, 3)
    return g.reshape(shape)


def group_normalised(x, groups, eps, interleaved=False, over_batch=False, unbiased=False,
                     outside=False):
    """x_hat and 1 / sqrt(var + eps) (both shaped as ``x``) of group norm or a slip of it."""
    xg = _grouped(x, groups, interleaved)
    axes = (0, 2) if over_batch else (2,)
    if outside:
        x_hat, inv_std = eps_outside(xg, axes, eps)
    elif unbiased:
        x_hat, inv_std = _unbiased_standardize(xg, axes, eps)
    else:
        x_hat, _, _, inv_std = standardize(xg, axes, eps)
    return (_ungrouped(x_hat, x.shape, interleaved),
            _ungrouped(np.broadcast_to(inv_std, xg.shape), x.shape, interleaved))


def _gn_forward(params_on_last_axis=False, gamma_on=True, one_group=False, **slip):
    def make(x, gamma, beta, groups, eps):
        x_hat = group_normalised(x, 1 if one_group else groups, eps, **slip)[0]
        if params_on_last_axis:
            return x_hat * gamma + beta  # broadcasts along W
        return x_hat * (channel_view(gamma, x.ndim) if gamma_on else 1.0) \
            + channel_view(beta, x.ndim)
    return make


def _group_axis_last(x, gamma, beta, groups, eps):
    """Statistics over axis 2 of x.reshape(N, -1, G): G consecutive values each."""
    xg = x.reshape(x.shape[0], -1, groups)
    x_hat = standardize(xg, (2,), eps)[0].reshape(x.shape)
    return x_hat * channel_view(gamma, x.ndim) + channel_view(beta, x.ndim)


def _gn_variant(mean_axis=2, multiply=False, by_position=False):
    """Group norm written as the notebook does, with one slip."""
    def make(x, gamma, beta, groups, eps):
        n = x.shape[0]
        xg = x.reshape(n, -1, groups).transpose(0, 2, 1) if by_position else \
            x.reshape(n, groups, -1)
        mu = xg.mean(axis=mean_axis, keepdims=True)
        inv_std = 1.0 / np.sqrt(xg.var(axis=2, keepdims=True) + eps)
        x_hat = ((xg - mu) / inv_std if multiply else (xg - mu) * inv_std).reshape(x.shape)
        return x_hat * channel_view(gamma, x.ndim) + channel_view(beta, x.ndim)
    return make


def _gn_no_sqrt(x, gamma, beta, groups, eps):
    """Group norm dividing by var + eps, the square root left out."""
    xg = x.reshape(x.shape[0], groups, -1)
    x_hat = ((xg - xg.mean(axis=2, keepdims=True))
             / (xg.var(axis=2, keepdims=True) + eps)).reshape(x.shape)
    return x_hat * channel_view(gamma, x.ndim) + channel_view(beta, x.ndim)


GN_EPS_OUTSIDE = ("eps_outside_sqrt",
                  "eps belongs inside the square root: 1 / sqrt(var + eps) with var each "
                  "group's variance, not 1 / (sqrt(var) + eps).")
GROUPS_IGNORED = ("groups_ignored",
                  "The groups are ignored: statistics over all of an example's C*H*W values "
                  "are layer norm (group norm with G = 1). Take them per group: "
                  "x.reshape(N, G, -1), axis=2.")


def _per_channel(axes):
    """Ignores the groups: statistics per channel over ``axes``."""
    return lambda x, gamma, beta, groups, eps: normalised_over(axes)(x, gamma, beta, eps)


BATCH_STATS = ("batch_statistics",
               "The statistics are per channel over the batch (N, H, W): that is batch norm. "
               "Group norm never mixes examples: per example, over the C/G channels of a group "
               "and all positions, x.reshape(N, G, -1) and axis=2.")
INTERLEAVED = ("interleaved_groups",
               "The groups are interleaved (channel c in group c % G). A group is C/G "
               "consecutive channels: x.reshape(N, G, C // G, H, W) (or (N, G, -1)), as in "
               "PyTorch.")

register(Part(
    grade_id="ps6_groupnorm_forward",
    arg_names=("x", "gamma", "beta", "num_groups", "eps"),
    assignment=ASSIGNMENT,
    target="groupnorm_forward",
    description="group norm, forward",
    points=3,
    make_cases=_group_cases,
    reference=lambda x, g, b, groups, eps: groupnorm_forward(x, g, b, groups, eps)[0],
    select=first,
    mistakes=[
        Mistake(*BATCH_STATS, _per_channel(SPATIAL)),
        Mistake("group_over_batch",
                "Each group's statistics are taken over the whole batch. Group norm's are per "
                "example: over that example's C/G channels and H*W positions (axis=2 of "
                "x.reshape(N, G, -1)), so one example's output never depends on another's.",
                _gn_forward(over_batch=True)),
        Mistake("instance_norm",
                "The statistics are per example and channel (over H and W): that is instance "
                "norm, group norm with G = C. Pool the C/G channels of each group: "
                "x.reshape(N, G, -1).", _per_channel((2, 3))),
        Mistake(*INTERLEAVED, _gn_forward(interleaved=True)),
        Mistake("unbiased_variance",
                "Normalise with the biased variance (divide by the number of values in the "
                "group), not the unbiased one (ddof=1).", _gn_forward(unbiased=True)),
        Mistake("gamma_last_axis",
                "gamma and beta are per channel: reshape them to (1, C, 1, 1), not per group "
                "and not along the last axis (W).", _gn_forward(params_on_last_axis=True)),
        Mistake(*GN_EPS_OUTSIDE, _gn_forward(outside=True)),
        Mistake("eps_missing", "eps is missing: divide by sqrt(var + eps), not sqrt(var), or a "
                "group of (nearly) constant values is divided by (nearly) zero.",
                lambda x, g, b, groups, eps: _gn_forward()(x, g, b, groups, TINY_EPS)),
        Mistake("sqrt_missing", "The square root is missing: divide by sqrt(var + eps), the "
                "standard deviation of each group, not by var + eps.", _gn_no_sqrt),
        Mistake("group_axis_last",
                "x.reshape(N, -1, G) makes rows of G consecutive values, not groups: the group "
                "axis comes first, x.reshape(N, G, -1), then the statistics over axis=2.",
                _group_axis_last),
        Mistake(*GROUPS_IGNORED, _gn_forward(one_group=True)),
        Mistake("mean_axis_wrong",
                "The mean and the variance are over the same values, each group's "
                "C/G*H*W values: axis=2 of x.reshape(N, G, -1), for the mean too.",
                _gn_variant(mean_axis=1)),
        Mistake("std_multiplied",
                "Divide by the standard deviation: (xg - mu) * inv_std with "
                "inv_std = 1 / sqrt(var + eps), not (xg - mu) / inv_std.",
                _gn_variant(multiply=True)),
        Mistake("groups_by_position",
                "A group is C/G consecutive channels with all their positions: "
                "x.reshape(N, G, -1) directly, not every G-th value "
                "(x.reshape(N, -1, G).transpose(0, 2, 1)).", _gn_variant(by_position=True)),
        Mistake("gamma_missing", "gamma is missing: y = gamma * x_hat + beta, with gamma "
                "reshaped to (1, C, 1, 1).", _gn_forward(gamma_on=False)),
    ],
))


def groupnorm_grads(dy, x, gamma, groups, eps):
    """bnlib's (dx, dgamma, dbeta) of group norm (beta plays no part)."""
    return groupnorm_backward(dy, groupnorm_forward(x, gamma, np.zeros(len(gamma)), groups,
                                                    eps)[1])


def _gn_backward(keep=("mean", "var"), param_axes=SPATIAL, per_channel_sums=False,
                 interleaved=False, outside=False, gamma_on=True, whole_count=False,
                 one_group=False):
    """The group-norm gradient with a slip: a path left out, the parameters' sums over other
    axes, the sums of dx per channel instead of per group, interleaved groups, eps outside
    the square root, gamma left out, m = C*H*W, or the groups ignored."""
    def make(dy, x, gamma, groups, eps):
        groups = 1 if one_group else groups
        x_hat, inv_std = group_normalised(x, groups, eps, interleaved=interleaved,
                                          outside=outside)
        d = (channel_view(gamma, dy.ndim) if gamma_on else 1.0) * dy  # dL/dx_hat
        if per_channel_sums:
            direct, mean, var = _paths(d, x_hat, inv_std, (2, 3))
        else:  # the sums run over each group, in the (N, G, -1) view
            direct, mean, var = (_ungrouped(t, x.shape, interleaved) for t in _paths(
                *(_grouped(t, groups, interleaved) for t in (d, x_hat, inv_std)), (2,)))
        ratio = 1.0 / groups if whole_count else 1.0  # m = C/G*H*W, m' = C*H*W
        dx = direct - ratio * (("mean" in keep) * mean + ("var" in keep) * var)
        return dx, (dy * x_hat).sum(axis=param_axes), dy.sum(axis=param_axes)
    return make


def _gn_scaled(dy, x, gamma, groups, eps, power):
    """Group norm's gradient with the factor inv_std raised to ``power`` (1 is right)."""
    dx, dgamma, dbeta = groupnorm_grads(dy, x, gamma, groups, eps)
    inv_std = group_normalised(x, groups, eps)[1]
    return dx * inv_std ** (power - 1), dgamma, dbeta


def _gn_paths(dy, x, gamma, groups, eps):
    """Group norm's terms of dx through the mean and through the variance."""
    x_hat, inv_std = group_normalised(x, groups, eps)
    d = channel_view(gamma, dy.ndim) * dy
    _, mean, var = (_ungrouped(t, x.shape) for t in _paths(
        *(_grouped(t, groups) for t in (d, x_hat, inv_std)), (2,)))
    return -mean, -var


def _gn_backward_cases(rng, hidden):
    return [(rng.normal(size=x.shape), x, g, groups, eps)
            for x, g, _, groups, eps in _group_cases(rng, hidden)]


register(Part(
    grade_id="ps6_groupnorm_backward",
    arg_names=("dy", "x", "gamma", "num_groups", "eps"),
    assignment=ASSIGNMENT,
    target="groupnorm_backward",
    description="group norm, backward",
    points=3,
    make_cases=_gn_backward_cases,
    reference=groupnorm_grads,
    outputs=("dx", "dgamma", "dbeta"),
    paths=_gn_paths,
    rtol=1e-6, atol=1e-9,
    mistakes=[
        Mistake(*STATS_AS_CONSTANTS, _gn_backward(keep=())),
        Mistake(*MISSING_MEAN, _gn_backward(keep=("var",))),
        Mistake(*MISSING_VAR, _gn_backward(keep=("mean",))),
        Mistake("sums_per_channel",
                "The backward pass sums over each channel (H, W) where the forward pass "
                "averaged over each group: the statistics are shared by the C/G channels of a "
                "group, so the sums of dx run over axis=2 of the (N, G, -1) view.",
                _gn_backward(per_channel_sums=True)),
        Mistake(*INTERLEAVED, _gn_backward(interleaved=True)),
        Mistake("dgamma_from_x",
                "dgamma = sum of dy * x_hat over N, H and W: gamma multiplies the normalised "
                "x_hat, not x.", lambda dy, x, g, groups, eps: (
                    groupnorm_grads(dy, x, g, groups, eps)[0], (dy * x).sum(axis=SPATIAL),
                    dy.sum(axis=SPATIAL))),
        Mistake("inv_std_missing",
                "dx carries the factor 1 / sqrt(var + eps) of its group: "
                "inv_std * (d - mean(d) - x_hat * mean(d * x_hat)).",
                lambda *case: _gn_scaled(*case, power=0)),
        Mistake("inv_std_squared",
                "dx carries 1 / sqrt(var + eps) once, not squared: "
                "inv_std * (d - mean(d) - x_hat * mean(d * x_hat)).",
                lambda *case: _gn_scaled(*case, power=2)),
        Mistake("params_per_example",
                "dgamma and dbeta are summed over H and W only (shape (N, C)). gamma and beta "
                "are shared by every example: sum over axis=(0, 2, 3), one value per channel.",
                _gn_backward(param_axes=(2, 3))),
        Mistake(*GN_EPS_OUTSIDE, _gn_backward(outside=True)),
        Mistake(*EPS_MISSING, lambda dy, x, g, groups, eps: _gn_backward()(dy, x, g, groups,
                                                                           TINY_EPS)),
        Mistake("missing_gamma",
                "dx is missing the factor gamma: dL/dx_hat = gamma * dL/dy, with gamma "
                "reshaped to (1, C, 1, 1), before the sums over each group.",
                _gn_backward(gamma_on=False)),
        Mistake("wrong_count",
                "m is the number of values in one group, C/G*H*W (x[0].size // G), not all "
                "C*H*W values of an example.", _gn_backward(whole_count=True)),
        Mistake(*GROUPS_IGNORED, _gn_backward(one_group=True)),
    ],
))

