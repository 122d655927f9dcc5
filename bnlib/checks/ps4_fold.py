"""Checks for ps4-conv-and-folding: folding batch norm into a linear layer, and the
bias before batch norm (``chapters/04-train-vs-inference.md``,
``chapters/05-placement-and-family.md``)."""

import numpy as np

from .. import (
    BatchNorm1d,
    BatchNorm2d,
    batchnorm_forward,
    batchnorm_inference,
    fold_batchnorm,
    fold_batchnorm_conv,
)
from .core import Mistake, Part, register
from .ps1 import TINY_EPS
from .ps4 import ASSIGNMENT


def folded(weight, bias, gamma, beta, running_mean, running_var, eps):
    """bnlib's fold of an eval-mode batch norm with these parameters: a BatchNorm1d after a
    linear layer (2-D ``weight``), a BatchNorm2d after a convolution (4-D ``weight``)."""
    conv = np.ndim(weight) == 4
    bn = (BatchNorm2d if conv else BatchNorm1d)(len(gamma), eps=eps)
    bn.gamma, bn.beta = gamma, beta
    bn.running_mean, bn.running_var = running_mean, running_var
    return (fold_batchnorm_conv if conv else fold_batchnorm)(weight, bias, bn.eval())


def _scale(gamma, running_var, eps):
    return gamma / np.sqrt(running_var + eps)


def _weight_unscaled(w, b, *rest):
    return w, folded(w, b, *rest)[1]


def _eps_outside(w, b, g, bt, rm, rv, eps):
    """s = gamma / (sqrt(running_var) + eps): a variance that gives that s with eps inside."""
    return folded(w, b, g, bt, rm, (np.sqrt(rv) + eps) ** 2 - eps, eps)


def fold_mistakes(layer):
    """The slips of a fold, shared by the linear layer's and the convolution's parts
    (``layer``: what comes before batch norm, in words)."""
    return [
        Mistake("eps_missing",
                "eps is missing: s = gamma / sqrt(running_var + eps), as in eval-mode batch "
                "norm, or the folded layer differs where a variance is small.",
                lambda w, b, g, bt, rm, rv, eps: folded(w, b, g, bt, rm, rv, TINY_EPS)),
        Mistake("eps_outside_sqrt",
                "eps belongs inside the square root: s = gamma / sqrt(running_var + eps), "
                "not gamma / (sqrt(running_var) + eps).", _eps_outside),
        Mistake("sqrt_missing",
                "running_var is a variance, not a standard deviation: "
                "s = gamma / sqrt(running_var + eps).", _no_sqrt),
        Mistake("sqrt_twice",
                "The square root is taken twice: running_var is already a variance, so "
                "s = gamma / sqrt(running_var + eps), not gamma / sqrt(sqrt(running_var + eps)).",
                lambda w, b, g, bt, rm, rv, eps: folded(w, b, g, bt, rm, np.sqrt(rv + eps) - eps,
                                                        eps)),
        Mistake("gamma_missing",
                "gamma is missing from the scale: s = gamma / sqrt(running_var + eps) "
                "multiplies both the weights and the bias.",
                lambda w, b, g, *rest: folded(w, b, np.ones_like(g), *rest)),
        Mistake("weight_unscaled",
                f"The weights of the {layer} are returned unscaled: eval-mode batch norm "
                "multiplies each output by s = gamma / sqrt(running_var + eps), so W' = W "
                "times s, one factor per output.", _weight_unscaled),
        Mistake("mean_sign",
                "The running mean is subtracted, not added: b' = (b - running_mean) * s + beta.",
                lambda w, b, g, bt, rm, rv, eps: folded(w, b, g, bt, -rm, rv, eps)),
        Mistake("mean_not_scaled",
                "The running mean is scaled too: b' = (b - running_mean) * s + beta.",
                _mean_unscaled),
        Mistake("bias_dropped",
                f"The {layer}'s own bias b goes into the folded bias: "
                "b' = (b - running_mean) * s + beta (b = 0 only when bias is None).",
                lambda w, b, *rest: folded(w, None, *rest)),
        Mistake("bias_not_scaled",
                "The layer's bias is scaled too: b' = (b - running_mean) * s + beta, with the "
                "parentheses (not b - running_mean * s + beta).",
                lambda w, b, g, bt, rm, rv, eps: folded(w, None, g, bt, rm, rv, eps)[0:1] + (
                    folded(w, None, g, bt, rm, rv, eps)[1]
                    + (0.0 if b is None else b),)),
        Mistake("scale_inverted",
                "The scale is inverted: eval-mode batch norm divides by the standard deviation, "
                "s = gamma / sqrt(running_var + eps), not gamma * sqrt(running_var + eps).",
                lambda w, b, g, bt, rm, rv, eps: folded(w, b, g, bt, rm,
                                                        1.0 / (rv + eps) - eps, eps)),
        Mistake("beta_dropped",
                "beta is missing from the folded bias: b' = (b - running_mean) * s + beta.",
                lambda w, b, g, bt, rm, rv, eps: folded(w, b, g, 0.0 * bt, rm, rv, eps)),
        Mistake("bias_divided",
                "The folded bias multiplies by s, as the weights do: "
                "b' = (b - running_mean) * s + beta, not (b - running_mean) / s + beta.",
                lambda *case: _bias_as(case, lambda c, s, bt: c / s + bt)),
        Mistake("beta_scaled",
                "beta is added after the scaling, so it is not multiplied by s: "
                "b' = (b - running_mean) * s + beta.",
                lambda *case: _bias_as(case, lambda c, s, bt: (c + bt) * s)),
        Mistake("beta_sign",
                "beta is added, not subtracted: b' = (b - running_mean) * s + beta.",
                lambda *case: _bias_as(case, lambda c, s, bt: c * s - bt)),
        Mistake("subtraction_reversed",
                "The subtraction is the wrong way round: the layer's output minus the running "
                "mean, b' = (b - running_mean) * s + beta.",
                lambda *case: _bias_as(case, lambda c, s, bt: -c * s + bt)),
    ]


