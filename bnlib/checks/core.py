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
import textwrap
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
        # in nbgrader feedback, would reveal the hidden tests). Lines of at most
        # WRAP characters, broken at spaces: JupyterLab and Colab break an error
        # output's long line anywhere, mid-word included.
        lines = textwrap.wrap(f"{type(self).__name__}: {self}", WRAP, break_long_words=False,
                              break_on_hyphens=False) or [type(self).__name__]
        name = type(self).__name__
        lines[0] = f"\x1b[0;31m{name}\x1b[0m" + lines[0][len(name):]
        return lines


WRAP = 80  # characters per line of a mistake's message in a notebook


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
    outputs: object = None  # names of a tuple answer's items, e.g. ("dx", "dgamma", "dbeta")
    # For a backward part: (*case) -> (through_mean, through_var), the two terms of dx that
    # flow through the statistics, so a dx off by a multiple of either is named.
    paths: object = None
    channel_axis: int = 1  # the axis of an output's channels, for the generic diagnoses
    arg_names: tuple = ()  # the target's argument names, where the reference's differ

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
                rec = {"error": error_words(exc)}
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
        """Compare records with the reference; name the mistake on a mismatch.

        A mistake is named only if it explains the answer on every case (where its
        output differs from the reference's and where it does not), so two slips that
        coincide on one case are told apart by the others."""
        if (missing := self.no_result(cases, records)) is not None:
            return missing
        answers, wrong, error, wrongs = [], None, None, []
        for case, rec in zip(cases, records):
            if (cheat := self.calls_reference(rec)) is not None:
                return cheat
            if rec.get("error"):  # a known slip that explains the other cases says more
                error = error or (rec["error"] if wrong is None else None)
                answers.append(RAISED)
                continue
            if self.check_mutation and not same(rec["args_after"], to_plain(case), 0, 0):
                return Outcome(False, f"`{self.target}` modified its input arrays in place; "
                               "work on copies (e.g. x - mu, not x -= mu).", "mutates_input")
            got = self.select(rec["out"]) if self.select else rec["out"]
            expected = to_plain(self.reference(*case))
            if rec["out"] is None and expected is not None:
                return Outcome(False, f"`{self.target}` returns nothing (None): end it with "
                               "a `return` of what its docstring names.", "no_return")
            answers.append(got)
            if not same(got, expected, self.rtol, self.atol):
                wrongs.append((case, got, expected))
                wrong = wrong or wrongs[0]
        named = self.matching(cases, answers) if wrong is not None else []
        if named:
            return Outcome(False, named[0].message, named[0].id)
        if error is not None:
            return raised(self.target, error)
        if wrong is None:
            return Outcome(True, f"{self.description}: passed")
        from .diagnose import (
            channel_relation,
            dx_terms,
            ingredients,
            none_cases,
            scalar_ratio,
            shape_words,
        )

        for diagnose in (none_cases, ingredients, scalar_ratio):
            try:
                with np.errstate(all="ignore"):
                    verdict = diagnose(self, cases, answers, RAISED)
            except (ValueError, TypeError, ZeroDivisionError, np.linalg.LinAlgError):
                verdict = None
            if verdict is not None:
                return verdict
        # the relations are read on the wrong case with the most values (the most telling:
        # in a batch of two, say, the paths of dx cannot be told apart)
        case, got, expected = max(wrongs, key=lambda w: _size(w[0]))
        first = wrong  # where the located message looks, as before
        for diagnose in (path_factors, dx_terms, constant_factor, channel_relation,
                         lambda part, *_: shape_words(part, first[1], first[2])):
            try:
                with np.errstate(all="ignore"):
                    verdict = diagnose(self, case, got, expected)
            except (ValueError, TypeError, np.linalg.LinAlgError):  # an answer of another form
                verdict = None
            if verdict is not None:
                return verdict
        case, got, expected = wrong
        return Outcome(False, describe_mismatch(self.target, got, expected, self.outputs),
                       "wrong_value")

    def matching(self, cases, answers):
        """The mistakes whose output equals the student's answer on every case."""
        found = []
        for mistake in self.mistakes:
            if all(self._explains(mistake, case, got) for case, got in zip(cases, answers)):
                found.append(mistake)
        return found

    def _explains(self, mistake, case, got):
        if got is RAISED:  # the student's code raised here: the slip may well raise too
            return True
        try:
            with np.errstate(all="ignore"):
                wrong = to_plain(mistake.make(*case))
        except Exception:  # the slip cannot even run on this case: it explains nothing
            return False
        return same(got, wrong, self.rtol, self.atol)


