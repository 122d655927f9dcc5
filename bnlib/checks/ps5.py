"""Checks for ps5-concepts: five multiple-choice questions and three practice problems.

The questions' wording and options live in :mod:`bnlib.checks.ps5_questions`; which
option is right, and the values of worked example C, are grader material
(``bngrade.keys``), not part of the package students install.
"""


from .. import averaging_window, inference_ops, keras_to_pytorch_momentum
from .core import Mistake, Part, register
from .kinds import ChoicePart, ValuePart
from .ps5_questions import QUESTIONS

ASSIGNMENT = "ps5-concepts"

for grade_id, question, choices in QUESTIONS:
    register(ChoicePart(
        grade_id=grade_id,
        assignment=ASSIGNMENT,
        target=f"answer_{grade_id.removeprefix('ps5_q_')}",
        description=question,
        points=1,
        names=(f"answer_{grade_id.removeprefix('ps5_q_')}",),
        question=question,
        choices=dict(choices),
    ))


register(ValuePart(
    grade_id="ps5_example_c",
    assignment=ASSIGNMENT,
    target="dvar_C",
    description="worked example C",
    points=2,
    names=("dvar_C", "dmu_C", "dx_C"),
    rtol=1e-3, atol=1e-3,  # the values and the mistakes are grader material (bngrade.keys)
))


def _ops_cases(rng, hidden):
    return [(64,), (1000,), (4096,)] if hidden else [(256,)]


register(Part(
    grade_id="ps5_inference_ops",
    assignment=ASSIGNMENT,
    target="inference_ops",
    description="operations at inference: batch norm versus a linear layer",
    points=1,
    make_cases=_ops_cases,
    reference=inference_ops,
    rtol=0.01,  # counting the bias's d additions too is fine
    mistakes=[
        Mistake("multiplies_only",
                "A d x d linear layer costs a multiply and an add per weight: about 2 * d * d "
                "operations, not d * d.", lambda d: (4 * d, d * d)),
        Mistake("folded_count",
                "Count the layer as written, unfolded: subtract the mean, divide by the standard "
                "deviation, multiply by gamma, add beta: 4 operations per value.",
                lambda d: (2 * d, 2 * d * d)),
    ],
))


def _momentum_cases(rng, hidden):
    return [(0.999,), (0.5,), (0.0,)] if hidden else [(0.99,), (0.9,)]


register(Part(
    grade_id="ps5_momentum",
    assignment=ASSIGNMENT,
    target="keras_to_pytorch",
    description="momentum conventions and the averaging window",
    points=2,
    make_cases=_momentum_cases,
    reference=lambda k: (keras_to_pytorch_momentum(k), averaging_window(k)),
    mistakes=[
        Mistake("same_number",
                "The conventions weigh opposite terms: Keras keeps `momentum` of the old value, "
                "PyTorch takes `momentum` of the new batch, so Keras's 0.99 is PyTorch's 0.01.",
                lambda k: (k, 1.0 / (1.0 - k))),
        Mistake("window_inverted",
                "The window is about 1 / (1 - alpha) batches, with alpha the weight kept on the "
                "old value (Keras's momentum): 100 batches for 0.99.",
                lambda k: (1.0 - k, 1.0 / k if k else float("inf"))),
    ],
))
