"""Time limits sized to the work: derived from the reference solution's own time.

The limit applies to every answer cell and graded call in the scoring sandbox and to
every cell of nbgrader's in-kernel run. By default it is

    limit = max(FLOOR, MULTIPLE * slowest)

where ``slowest`` is the slowest single cell or graded call of the *solution* notebook,
graded like a submission (the same scoring sandbox, the same kernel, the grader's own
inputs, on the machines that grade). The measurement is stored in the gradebook, keyed
by the assignment's sources and the bngrade and bnlib versions, so it is made once.
``--time-limit`` replaces the derived value.

Each graded notebook records the limit it was graded under, its slowest cell or call
and whether any hit the limit; when the limit changes, :func:`may_change` says which
recorded results the new limit can change: those that hit the old limit (when it grew)
and those whose slowest step reaches the new one (when it shrank). Every other row is
kept.
"""

import hashlib
import json
import math

import bnlib

from . import __version__

FLOOR = 5.0  # seconds: never less (start-up noise, a loaded machine, a plain-loop answer)
MULTIPLE = 10.0  # times the reference's slowest step
MEASURE_SECONDS = 120.0  # the limit the reference itself is measured under
HIT = 0.95  # a step that took this share of the limit or more ran into it


def derive(slowest):
    """The limit (whole seconds, as nbgrader's timeout is) for a reference whose slowest
    step took ``slowest`` seconds."""
    return float(math.ceil(max(FLOOR, MULTIPLE * slowest)))


def cache_name(assignment, sources):
    """The gradebook setting holding the measurement of these sources with this code."""
    digest = hashlib.sha256(json.dumps(
        [assignment, sorted(sources.items()), __version__, bnlib.__version__]).encode())
    return f"reference:{digest.hexdigest()[:48]}"


def observed(limit, sandbox_times, kernel_times):
    """What a notebook's grading saw, for its row: ``{time_limit, slowest, timed_out}``
    (a kernel cell that never replied counts as the whole limit)."""
    steps = [min(t, limit) for t in [*sandbox_times, *kernel_times]]
    slowest = max(steps, default=0.0)
    return {"time_limit": limit, "slowest": round(slowest, 3),
            "timed_out": slowest >= HIT * limit}


def may_change(notebooks, limit):
    """Whether a result recorded as ``notebooks`` (its detail rows) can differ under
    ``limit``: it hit a smaller limit, or a step of it reaches this one."""
    for nb in notebooks:
        if "time_limit" not in nb:
            return True  # recorded before limits were: nothing to go by
        old = nb["time_limit"]
        if old is None:
            continue  # nothing of it ran (unreadable or missing): no limit changes it
        if limit > old and nb.get("timed_out"):
            return True
        if limit < old and nb.get("slowest", 0.0) >= HIT * limit:
            return True
    return False


def from_reference(result):
    """The measurement of a graded reference (a :class:`bngrade.results.Submission`)."""
    slowest = max((nb.timings.get("slowest", 0.0) for nb in result.notebooks), default=0.0)
    questions = {q.grade_id: q.seconds for nb in result.notebooks for q in nb.questions}
    problems = sorted({f.kind for f in result.flags if f.kind in
                       ("timeout", "crashed", "memory", "grader_error")})
    return {"slowest": slowest, "questions": questions, "problems": problems}


def describe(info):
    """One line for the terminal."""
    if info["source"] == "option":
        return f"time limit: {info['seconds']:g} s per cell and graded call (--time-limit)"
    return (f"time limit: {info['seconds']:g} s per cell and graded call = max({FLOOR:g} s, "
            f"{MULTIPLE:g} x the reference solution's slowest step, "
            f"{info['reference_seconds']:.2f} s; {info['measured']}); --time-limit overrides")
