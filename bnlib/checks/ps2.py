"""Checks for ps2-backward (``chapters/03-backward.md``): the three gradient parts.

The student's functions receive ``(dy, cache)`` with the cache of
:func:`bnlib.batchnorm_forward` (keys ``x``, ``x_hat``, ``mu``, ``var``,
``inv_std``, ``gamma``, ``eps``, ``axes``). The wrong answers are bnlib's own
gradient with one path of the graph removed, read from the staged backward.
"""

import itertools

import numpy as np

from .. import batchnorm_backward, batchnorm_backward_staged, batchnorm_forward
from .core import Mistake, Part, register
from .ps1 import features

ASSIGNMENT = "ps2-backward"


def _cases(rng, hidden):
    shapes = [(2, 3), (32, 1), (7, 6)] if hidden else [(4, 3), (10, 5)]
    cases = []
    for s in shapes:
        _, cache = batchnorm_forward(features(rng, s), rng.normal(1.0, 0.5, s[1]),
                                     rng.normal(size=s[1]))
        cases.append((rng.normal(size=s), cache))
    return cases


def _paths(dy, cache):
    """bnlib's gradients and the two terms of dx that flow through mu and through var."""
    steps = {}
    dx, dgamma, dbeta = batchnorm_backward_staged(dy, cache, steps)
    m = dy.shape[0]
    through_mean = steps["dmu"] / m
    through_var = steps["dvar"] * 2.0 * (cache["x"] - cache["mu"]) / m
    return dx, dgamma, dbeta, through_mean, through_var


def _dx_mistake(id_, message, wrong_dx, wrong_dgamma=None):
    def make(dy, cache):
        dx, dgamma, dbeta, mean, var = _paths(dy, cache)
        return (wrong_dx(dx, mean, var, dy, cache),
                dgamma if wrong_dgamma is None else wrong_dgamma(dy, cache), dbeta)
    return Mistake(id_, message, make)


def _param_mistake(id_, message, wrong_params, with_dx=True):
    def make(dy, cache):
        dx, dgamma, dbeta = batchnorm_backward(dy, cache)
        wrong = wrong_params(dy, cache, dgamma, dbeta)
        return (dx,) + wrong if with_dx else wrong
    return Mistake(id_, message, make)


def _dgamma_x(dy, cache):
    return (dy * cache["x"]).sum(axis=0)


DGAMMA_FROM_X = (
    "dgamma_from_x",
    "dgamma must be computed from the normalised input: dgamma = sum over the batch of "
    "dy * x_hat, not dy * x (gamma multiplies x_hat, not x).",
    lambda dy, cache, dgamma, dbeta: (_dgamma_x(dy, cache), dbeta))
MEAN_NOT_SUM = (
    "mean_not_sum",
    "dgamma and dbeta must sum over the batch, not average: gamma and beta are shared by "
    "all N examples, so their gradients add up.",
    lambda dy, cache, dgamma, dbeta: (dgamma / len(dy), dbeta / len(dy)))

DX_MISTAKES = [
    _dx_mistake(
        "missing_mean_path",
        "dx misses the path through the mean: each x_i also moves mu, which adds "
        "dL/dmu / m to every dx_i, with dL/dmu = -sum_j dL/dx_hat_j / sqrt(var + eps). "
        "In the compact form this is the -sum(dy) term.",
        lambda dx, mean, var, dy, cache: dx - mean),
    _dx_mistake(
        "missing_var_path",
        "dx misses the path through the variance: each x_i also moves var, which adds "
        "dL/dvar * 2 * (x_i - mu) / m to dx_i. In the compact form this is the "
        "-x_hat * sum(dy * x_hat) term.",
        lambda dx, mean, var, dy, cache: dx - var),
    _dx_mistake(
        "stats_as_constants",
        "dx treats mu and var as constants: gamma * dy / sqrt(var + eps) is the eval-mode "
        "gradient. In training mode every x_i also reaches the loss through mu and var; "
        "add both paths.",
        lambda dx, mean, var, dy, cache: dx - mean - var),
    _dx_mistake(
        "missing_gamma",
        "dx is missing the factor gamma: y = gamma * x_hat + beta, so "
        "dL/dx_hat = gamma * dL/dy.",
        lambda dx, mean, var, dy, cache: dx / cache["gamma"]),
    _dx_mistake(
        "missing_one_over_m",
        "dx is m times too large: the compact form is "
        "gamma / (m * sqrt(var + eps)) * (m * dy - sum(dy) - x_hat * sum(dy * x_hat)).",
        lambda dx, mean, var, dy, cache: dx * len(dx)),
]


