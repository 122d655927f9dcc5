"""Grades back into the LMS: the gradebook's final scores in each LMS's import format.

The scores are nbgrader's own: :func:`final_scores` reads the gradebook as
``nbgrader export`` does (every student of the gradebook, a submission's score
is the sum of its grades, each the manual score when one was given, else the
automatic one, less nbgrader's late penalty; no submission scores 0), so every
file written here agrees with ``nbgrader export`` row by row. Formats:

- ``canvas``: Canvas's gradebook import CSV: ``Student, ID, SIS User ID, SIS
  Login ID, Section`` then the assignment column, and a ``Points Possible`` row.
  Canvas finds the student by ``ID`` (its user id), then the SIS ids, then the
  name; the column by ``Title (assignment id)`` (``--column-id``), else by title
  (a new assignment if no title matches).
- ``moodle``: Moodle's assignment grading worksheet (Grading action > "Upload
  grading worksheet"), which finds the student by ``Identifier``
  (``Participant <id>``, as in the Moodle zip) and reads ``Grade`` and ``Last
  modified (grade)``; the ``Username`` and ``Email address`` columns serve
  Moodle's gradebook CSV import (map one of them to the user field).
- ``blackboard``: Blackboard's Grade Center upload CSV: ``Last Name, First Name,
  Username`` then ``<title> [Total Pts: <max> Score] |<column id>`` (without
  ``--column-id`` Blackboard makes a new column); every field is quoted.
- ``csv``: plain, one row per student with the LMS id.
"""

import csv
import datetime
import io
import os

from nbgrader.api import (
    BaseCell,
    Grade,
    Gradebook,
    MissingEntry,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
)

from ..sanitize import csv_cell
from .integrity import write_private
from .lms import read_lms_ids
from .roster import Roster

FORMATS = ("canvas", "moodle", "blackboard", "csv")


def final_scores(gb, assignment):
    """One dict per gradebook student (sorted by login), as ``nbgrader export`` scores it.

    Keys: ``student``, ``first_name``, ``last_name``, ``email``, ``lms_user_id``,
    ``timestamp``, ``raw_score``, ``late_submission_penalty``, ``score``,
    ``max_score`` and ``grades`` (``{grade id: score}``, manual scores included).
    Three queries over nbgrader's own score expressions, whatever the class size.
    """
    try:
        a = gb.find_assignment(assignment)
    except MissingEntry:
        raise ValueError(f"the gradebook has no assignment {assignment!r}") from None
    sa = SubmittedAssignment
    subs = {sid: (stamp, score, penalty or 0.0) for sid, stamp, score, penalty in gb.db.query(
        sa.student_id, sa.timestamp, sa.score, sa.late_submission_penalty)
        .filter(sa.assignment_id == a.id)}
    grades = {}
    for sid, name, score in (gb.db.query(sa.student_id, BaseCell.name, Grade.score)
                             .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                             .join(sa, SubmittedNotebook.assignment_id == sa.id)
                             .join(BaseCell, Grade.cell_id == BaseCell.id)
                             .filter(sa.assignment_id == a.id)):
        grades.setdefault(sid, {})[name] = score
    out = []
    max_score = a.max_score
    for sid, first, last, email, lms_id in gb.db.query(
            Student.id, Student.first_name, Student.last_name, Student.email,
            Student.lms_user_id).order_by(Student.id):
        row = {"student": sid, "first_name": first or "", "last_name": last or "",
               "email": email or "", "lms_user_id": lms_id or "", "max_score": max_score,
               "timestamp": None, "raw_score": 0.0, "late_submission_penalty": 0.0,
               "score": 0.0, "grades": grades.get(sid, {})}
        if sid in subs:  # else no submission: zero, as nbgrader export says
            stamp, score, penalty = subs[sid]
            row.update(timestamp=stamp, raw_score=score, late_submission_penalty=penalty,
                       score=max(0.0, score - penalty))
        out.append(row)
    return out


def number(x):
    return f"{x:.10g}"


