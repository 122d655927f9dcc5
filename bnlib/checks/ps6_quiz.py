"""Checks for the quiz on chapters 6 and 7 at the end of ps6-in-practice: four
multiple-choice questions, registered as ps5's are (:func:`.kinds.register_choices`);
the wording lives in :mod:`bnlib.checks.ps6_questions`, the keys in ``bngrade.worker.keys``.
"""

from .kinds import register_choices
from .ps6 import ASSIGNMENT
from .ps6_questions import QUESTIONS

register_choices(ASSIGNMENT, QUESTIONS)
