"""Checks for ps1-forward (``chapters/02-forward.md``)."""

import numpy as np

from .. import batchnorm_forward, batchnorm_inference
from .core import Mistake, Part, register
from .kinds import ValuePart

ASSIGNMENT = "ps1-forward"
TINY_EPS = 1e-300  # vanishes next to any variance of order one: the worked examples' eps = 0


def first(out):
    """The student returns ``(y, cache)``; compare ``y``."""
    return out[0] if isinstance(out, (tuple, list)) and out else out


def features(rng, shape):
    """Inputs whose features have very different scales, one of them tiny next to eps."""
    scale = rng.choice([0.003, 0.5, 3.0, 20.0], size=shape[1])
    scale[0] = 0.003  # a variance below eps: eps missing or misplaced shows
    return rng.normal(2.0, 1.0, size=shape) * scale


def _train_cases(rng, hidden):
    shapes = [(2, 7), (16, 1), (5, 4), (64, 3)] if hidden else [(4, 3), (8, 5)]
    eps = [1e-5, 1e-3, 1e-5, 1e-5] if hidden else [1e-5, 1e-5]
    return [(features(rng, s), rng.normal(1.0, 0.5, size=s[1]), rng.normal(size=s[1]), e)
            for s, e in zip(shapes, eps)]


def _with_stats(x, gamma, beta, eps, mu, var, root=np.sqrt):
    return gamma * (x - mu) / root(var + eps) + beta


def _forward(x, gamma, beta, eps):
    return batchnorm_forward(x, gamma, beta, eps)[0]


UNBIASED = Mistake(
    "unbiased_variance",
    "The forward pass must normalise with the biased variance (divide by m, np.var's "
    "default), not the unbiased one (ddof=1).",
    lambda x, g, b, eps: _with_stats(x, g, b, eps, x.mean(0), x.var(0, ddof=1)))
EPS_OUTSIDE = Mistake(
    "eps_outside_sqrt",
    "eps belongs inside the square root: (x - mu) / sqrt(var + eps), not "
    "(x - mu) / (sqrt(var) + eps).",
    lambda x, g, b, eps: g * (x - x.mean(0)) / (np.sqrt(x.var(0)) + eps) + b)
EPS_MISSING = Mistake(
    "eps_missing",
    "eps is missing: divide by sqrt(var + eps), not sqrt(var); without it a feature with "
    "(nearly) constant values is divided by (nearly) zero.",
    lambda x, g, b, eps: g * (x - x.mean(0)) / np.sqrt(x.var(0)) + b)

GAMMA_BETA_MISSING = Mistake(
    "gamma_beta_missing",
    "gamma and beta are missing: after normalising, scale and shift, "
    "y = gamma * x_hat + beta (x_hat alone is the output only when gamma = 1 and beta = 0).",
    lambda x, g, b, eps: _with_stats(x, 1.0, 0.0, eps, x.mean(0), x.var(0)))
BETA_MISSING = Mistake(
    "beta_missing",
    "beta is missing: y = gamma * x_hat + beta (the shift comes after the scale).",
    lambda x, g, b, eps: _with_stats(x, g, 0.0, eps, x.mean(0), x.var(0)))

register(Part(
    grade_id="ps1_train_forward",
    assignment=ASSIGNMENT,
    target="batchnorm_forward",
    description="training-mode forward pass",
    points=3,
    make_cases=_train_cases,
    reference=_forward,
    select=first,
    mistakes=[
        UNBIASED, EPS_OUTSIDE, EPS_MISSING, GAMMA_BETA_MISSING, BETA_MISSING,
        Mistake("sqrt_missing",
                "The square root is missing: divide by the standard deviation, "
                "sqrt(var + eps), not by the variance var + eps.",
                lambda x, g, b, eps: _with_stats(x, g, b, eps, x.mean(0), x.var(0),
                                                 root=lambda v: v)),
        Mistake("whole_array",
                "The statistics are taken over the whole array: batch norm gives each "
                "feature its own mean and variance, over the batch only (axis=0), "
                "not x.mean() and x.var() over all entries.",
                lambda x, g, b, eps: _with_stats(x, g, b, eps, x.mean(), x.var())),
        Mistake("wrong_axis",
                "The statistics are taken over the wrong axis: batch norm averages each "
                "feature over the batch, axis=0 for (N, D) input (keepdims or broadcasting "
                "per feature).",
                lambda x, g, b, eps: g * (x - x.mean(1, keepdims=True))
                / np.sqrt(x.var(1, keepdims=True) + eps) + b),
        Mistake("transposed_layout",
                "The output is in the (features, batch) layout: it has shape (D, N) and equals "
                "the right answer transposed. The course uses batch-first (N, D) arrays; if you "
                "work with x.T inside, transpose the result back before returning it.",
                lambda x, g, b, eps: _forward(x, g, b, eps).T),
        Mistake("gamma_beta_swapped",
                "gamma scales and beta shifts: y = gamma * x_hat + beta.",
                lambda x, g, b, eps: _with_stats(x, b, g, eps, x.mean(0), x.var(0))),
    ],
))


register(ValuePart(
    grade_id="ps1_worked_examples",
    assignment=ASSIGNMENT,
    target="x_hat_A",
    description="worked examples A and B",
    points=2,
    names=("x_hat_A", "y_B", "mean_y_B", "var_y_B"),
    rtol=1e-3, atol=1e-3,  # three decimals typed by hand are fine
    # the values and the mistakes are grader material (bngrade.worker.keys)
))


def _eval_cases(rng, hidden):
    shapes = [(1, 5), (3, 8), (2, 1), (7, 4)] if hidden else [(4, 3), (6, 2)]
    cases = []
    for s in shapes:
        x = features(rng, s)
        d = s[1]
        cases.append((x, rng.normal(1.0, 0.5, d), rng.normal(size=d),
                      rng.normal(size=d), rng.uniform(1e-6, 4.0, d), 1e-5))
    return cases


register(Part(
    grade_id="ps1_inference_forward",
    assignment=ASSIGNMENT,
    target="batchnorm_inference",
    description="inference-mode forward pass",
    points=3,
    make_cases=_eval_cases,
    reference=lambda x, g, b, rm, rv, eps: batchnorm_inference(x, g, b, rm, rv, eps)[0],
    select=first,
    mistakes=[
        Mistake("batch_stats_in_eval",
                "In inference mode, normalise with running_mean and running_var, not with "
                "the statistics of this batch: a prediction must not depend on the other "
                "examples (and a batch may hold one example).",
                lambda x, g, b, rm, rv, eps: _forward(x, g, b, eps)),
        Mistake("eps_outside_sqrt", EPS_OUTSIDE.message,
                lambda x, g, b, rm, rv, eps: g * (x - rm) / (np.sqrt(rv) + eps) + b),
        Mistake("eps_missing", "eps is missing: divide by sqrt(running_var + eps).",
                lambda x, g, b, rm, rv, eps: g * (x - rm) / np.sqrt(rv) + b),
        Mistake("variance_as_std",
                "running_var is a variance: divide by its square root, sqrt(running_var + eps).",
                lambda x, g, b, rm, rv, eps: g * (x - rm) / (rv + eps) + b),
        Mistake("gamma_beta_missing", GAMMA_BETA_MISSING.message,
                lambda x, g, b, rm, rv, eps: (x - rm) / np.sqrt(rv + eps)),
        Mistake("beta_missing", BETA_MISSING.message,
                lambda x, g, b, rm, rv, eps: g * (x - rm) / np.sqrt(rv + eps)),
    ],
))