def _people(rows, ids, roster, fmt):
    """Per student: names and the LMS id of ``fmt``, from the roster, gradebook, collection."""
    for r in rows:
        known = ids.get(r["student"], {})
        person = roster.login(r["student"]) if roster is not None else None
        person = person or {}
        first = person.get("first_name") or r["first_name"]
        last = person.get("last_name") or r["last_name"]
        name = (person.get("name") or known.get("name", "")).strip()
        if not (first or last) and name:
            if "," in name:  # "Last, First"
                last, _, first = (p.strip() for p in name.partition(","))
            else:
                *given, last = name.split()
                first = " ".join(given)
        lms_id = known.get("lms_user_id", "") if known.get("lms") == fmt else ""
        if fmt == "canvas":
            lms_id = lms_id or r["lms_user_id"]
        lms_id = lms_id or person.get("lms_id", "")
        yield r, {"first": first, "last": last, "name": name or f"{first} {last}".strip(),
                  "email": person.get("email") or r["email"], "lms_id": lms_id,
                  "sis_user_id": person.get("sis_user_id", ""),
                  "section": person.get("section", "")}


def write(path, fmt, assignment, rows, ids=None, roster=None, title=None, column_id=None):
    """Write ``rows`` (from :func:`final_scores`) to ``path`` in ``fmt`` (mode 0600); return
    the count. Names and logins are one line each and never a spreadsheet formula."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    title, ids = title or assignment, ids or {}
    max_score = number(rows[0]["max_score"]) if rows else "0"
    people = list(_people(rows, ids, roster, fmt))
    f = io.StringIO(newline="")
    if fmt == "canvas":
        w = csv.writer(f)
        column = f"{title} ({column_id})" if column_id else title
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
        w.writerow(["    Points Possible", "", "", "", "", max_score])
        for r, p in people:
            student = f"{p['last']}, {p['first']}" if p["last"] and p["first"] else \
                p["name"] or r["student"]
            w.writerow([csv_cell(student), p["lms_id"], csv_cell(p["sis_user_id"]),
                        csv_cell(r["student"]), csv_cell(p["section"]), number(r["score"])])
    elif fmt == "moodle":
        w = csv.writer(f)
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        w.writerow(["Identifier", "Full name", "Email address", "Username", "Grade",
                    "Maximum Grade", "Last modified (grade)"])
        for r, p in people:
            ident = f"Participant {p['lms_id']}" if p["lms_id"] else ""
            w.writerow([ident, csv_cell(p["name"] or r["student"]), csv_cell(p["email"]),
                        csv_cell(r["student"]), number(r["score"]), max_score, now])
    elif fmt == "blackboard":
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        column = f"{title} [Total Pts: {max_score} Score]" + \
            (f" |{column_id}" if column_id else "")
        w.writerow(["Last Name", "First Name", "Username", column])
        for r, p in people:
            w.writerow([csv_cell(p["last"]), csv_cell(p["first"]), csv_cell(r["student"]),
                        number(r["score"])])
    else:
        w = csv.writer(f)
        w.writerow(["student_id", "last_name", "first_name", "email", "lms_user_id",
                    "raw_score", "late_submission_penalty", "score", "max_score"])
        for r, p in people:
            w.writerow([csv_cell(r["student"]), csv_cell(p["last"]), csv_cell(p["first"]),
                        csv_cell(p["email"]), p["lms_id"], number(r["raw_score"]),
                        number(r["late_submission_penalty"]), number(r["score"]),
                        max_score])
    write_private(path, f.getvalue())
    return len(rows)


def export(assignment, fmt, course_dir=".", db_url=None, out=None, roster=None, title=None,
           column_id=None):
    """Export ``assignment``'s grades for an LMS; return (path, number of students)."""
    from .course import Course

    course = Course(course_dir, db_url)
    if isinstance(roster, (str, os.PathLike)):
        roster = Roster.read(roster)
    with Gradebook(course.db_url, course.course_id) as gb:
        rows = final_scores(gb, assignment)
    path = out or os.path.join(course.root, "reports", assignment, f"{assignment}-{fmt}.csv")
    n = write(path, fmt, assignment, rows, read_lms_ids(course.root, assignment), roster,
              title, column_id)
    return path, n
