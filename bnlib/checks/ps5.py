"""Checks for ps5-concepts: five multiple-choice questions and three problems.

The questions' wording and options live in :mod:`bnlib.checks.ps5_questions`; which
option is right, and the values of problem P1 (a backward pass by hand), are grader
material (``bngrade.worker.keys``), not part of the package students install.
The problems test the objectives of chapters 3 and 4 on cases the book does not
work out (its worked examples and practice problems are published with their
solutions): a backward pass by hand on a batch of four, the inference cost of
batch norm after a convolution, and how fast a running average follows a change.
"""

from .. import averaging_window, inference_ops
from .core import Mistake, Part, register
from .kinds import ValuePart, register_choices
from .ps5_questions import QUESTIONS

ASSIGNMENT = "ps5-concepts"

register_choices(ASSIGNMENT, QUESTIONS)


# P1: a backward pass by hand, on a batch of four (not the book's worked example C).
# These are the problem's inputs, stated in the notebook; its answers are in bngrade.worker.keys.
P1_X = (1.0, 3.0, 5.0, 7.0)
P1_GAMMA = 2.0
P1_DY = (1.0, -1.0, 0.0, 2.0)


register(ValuePart(
    grade_id="ps5_backward_by_hand",
    assignment=ASSIGNMENT,
    target="dvar_p1",
    description="a backward pass by hand",
    points=2,
    names=("dvar_p1", "dmu_p1", "dx_p1"),
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
    return [(64, 64, 56, 56, 3)]


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


def _cover_cases(rng, hidden):
    if hidden:  # drawn from the grader's seed: no hidden case is written here
        return [(float(rng.choice([0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999])),
                 float(rng.choice([0.5, 0.6, 0.75, 0.8, 0.9, 0.95, 0.99])))
                for _ in range(4)]
    return [(0.99, 0.9)]


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
        Mistake("rounded_down",
                "Round up: after floor(log(1 - fraction) / log(alpha)) updates the average has "
                "not yet covered the fraction.",
                lambda k, f: steps_to_cover(k, f) - 1),
    ],
))