def _eps_outside(everywhere, std_of=lambda var, eps: np.sqrt(var) + eps):
    """The gradient with std = sqrt(var) + eps (or ``std_of(var, eps)``): in every step
    (``everywhere``, as in the staged pass that recomputes x_hat) or only in the compact
    form's prefactor."""
    def make(dy, cache):
        x, gamma, m = cache["x"], cache["gamma"], len(dy)
        std = std_of(cache["var"], cache["eps"])
        x_hat = (x - cache["mu"]) / std if everywhere else cache["x_hat"]
        dbeta, dgamma = dy.sum(axis=0), (dy * x_hat).sum(axis=0)
        dx = gamma / (m * std) * (m * dy - dbeta - x_hat * dgamma)
        return dx, (dgamma if everywhere else (dy * cache["x_hat"]).sum(axis=0)), dbeta
    return make


EPS_OUTSIDE = (
    "eps_outside_sqrt",
    "eps belongs inside the square root, as in the forward pass: sqrt(var + eps), not "
    "sqrt(var) + eps. The gradient must be that of the function the forward pass computes.")
EPS_MISSING = ("eps_missing", "eps is missing: the forward pass divides by sqrt(var + eps), "
               "and the gradient must be that function's.")
WRONG_COUNT = (
    "wrong_count",
    "m is the number of values each statistic averages: the batch size N = dy.shape[0], "
    "not the number of features.")
SIGNS = [
    ("var_path_sign", "The path through the variance has the wrong sign: "
     "dL/dstd = -dL/dinv / std**2 (inv = 1 / std decreases as std grows). In the compact "
     "form the term is -x_hat * sum(dy * x_hat).", lambda dx, mean, var, dy, cache: dx - 2 * var),
    ("mean_path_sign", "The path through the mean has the wrong sign: dL/dmu = -sum(dL/dxc) "
     "(x - mu decreases as mu grows). In the compact form the term is -sum(dy).",
     lambda dx, mean, var, dy, cache: dx - 2 * mean),
]
HALF_DROPPED = (
    "dvar_half_dropped",
    "The factor 1/2 of d sqrt(var) / dvar = 1 / (2 sqrt(var + eps)) is missing, so the path "
    "through the variance counts twice: dvar = dstd * 0.5 / std.",
    lambda dx, mean, var, dy, cache: dx + var)
TWO_DROPPED = (
    "dvar_two_dropped",
    "The factor 2 of d(x - mu)**2 / dx = 2 (x - mu) is missing, so the path through the "
    "variance counts half: add dvar * 2 * (x - mu) / m.",
    lambda dx, mean, var, dy, cache: dx - var / 2)
PARAMS_AXIS = ("params_wrong_axis",
               "dgamma and dbeta sum over the batch, axis=0: one value per feature, shape (D,).")


def _counted(dx, mean, var, dy, cache):
    """dx with m = D (the number of features) in place of the batch size N."""
    return dx - (mean + var) * (1 - len(dy) / dy.shape[1])


def _params_axis(dy, cache):
    return (dy * cache["x_hat"]).sum(axis=1), dy.sum(axis=1)


def _dx_with_dgamma_x(dx, mean, var, dy, cache):
    """The compact dx with sum(dy * x) where sum(dy * x_hat) belongs."""
    shift = (dy * cache["x_hat"]).sum(axis=0) - _dgamma_x(dy, cache)
    return dx + cache["gamma"] * cache["inv_std"] / len(dy) * cache["x_hat"] * shift


M_MINUS_ONE = (
    "m_minus_one",
    "dx uses m - 1 where the forward pass divides by m: training mode normalises with the "
    "biased variance (divide by m), so dvar/dx_i = 2 (x_i - mu) / m and the compact factor is "
    "gamma / (m * sqrt(var + eps)). m - 1 belongs only to the running variance.")
TUPLE_ORDER = ("tuple_order", "The gradients are all there but in the wrong order: return "
               "(dx, dgamma, dbeta), dx of shape (N, D) first.")


def _only_dx(dy, cache):
    return batchnorm_backward(dy, cache)[0]


def _reordered(order):
    return lambda dy, cache: tuple(batchnorm_backward(dy, cache)[i] for i in order)


