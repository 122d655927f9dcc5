"""Checks for ps4-conv-and-folding: spatial batch norm and a BatchNorm2d layer
(``chapters/02-forward.md``, ``chapters/04-train-vs-inference.md``)."""

import numpy as np

from .. import BatchNorm2d, batchnorm_forward
from .core import Mistake, Part, register
from .ps1 import BETA_SCALED, TINY_EPS, first
from .ps3 import (
    BATCH_MEAN_IN_EVAL,
    BATCH_STATS_IN_EVAL,
    BIASED,
    COUNT_NOT_INCREMENTED,
    EPS_MISSING_IN_EVAL,
    KERAS,
    MEAN_STARTS_AT_ONE,
    MODE_IGNORED,
    MOMENTUM_NONE,
    PARAMS_START_SWAPPED,
    UPDATES_IN_EVAL,
    VAR_STARTS_AT_ZERO,
    layer_mistakes,
)
from .scenario import ScenarioPart
from .spatial import affine, eps_outside, flat_without_transpose, images, normalised_over

FLAT = ("channels_last_reshape",
        "x.reshape(-1, C) of an (N, C, H, W) array does not give one column per channel: "
        "move C last first, x.transpose(0, 2, 3, 1).reshape(-1, C), and undo both after, "
        "or take the statistics with axis=(0, 2, 3), keepdims=True.")
EPS_OUTSIDE = ("eps_outside_sqrt",
               "eps belongs inside the square root: (x - mu) / sqrt(var + eps), not "
               "(x - mu) / (sqrt(var) + eps).")


def _flat(params_flat):
    """Batch norm of x.reshape(-1, C) reshaped back: with gamma and beta applied to the flat
    rows (``params_flat``) or per channel after reshaping back."""
    def make(x, gamma, beta, eps):
        xf = flat_without_transpose(x)
        x_hat = (xf - xf.mean(axis=0)) / np.sqrt(xf.var(axis=0) + eps)
        if params_flat:
            return (gamma * x_hat + beta).reshape(x.shape)
        return affine(x_hat.reshape(x.shape), gamma, beta, 4)
    return make


def _spatial(gamma_on=True, beta_on=True, root=None, beta_scaled=False):
    def make(x, gamma, beta, eps):
        axes = (0, 2, 3)
        keep = dict(axis=axes, keepdims=True)
        if beta_scaled:
            return affine(_spatial()(x, np.ones(len(gamma)), beta, eps), gamma, None, 4)
        if root == "eps_outside":
            x_hat = eps_outside(x, axes, eps)[0]
        elif root == "eps_after":
            x_hat = (x - x.mean(**keep)) / np.sqrt(x.var(**keep)) + eps
        elif root == "std":
            x_hat = (x - x.mean(**keep)) / np.sqrt(x.std(**keep) + eps)
        elif root == "none":
            x_hat = (x - x.mean(axis=axes, keepdims=True)) / (x.var(axis=axes, keepdims=True)
                                                              + eps)
        else:
            x_hat = normalised_over(axes)(x, np.ones(x.shape[1]), np.zeros(x.shape[1]), eps)
        return affine(x_hat, gamma if gamma_on else None, beta if beta_on else None, 4)
    return make

ASSIGNMENT = "ps4-conv-and-folding"


SPATIAL_AXES = (0, 2, 3)


def _stats_from(x, gamma, beta, eps, mean_axes, var_axes):
    """Spatial batch norm with the mean over ``mean_axes`` and the variance over ``var_axes``."""
    x_hat = (x - x.mean(axis=mean_axes, keepdims=True)) / np.sqrt(
        x.var(axis=var_axes, keepdims=True) + eps)
    return gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)


def _spatial_cases(rng, hidden):
    # The first visible shape has W == C, where gamma on the wrong axis still broadcasts.
    shapes = [(1, 3, 2, 2), (3, 4, 5, 4), (5, 1, 3, 2), (2, 2, 1, 1)] if hidden else \
        [(2, 3, 4, 3), (4, 2, 3, 5), (1, 2, 3, 3)]
    eps = [1e-5, 1e-3, 1e-5, 1e-5] if hidden else [1e-5, 1e-3, 1e-5]  # eps is an argument
    return [(images(rng, s), rng.normal(1.0, 0.5, s[1]), rng.normal(size=s[1]), e)
            for s, e in zip(shapes, eps)]


