"""Checks for ps2-backward: the numerical gradient and the relative error.

A function cannot travel as plain data, so a case names it (``"bn_loss"`` or
``"cubic"``) with its parameters, and :func:`build` makes it in the student's
process.
"""

import numpy as np

from .. import batchnorm_forward, numerical_gradient, rel_error
from .compare import same
from .core import Mistake, Outcome, Part, register
from .kinds import BuiltArgsPart
from .ps2 import ASSIGNMENT

H = 1e-5  # the step both the student's default and the reference use


def loss_function(name, w, gamma, beta):
    """The scalar function a case names: a batch-norm loss or a weighted cubic."""
    if name == "bn_loss":
        return lambda x: float(np.sum(batchnorm_forward(x, gamma, beta)[0] * w))
    return lambda x: float(np.sum(w * x**3))


def build(name, x, w, gamma, beta):
    """The student's arguments: ``(f, x)`` with ``x`` the case's own array."""
    return loss_function(name, w, gamma, beta), x


def _cases(rng, hidden):
    specs = [("bn_loss", (3, 2)), ("cubic", (4,)), ("bn_loss", (2, 4))] if hidden else \
        [("cubic", (3, 2)), ("bn_loss", (4, 3))]
    cases = []
    for name, shape in specs:
        d = shape[-1]
        x = rng.normal(2.0, 1.5, size=shape)
        cases.append((name, x, rng.normal(size=shape), rng.normal(1.0, 0.5, d),
                      rng.normal(size=d)))
    return cases


def _reference(name, x, w, gamma, beta):
    return numerical_gradient(loss_function(name, w, gamma, beta), x.copy(), h=H)


def _forward_difference(name, x, w, gamma, beta):
    f = loss_function(name, w, gamma, beta)
    steps = np.eye(x.size).reshape((x.size,) + x.shape) * H
    return np.array([(f(x + e) - f(x)) / H for e in steps]).reshape(x.shape)


def _all_at_once(name, x, w, gamma, beta):
    f = loss_function(name, w, gamma, beta)
    return np.full(x.shape, (f(x + H) - f(x - H)) / (2 * H))


def _steps_of(a, b, name, x, w, gamma, beta):
    """(f(x + a h) - f(x - b h)) / (2h), one entry at a time."""
    f = loss_function(name, w, gamma, beta)
    steps = np.eye(x.size).reshape((x.size,) + x.shape) * H
    return np.array([(f(x + a * e) - f(x - b * e)) / (2 * H) for e in steps]).reshape(x.shape)


def _sum_of_two(name, x, w, gamma, beta):
    f = loss_function(name, w, gamma, beta)
    steps = np.eye(x.size).reshape((x.size,) + x.shape) * H
    return np.array([(f(x + e) + f(x - e)) / (2 * H) for e in steps]).reshape(x.shape)


class _Gradcheck(BuiltArgsPart):
    def evaluate(self, cases, records):
        """First: x must come back as it went in (up to rounding of x + h - h)."""
        for case, rec in zip(cases, records):
            after = rec.get("args_after")
            if not rec.get("error") and after and not same(after[1], case[1], 1e-12, 1e-12):
                return Outcome(False, "numerical_gradient must leave x as it found it: restore "
                               "each entry after perturbing it (old = x[i]; ...; x[i] = old).",
                               "x_not_restored")
        return super().evaluate(cases, records)


