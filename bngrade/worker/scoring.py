"""The engine's score: the notebook's cells in a scoring sandbox, the checkers in the grader.

:func:`score_notebook` runs the notebook's code cells (the source's read-only
code, the student's answers and their own cells; not the test cells, which are
the grader's) once, in order, in a sandbox (:mod:`bngrade.worker.calls`), keeping each
cell's outputs for the autograded notebook; then each graded part *here*, on
inputs made here, each call's inputs sent when that call starts. The verdicts
come from :mod:`bnlib.checks` with the grader's keys (:mod:`bngrade.worker.keys`).

Hidden cases cannot be replayed: their seed is an HMAC, under the gradebook's
salt, of the student, the part and the code the submission runs
(:func:`seed_for`), so the same notebook gets the same cases and a changed one
new ones; and a hidden case's failure is said only by the mistake it matches or
"raised TypeError" / "a wrong value" (:func:`hidden_words`): never the student's
exception text, an input or an expected value.
"""

import builtins
import copy
import hashlib
import hmac
import re

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


def seed_for(salt, student, grade_id, content=""):
    """The hidden cases' seed: an HMAC under the gradebook's salt of the student, the part
    and ``content`` (a digest of the code the submission runs: :func:`content_digest`)."""
    digest = hmac.new(str(salt).encode(), f"{student}\0{grade_id}\0{content}".encode(),
                      hashlib.sha256).hexdigest()
    return int(digest[:8], 16)


def content_digest(cells):
    """What the hidden seeds depend on: the code of the cells that run (``notebook_cells``)."""
    h = hashlib.sha256()
    for label, source, _index in cells:
        h.update(f"{label}\0{source}\0".encode())
    return h.hexdigest()


def runnable_cells(spec, cells, answers):
    """The spec's read-only set-up code and the answers, in order (``(label, source,
    None)``): what runs when only the answers are known (the time-limit measurement)."""
    out = []
    for c in spec.cells:
        if c.cell_type != "code":
            continue
        if c.kind == "setup":
            out.append((f"<read-only cell {c.index}>", python_source(c.release), None))
        elif c.kind in ("answer", "manual") and c.grade_id in answers:
            out.append((f"<answer cell {c.grade_id}>",
                        python_source(_text(cells[answers[c.grade_id]])), None))
    return out


def notebook_cells(nb):
    """The code cells of the (sanitised) notebook that run, in order, as ``(label, source,
    index)``: every code cell but the test cells a shared checker scores, which are the
    grader's. (A test cell no checker scores runs as nbgrader runs it, its hidden tests
    removed beforehand: its score is not verified.)"""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not _text(cell).strip():
            continue
        m = cell.get("metadata", {}).get("nbgrader", {})
        if m.get("grade") and not m.get("solution"):
            if m.get("grade_id") in REGISTRY:
                continue
            out.append((f"<test cell {m.get('grade_id')}>", python_source(_text(cell)), i))
            continue
        if m.get("solution") and m.get("grade_id"):
            label = f"<answer cell {m['grade_id']}>"
        elif m.get("locked"):
            label = f"<read-only cell {i}>"
        else:
            label = f"<cell {i}>"
        out.append((label, python_source(_text(cell)), i))
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
        self.outputs = {}  # cell index -> its outputs, from the first sandbox that ran it

    def get(self):
        while self.session is None:
            session = Session(self.limits, self.isolated)
            session.times = self.times
            session.allow(self.helpers)  # what the cells may call at their top level
            for count, (label, source, index) in enumerate(self.cells, 1):
                if label in self.skip:
                    continue
                session.last_reply = {}
                try:
                    error = session.run_cell(source, label, count)
                except ProtocolError as exc:  # this cell ends the sandbox: run without it
                    self.problems[label] = (exc.code, _words(exc, self.limits))
                    self._keep(index, [_stopped(exc, self.limits)])
                    self.skip.add(label)
                    session.kill()
                    session = None
                    break
                outputs = session.last_reply.get("outputs")
                outputs = outputs if isinstance(outputs, list) else []
                if error is not None and error.get("code") == "timeout":
                    outputs = outputs + [_stopped(OutOfTime(""), self.limits)]
                self._keep(index, outputs)
                if error is not None and label not in self.problems:
                    self.problems[label] = (error["code"], error["text"]) if "code" in error \
                        else _syntax(source) if error["type"] in _SYNTAX \
                        else ("raised", f"raised {error['type']}: {error['text']}")
            self.session = session
        return self.session

    def _keep(self, index, outputs):
        if index is not None and index not in self.outputs:  # a re-run shows nothing new
            self.outputs[index] = outputs

    def drop(self):
        if self.session is not None:
            self.session.kill()
            self.session = None