def _bias_as(case, bias_of):
    """The right weights with the bias ``bias_of(b - running_mean, s, beta)``."""
    w, b, g, bt, rm, rv, eps = case
    centred = (0.0 if b is None else b) - rm
    return folded(*case)[0], bias_of(centred, _scale(g, rv, eps), bt)


def _fold_cases(rng, hidden):
    """Square layers first: there a scale on the wrong axis still broadcasts."""
    dims = [(3, 3), (2, 5), (4, 1), (1, 3)] if hidden else [(4, 4), (3, 2), (1, 3)]
    cases = []
    for d_out, d_in in dims:
        bias = None if d_out == (4 if hidden else 1) else rng.normal(size=d_out)
        cases.append((rng.normal(size=(d_out, d_in)), bias, rng.normal(1.0, 0.5, d_out),
                      rng.normal(size=d_out), rng.normal(size=d_out),
                      rng.uniform(0.01, 3.0, d_out), 1e-3 if d_out == 1 else 1e-5))
    return cases


def _columns(w, b, g, bt, rm, rv, eps):
    """W * s[None, :]: the scale along the inputs (broadcasts when it can, as numpy does)."""
    return w * _scale(g, rv, eps)[None, :], folded(w, b, g, bt, rm, rv, eps)[1]


def _mean_unscaled(w, b, g, bt, rm, rv, eps):
    return folded(w, b, g, bt, rm / _scale(g, rv, eps), rv, eps)


def _no_sqrt(w, b, g, bt, rm, rv, eps):
    return folded(w, b, g, bt, rm, (rv + eps) ** 2 - eps, eps)


register(Part(
    grade_id="ps4_fold",
    channel_axis=0,
    assignment=ASSIGNMENT,
    target="fold_batchnorm",
    description="folding batch norm into the linear layer before it",
    points=3,
    make_cases=_fold_cases,
    reference=folded,
    outputs=("weight", "bias"),
    mistakes=[
        Mistake("scale_columns",
                "Scale the rows of W, one per output feature: W' = W * s[:, None] with "
                "s = gamma / sqrt(running_var + eps) (W has shape (D_out, D_in)).",
                _columns),
        *fold_mistakes("linear layer"),
    ],
))