SHAPE_MISTAKES = [  # the answer is right, the return value's shape is not
    Mistake("only_dx", "Return all three gradients, (dx, dgamma, dbeta), as a tuple: it "
            "returned dx alone.", _only_dx),
    *[Mistake(*TUPLE_ORDER, _reordered(order))
      for order in itertools.permutations(range(3)) if order != (0, 1, 2)],
]
PARAM_MISTAKES = [_param_mistake(*DGAMMA_FROM_X), _param_mistake(*MEAN_NOT_SUM),
                  Mistake(PARAMS_AXIS[0], PARAMS_AXIS[1], lambda dy, cache: (
                      batchnorm_backward(dy, cache)[0],) + _params_axis(dy, cache))]
DX_MISTAKES += [_dx_mistake(*WRONG_COUNT, _counted)] + [_dx_mistake(*t) for t in SIGNS]
DX_MISTAKES += [Mistake(*EPS_MISSING, _eps_outside(e, lambda var, eps: np.sqrt(var)))
                for e in (True, False)]
STAGED_MISTAKES = PARAM_MISTAKES + DX_MISTAKES + SHAPE_MISTAKES + [
    Mistake(*EPS_OUTSIDE, _eps_outside(True)), _dx_mistake(*HALF_DROPPED),
    _dx_mistake(*TWO_DROPPED),
    _dx_mistake(*M_MINUS_ONE, lambda dx, mean, var, dy, cache: dx + var / (len(dx) - 1))]
COMPACT_MISTAKES = [PARAM_MISTAKES[0], _dx_mistake(DGAMMA_FROM_X[0], DGAMMA_FROM_X[1],
                                                   _dx_with_dgamma_x, _dgamma_x)] + DX_MISTAKES + \
    SHAPE_MISTAKES + [
        _dx_mistake(*M_MINUS_ONE, lambda dx, mean, var, dy, cache: dx + var / (len(dx) - 1)),
        _dx_mistake(*M_MINUS_ONE, lambda dx, mean, var, dy, cache: dx * len(dx) / (len(dx) - 1)),
        Mistake(*EPS_OUTSIDE, _eps_outside(False)), Mistake(*EPS_OUTSIDE, _eps_outside(True)),
        Mistake("sqrt_missing", "The square root is missing: divide by sqrt(var + eps), the "
                "standard deviation, not by var + eps.",
                _eps_outside(False, lambda var, eps: var + eps))]

register(Part(
    grade_id="ps2_param_grads",
    assignment=ASSIGNMENT,
    target="param_grads",
    description="dgamma and dbeta",
    points=2,
    make_cases=_cases,
    reference=lambda dy, cache: batchnorm_backward(dy, cache)[1:],
    outputs=("dgamma", "dbeta"),
    mistakes=[_param_mistake(*DGAMMA_FROM_X, with_dx=False),
              _param_mistake(*MEAN_NOT_SUM, with_dx=False),
              _param_mistake("swapped", "return (dgamma, dbeta) in this order: "
                             "dgamma = sum(dy * x_hat), dbeta = sum(dy).",
                             lambda dy, cache, dgamma, dbeta: (dbeta, dgamma), with_dx=False),
              Mistake(*PARAMS_AXIS, _params_axis),
              _param_mistake("dgamma_times_gamma", "dgamma = sum over the batch of dy * x_hat: "
                             "gamma multiplies x_hat in y, it is not part of dL/dgamma.",
                             lambda dy, c, dg, db: (dg * np.ravel(c["gamma"]), db), with_dx=False),
              _param_mistake("dbeta_times_gamma", "dbeta = sum over the batch of dy: beta is "
                             "added to y as it is, so no gamma.",
                             lambda dy, c, dg, db: (dg, db * np.ravel(c["gamma"])), with_dx=False),
              _param_mistake("dgamma_not_normalised", "dgamma multiplies dy by x_hat, the "
                             "normalised input (x - mu) / sqrt(var + eps), not by x - mu.",
                             lambda dy, c, dg, db: ((dy * (c["x"] - c["mu"])).sum(axis=0), db),
                             with_dx=False),
    ],
))

for grade_id, target, what, points, mistakes in [
        ("ps2_staged_backward", "batchnorm_backward_staged", "staged backward pass", 4,
         STAGED_MISTAKES),
        ("ps2_compact_backward", "batchnorm_backward", "compact backward pass", 4,
         COMPACT_MISTAKES)]:
    register(Part(
        grade_id=grade_id,
        assignment=ASSIGNMENT,
        target=target,
        description=what,
        points=points,
        make_cases=_cases,
        reference=batchnorm_backward,
        mistakes=mistakes,
        outputs=("dx", "dgamma", "dbeta"),
        paths=lambda dy, cache: _paths(dy, cache)[3:],
        rtol=1e-6, atol=1e-9,
    ))