_SYNTAX = ("SyntaxError", "IndentationError", "TabError")


def _syntax(source):
    """``("syntax_error", words)`` naming the line, from the grader's own compile of the
    cell (nothing is run; the sandbox's words are not needed)."""
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        code = (exc.text or "").strip()[:200]
        return ("syntax_error", f"has a syntax error at line {exc.lineno}"
                + (f": `{code}`" if code else "") + f" ({exc.msg})")
    except (ValueError, RecursionError, MemoryError, OverflowError):
        pass
    return ("syntax_error", "has a syntax error")


def _stopped(exc, limits):
    """The error output of a cell the grader had to stop."""
    words = _words(exc, limits)
    return {"output_type": "error", "ename": type(exc).__name__, "evalue": words,
            "traceback": [f"The grader stopped this cell: it {words}."]}


def _words(exc, limits):
    if isinstance(exc, OutOfTime):
        return f"did not finish within {limits.seconds:g} s"
    if isinstance(exc, OutOfMemory):
        return f"ran out of memory (the limit is {limits.memory_mb} MB)"
    if isinstance(exc, Tampered):
        return f"broke the grader's protocol ({exc})"
    return str(exc) or "stopped the sandbox"


def score_notebook(spec, cells, salt, student, limits, isolated=True, times=None,
                   outputs=None):
    """Run the notebook's cells once and its parts: the student's code in a sandbox, the
    checker here.

    ``cells``: ``(label, source, index)`` in order (:func:`notebook_cells`). Returns
    ``(verdicts, problems)``: ``{grade_id: {score, points, message, mistake, seconds}}``
    (``seconds``: the part's slowest single call) and ``[(code, text)]`` for cells that
    failed; ``times`` (a list), if given, receives every cell's and call's wall seconds;
    ``outputs`` (a dict), if given, each cell's outputs by index, as the sandbox sent
    them (untrusted: :func:`bngrade.sanitize.outputs` before use). A part whose call
    ends the sandbox (a timeout, a crash, the memory limit, a broken protocol) scores
    zero with that code, and the next part gets a fresh sandbox."""
    parts = graded_parts(spec)
    box = _Box(cells, limits, isolated, allowed(gid for gid, _ in parts))
    if times is not None:
        box.times = times
    content = content_digest(cells)
    verdicts = {}
    try:
        for gid, points in parts:
            part = REGISTRY[gid]
            visible = part.cases()
            hidden = part.cases(hidden=True, seed=seed_for(salt, student, gid, content))
            first = None
            try:
                session = box.get()
                first = len(box.times)  # the part's own calls from here
                session.allow(part.allowed_reference)
                ns = RemoteNamespace(session, classes=[part.target]
                                     if isinstance(part, ScenarioPart) else [])
                records = part.run(ns, visible + hidden, watch=False)
                try:
                    outcome = judge(part, visible, hidden, records)
                except Exception as exc:  # what came back made no sense to the checker
                    outcome = Outcome(False, f"the grader could not read what `{part.target}` "
                                      f"returned ({type(exc).__name__})", "malformed")
            except ProtocolError as exc:
                box.drop()
                outcome = Outcome(False, f"while `{part.target}` was being called, it "
                                  f"{_words(exc, limits)}", exc.code)
            message, mistake = outcome.message, outcome.mistake
            syntax = [label for label, (code, _) in box.problems.items() if code == "syntax_error"]
            if not outcome.passed and "NameError" in message and syntax:  # the cause, first
                message = "; ".join(f"{label.strip('<>')} {box.problems[label][1]}"
                                    for label in syntax) + (
                    f", so `{part.target}` was never defined: fix that line and run the cell.")
                mistake = "syntax_error"
            elif not outcome.passed and "NameError" in message and box.problems:
                message += " -- " + "; ".join(f"{label.strip('<>')} {text}" for label, (_, text)
                                              in box.problems.items())
            verdicts[gid] = {"score": points if outcome.passed else 0.0, "points": points,
                             "message": message, "mistake": mistake,
                             "seconds": max(box.times[first:], default=0.0)
                             if first is not None else None}
    finally:
        box.drop()
        if outputs is not None:
            outputs.update(box.outputs)
    problems = [(code, f"{label.strip('<>')} {text}") for label, (code, text)
                in box.problems.items()]
    return verdicts, problems


