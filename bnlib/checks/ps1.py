"""Checks for ps1-forward (``chapters/02-forward.md``)."""

import numpy as np

from .. import batchnorm_forward, batchnorm_inference
from .core import Mistake, Outcome, Part, register
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
    shapes = [(2, 7), (16, 1), (5, 4), (64, 3)] if hidden else [(4, 3), (8, 5), (6, 2)]
    eps = [1e-5, 1e-3, 1e-5, 1e-5] if hidden else [1e-5, 1e-5, 1e-3]
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
BETA_SIGN = ("beta_sign", "beta is added, not subtracted: y = gamma * x_hat + beta.")
BETA_SCALED = ("beta_scaled",
               "beta is multiplied by gamma: y = gamma * x_hat + beta, not "
               "gamma * (x_hat + beta); scale first, then shift.")
GAMMA_MISSING = Mistake(
    "gamma_missing",
    "gamma is missing: y = gamma * x_hat + beta (scale x_hat by gamma, then shift by beta).",
    lambda x, g, b, eps: _with_stats(x, 1.0, b, eps, x.mean(0), x.var(0)))
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
        UNBIASED, EPS_OUTSIDE, EPS_MISSING, GAMMA_BETA_MISSING, BETA_MISSING, GAMMA_MISSING,
        Mistake(EPS_OUTSIDE.id, EPS_OUTSIDE.message, lambda x, g, b, eps: g * (
            (x - x.mean(0)) / np.sqrt(x.var(0)) + eps) + b),
        Mistake("std_as_variance",
                "var must be the variance, x.var(axis=0), not the standard deviation: "
                "x_hat = (x - mu) / sqrt(var + eps) takes the square root itself.",
                lambda x, g, b, eps: _with_stats(x, g, b, eps, x.mean(0), x.std(0))),
        Mistake(*BETA_SIGN, lambda x, g, b, eps: _with_stats(x, g, -b, eps, x.mean(0), x.var(0))),
        Mistake(*BETA_SCALED, lambda x, g, b, eps: g * (_with_stats(
            x, 1.0, 0.0, eps, x.mean(0), x.var(0)) + b)),
        Mistake("mean_not_subtracted",
                "The mean is not subtracted: x_hat = (x - mu) / sqrt(var + eps), so that each "
                "feature has mean 0 before gamma and beta.",
                lambda x, g, b, eps: _with_stats(x, g, b, eps, 0.0, x.var(0))),
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


X_A = np.array([2.0, 4.0, 6.0, 8.0])  # the worked examples' input, printed in the notebook


def _slip(id_, message):
    return Mistake(id_, message, None)


WORKED_SLIPS = {m.id: m for m in [
    _slip("two_decimals", "type the values with three decimals (or compute them): with two, "
          "rounding alone is off by more than the grader's tolerance."),
    _slip("unbiased_variance", "x_hat_A has variance 0.75, not 1: it is divided by the "
          "unbiased standard deviation (ddof=1). Batch norm divides by the biased one, "
          "sqrt(x.var()), so that x_hat has mean 0 and variance 1."),
    _slip("x_hat_not_standardised", "x_hat_A must have mean 0 and (biased) variance 1: "
          "subtract the mean of x_A, then divide by the square root of its variance."),
    _slip("y_not_normalised", "y_B must be computed from the normalised values: "
          "y = gamma * x_hat + beta with x_hat = x_hat_A, not from x_A itself."),
    _slip("y_not_affine", "y_B must be gamma * x_hat_A + beta with gamma = 2 and beta = 1."),
    _slip("output_mean_zero", "the mean of y = gamma * x_hat + beta is beta, not 0: x_hat has "
          "mean 0, then beta shifts it."),
    _slip("mean_not_of_y", "mean_y_B must be the mean of the entries of y_B."),
    _slip("output_variance_gamma", "the variance of y = gamma * x_hat + beta is gamma**2 times "
          "that of x_hat, not gamma times (that is its standard deviation, |gamma| times "
          "x_hat's): scaling by gamma scales the standard deviation by |gamma|."),
    _slip("var_not_of_y", "var_y_B must be the biased variance of the entries of y_B "
          "(divide by 4, np.var's default), as batch norm uses."),
]}


def _values(answers):
    try:
        out = {n: np.asarray(answers[n], dtype=float) for n in ("x_hat_A", "y_B")}
        out.update({n: float(np.asarray(answers[n], dtype=float).reshape(-1)[0])
                    for n in ("mean_y_B", "var_y_B")})
    except (TypeError, ValueError, IndexError):
        return None
    if any(out[n].shape != (4,) for n in ("x_hat_A", "y_B")):
        return None
    return out


def _close(a, b, tol=3e-3):
    return bool(np.allclose(a, b, rtol=0, atol=tol))