def _size(case):
    """The number of values in a case's arrays (a cache's included)."""
    return sum(a.size if isinstance(a, np.ndarray) else _size(tuple(a.values()))
               if isinstance(a, dict) else 0 for a in case)


def _fit(r, terms):
    """Least-squares coefficients of ``r`` on ``terms`` if they explain it exactly, else None."""
    a = np.stack([np.broadcast_to(t, r.shape).ravel() for t in terms], axis=1)
    coef, *_ = np.linalg.lstsq(a, r.ravel(), rcond=None)
    if np.linalg.norm(a @ coef - r.ravel()) > 1e-6 * np.linalg.norm(r) + 1e-12:
        return None
    return coef


def path_factors(part, case, got, expected):
    """A dx off by multiples of its paths through the mean and the variance, in words."""
    if part.paths is None or not (isinstance(got, tuple) and len(got) == len(expected)
            and isinstance(got[0], np.ndarray) and got[0].shape == expected[0].shape
            and same(got[1:], expected[1:], part.rtol, part.atol)):
        return None
    mean, var = part.paths(*case)
    coef = _fit(got[0] - expected[0], (mean, var))
    if coef is None:
        return None
    a, b = (0.0 if abs(c) < 1e-6 else float(c) for c in coef)
    if a == b == 0.0:
        return None
    if abs(a - b) <= 1e-6 * max(1.0, abs(a)):
        return Outcome(False, f"dx's two paths through the statistics are both {1 + a:.3g} "
                       "times what they should be: the count m must be the number of values "
                       "each statistic averages.", "count_factor")
    if a == 0.0:
        return Outcome(False, f"dx's path through the variance is {1 + b:.3g} times what it "
                       "should be: check the factors of dL/dvar (the -1/2 of "
                       "(var + eps)**(-1/2), its sign) and of dvar/dx_i = 2 (x_i - mu) / m.",
                       "var_path_factor")
    if b == 0.0:
        return Outcome(False, f"dx's path through the mean is {1 + a:.3g} times what it "
                       "should be: dL/dmu = -sum of dL/dx_hat / sqrt(var + eps), and "
                       "dmu/dx_i = 1 / m.", "mean_path_factor")
    return Outcome(False, f"dx's paths through the statistics carry wrong factors (the mean's "
                   f"is {1 + a:.3g} times, the variance's {1 + b:.3g} times what it should "
                   "be): check every factor of the two paths, m included.", "path_factors")


def constant_factor(part, case, got, expected):
    """The first wrong output when it is the right one times a constant, in words."""
    from .compare import leaves

    for name, g, e in leaves(got, expected, part.outputs):
        if same(g, e, 1e-6, 1e-8):
            continue
        if not (isinstance(g, np.ndarray) and isinstance(e, np.ndarray) and g.shape == e.shape
                and g.size > 1 and np.isfinite(g).all() and np.abs(e).max() > 1e-8):
            return None
        c = _fit(g, (e,))
        if c is None or abs(c[0] - 1) < 1e-3:  # a factor this close to 1 is no slip's
            return None
        return Outcome(False, f"`{part.target}`: {name} is {c[0]:.4g} times the right value "
                       "everywhere: a constant factor or a sign is off (look for 1/m, 2, 1/2, "
                       "gamma or a minus sign).", "constant_factor")
    return None


def error_words(exc):
    """An exception of the student's code in words: type, message, where."""
    text = str(exc).strip()
    return f"{type(exc).__name__}{': ' + text if text else ''}{raised_where(exc)}"


def raised(target, error):
    """The verdict when the student's code raised ``error`` (from :func:`error_words`)."""
    if error.startswith("NotImplementedError"):  # the part is as released
        return Outcome(False, f"not attempted: `{target}` is not written yet (it still raises "
                       "NotImplementedError): replace that line with your code and run the "
                       "cell.", "not_attempted")
    return Outcome(False, f"`{target}` raised {error}.", "raised")


RAISED = object()  # in a list of answers: the student's code raised on that case

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