SAID_AS_IS = ("mutates_input", "calls_reference", "no_return_self", "undefined_hidden")
_SEEN = re.compile(r"\s*\(Seen after `.*?`\.\)", re.S)


def judge(part, visible, hidden, records):
    """The part's verdict: the visible cases as the checker says it; then the hidden ones,
    said without their inputs or values (:func:`hidden_words`)."""
    cases = visible + hidden
    if not isinstance(records, list) or len(records) != len(cases):
        return part.evaluate(cases, records)  # no record per case: nothing of a case in it
    n = len(visible)
    outcome = part.evaluate(visible, records[:n]) if n else Outcome(True, "")
    if not outcome.passed or not hidden:
        return outcome if n or hidden else part.evaluate(cases, records)
    secret = part.evaluate(hidden, records[n:])
    return secret if secret.passed else hidden_words(part, secret, records[n:])


def hidden_words(part, outcome, records):
    """A hidden case's failure in words that carry nothing of the case: the named mistake it
    matches, "raised <a built-in exception>", or "a wrong value"."""
    named = {m.id for m in part.mistakes} | set(SAID_AS_IS)
    target = f"`{part.target}`"
    if outcome.mistake in named or str(outcome.mistake).startswith("option_"):
        message = _SEEN.sub("", re.sub(r"^After `.*?`: ", "", outcome.message, flags=re.S))
        return Outcome(False, f"On a hidden case: {message}", outcome.mistake)
    if outcome.mistake in ("raised", "undefined") or any(r.get("error") for r in records
                                                         if isinstance(r, dict)):
        error = next((r["error"] for r in records if isinstance(r, dict) and r.get("error")),
                     "")
        name = re.match(r"\s*(\w+)", str(error))
        name = name.group(1) if name else ""
        known = isinstance(getattr(builtins, name, None), type) and issubclass(
            getattr(builtins, name), BaseException)
        return Outcome(False, f"{target} raised {name if known else 'an exception'} on a "
                       "hidden case (the visible cases pass): make it work for every valid "
                       "input the exercise describes (other shapes and values).", "raised")
    return Outcome(False, f"{target} gives a wrong value on a hidden case (the visible cases "
                   "pass): make it work for every valid input the exercise describes (other "
                   "shapes and values).", "wrong_value")


def rebuild(release_nb, spec, cells, answers):
    """The release with the submission's answers in place (when nbgrader refuses the original)."""
    nb = copy.deepcopy(release_nb)
    for c in spec.cells:
        if c.grade_id in answers:
            nb.cells[c.index].source = _text(cells[answers[c.grade_id]])
    return nb