def worked_example_rules(answers):
    """What any right answer to worked examples A and B satisfies, without giving it away.

    The verdict names the first broken rule (an Outcome), or is None."""
    def slip(id_, name):
        return Outcome(False, f"`{name}`: {WORKED_SLIPS[id_].message}", id_)

    v = _values(answers)
    if v is None:
        return Outcome(False, "`x_hat_A` and `y_B` must be arrays (or lists) of 4 numbers, "
                       "`mean_y_B` and `var_y_B` numbers.", "wrong_form")
    x_hat, y = v["x_hat_A"], v["y_B"]
    def two_decimals(arr, near_right):
        hundredths = arr * 100
        return near_right and np.allclose(hundredths, np.round(hundredths), rtol=0, atol=1e-9) \
            and not np.allclose(arr, np.round(arr), rtol=0, atol=1e-9)

    if two_decimals(x_hat, _close(x_hat.mean(), 0.0, 0.01) and _close(x_hat.var(), 1.0, 0.02)):
        return slip("two_decimals", "x_hat_A")
    if _close(x_hat.mean(), 0.0) and _close(x_hat.var(), 0.75):
        return slip("unbiased_variance", "x_hat_A")
    if not (_close(x_hat.mean(), 0.0) and _close(x_hat.var(), 1.0)):
        return slip("x_hat_not_standardised", "x_hat_A")
    if two_decimals(y, _close(y, 2 * x_hat + 1, 0.011)):
        return slip("two_decimals", "y_B")
    if not _close(y, 2 * x_hat + 1):
        affine = any(_close(y, 2 * x + 1) for x in (X_A, X_A - X_A.mean()))
        return slip("y_not_normalised" if affine else "y_not_affine", "y_B")
    if not _close(v["mean_y_B"], y.mean()):
        return slip("output_mean_zero" if _close(v["mean_y_B"], 0.0) else "mean_not_of_y",
                    "mean_y_B")
    if not _close(v["var_y_B"], 4 * x_hat.var(), 6e-3):
        return slip("output_variance_gamma" if _close(v["var_y_B"], 2 * x_hat.var(), 6e-3)
                    else "var_not_of_y", "var_y_B")
    return None


register(ValuePart(
    grade_id="ps1_worked_examples",
    assignment=ASSIGNMENT,
    target="x_hat_A",
    description="worked examples A and B",
    points=2,
    names=("x_hat_A", "y_B", "mean_y_B", "var_y_B"),
    rtol=1e-3, atol=1e-3,  # three decimals typed by hand are fine
    rules=worked_example_rules,
    rule_mistakes=list(WORKED_SLIPS.values()),
    # the values themselves are grader material (bngrade.worker.keys)
))


def _eval_cases(rng, hidden):
    shapes = [(1, 5), (3, 8), (2, 1), (7, 4)] if hidden else [(4, 3), (6, 2), (1, 3)]
    eps = [1e-5, 1e-3, 1e-5, 1e-5] if hidden else [1e-5, 1e-3, 1e-5]  # eps is an argument
    cases = []
    for s, e in zip(shapes, eps):
        x = features(rng, s)
        d = s[1]
        cases.append((x, rng.normal(1.0, 0.5, d), rng.normal(size=d),
                      rng.normal(size=d), rng.uniform(1e-6, 4.0, d), e))
    return cases


register(Part(
    grade_id="ps1_inference_forward",
    arg_names=("x", "gamma", "beta", "running_mean", "running_var", "eps"),
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
                lambda x, g, b, rm, rv, eps: _with_stats(x, g, b, eps, x.mean(0), x.var(0))),
        Mistake("eps_outside_sqrt", EPS_OUTSIDE.message,
                lambda x, g, b, rm, rv, eps: g * (x - rm) / (np.sqrt(rv) + eps) + b),
        Mistake("eps_outside_sqrt", EPS_OUTSIDE.message,
                lambda x, g, b, rm, rv, eps: g * ((x - rm) / np.sqrt(rv) + eps) + b),
        Mistake(*BETA_SIGN, lambda x, g, b, rm, rv, eps: g * (x - rm) / np.sqrt(rv + eps) - b),
        Mistake("mean_sign", "running_mean is subtracted, not added: "
                "x_hat = (x - running_mean) / sqrt(running_var + eps).",
                lambda x, g, b, rm, rv, eps: g * (x + rm) / np.sqrt(rv + eps) + b),
        Mistake(*BETA_SCALED, lambda x, g, b, rm, rv, eps: g * ((x - rm) / np.sqrt(rv + eps)
                                                                + b)),
        Mistake("eps_missing", "eps is missing: divide by sqrt(running_var + eps).",
                lambda x, g, b, rm, rv, eps: g * (x - rm) / np.sqrt(rv) + b),
        Mistake("variance_as_std",
                "running_var is a variance: divide by its square root, sqrt(running_var + eps).",
                lambda x, g, b, rm, rv, eps: g * (x - rm) / (rv + eps) + b),
        Mistake("gamma_beta_missing", GAMMA_BETA_MISSING.message,
                lambda x, g, b, rm, rv, eps: (x - rm) / np.sqrt(rv + eps)),
        Mistake("beta_missing", BETA_MISSING.message,
                lambda x, g, b, rm, rv, eps: g * (x - rm) / np.sqrt(rv + eps)),
        Mistake("gamma_missing", GAMMA_MISSING.message,
                lambda x, g, b, rm, rv, eps: (x - rm) / np.sqrt(rv + eps) + b),
        Mistake("batch_mean_in_eval",
                "In inference mode both statistics are the stored ones: subtract running_mean, "
                "not this batch's mean (a prediction must not depend on the other examples).",
                lambda x, g, b, rm, rv, eps: g * (x - x.mean(0)) / np.sqrt(rv + eps) + b),
    ],
))
