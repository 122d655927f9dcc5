"""Checkers for the graded exercises: one shared checker per graded part.

Test cells call ``check(grade_id, globals())``; the grading engine calls the
same parts' ``cases``/``run``/``evaluate`` with the student's code in a
sandbox (see :mod:`bnlib.checks.core`).
"""

from . import (  # noqa: F401 (registers the parts)
    ps1,
    ps2,
    ps2_gradcheck,
    ps3,
    ps4,
    ps4_fold,
    ps4_train,
    ps5,
    ps6,
    ps6_adabn,
    ps6_quiz,
)
from .core import REGISTRY, Mistake, MistakeFound, Outcome, Part, check, parts_for, register
from .progress import progress

__all__ = ["REGISTRY", "Mistake", "MistakeFound", "Outcome", "Part", "check", "parts_for",
           "progress", "register"]
