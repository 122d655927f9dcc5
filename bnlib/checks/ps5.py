"""Checks for ps5-concepts: five multiple-choice questions and three problems.

The questions' wording and options live in :mod:`bnlib.checks.ps5_questions`; which
option is right, and the values of problem P1 (a backward pass by hand), are grader
material (``bngrade.worker.keys``), not part of the package students install.
The problems test the objectives of chapters 3 and 4 on cases the book does not
work out (its worked examples and practice problems are published with their
solutions): a backward pass by hand on a batch of four, the inference cost of
batch norm after a convolution, and how fast a running average follows a change.
"""

import math

import numpy as np

from .. import averaging_window, inference_ops
from .core import Mistake, Outcome, Part, register
from .kinds import ValuePart, register_choices
from .ps5_questions import QUESTIONS

ASSIGNMENT = "ps5-concepts"

register_choices(ASSIGNMENT, QUESTIONS)


# P1: a backward pass by hand, on a batch of four (not the book's worked example C).
# These are the problem's inputs, stated in the notebook; its answers are in bngrade.worker.keys.
P1_X = (1.0, 3.0, 5.0, 7.0)
P1_GAMMA = 2.0
P1_DY = (1.0, -1.0, 0.0, 2.0)


def _hand_values(answers):
    try:
        dx = np.asarray(answers["dx_p1"], dtype=float).reshape(-1)
        return float(answers["dvar_p1"]), float(answers["dmu_p1"]), dx
    except (TypeError, ValueError, KeyError):
        return None


HAND_SLIPS = {
    "direct_path_only": Mistake(
        "direct_path_only", "that is only the direct path gamma * dL/dy / sqrt(var + eps); "
        "add the paths through the variance, dL/dvar * 2 * (x_i - mu) / m, and through the "
        "mean, dL/dmu / m.", None),
    "dx_sum_not_zero": Mistake(
        "dx_sum_not_zero", "its four entries must sum to 0 (adding one number to every x_i "
        "changes neither x_hat nor y, so the loss cannot change): the path through the mean, "
        "dL/dmu / m added to every dx_i, is missing or off. Check dmu_p1 (its sign, and "
        "-sum of dL/dx_hat / sqrt(var)) and the division by m = 4.", None),
    "dx_var_path": Mistake(
        "dx_var_path", "sum_i dx_i * (x_i - mu) must be 0 (stretching x around its mean "
        "changes neither x_hat nor y): the path through the variance, "
        "dL/dvar * 2 * (x_i - mu) / m, is missing or off. Check dvar_p1 (the factor -1/2, "
        "var**(-3/2), the sum of dL/dx_hat * (x_i - mu)) and the 2 and 1/m.", None),
}


def backward_by_hand_rules(answers):
    """What any right answer to P1 satisfies (its values stay grader material): dx sums to 0
    and is orthogonal to x - mu, since y does not change when x is shifted or stretched."""
    v = _hand_values(answers)
    if v is None or v[2].size != len(P1_X) or not np.isfinite(v[2]).all():
        return Outcome(False, "`dvar_p1` and `dmu_p1` must be numbers and `dx_p1` an array (or "
                       f"list) of {len(P1_X)} numbers, one per example.", "wrong_form")
    dx, x = v[2], np.array(P1_X)
    xc, scale = x - x.mean(), max(1.0, float(np.abs(dx).max()))
    sums_to_zero = abs(dx.sum()) <= 1e-3 * scale
    orthogonal = abs(dx @ xc) <= 1e-3 * scale * np.abs(xc).sum()
    if not (sums_to_zero or orthogonal) and np.allclose(
            dx, P1_GAMMA * np.array(P1_DY) / x.std(), rtol=1e-3, atol=1e-3):
        return Outcome(False, f"`dx_p1`: {HAND_SLIPS['direct_path_only'].message}",
                       "direct_path_only")
    if not sums_to_zero:
        return Outcome(False, f"`dx_p1`: {HAND_SLIPS['dx_sum_not_zero'].message}",
                       "dx_sum_not_zero")
    if not orthogonal:
        return Outcome(False, f"`dx_p1`: {HAND_SLIPS['dx_var_path'].message}", "dx_var_path")
    return None


