"""Answer keys: grader material that is not part of the package students install.

The public :mod:`bnlib.checks` registers the multiple-choice questions and the
worked examples without their answers (their test cells in a notebook only
check the format). :func:`install` gives the registered parts their keys, in
the grader's process only: which option is right and why each other is
wrong, and the worked examples' values with the mistakes they recognise.
The scoring sandbox never imports this module (it sees a stub bnlib and no
``bngrade``).
"""

import numpy as np

from bnlib import batchnorm_backward_staged, batchnorm_forward
from bnlib.checks import REGISTRY
from bnlib.checks.core import Mistake
from bnlib.checks.kinds import ChoicePart, ValuePart
from bnlib.checks.ps1 import TINY_EPS, UNBIASED

CHOICES = {
    'ps5_q_learned': ('b', {
        'a': ('the running statistics are moving averages of batch statistics, updated by the '
              'forward pass in training mode, never by a gradient.'),
        'c': 'eps and momentum are hyperparameters: you choose them, nothing learns them.',
        'd': ('the batch statistics are computed from each batch in the forward pass; they are'
              ' not parameters.'),
    }),
    'ps5_q_running': ('d', {
        'a': ('accuracy is not the reason: a prediction must not depend on the other examples '
              'in its batch, and one example has no usable batch statistics.'),
        'b': ('a mean costs about as much as the normalisation itself; the reason is that a '
              'prediction must depend on its own example only.'),
        'c': ('nothing is differentiated at inference; the point is that a batch may hold one '
              'example, whose variance is 0, and predictions must not depend on the batch.'),
    }),
    'ps5_q_regularises': ('a', {
        'b': ('no penalty is involved: the noise of the mini-batch statistics does the '
              'regularising.'),
        'c': ('it adds parameters (gamma and beta); its regularising effect comes from the '
              'noisy batch statistics.'),
        'd': ('nothing is clipped: activations are standardised with noisy batch statistics, '
              'and that noise regularises.'),
    }),
    'ps5_q_coupling': ('c', {
        'a': ('a shared constant scale couples nothing: in eval mode gamma is shared too and '
              'dL/dx_i = gamma * dL/dy_i / sqrt(running_var + eps) alone.'),
        'b': ('the coupling exists for any loss; it comes from mu and var, which every x_i '
              'moves.'),
        'd': ('that is the eval-mode gradient; in training mode every x_i also reaches the '
              'loss through mu and var.'),
    }),
    'ps5_q_bias': ('b', {
        'a': ('it would move under gradient descent if it mattered; it does not matter because'
              ' the mean subtraction removes any constant.'),
        'c': ('gamma multiplies after the normalisation; it is the mean subtraction that '
              'removes the bias.'),
        'd': 'a constant shifts the mean, not the variance: the batch mean removes it.',
    }),
}


def _worked_examples():
    """Worked examples A and B: x = [2, 4, 6, 8]; gamma, beta = (1, 0) then (2, 1); eps = 0."""
    x = np.array([[2.0], [4.0], [6.0], [8.0]])
    x_hat = batchnorm_forward(x, [1.0], [0.0], TINY_EPS)[0]
    y = batchnorm_forward(x, [2.0], [1.0], TINY_EPS)[0]
    return {"x_hat_A": x_hat.ravel(), "y_B": y.ravel(), "mean_y_B": float(y.mean()),
            "var_y_B": float(y.var())}


def _unbiased_examples():
    x = np.array([2.0, 4.0, 6.0, 8.0])
    x_hat = (x - x.mean()) / x.std(ddof=1)
    return {"x_hat_A": x_hat, "y_B": 2 * x_hat + 1,
            "var_y_B": float(np.var(_worked_examples()["y_B"], ddof=1))}


def _example_c():
    """Worked example C: x = [1, 3], gamma = 1, beta = 0, eps = 0, dL/dy = [0.5, -0.5]."""
    _, cache = batchnorm_forward(np.array([[1.0], [3.0]]), [1.0], [0.0], TINY_EPS)
    steps = {}
    dx = batchnorm_backward_staged(np.array([[0.5], [-0.5]]), cache, steps)[0]
    return {"dvar_C": float(steps["dvar"][0, 0]), "dmu_C": float(steps["dmu"][0, 0]),
            "dx_C": dx.ravel()}


VALUES = {
    "ps1_worked_examples": (_worked_examples, [
        Mistake("unbiased_variance", UNBIASED.message, _unbiased_examples),
        Mistake("output_variance_gamma",
                "the variance of y = gamma * x_hat + beta is gamma**2 (here 4), not gamma: "
                "scaling by gamma scales the standard deviation by |gamma|.",
                lambda: {"var_y_B": 2.0}),
        Mistake("output_mean_zero",
                "the mean of y = gamma * x_hat + beta is beta (here 1): x_hat has mean 0, "
                "then beta shifts it.",
                lambda: {"mean_y_B": 0.0}),
    ]),
    "ps5_example_c": (_example_c, [
        Mistake("dvar_sign",
                "dL/dvar = sum_i dL/dx_hat_i * (x_i - mu) * (-1/2) * (var + eps)**(-3/2); with "
                "dL/dx_hat = [0.5, -0.5] and x - mu = [-1, 1] both factors are negative.",
                lambda: {"dvar_C": -_example_c()["dvar_C"]}),
        Mistake("direct_path_only",
                "that is only the direct path dL/dy * gamma / sqrt(var + eps). The path through "
                "the variance adds dL/dvar * 2 * (x_i - mu) / m = [-0.5, 0.5], which cancels it.",
                lambda: {"dx_C": np.array([0.5, -0.5])}),
    ]),
}


def install():
    """Give the registered parts their keys (idempotent; the grader's process only).

    Raises if a key names no registered part, or if a registered multiple-choice or
    value part has no key: without one it would check the format only, and give every
    well-formed answer the points."""
    for grade_id, (answer, explain) in CHOICES.items():
        part = _part(grade_id)
        part.answer, part.explain = answer, dict(explain)
    for grade_id, (reference, mistakes) in VALUES.items():
        part = _part(grade_id)
        part.reference, part.mistakes = reference, list(mistakes)
    unkeyed = [gid for gid, part in REGISTRY.items()
               if (isinstance(part, ChoicePart) and not part.answer)
               or (not isinstance(part, ChoicePart) and isinstance(part, ValuePart)
                   and part.reference is None)]
    if unkeyed:
        raise RuntimeError(f"no answer key in bngrade/keys.py for {', '.join(unkeyed)}")


def _part(grade_id):
    if grade_id not in REGISTRY:
        raise RuntimeError(f"bngrade/keys.py has a key for {grade_id!r}, which no checker "
                           "registers")
    return REGISTRY[grade_id]
