"""The engine's score: the notebook's cells in a scoring sandbox, the checkers in the grader.

:func:`score_notebook` runs the source's read-only code and the student's answer
cells in a sandbox (:mod:`bngrade.calls`), then each graded part *here*, on
inputs made here (the visible cases plus hidden cases with a seed the student
never sees), each call's inputs sent when that call starts. The verdicts come
from :mod:`bnlib.checks` with the grader's keys (:mod:`bngrade.keys`).
"""

import copy
import hashlib

from IPython.core.inputtransformer2 import TransformerManager

from bnlib.checks import REGISTRY
from bnlib.checks.core import Outcome
from bnlib.checks.scenario import ScenarioPart

from ..spec import _text
from . import keys
from .calls import OutOfMemory, OutOfTime, ProtocolError, RemoteNamespace, Session, Tampered

keys.install()  # this module scores: the keys belong to the grader's process


def python_source(text):
    """Notebook cell text as plain Python (magics become calls that do nothing)."""
    try:
        return TransformerManager().transform_cell(text)
    except Exception:  # leave it to the sandbox to report the syntax error
        return text


def seed_for(salt, student, grade_id):
    """The hidden cases' seed: fixed per run secret, student and question."""
    digest = hashlib.sha256(f"{salt}:{student}:{grade_id}".encode()).hexdigest()
    return int(digest[:8], 16)


def runnable_cells(spec, cells, answers):
    """The cells the scoring sandbox runs, in order: read-only set-up code and answers."""
    out = []
    for c in spec.cells:
        if c.cell_type != "code":
            continue
        if c.kind == "setup":
            out.append((f"<read-only cell {c.index}>", python_source(c.release), None))
        elif c.kind in ("answer", "manual") and c.grade_id in answers:
            out.append((f"<answer cell {c.grade_id}>",
                        python_source(_text(cells[answers[c.grade_id]])), c.grade_id))
    return out


def graded_parts(spec):
    """``(grade_id, points)`` of the test cells a shared checker scores, in order."""
    return [(c.grade_id, c.points) for c in spec.cells
            if c.kind == "test" and c.grade_id in REGISTRY]


def allowed(grade_ids):
    """bnlib helpers (qualified names) the parts ``grade_ids`` allow."""
    return sorted({name for gid in grade_ids for name in REGISTRY[gid].allowed_reference})


class _Box:
    """The notebook's scoring sandbox, (re)started on demand with its cells run in it."""

    def __init__(self, cells, limits, isolated, helpers):
        self.cells, self.limits, self.isolated, self.helpers = cells, limits, isolated, helpers
        self.session, self.skip, self.problems = None, set(), {}
        self.times = []  # every request's wall seconds, over every sandbox of the notebook

    def get(self):
        while self.session is None:
            session = Session(self.limits, self.isolated)
            session.times = self.times
            session.allow(self.helpers)  # what the cells may call at their top level
            for label, source, _gid in self.cells:
                if label in self.skip:
                    continue
                try:
                    error = session.run_cell(source, label)
                except ProtocolError as exc:  # this cell ends the sandbox: run without it
                    self.problems[label] = (exc.code, _words(exc, self.limits))
                    self.skip.add(label)
                    session.kill()
                    session = None
                    break
                if error is not None and label not in self.problems:
                    self.problems[label] = (error["code"], error["text"]) if "code" in error \
                        else ("raised", f"raised {error['type']}: {error['text']}")
            self.session = session
        return self.session

    def drop(self):
        if self.session is not None:
            self.session.kill()
            self.session = None


def _words(exc, limits):
    if isinstance(exc, OutOfTime):
        return f"did not finish within {limits.seconds:g} s"
    if isinstance(exc, OutOfMemory):
        return f"ran out of memory (the limit is {limits.memory_mb} MB)"
    if isinstance(exc, Tampered):
        return f"broke the grader's protocol ({exc})"
    return str(exc) or "stopped the sandbox"


def score_notebook(spec, cells, answers, salt, student, limits, isolated=True, times=None):
    """Run the notebook's parts: the student's code in a sandbox, the checker here.

    Returns ``(verdicts, problems)``: ``{grade_id: {score, points, message, mistake,
    seconds}}`` (``seconds``: the part's slowest single call) and ``[(code, text)]`` for
    cells that failed; ``times`` (a list), if given, receives every cell's and call's
    wall seconds. A part whose call ends the sandbox (a
    timeout, a crash, the memory limit, a broken protocol) scores zero with that code, and
    the next part gets a fresh sandbox."""
    parts = graded_parts(spec)
    box = _Box(runnable_cells(spec, cells, answers), limits, isolated,
               allowed(gid for gid, _ in parts))
    if times is not None:
        box.times = times
    verdicts = {}
    try:
        for gid, points in parts:
            part = REGISTRY[gid]
            cases = part.cases() + part.cases(hidden=True, seed=seed_for(salt, student, gid))
            first = None
            try:
                session = box.get()
                first = len(box.times)  # the part's own calls from here
                session.allow(part.allowed_reference)
                ns = RemoteNamespace(session, classes=[part.target]
                                     if isinstance(part, ScenarioPart) else [])
                records = part.run(ns, cases, watch=False)
                try:
                    outcome = part.evaluate(cases, records)
                except Exception as exc:  # what came back made no sense to the checker
                    outcome = Outcome(False, f"the grader could not read what `{part.target}` "
                                      f"returned ({type(exc).__name__})", "malformed")
            except ProtocolError as exc:
                box.drop()
                outcome = Outcome(False, f"while `{part.target}` was being called, it "
                                  f"{_words(exc, limits)}", exc.code)
            message = outcome.message
            if not outcome.passed and "NameError" in message and box.problems:
                message += " -- " + "; ".join(f"{label.strip('<>')} {text}" for label, (_, text)
                                              in box.problems.items())
            verdicts[gid] = {"score": points if outcome.passed else 0.0, "points": points,
                             "message": message, "mistake": outcome.mistake,
                             "seconds": max(box.times[first:], default=0.0)
                             if first is not None else None}
    finally:
        box.drop()
    problems = [(code, f"{label.strip('<>')} {text}") for label, (code, text)
                in box.problems.items()]
    return verdicts, problems


def rebuild(release_nb, spec, cells, answers):
    """The release with the submission's answers in place (when nbgrader refuses the original)."""
    nb = copy.deepcopy(release_nb)
    for c in spec.cells:
        if c.grade_id in answers:
            nb.cells[c.index].source = _text(cells[answers[c.grade_id]])
    return nb