register(_Gradcheck(
    grade_id="ps2_numerical_gradient",
    assignment=ASSIGNMENT,
    target="numerical_gradient",
    description="centred numerical gradient",
    points=2,
    make_cases=_cases,
    reference=_reference,
    build=build,
    allowed_reference=("bnlib.batchnorm_forward",),  # called by the batch-norm loss itself
    check_mutation=False,
    rtol=1e-6, atol=1e-7,
    mistakes=[
        Mistake("perturbs_every_entry",
                "Perturb one entry at a time: x[i] = old + h, f(x), then x[i] = old - h; "
                "f(x + h) moves every entry at once and gives the same number for every i.",
                lambda *case: _all_at_once(*case)),
        Mistake("sum_not_difference",
                "Subtract the two values: (f(x + h) - f(x - h)) / (2h), not their sum.",
                lambda *case: _sum_of_two(*case)),
        Mistake("abs_difference",
                "Keep the sign of f(x + h) - f(x - h): a gradient entry is negative where f "
                "decreases; no abs().", lambda *case: np.abs(_reference(*case))),
        Mistake("integer_gradient",
                "The gradient array holds integers, so every entry is cut to a whole number: "
                "make it of floats, np.zeros_like(x, dtype=float).",
                lambda *case: np.trunc(_reference(*case))),
        *[Mistake("unequal_steps",
                  "Both steps have size h: x[i] = old + h, then x[i] = old - h, and divide by "
                  "2 * h.", lambda *case, a=a, b=b: _steps_of(a, b, *case))
          for a, b in ((2, 1), (1, 2), (0.5, 1), (1, 0.5))],
        Mistake("forward_difference",
                "Use the centred difference (f(x + h) - f(x - h)) / (2h): the one-sided "
                "(f(x + h) - f(x)) / h has an error of order h, too large for a gradient check.",
                _forward_difference),
        Mistake("not_halved",
                "The centred difference divides by 2h: (f(x + h) - f(x - h)) / (2 * h).",
                lambda *case: 2 * _reference(*case)),
        Mistake("sign_flipped",
                "The sign is flipped: it is f(x + h) - f(x - h), in that order.",
                lambda *case: -_reference(*case)),
    ],
))


def _nan_as_word(out):
    return "nan" if isinstance(out, float) and np.isnan(out) else out


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def _guarded(scale_of):
    """norm(a - b) / scale_of(a, b), 0 where that scale is 0 (as the solution guards)."""
    def make(a, b):
        scale = scale_of(a, b)
        return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)
    return make


def _relerr_cases(rng, hidden):
    sizes = [(5,), (3, 4), (6,)] if hidden else [(4,), (2, 3)]
    cases = [(a, a + rng.normal(scale=1e-3, size=a.shape))
             for a in (rng.normal(size=s) for s in sizes)]
    cases.append((np.zeros(3), rng.normal(size=3)))
    flipped = rng.normal(size=(3, 2) if hidden else (4,))
    cases.append((flipped, -flipped))  # a gradient with its sign flipped: relative error 1
    cases.append((np.zeros((2, 2)), np.zeros((2, 2))))  # the rule the notebook states
    a, b = rng.normal(size=(2, 5 if hidden else 4))
    cases.append((a, b))  # two unrelated arrays: |a| and |b| point different ways
    tiny = rng.normal(scale=1e-9, size=4 if hidden else 3)
    cases.append((tiny, tiny * 1.5))  # gradients of size 1e-9: relative error 0.2 still
    return cases