register(Part(
    grade_id="ps4_spatial_forward",
    arg_names=("x", "gamma", "beta", "eps"),
    assignment=ASSIGNMENT,
    target="batchnorm2d_forward",
    description="spatial batch norm, training mode",
    points=3,
    make_cases=_spatial_cases,
    reference=lambda x, g, b, eps: batchnorm_forward(x, g, b, eps)[0],
    select=first,
    mistakes=[
        Mistake("mean_axes_differ",
                "The mean and the variance are over the same values, each channel's N*H*W: "
                "axis=(0, 2, 3), keepdims=True, for both.",
                lambda x, g, b, eps: _stats_from(x, g, b, eps, (2, 3), SPATIAL_AXES)),
        Mistake("var_axes_differ",
                "The mean and the variance are over the same values, each channel's N*H*W: "
                "axis=(0, 2, 3), keepdims=True, for both.",
                lambda x, g, b, eps: _stats_from(x, g, b, eps, SPATIAL_AXES, (0, 1))),
        Mistake("per_location_stats",
                "The statistics are per location (averaged over N only). Spatial batch norm "
                "shares one mean and one variance per channel over N, H and W: "
                "axis=(0, 2, 3), keepdims=True.",
                normalised_over((0,))),
        Mistake("instance_norm",
                "The statistics are per example and channel (over H and W): that is instance "
                "norm. Batch norm also averages over the batch: axis=(0, 2, 3).",
                normalised_over((2, 3))),
        Mistake("layer_norm",
                "The statistics are per example (over C, H and W): that is layer norm. Batch "
                "norm averages each channel over N, H and W: axis=(0, 2, 3).",
                normalised_over((1, 2, 3))),
        Mistake("unbiased_variance",
                "Normalise with the biased variance (divide by m = N*H*W), not the unbiased one.",
                normalised_over((0, 2, 3), unbiased=True)),
        Mistake("gamma_last_axis",
                "gamma and beta are applied along the last axis (W), not the channels: reshape "
                "them to (1, C, 1, 1) before multiplying and adding.",
                normalised_over((0, 2, 3), params_on_last_axis=True)),
        Mistake(*EPS_OUTSIDE, _spatial(root="eps_outside")),
        Mistake(*EPS_OUTSIDE, _spatial(root="eps_after")),
        Mistake("std_as_variance", "var must be the variance, x.var(axis=(0, 2, 3), "
                "keepdims=True), not the standard deviation: sqrt(var + eps) takes the square "
                "root itself.", _spatial(root="std")),
        Mistake(*BETA_SCALED, _spatial(beta_scaled=True)),
        Mistake("eps_missing", "eps is missing: divide by sqrt(var + eps), not sqrt(var).",
                lambda x, g, b, eps: _spatial()(x, g, b, TINY_EPS)),
        Mistake("sqrt_missing", "The square root is missing: divide by sqrt(var + eps), the "
                "standard deviation, not by the variance.", _spatial(root="none")),
        Mistake("gamma_missing", "gamma is missing: y = gamma * x_hat + beta, with gamma "
                "reshaped to (1, C, 1, 1).", _spatial(gamma_on=False)),
        Mistake("beta_missing", "beta is missing: y = gamma * x_hat + beta, with beta "
                "reshaped to (1, C, 1, 1).", _spatial(beta_on=False)),
        *[Mistake(*FLAT, _flat(p)) for p in (True, False)],
    ],
))


def _layer_script(rng, c, kwargs, sizes, eval_sizes):
    ops = [("set", "gamma", rng.normal(1.0, 0.5, c)), ("set", "beta", rng.normal(size=c))]
    ops += [("forward", images(rng, (n, c, h, w))) for n, h, w in sizes]
    ops += [("eval",)] + [("forward", images(rng, (n, c, h, w))) for n, h, w in eval_sizes]
    return (c, kwargs, ops)


def _layer_cases(rng, hidden):
    fresh = (2, {}, [("forward", images(rng, (3, 2, 2, 2))), ("eval",),
                     ("forward", images(rng, (2, 2, 2, 1)))])  # a new layer: initial values
    if hidden:
        return [_layer_script(rng, 2, {"momentum": None}, [(1, 3, 3), (3, 2, 1)], [(1, 1, 1)]),
                _layer_script(rng, 4, {"momentum": 0.5, "eps": 1e-3}, [(2, 1, 1)], [(2, 2, 2)]),
                fresh]
    return [_layer_script(rng, 3, {"momentum": 0.3}, [(4, 2, 2), (2, 3, 1)], [(2, 2, 2)]),
            _layer_script(rng, 2, {"momentum": None, "eps": 1e-3}, [(2, 2, 1), (1, 3, 2)],
                          [(1, 1, 1)]), fresh]


register(ScenarioPart(
    grade_id="ps4_batchnorm2d",
    assignment=ASSIGNMENT,
    target="BatchNorm2d",
    description="BatchNorm2d running statistics",
    points=3,
    make_cases=_layer_cases,
    reference=BatchNorm2d,
    mistakes=layer_mistakes(BatchNorm2d, (
        "batch_count_only",
        "running_var's unbiased correction uses m = N*H*W values per channel (as PyTorch "
        "does), not the batch size N: times m / (m - 1)."), BIASED, KERAS, UPDATES_IN_EVAL,
        BATCH_STATS_IN_EVAL, COUNT_NOT_INCREMENTED, BATCH_MEAN_IN_EVAL, EPS_MISSING_IN_EVAL,
        MOMENTUM_NONE, VAR_STARTS_AT_ZERO, MEAN_STARTS_AT_ONE, PARAMS_START_SWAPPED, MODE_IGNORED,
        ("eps_outside_sqrt_in_eval", "eps belongs inside the square root in eval mode too: "
         "gamma / sqrt(running_var + eps), not gamma / (sqrt(running_var) + eps)."),
        ("beta_missing_in_eval", "Eval mode adds beta too: y = (x - running_mean) * scale + beta, "
         "with scale = gamma / sqrt(running_var + eps)."),
        ("correction_inverted", "The unbiased variance is the biased one times m / (m - 1) (m "
         "values per channel), not (m - 1) / m."),
        ("all_values_count", "m counts the values of one channel, N*H*W = x.size // C, not every "
         "value of the batch."),
        ("var_from_mean", "running_var follows the batch's variance, cache[\"var\"] * m / (m - 1), "
         "not its mean.")),
))
