"""Parts that are not "call one function on arrays": answers held in variables,
multiple choice, and functions whose arguments are built in the student's process.

They keep the contract of :class:`~bnlib.checks.core.Part`: ``run`` returns plain
records, ``evaluate`` recomputes everything it trusts from ``cases``.
"""

from dataclasses import dataclass, field

import numpy as np

from .compare import locate, same
from .core import Outcome, Part, register
from .plain import to_plain


def _coerce(got, expected):
    """Read a hand-typed answer in the expected form (a list as an array, 1-element as a number)."""
    if isinstance(expected, np.ndarray) and isinstance(got, (list, tuple)):
        try:
            return np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return got
    if isinstance(expected, float) and isinstance(got, np.ndarray) and got.size == 1:
        return float(got.reshape(-1)[0])
    return got


@dataclass
class ValuePart(Part):
    """A part answered by variables of the notebook (``names``), not by a function.

    ``reference(*case)`` returns ``{name: value}``; a mistake's ``make(*case)``
    returns the wrong values of the names it concerns, so each variable gets
    its own diagnosis.
    """

    names: tuple = ()
    check_mutation: bool = False
    # What any right answer satisfies, checked on every run (the visible one included,
    # which has no key): ``rules(answers)`` returns an Outcome for a slip, or None.
    rules: object = None
    rule_mistakes: list = field(default_factory=list)  # the Mistakes ``rules`` may name
    # What a green visible run means, when the values themselves are grader material.
    green_means: str = ""

    def __post_init__(self):
        if self.make_cases is None:
            self.make_cases = _one_case

    def run(self, namespace, cases, watch=True):
        """Read the variables (nothing is called); one record per case."""
        out = {n: to_plain(namespace[n]) for n in self.names if n in namespace}
        return [{"out": out, "error": None, "used_reference": []} for _ in cases]

    def evaluate(self, cases, records):
        """Compare each variable with the reference; name the first wrong one."""
        if (missing := self.no_result(cases, records)) is not None:
            return missing
        for rec in records:
            if (undefined := self._undefined(rec)) is not None:
                return undefined
            if self.rules is not None and (slip := self.rules(rec["out"])) is not None:
                return slip
        if self.reference is None:  # the values are grader material: check the format only
            return self._recorded(records)
        for case, rec in zip(cases, records):
            expected = to_plain(self.reference(*case))
            wrongs = [(m, to_plain(m.make(*case))) for m in self.mistakes]
            for name in self.names:
                verdict = self._judge(name, rec["out"], expected[name], wrongs)
                if verdict is not None:
                    return verdict
        return Outcome(True, f"{self.description}: passed")

    def _undefined(self, rec):
        for name in self.names:
            if name not in rec.get("out", {}):
                return Outcome(False, f"`{name}` is not defined: set it in the answer cell "
                               "and run that cell.", "undefined")
        return None

    def _recorded(self, records):
        names = ", ".join(f"`{n}`" for n in self.names)
        if self.green_means:
            return Outcome(True, f"{self.description}: {self.green_means}")
        if self.rules is not None:
            return Outcome(True, f"{self.description}: {names} agree with each other and with "
                           "what any right answer satisfies; whether they are right is checked "
                           "when your notebook is graded")
        return Outcome(True, f"{names} recorded; their values are checked when your notebook "
                       "is graded")

    def _judge(self, name, answers, expected, wrongs):
        if name not in answers:
            return Outcome(False, f"`{name}` is not defined: set it in the answer cell "
                           "and run that cell.", "undefined")
        got = _coerce(answers[name], expected)
        if same(got, expected, self.rtol, self.atol):
            return None
        for mistake, wrong in wrongs:
            if name in wrong and same(got, _coerce(wrong[name], expected), self.rtol, self.atol):
                return Outcome(False, f"`{name}`: {mistake.message}", mistake.id)
        return Outcome(False, locate(f"`{name}`", got, expected), "wrong_value")


def _one_case(rng, hidden):
    return [()]


@dataclass
class ChoicePart(ValuePart):
    """A multiple-choice question answered by a letter in variable ``names[0]``.

    The visible test only checks that the answer is one of ``options``; the
    hidden test checks it is ``answer``. ``explain[letter]`` says why a wrong
    option is wrong. ``answer`` and ``explain`` are grader material, filled in by
    the grader (``bngrade.worker.keys``); without them only the format is checked.
    """

    options: str = "abcd"
    answer: str = ""
    explain: dict = None  # letter -> why that option is wrong
    question: str = ""
    choices: dict = None  # letter -> the option's text, shown in the notebook

    def __post_init__(self):
        self.make_cases = _choice_cases

    def evaluate(self, cases, records):
        """Check the format on every case; the answer only on the hidden one."""
        if (missing := self.no_result(cases, records)) is not None:
            return missing
        name = self.names[0]
        for case, rec in zip(cases, records):
            got = rec["out"].get(name)
            if name not in rec["out"]:
                return Outcome(False, f"`{name}` is not defined: set it to one of "
                               f"{', '.join(repr(o) for o in self.options)}.", "undefined")
            if not isinstance(got, str) or got.strip().lower() not in self.options:
                return Outcome(False, f"`{name}` must be one letter among "
                               f"{', '.join(repr(o) for o in self.options)}, got {got!r:.40}.",
                               "invalid_option")
            letter = got.strip().lower()
            if case == ("answer",) and self.answer and letter != self.answer:
                return Outcome(False, f"`{name}` = {letter!r} is not right: "
                               f"{self.explain[letter]}", f"option_{letter}")
        if ("answer",) in cases and self.answer:
            return Outcome(True, f"`{name}`: right")
        return Outcome(True, f"`{name}` = {letter!r} recorded; whether it is right is checked "
                       "when your notebook is graded")


def _choice_cases(rng, hidden):
    return [("format",), ("answer",)] if hidden else [("format",)]


def register_choices(assignment, questions, points=1):
    """Register one :class:`ChoicePart` per ``(grade_id, question, choices)``; grade id
    ``<ps>_q_<name>`` is answered in the variable ``answer_<name>``. Their keys are the
    grader's (``bngrade.worker.keys``)."""
    for grade_id, question, choices in questions:
        name = f"answer_{grade_id.split('_q_', 1)[1]}"
        register(ChoicePart(grade_id=grade_id, assignment=assignment, target=name,
                            description=question, points=points, names=(name,),
                            question=question, choices=dict(choices)))


@dataclass
class BuiltArgsPart(Part):
    """A function part whose plain cases become arguments in the student's process.

    ``build(*case)`` returns the argument tuple, e.g. a function looked up by
    name (functions cannot travel as plain data). Arrays it passes on should be
    the case's own, so that changes to them show up as mutation.
    """

    build: object = None  # callable: (*case) -> argument tuple for the student's function

    def run(self, namespace, cases, watch=True):
        """Call the student's function on the built arguments (see :meth:`Part.run`)."""
        fn = namespace.get(self.target)
        if not callable(fn):
            return super().run(namespace, cases, watch)

        def call(*case):
            return fn(*self.build(*case))

        return super().run({self.target: call}, cases, watch)