register(ValuePart(
    grade_id="ps5_backward_by_hand",
    assignment=ASSIGNMENT,
    target="dvar_p1",
    description="a backward pass by hand",
    points=2,
    names=("dvar_p1", "dmu_p1", "dx_p1"),
    rules=backward_by_hand_rules,
    green_means="`dvar_p1`, `dmu_p1` are numbers and `dx_p1` has 4 entries that sum to 0 and "
    "are orthogonal to x - mu, as any right answer's are. This test does not know the values "
    "(they are checked when your notebook is graded): a slip in dvar_p1 or dmu_p1 alone, or "
    "one that keeps those two properties, passes here, so check each against chapter 3's "
    "formulas.",
    rule_mistakes=list(HAND_SLIPS.values()),
    rtol=1e-3, atol=1e-3,  # the values and the mistakes are grader material (bngrade.worker.keys)
))


def conv_inference_ops(c_in, c_out, height, width, kernel):
    """(batch-norm ops, convolution ops) per example for a conv layer followed by BN.

    The convolution has ``c_out`` filters of ``c_in x kernel x kernel`` weights
    and an output map of ``height x width`` ("same" padding); count one multiply
    and one add per weight and output position. Batch norm, unfolded, costs 4
    operations per output value (chapters/04-train-vs-inference.md).
    """
    positions = height * width
    return inference_ops(c_out * positions)[0], 2 * c_in * kernel * kernel * c_out * positions


def _conv_ops_cases(rng, hidden):
    if hidden:  # drawn from the grader's seed: no hidden case is written here
        return [(int(rng.choice([3, 16, 32, 64, 128, 256])),
                 int(rng.choice([16, 32, 64, 128, 256, 512])),
                 *[int(rng.choice([7, 14, 28, 32, 56]))] * 2, int(rng.choice([1, 3, 5])))
                for _ in range(3)]
    return [(64, 64, 56, 56, 3), (16, 32, 28, 28, 5)]


register(Part(
    grade_id="ps5_conv_inference_ops",
    assignment=ASSIGNMENT,
    target="conv_inference_ops",
    description="operations at inference: batch norm versus the convolution before it",
    points=1,
    make_cases=_conv_ops_cases,
    reference=conv_inference_ops,
    outputs=("batch norm's operations", "the convolution's operations"),
    rtol=0.01,
    mistakes=[
        Mistake("bn_per_channel",
                "Batch norm works on every value of the output map: 4 operations for each of "
                "c_out * height * width values, not 4 per channel.",
                lambda ci, co, h, w, k: (4 * co, conv_inference_ops(ci, co, h, w, k)[1])),
        Mistake("values_of_input",
                "Batch norm after the convolution normalises its output: c_out * height * width "
                "values, not c_in's.",
                lambda ci, co, h, w, k: (4 * ci * h * w, conv_inference_ops(ci, co, h, w, k)[1])),
        Mistake("values_of_input",
                "Batch norm after the convolution normalises its output, and the convolution "
                "computes c_out * height * width values: count c_out's, not c_in's.",
                lambda ci, co, h, w, k: (4 * ci * h * w, 2 * ci * k * k * ci * h * w)),
        Mistake("kernel_not_squared",
                "A filter has c_in * kernel * kernel weights (kernel is the side of a square "
                "window): 2 * c_in * kernel**2 operations per output value.",
                lambda ci, co, h, w, k: (conv_inference_ops(ci, co, h, w, k)[0],
                                         2 * ci * k * co * h * w)),
        Mistake("valid_output_size",
                "The convolution uses \"same\" padding: its output map is height x width, as "
                "the input's, not (height - kernel + 1) x (width - kernel + 1).",
                lambda ci, co, h, w, k: conv_inference_ops(ci, co, h - k + 1, w - k + 1, k)),
        Mistake("c_out_twice",
                "c_out is counted twice: the convolution does 2 * c_in * kernel**2 operations "
                "for each of its c_out * height * width output values.",
                lambda ci, co, h, w, k: (conv_inference_ops(ci, co, h, w, k)[0],
                                         2 * ci * k * k * co * co * h * w)),
        Mistake("conv_once_per_map",
                "Each filter is applied at every output position: multiply the "
                "2 * c_in * kernel**2 operations of one filter by c_out * height * width.",
                lambda ci, co, h, w, k: (conv_inference_ops(ci, co, h, w, k)[0],
                                         2 * ci * k * k * co)),
    ],
))


