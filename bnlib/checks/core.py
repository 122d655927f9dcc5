"""The checker contract shared by the notebooks' test cells and the grading engine.

A graded *part* is checked in three steps, so that the score can be computed
outside the student's process:

1. ``part.cases(hidden, seed)`` -- inputs, made by the grader;
2. ``part.run(namespace, cases)`` -- calls the student's code (in the student's
   kernel or a sandbox) and returns *records* of plain data
   (:mod:`bnlib.checks.plain`);
3. ``part.evaluate(cases, records)`` -- in the grader: compares each record with
   bnlib's answer and, on a mismatch, names the most likely mistake.

A test cell in a notebook runs all three in the kernel through :func:`check`.
"""

import copy
import sysconfig
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .compare import describe_mismatch, same
from .plain import to_plain
from .watch import ReferenceWatch

# Code that is not the student's: this package, the standard library, installed packages.
_NOT_THEIRS = tuple(str(p) for p in {Path(__file__).resolve().parents[1],
                                     *(Path(sysconfig.get_path(k)).resolve()
                                       for k in ("stdlib", "purelib", "platlib"))})


def raised_where(exc):
    """Where the student's code raised ``exc``: `` in `f`, line N: `code` `` (or "").

    An exception re-raised by a grader from a sandbox's report carries its ``where``
    (the student's line as the sandbox saw it), not the grader's own frames."""
    if isinstance(getattr(exc, "where", None), str):
        return exc.where
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not str(Path(frame.filename).resolve()).startswith(_NOT_THEIRS):
            code = f": `{frame.line.strip()}`" if frame.line and frame.line.strip() else ""
            return f" (in `{frame.name}`, line {frame.lineno}{code})"
    return ""


class MistakeFound(AssertionError):
    """Raised by a test cell: the message says what is wrong and how to fix it."""

    def _render_traceback_(self):
        # IPython shows this instead of a traceback: the message is the whole
        # story, and a traceback would print the test cell's source (which,
        # in nbgrader feedback, would reveal the hidden tests).
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


@dataclass
class Outcome:
    """The verdict on one part."""

    passed: bool
    message: str
    mistake: str | None = None  # id of the diagnosed mistake, if any


@dataclass
class Mistake:
    """A known wrong answer: ``make(case)`` gives what that mistake would output."""

    id: str
    message: str
    make: object  # callable: case -> output (same structure as the reference)


@dataclass
class Part:
    """One graded part: the student's ``target`` called on each case.

    Subclasses (or instances) provide ``make_cases(rng, hidden)``,
    ``reference(*case)`` and ``mistakes``. ``compare`` decides closeness.
    """

    grade_id: str
    assignment: str
    target: str
    description: str
    points: float
    make_cases: object = None  # callable (rng, hidden) -> list of argument tuples
    reference: object = None  # callable (*case) -> expected output
    mistakes: list = field(default_factory=list)
    allowed_reference: tuple = ()  # bnlib helpers the student may call, by qualified name
    select: object = None  # callable: the student's plain output -> what is compared
    rtol: float = 1e-6
    atol: float = 1e-8
    check_mutation: bool = True  # fail if the student's function changes its inputs

    # 1. inputs ------------------------------------------------------------
    def cases(self, hidden=False, seed=None):
        """Argument tuples; hidden cases use other shapes and a seed of the caller's."""
        rng = np.random.default_rng(seed if seed is not None else (1 if hidden else 0))
        return [tuple(c) for c in self.make_cases(rng, hidden)]

    # 2. the student's code -------------------------------------------------
    def run(self, namespace, cases, watch=True):
        """Call the student's ``target`` on copies of each case; return plain records.

        ``watch``: note calls into bnlib's reference (in a notebook, where the student's
        code and bnlib share the process). The grading engine runs parts with
        ``watch=False`` on a namespace whose functions run in a sandbox that has no
        reference code at all."""
        fn = namespace.get(self.target)
        if not callable(fn):
            return [{"error": f"NameError: define `{self.target}` (run its cell first)"}]
        records = []
        for case in cases:
            args = copy.deepcopy(case)
            used = ReferenceWatch(self.allowed_reference if watch else None)
            try:
                with used:
                    out = fn(*args)
                rec = {"out": to_plain(out), "args_after": to_plain(args), "error": None}
            except Exception as exc:  # the student's exception, reported in words
                rec = {"error": f"{type(exc).__name__}: {exc}{raised_where(exc)}"}
            rec["used_reference"] = used.names
            records.append(rec)
        return records

    # 3. the verdict --------------------------------------------------------
    def no_result(self, cases, records):
        """The verdict when the run gave no record per case (e.g. the target is undefined)."""
        if not isinstance(records, list) or len(records) != len(cases):
            first = records[0] if isinstance(records, list) and records else {}
            error = first.get("error") if isinstance(first, dict) else None
            return Outcome(False, error or "no result")
        return None

    def calls_reference(self, rec):
        """The verdict when the student's code called bnlib's reference, else None."""
        if not rec.get("used_reference"):
            return None
        names = ", ".join(rec["used_reference"])
        return Outcome(False, f"`{self.target}` calls bnlib's reference ({names}); "
                       "implement it yourself with numpy.", "calls_reference")

    def evaluate(self, cases, records):
        """Compare records with the reference; name the mistake on a mismatch."""
        if (missing := self.no_result(cases, records)) is not None:
            return missing
        for case, rec in zip(cases, records):
            if (cheat := self.calls_reference(rec)) is not None:
                return cheat
            if rec.get("error"):
                return Outcome(False, f"`{self.target}` raised {rec['error']}", "raised")
            if self.check_mutation and not same(rec["args_after"], to_plain(case), 0, 0):
                return Outcome(False, f"`{self.target}` modified its input arrays in place; "
                               "work on copies (e.g. x - mu, not x -= mu).", "mutates_input")
            got = self.select(rec["out"]) if self.select else rec["out"]
            expected = to_plain(self.reference(*case))
            if same(got, expected, self.rtol, self.atol):
                continue
            for mistake in self.mistakes:
                try:
                    wrong = to_plain(mistake.make(*case))
                except Exception:
                    continue
                if same(got, wrong, self.rtol, self.atol):
                    return Outcome(False, mistake.message, mistake.id)
            return Outcome(False, describe_mismatch(self.target, got, expected), "wrong_value")
        return Outcome(True, f"{self.description}: passed")


REGISTRY = {}


def register(part):
    """Add ``part`` to the registry (by grade_id); return it."""
    if part.grade_id in REGISTRY:
        raise ValueError(f"duplicate grade_id {part.grade_id!r}")
    REGISTRY[part.grade_id] = part
    return part


def parts_for(assignment):
    """The registered parts of one assignment, in registration order."""
    return [p for p in REGISTRY.values() if p.assignment == assignment]


def check(grade_id, namespace, hidden=False, seed=None):
    """Run one part in this kernel; raise :class:`MistakeFound` naming the mistake."""
    part = REGISTRY[grade_id]
    cases = part.cases(hidden=hidden, seed=seed)
    outcome = part.evaluate(cases, part.run(namespace, cases))
    if not hidden:
        from .progress import record  # the notebook's last cell reads it

        record(grade_id, outcome.passed)
    if not outcome.passed:
        # In words, not only in the red of the error output: which part, that it
        # did not pass, and why (as "OK - <part>: passed" says a pass).
        raise MistakeFound(f"{part.description}: not passed. {outcome.message}")
    print(f"OK - {outcome.message}")
    return outcome
