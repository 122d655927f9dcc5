"""The engine's score: the sandbox program, the verdicts, the comparison with nbgrader.

:func:`program` turns the source notebook and a submission's answer cells into
sandbox steps: the source's read-only code, the student's answers, and one
step per graded part on inputs made here (the visible cases plus hidden cases
with a seed the student never sees). :func:`verdicts` evaluates the records in
this process, with bnlib, through the shared checkers.
"""

import copy
import hashlib

from IPython.core.inputtransformer2 import TransformerManager

from bnlib.checks import REGISTRY
from bnlib.checks.core import Outcome
from bnlib.checks.plain import decode, encode

from .spec import _text


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


def program(spec, cells, answers, salt, student):
    """Sandbox steps for one notebook, and the cases each part is run on."""
    steps, cases = [], {}
    for c in spec.cells:
        if c.cell_type != "code":
            continue
        if c.kind == "setup":
            steps.append({"kind": "setup", "label": f"<read-only cell {c.index}>",
                          "source": python_source(c.release)})
        elif c.kind in ("answer", "manual") and c.grade_id in answers:
            text = _text(cells[answers[c.grade_id]])
            steps.append({"kind": "answer", "label": f"<answer cell {c.grade_id}>",
                          "source": python_source(text), "grade_id": c.grade_id})
        elif c.kind == "test" and c.grade_id in REGISTRY:
            part = REGISTRY[c.grade_id]
            cases[c.grade_id] = (part.cases() +
                                 part.cases(hidden=True, seed=seed_for(salt, student, c.grade_id)))
            steps.append({"kind": "part", "label": c.grade_id, "grade_id": c.grade_id,
                          "cases": encode(cases[c.grade_id])})
    return steps, cases


def allowed(cases):
    """bnlib functions the parts of this notebook allow answers to call."""
    return sorted({name for gid in cases for name in REGISTRY[gid].allowed_reference})


def _outcome(part, cases, result, step_seconds, memory_mb):
    if result is None:
        return Outcome(False, "no result: the grading process stopped first", "crashed")
    status = result.get("status")
    if status == "timeout":
        return Outcome(False, f"`{part.target}` did not finish within {step_seconds:g} s on the "
                       "grader's inputs (an endless loop?)", "timeout")
    if status != "ok":
        return Outcome(False, f"while `{part.target}` was being called, "
                       f"{result.get('error', 'something failed')}", "crashed")
    try:
        outcome = part.evaluate(cases, decode(result["records"]))
    except Exception as exc:  # records from the student's process did not make sense
        return Outcome(False, f"the grader could not read what `{part.target}` returned "
                       f"({type(exc).__name__})", "malformed")
    if not outcome.passed and "MemoryError" in outcome.message:
        return Outcome(False, f"`{part.target}` ran out of memory (the limit is {memory_mb} MB)",
                       "memory")
    return outcome


def step_problems(steps, results, step_seconds, memory_mb):
    """Answer or read-only cells that failed in the sandbox, in words."""
    problems = []
    for i, step in enumerate(steps):
        r = results.get(i) or {"status": "crashed", "error": "no result"}
        if step["kind"] == "part" or r.get("status") == "ok":
            continue
        what = {"timeout": f"did not finish within {step_seconds:g} s",
                "crashed": r.get("error", "")}.get(r.get("status"), f"raised {r.get('error')}")
        if "MemoryError" in what:
            what = f"ran out of memory (the limit is {memory_mb} MB)"
        problems.append((r.get("status"), f"{step['label'].strip('<>')} {what}"))
    return problems


def verdicts(spec, steps, results, cases, step_seconds, memory_mb):
    """``{grade_id: {score, points, message, mistake}}`` for every part the engine ran."""
    problems = [text for _status, text in step_problems(steps, results, step_seconds, memory_mb)]
    points = {c.grade_id: c.points for c in spec.cells if c.kind == "test"}
    out = {}
    for i, step in enumerate(steps):
        if step["kind"] != "part":
            continue
        gid = step["grade_id"]
        outcome = _outcome(REGISTRY[gid], cases[gid], results.get(i), step_seconds, memory_mb)
        message = outcome.message
        if not outcome.passed and "NameError" in message and problems:
            message += " -- " + "; ".join(problems)
        out[gid] = {"score": points[gid] if outcome.passed else 0.0, "points": points[gid],
                    "message": message, "mistake": outcome.mistake}
    return out


def rebuild(release_nb, spec, cells, answers):
    """The release with the submission's answers in place (when nbgrader refuses the original)."""
    nb = copy.deepcopy(release_nb)
    for c in spec.cells:
        if c.grade_id in answers:
            nb.cells[c.index].source = _text(cells[answers[c.grade_id]])
    return nb
