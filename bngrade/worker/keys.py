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
from bnlib.checks.ps5 import P1_DY, P1_GAMMA, P1_X

CHOICES = {
    "ps5_q_output_stats": ("a", {
        "b": ("a variance cannot be negative: the output gamma * x_hat + beta has variance "
              "gamma**2 times that of x_hat, which is 1."),
        "c": ("3 = |gamma| is the standard deviation of the outputs; the variance is "
              "gamma**2 = 9."),
        "d": ("that describes x_hat, before the scale and the shift; the outputs have mean "
              "beta and variance gamma**2."),
    }),
    "ps5_q_eval_batch": ("c", {
        "a": ("in eval mode the layer does not compute batch statistics: it uses the stored "
              "running averages, so each example's output depends on that example only."),
        "b": ("that is training mode; in eval mode a batch of one is fine because the "
              "running statistics are used."),
        "d": ("beta for every feature is what training-mode normalisation of a batch of one "
              "would give (x_hat = 0); eval mode uses the running statistics instead."),
    }),
    "ps5_q_noise": ("b", {
        "a": ("the running averages are not used in training mode; the noise comes from the "
              "batch mean and variance, whose spread depends on the batch size."),
        "c": ("the learning rate changes the weights, not how much the batch statistics of a "
              "given layer vary between batches; a smaller batch does."),
        "d": ("eval mode removes the dependence entirely (running statistics are fixed); "
              "batch statistics of fewer examples make it larger."),
    }),
    "ps5_q_uniform_grad": ("d", {
        "a": ("that ignores the path through the batch mean: adding the same amount to every "
              "x_i leaves x_hat unchanged, so this part of the gradient cancels."),
        "b": ("the mean's path does not add up the batch; it removes the component of "
              "dL/dy that is the same for every example."),
        "c": ("batch norm is not the identity; a uniform dL/dy is exactly the direction it "
              "removes (dL/dx is orthogonal to the vector of ones)."),
    }),
    "ps5_q_bias_grad": ("b", {
        "a": ("that sum is zero here: dL/dz is the input gradient of batch norm, which sums "
              "to zero over the batch because b shifts every z_i of a feature by the same "
              "amount and the batch mean removes it."),
        "c": ("that is dL/dbeta scaled by gamma; b comes before the normalisation, whose "
              "mean subtraction removes it, so dL/db = 0."),
        "d": ("the running mean is not used in training mode; the batch mean removes b "
              "exactly, so dL/db = 0."),
    }),
    "ps6_q_spatial_count": ("b", {
        "a": ("that is batch norm of a fully connected layer applied per location: spatial "
              "batch norm shares one mean, one variance, one gamma and one beta per channel "
              "over the batch and every position, m = N * H * W."),
        "c": ("that is layer norm (statistics per example over C, H and W); batch norm's "
              "statistics are per channel over N, H and W."),
        "d": ("that is instance norm (statistics per example and channel over H and W); batch "
              "norm also averages over the batch, and gamma is one per channel."),
    }),
    "ps6_q_warmup": ("c", {
        "a": ("with momentum 0.999 the window is about 1 / (1 - 0.999) = 1,000 steps: after "
              "100 the average still keeps 0.999**100, about 90 %, of its starting value 0."),
        "b": ("each step moves the average by 0.1 % of the remaining gap, and it does so at "
              "every one of the 100 steps: 5 * (1 - 0.999**100)."),
        "d": ("the fraction covered depends on the momentum: 1 - alpha**n, here 1 - 0.999**100, "
              "under 10 %; 90 % would take about 2,300 steps."),
    }),
    "ps6_q_padding": ("d", {
        "a": ("the zeros add nothing to the sum but they add to the count: the sum is divided "
              "by 2 * 10 = 20 values, not by the 12 real tokens."),
        "b": ("batch norm's statistics run over every sequence of the batch and every time "
              "step, padding included: all 20 values."),
        "c": ("dividing the same sum by more values (20 instead of 12) makes the mean smaller "
              "in size: times 12 / 20."),
    }),
    "ps6_q_sync": ("a", {
        "b": ("without synchronisation each process normalises with its own examples only; "
              "gathering them is exactly what SyncBatchNorm adds."),
        "c": ("SyncBatchNorm exchanges the batch statistics themselves (sums and counts) in "
              "every training step, so every GPU normalises with those of all 32 images."),
        "d": ("it is the other way round: plain batch norm sees one GPU's 4 images, "
              "SyncBatchNorm all 32."),
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


def _backward_by_hand():
    """ps5's P1: x = P1_X, gamma = P1_GAMMA, beta = 0.5, eps = 0, dL/dy = P1_DY."""
    x = np.array(P1_X)[:, None]
    _, cache = batchnorm_forward(x, [P1_GAMMA], [0.5], TINY_EPS)
    steps = {}
    dx = batchnorm_backward_staged(np.array(P1_DY)[:, None], cache, steps)[0]
    return {"dvar_p1": float(steps["dvar"][0, 0]), "dmu_p1": float(steps["dmu"][0, 0]),
            "dx_p1": dx.ravel()}


def _direct_path_only():
    x = np.array(P1_X)
    return {"dx_p1": P1_GAMMA * np.array(P1_DY) / x.std()}


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
    "ps5_backward_by_hand": (_backward_by_hand, [
        Mistake("dvar_sign",
                "dL/dvar = sum_i dL/dx_hat_i * (x_i - mu) * (-1/2) * (var + eps)**(-3/2): "
                "check the sign of the factor -1/2.",
                lambda: {"dvar_p1": -_backward_by_hand()["dvar_p1"]}),
        Mistake("gamma_forgotten",
                "dL/dx_hat = gamma * dL/dy: with gamma = 2 every intermediate gradient is "
                "twice what it would be with gamma = 1.",
                lambda: {k: v / P1_GAMMA for k, v in _backward_by_hand().items()}),
        Mistake("direct_path_only",
                "that is only the direct path gamma * dL/dy / sqrt(var + eps); add the paths "
                "through the variance, dL/dvar * 2 * (x_i - mu) / m, and through the mean, "
                "dL/dmu / m.",
                _direct_path_only),
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
        raise RuntimeError(f"no answer key in bngrade/worker/keys.py for {', '.join(unkeyed)}")


def _part(grade_id):
    if grade_id not in REGISTRY:
        raise RuntimeError(f"bngrade/worker/keys.py has a key for {grade_id!r}, which no checker "
                           "registers")
    return REGISTRY[grade_id]
