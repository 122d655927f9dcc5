"""Checks for ps1-forward (``chapters/02-forward.md``)."""

import numpy as np

from .. import batchnorm_forward
from .core import Mistake, Part, register

ASSIGNMENT = "ps1-forward"


def first(out):
    """The student returns ``(y, cache)``; compare ``y``."""
    return out[0] if isinstance(out, (tuple, list)) and out else out


def _train_cases(rng, hidden):
    shapes = [(2, 7), (16, 1), (5, 4), (64, 3)] if hidden else [(4, 3), (8, 5)]
    return [(rng.normal(2.0, 3.0, size=s), rng.normal(1.0, 0.5, size=s[1]),
             rng.normal(size=s[1]), 1e-5) for s in shapes]


def _with_stats(x, gamma, beta, eps, mu, var, root=np.sqrt):
    return gamma * (x - mu) / root(var + eps) + beta


register(Part(
    grade_id="ps1_train_forward",
    assignment=ASSIGNMENT,
    target="batchnorm_forward",
    description="training-mode forward pass",
    points=3,
    make_cases=_train_cases,
    reference=lambda x, g, b, eps: batchnorm_forward(x, g, b, eps)[0],
    select=first,
    mistakes=[
        Mistake("unbiased_variance",
                "The forward pass must normalise with the biased variance (divide by m, "
                "np.var's default), not the unbiased one (ddof=1).",
                lambda x, g, b, eps: _with_stats(x, g, b, eps, x.mean(0), x.var(0, ddof=1))),
        Mistake("eps_outside_sqrt",
                "eps belongs inside the square root: (x - mu) / sqrt(var + eps).",
                lambda x, g, b, eps: g * (x - x.mean(0)) / (np.sqrt(x.var(0)) + eps) + b),
        Mistake("eps_missing",
                "eps is missing: divide by sqrt(var + eps), not sqrt(var).",
                lambda x, g, b, eps: g * (x - x.mean(0)) / np.sqrt(x.var(0)) + b),
        Mistake("wrong_axis",
                "The statistics are taken over the wrong axis: batch norm averages each "
                "feature over the batch, axis=0 for (N, D) input (keepdims or broadcasting "
                "per feature).",
                lambda x, g, b, eps: g * (x - x.mean(1, keepdims=True))
                / np.sqrt(x.var(1, keepdims=True) + eps) + b),
        Mistake("gamma_beta_swapped",
                "gamma scales and beta shifts: y = gamma * x_hat + beta.",
                lambda x, g, b, eps: _with_stats(x, b, g, eps, x.mean(0), x.var(0))),
    ],
))