def _bias_cases(rng, hidden):
    dims = [(2, 3, 4), (9, 5, 1), (4, 2, 3)] if hidden else [(6, 4, 3), (5, 3, 2)]
    eps = [1e-5, 1e-5, 0.1] if hidden else [1e-5, 0.1]  # eps is an argument
    return [(rng.normal(size=(n, d_in)), rng.normal(size=(d_out, d_in)),
             rng.normal(0.0, 5.0, d_out), rng.normal(1.0, 0.5, d_out), rng.normal(size=d_out),
             e) for (n, d_in, d_out), e in zip(dims, eps)]


def _bn_of_linear(x, weight, bias, gamma, beta, eps):
    return batchnorm_forward(x @ weight.T + bias, gamma, beta, eps)[0]


def _eval_mode(x, w, b, g, bt, eps):
    d = len(g)
    return tuple(batchnorm_inference(x @ w.T + bias, g, bt, np.zeros(d), np.ones(d), eps)[0]
                 for bias in (b, 0.0))


register(Part(
    grade_id="ps4_bias_redundant",
    arg_names=("x", "weight", "bias", "gamma", "beta", "eps"),
    assignment=ASSIGNMENT,
    target="bias_effect",
    description="the bias before batch norm, numerically",
    points=2,
    make_cases=_bias_cases,
    reference=lambda x, w, b, g, bt, eps: (_bn_of_linear(x, w, b, g, bt, eps),
                                           _bn_of_linear(x, w, 0.0, g, bt, eps)),
    allowed_reference=("bnlib.batchnorm_forward",),
    outputs=("y_with", "y_without"),
    mistakes=[
        Mistake("bias_after_bn",
                "The bias belongs to the linear layer, before batch norm: "
                "batchnorm(x @ W.T + b), not batchnorm(x @ W.T) + b.",
                lambda x, w, b, g, bt, eps: (_bn_of_linear(x, w, 0.0, g, bt, eps) + b,
                                             _bn_of_linear(x, w, 0.0, g, bt, eps))),
        Mistake("eval_mode",
                "Use training-mode batch norm (this batch's statistics): subtracting the batch "
                "mean is what removes the bias. In eval mode it is not removed but folded "
                "into running_mean over training.",
                _eval_mode),
        Mistake("bn_left_out",
                "y_with is the linear layer's output without batch norm: apply batch norm "
                "to x @ W.T + b too, batchnorm_forward(x @ weight.T + bias, gamma, beta, eps).",
                lambda x, w, b, g, bt, eps: (x @ w.T + b, _bn_of_linear(x, w, 0.0, g, bt, eps))),
        Mistake("gamma_beta_swapped",
                "gamma and beta are swapped in one of the two calls: batchnorm_forward(x, "
                "gamma, beta, eps) takes gamma first.",
                lambda x, w, b, g, bt, eps: (_bn_of_linear(x, w, b, bt, g, eps),
                                             _bn_of_linear(x, w, 0.0, g, bt, eps))),
        Mistake("gamma_beta_swapped",
                "gamma and beta are swapped in one of the two calls: batchnorm_forward(x, "
                "gamma, beta, eps) takes gamma first.",
                lambda x, w, b, g, bt, eps: (_bn_of_linear(x, w, b, g, bt, eps),
                                             _bn_of_linear(x, w, 0.0, bt, g, eps))),
        Mistake("affine_left_out",
                "Both outputs use the same gamma and beta: pass gamma and beta to both calls, "
                "so that the two differ only by the bias.",
                lambda x, w, b, g, bt, eps: (
                    _bn_of_linear(x, w, b, g, bt, eps),
                    _bn_of_linear(x, w, 0.0, np.ones_like(g), np.zeros_like(bt), eps))),
    ],
))