def steps_to_cover(keras_momentum, fraction):
    """Updates after which a running average has covered ``fraction`` of a jump.

    Keras's convention (``keras_momentum`` = alpha, the weight kept on the old
    value): after n updates the old value keeps alpha**n, so the smallest n with
    1 - alpha**n >= fraction (chapters/04-train-vs-inference.md).
    """
    import math

    return math.ceil(math.log(1.0 - fraction) / math.log(keras_momentum) - 1e-9)


def _steps(ratio):
    import math

    try:
        return math.ceil(ratio() - 1e-9)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _cover_cases(rng, hidden):
    if hidden:  # drawn from the grader's seed: no hidden case is written here
        return [(float(rng.choice([0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999])),
                 float(rng.choice([0.5, 0.6, 0.75, 0.8, 0.9, 0.95, 0.99])))
                for _ in range(4)] + [(0.8, 1 - 0.8 ** 13)]  # exactly 13 steps
    return [(0.99, 0.9), (0.9, 1 - 0.9 ** 4)]  # the second covers exactly 4 steps


register(Part(
    grade_id="ps5_steps_to_cover",
    assignment=ASSIGNMENT,
    target="steps_to_cover",
    description="how fast a running average follows a change",
    points=2,
    make_cases=_cover_cases,
    reference=steps_to_cover,
    rtol=0, atol=0,
    mistakes=[
        Mistake("pytorch_convention",
                "Keras's momentum is the weight kept on the old value (alpha), not the weight "
                "of the new batch: the old value keeps keras_momentum**n after n updates.",
                lambda k, f: steps_to_cover(1.0 - k, f)),
        Mistake("window_instead",
                "The window 1 / (1 - alpha) is where about 63 % is covered; solve "
                "1 - alpha**n >= fraction for the smallest integer n.",
                lambda k, f: round(averaging_window(k))),
        Mistake("fraction_not_remaining",
                "After n updates the part of the jump NOT yet covered is alpha**n: solve "
                "alpha**n <= 1 - fraction, with log(1 - fraction), not log(fraction).",
                lambda k, f: _steps(lambda: math.log(f) / math.log(k))),
        Mistake("rounded_to_nearest",
                "Round up, not to the nearest integer: the smallest n with "
                "1 - alpha**n >= fraction is the ceiling of log(1 - fraction) / log(alpha).",
                lambda k, f: round(math.log(1.0 - f) / math.log(k))),
        Mistake("mixed_logs",
                "Take both logarithms in the same base: log(1 - fraction) / log(alpha) (a "
                "ratio of logs does not depend on the base only if both use it).",
                lambda k, f: _steps(lambda: math.log(1.0 - f) / math.log10(k))),
        Mistake("one_step_too_many",
                "One step too many: the smallest n with 1 - alpha**n >= fraction is the "
                "ceiling of log(1 - fraction) / log(alpha), with no + 1.",
                lambda k, f: steps_to_cover(k, f) + 1),
        Mistake("exact_power_rounding",
                "When fraction is exactly covered after n steps, log(1 - fraction) / log(alpha) "
                "comes out a hair above n in floating point (n + 4e-15) and the ceiling gives "
                "n + 1: subtract a tiny tolerance (1e-9) before math.ceil.",
                lambda k, f: math.ceil(math.log(1.0 - f) / math.log(k))),
        Mistake("rounded_down",
                "Round up: after floor(log(1 - fraction) / log(alpha)) updates the average has "
                "not yet covered the fraction.",
                lambda k, f: steps_to_cover(k, f) - 1),
    ],
))
