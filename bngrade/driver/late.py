"""Late submissions: who was late, by how much, and the penalty an instructor's rule gives.

A submission is late when its time (nbgrader's ``timestamp``: Blackboard's attempt time,
``timestamp.txt``, nbgrader's own collection) is after the assignment's due date, or when
the LMS marked it late (Canvas's ``LATE`` in the zip, which carries no time: counted as
one day late). The due date is nbgrader's (``Assignment.duedate``, e.g. ``nbgrader db
assignment add ps1-forward --duedate "2026-03-02 23:59:00 UTC"``) or the one given with
``bngrade autograde --due``.

The rule (``bngrade autograde --due DATE --late-penalty P [--late-max-days D]``, kept in
the gradebook for the later runs, ``bngrade summary`` and ``export``): ``P`` percent of the
assignment's points per day late, each started day counting whole (one second late is one
day), never more than the score; after ``D`` days late (when given) the score is 0. The
penalty is written where nbgrader keeps it (``SubmittedNotebook.late_submission_penalty``,
on the submission's first notebook), so ``nbgrader export``, ``grades.csv``, the summary and
``bngrade export`` all subtract the same number. Without a rule nothing is subtracted
(late students are still listed).
"""

import datetime
import json
import math

from nbgrader.api import SubmittedAssignment, SubmittedNotebook
from nbgrader.utils import parse_utc

DAY = 86400.0


def setting_name(assignment):
    return f"late:{assignment}"[:64]


def rule(due=None, penalty=None, max_days=None):
    """The rule as stored (``None`` if no penalty); raises ValueError on a bad value."""
    if penalty is None:
        return None
    if not 0 <= float(penalty) <= 100:
        raise ValueError(f"--late-penalty is a percent per day, 0 to 100 (not {penalty})")
    if max_days is not None and float(max_days) < 0:
        raise ValueError(f"--late-max-days must be 0 or more (not {max_days})")
    out = {"penalty_percent_per_day": float(penalty),
           "max_days": None if max_days is None else float(max_days)}
    if due is not None:
        out["due"] = _stamp(due).isoformat(sep=" ")
    return out


def _stamp(value):
    try:
        stamp = parse_utc(value) if isinstance(value, str) else value
    except ValueError:
        stamp = None
    if not isinstance(stamp, datetime.datetime):
        raise ValueError(f"not a date and time: {value!r} (e.g. '2026-03-02 23:59:00 UTC')")
    return stamp.replace(tzinfo=None)


def penalty_for(days_late, max_score, raw_score, the_rule):
    """Points taken from ``raw_score`` for a submission ``days_late`` days late."""
    if not the_rule or days_late <= 0:
        return 0.0
    if the_rule.get("max_days") is not None and days_late > the_rule["max_days"]:
        return raw_score
    days = math.ceil(days_late - 1e-9)
    return min(raw_score, max_score * the_rule["penalty_percent_per_day"] / 100.0 * days)


def stored_rule(gb, assignment):
    """The rule ``bngrade autograde --late-penalty`` kept in the gradebook (or None)."""
    from sqlalchemy import inspect, select

    from .store import SETTING  # the engine's settings table

    if not inspect(gb.engine).has_table(SETTING.name):  # a gradebook bngrade never graded
        return None
    row = gb.db.execute(select(SETTING.c.value)
                        .where(SETTING.c.name == setting_name(assignment))).first()
    return None if row is None else json.loads(row[0])


def apply(gb, assignment, final, the_rule=None, lms_late=()):
    """Add ``late_by`` (seconds late, or None) to each row of ``final``
    (:func:`bngrade.driver.export.final_scores`); with a rule (given, or stored in the gradebook),
    write each late submission's penalty to nbgrader's tables and update the rows."""
    if the_rule is None:
        the_rule = stored_rule(gb, assignment)
    a = gb.find_assignment(assignment)
    due = a.duedate
    if the_rule and the_rule.get("due"):
        due = _stamp(the_rule["due"])
    lms_late = set(lms_late)
    changed = False
    for r in final:
        late_by = None
        if r["timestamp"] is not None and due is not None and r["timestamp"] > due:
            late_by = (r["timestamp"] - due).total_seconds()
        elif r["timestamp"] is None and r["student"] in lms_late and r["raw_score"]:
            late_by = DAY  # the LMS says late, not by how much: one day
        r["late_by"] = late_by
        if not the_rule or r["timestamp"] is None and r["student"] not in lms_late:
            continue
        penalty = penalty_for((late_by or 0) / DAY, r["max_score"], r["raw_score"], the_rule)
        if abs(penalty - r["late_submission_penalty"]) > 1e-12:
            _write_penalty(gb, a.id, r["student"], penalty)
            r["late_submission_penalty"] = penalty
            r["score"] = max(0.0, r["raw_score"] - penalty)
            changed = True
    if changed:
        gb.db.commit()
    return final


def _write_penalty(gb, assignment_id, student, penalty):
    sub = gb.db.query(SubmittedAssignment).filter(
        SubmittedAssignment.assignment_id == assignment_id,
        SubmittedAssignment.student_id == student).one_or_none()
    if sub is None:
        return
    books = gb.db.query(SubmittedNotebook).filter(SubmittedNotebook.assignment_id == sub.id)
    for i, book in enumerate(sorted(books, key=lambda b: b.notebook.name)):
        book.late_submission_penalty = penalty if i == 0 else 0.0