register(Part(
    grade_id="ps2_rel_error",
    assignment=ASSIGNMENT,
    target="rel_error",
    description="relative error of two arrays",
    points=1,
    make_cases=_relerr_cases,
    reference=rel_error,
    select=_nan_as_word,
    mistakes=[  # the zero case first: there the entry-wise ratio is nan too
        Mistake("zero_not_guarded",
                "Two zero arrays (a gradient that is exactly zero) have relative error 0: "
                "return 0.0 when norm(a) + norm(b) == 0 instead of dividing 0 by 0.",
                lambda a, b: "nan" if not (a.any() or b.any()) else rel_error(a, b)),
        *[Mistake("elementwise",
                  "Use the norms: norm(a - b) / (norm(a) + norm(b)). An entry-wise ratio is "
                  "dominated by the tiny entries of a gradient that sums to zero.", make)
          for make in (lambda a, b: _nan_as_word(float(np.max(_ratio(
              np.abs(a - b), np.abs(a) + np.abs(b))))),
              lambda a, b: 0.0 if not (a.any() or b.any()) else _nan_as_word(float(np.max(
                  _ratio(np.abs(a - b), np.abs(a) + np.abs(b))))))],
        *[Mistake("one_sided",
                  "Divide by norm(a) + norm(b), so that the error is symmetric in a and b.",
                  make)
          for i in (0, 1) for make in (
              lambda a, b, i=i: _nan_as_word(float(_ratio(np.linalg.norm(a - b),
                                                          np.linalg.norm((a, b)[i])))),
              _guarded(lambda a, b, i=i: np.linalg.norm((a, b)[i])))],
        *[Mistake("norm_of_sum",
                  "Divide by norm(a) + norm(b), not norm(a + b): when b = -a (a gradient with "
                  "its sign flipped) norm(a + b) is 0, and the check would call the two "
                  "equal. Their relative error is 1.", make)
          for make in (_guarded(lambda a, b: np.linalg.norm(a + b)),
                       lambda a, b: _nan_as_word(float(_ratio(np.linalg.norm(a - b),
                                                              np.linalg.norm(a + b)))))],
        Mistake("max_scale",
                "Divide by the sum norm(a) + norm(b), not the larger of the two: the error of "
                "a gradient with its sign flipped must be 1.",
                _guarded(lambda a, b: max(np.linalg.norm(a), np.linalg.norm(b)))),
        Mistake("scale_squared",
                "Divide by norm(a) + norm(b) itself, not its square: the error must not change "
                "when both arrays are scaled by the same factor.",
                _guarded(lambda a, b: (np.linalg.norm(a) + np.linalg.norm(b)) ** 2)),
        Mistake("product_scale",
                "Divide by the sum norm(a) + norm(b), not the product: the error must not "
                "change when both arrays are scaled by the same factor.",
                _guarded(lambda a, b: np.linalg.norm(a) * np.linalg.norm(b))),
        *[Mistake("l1_norms",
                  "Use the Euclidean norm, np.linalg.norm (the square root of the sum of "
                  "squares), for both norm(a - b) and norm(a) + norm(b), not sums of absolute "
                  "values.", make)
          for make in (lambda a, b: 0.0 if not (a.any() or b.any()) else float(
              np.abs(a - b).sum() / (np.linalg.norm(a) + np.linalg.norm(b))),
              _guarded(lambda a, b: np.abs(a).sum() + np.abs(b).sum()))],
        Mistake("squared_error",
                "norm(a - b) is not squared: norm(a - b) / (norm(a) + norm(b)).",
                lambda a, b: 0.0 if not (a.any() or b.any()) else float(
                    np.linalg.norm(a - b) ** 2 / (np.linalg.norm(a) + np.linalg.norm(b)))),
        Mistake("divided_by_size",
                "Do not divide by the number of entries: the norms already measure the whole "
                "arrays, norm(a - b) / (norm(a) + norm(b)).",
                lambda a, b: 0.0 if not (a.any() or b.any()) else float(
                    np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)) / a.size)),
        Mistake("tiny_added",
                "Do not add a small number to norm(a) + norm(b): for gradients of size 1e-8 "
                "it changes the error; guard the case of two zero arrays with an if instead.",
                lambda a, b: float(np.linalg.norm(a - b) / (
                    np.linalg.norm(a) + np.linalg.norm(b) + 1e-8))),
        Mistake("norm_of_abs_sum",
                "Divide by norm(a) + norm(b), the sum of the two norms: the norm of "
                "|a| + |b| is smaller unless a and b point the same way.",
                _guarded(lambda a, b: np.linalg.norm(np.abs(a) + np.abs(b)))),
        Mistake("scale_from_difference",
                "The scale is the size of the two arrays, norm(a) + norm(b), not one built "
                "from their difference.",
                _guarded(lambda a, b: np.linalg.norm(a - b) + np.linalg.norm(b))),
        Mistake("absolute_error",
                "That is the absolute error norm(a - b): divide it by norm(a) + norm(b), so "
                "that the error does not depend on the size of the gradients.",
                lambda a, b: float(np.linalg.norm(a - b))),
    ],
))
