"""Scenario parts: a scripted sequence of operations on the student's class.

A case is a script (see :mod:`bnlib.checks.replay`). The student's process
replays it on the student's class; the grader replays it on bnlib's class and
on each mistake's class, and names the mistake whose record agrees with the
student's up to the first step that differs from bnlib's.
"""

import copy
from dataclasses import dataclass

import numpy as np

from .compare import describe_mismatch, locate, same
from .core import Outcome, Part
from .replay import STATE, as_float, describe_step, first_difference, replay
from .watch import ReferenceWatch


def _error_words(got, expected):
    """A message when one side raised and the other did not (or raised differently)."""
    if expected.get("error") and not got.get("error"):
        return (f"it should raise {expected['error']} here, as PyTorch does "
                f"(\"{expected['detail']}\"), but it did not.", "missing_error")
    if got.get("error") == "NotImplementedError" and not expected.get("error"):
        return (f"not attempted: it is still the released stub (it raises "
                f"NotImplementedError{got.get('where', '')}); write your answer in its cell "
                "and run it.", "not_attempted")
    if got.get("error") and not expected.get("error"):
        hint = ""
        if got.get("op") == "forward" and got.get("state", {}).get("training") is False:
            hint = " In eval mode any batch size works, one included: the running statistics " \
                   "do not depend on the batch."
        return (f"it raised {got['error']}: {got.get('detail', '')}{got.get('where', '')}.{hint}",
                "raised")
    return (f"it should raise {expected['error']} (\"{expected['detail']}\"), "
            f"not {got['error']}.", "wrong_exception")


@dataclass
class ScenarioPart(Part):
    """A part graded by replaying scripts on the student's class ``target``.

    ``reference`` is bnlib's class; each mistake's ``make`` is a class with that
    mistake (``Mistake.make`` receives no case here: it *is* the class).
    """

    state: tuple = STATE
    check_mutation: bool = False  # checked per step instead

    def run(self, namespace, cases, watch=True):
        """Replay each script on the student's class; one plain record per script."""
        cls = namespace.get(self.target)
        if not callable(cls):
            return [{"error": f"NameError: define `{self.target}` (run its cell first)"}]
        records = []
        for case in cases:
            used = ReferenceWatch(self.allowed_reference if watch else None)
            with used:
                steps = replay(cls, copy.deepcopy(case), self.state)
            records.append({"out": steps, "error": None, "used_reference": used.names})
        return records

    def evaluate(self, cases, records):
        """Find the first step that differs from bnlib's class and say what went wrong."""
        if (missing := self.no_result(cases, records)) is not None:
            return missing
        for case, rec in zip(cases, records):
            if rec.get("error"):
                return Outcome(False, rec["error"], "undefined")
            if (cheat := self.calls_reference(rec)) is not None:
                return cheat
            others = [(c, r["out"]) for c, r in zip(cases, records) if not r.get("error")]
            verdict = self._judge(case, rec["out"], others)
            if verdict is not None:
                return verdict
        return Outcome(True, f"{self.description}: passed")

    def _agreement(self, mistake, others):
        """How many steps of all the scripts the mistake's class reproduces."""
        total = 0
        for case, got in others:
            with np.errstate(all="ignore"):
                wrong = replay(mistake.make, case, self.state)
            later = first_difference(got, wrong, self.rtol, self.atol)
            total += len(got) if later is None else later
        return total

    def _judge(self, case, got, others=()):
        expected = replay(self.reference, case, self.state)
        i = first_difference(got, expected, self.rtol, self.atol)
        if i is None:
            return None
        script = describe_step(case, i, self.target)
        where = f"After `{script}`: "
        g, e = (got[i] if i < len(got) else {}), (expected[i] if i < len(expected) else {})
        if g.get("mutated"):
            return Outcome(False, "forward changed its input x in place; work on a copy "
                           f"(x - mu, not x -= mu). (Seen after `{script}`.)", "mutates_input")
        if g.get("returned_self") is False and e.get("returned_self"):
            return Outcome(False, f"`{g['op']}()` must return the layer itself (end it with "
                           f"`return self`), as PyTorch's does, so that `bn.{g['op']}()(x)` "
                           f"works. (Seen after `{script}`.)", "no_return_self")
        candidates = []
        for mistake in self.mistakes:
            with np.errstate(all="ignore"):  # a mistake may well divide by zero
                wrong = replay(mistake.make, case, self.state)
            if first_difference(got[:i + 1], wrong[:i + 1], self.rtol, self.atol) is None:
                candidates.append((-self._agreement(mistake, others), len(candidates), mistake))
        if candidates:  # the slip that explains the most of the scripts
            mistake = min(candidates)[2]
            return Outcome(False, f"{mistake.message} (Seen after `{script}`.)", mistake.id)
        if g.get("error") != e.get("error"):
            words, mistake_id = _error_words(g, e)
            return Outcome(False, where + words, mistake_id)
        if not same(g.get("out"), e.get("out"), self.rtol, self.atol):
            return Outcome(False, where + describe_mismatch("the output", g.get("out"),
                                                            e.get("out")), "wrong_value")
        for name in self.state:
            a, b = as_float(g["state"].get(name)), as_float(e["state"].get(name))
            if not same(a, b, self.rtol, self.atol):
                return Outcome(False, where + locate(f"`bn.{name}`", a, b), "wrong_state")
        return Outcome(False, where + "the result differs from bnlib's.", "wrong_value")
