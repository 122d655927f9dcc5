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
import re

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
    ``max_score``, ``grades`` (``{grade id: score}``, manual scores included) and
    ``manual`` (``{grade id: (automatic score, manual score)}`` of every manual grade).
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
    grades, manual = {}, {}
    for sid, name, score, auto, by_hand in (gb.db.query(sa.student_id, BaseCell.name,
                                                        Grade.score, Grade.auto_score,
                                                        Grade.manual_score)
                             .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                             .join(sa, SubmittedNotebook.assignment_id == sa.id)
                             .join(BaseCell, Grade.cell_id == BaseCell.id)
                             .filter(sa.assignment_id == a.id)):
        grades.setdefault(sid, {})[name] = score
        if by_hand is not None:
            manual.setdefault(sid, {})[name] = (auto, by_hand)
    out = []
    max_score = a.max_score
    for sid, first, last, email, lms_id in gb.db.query(
            Student.id, Student.first_name, Student.last_name, Student.email,
            Student.lms_user_id).order_by(Student.id):
        row = {"student": sid, "first_name": first or "", "last_name": last or "",
               "email": email or "", "lms_user_id": lms_id or "", "max_score": max_score,
               "timestamp": None, "raw_score": 0.0, "late_submission_penalty": 0.0,
               "score": 0.0, "grades": grades.get(sid, {}),
               "manual": manual.get(sid, {})}
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


class ExportRefused(ValueError):
    """Rows that fail ``bngrade verify``: nothing is written (the message names them)."""


def skipped_by_lms(fmt, people):
    """``[(login, why)]``: rows the LMS will not match to anyone (so not import)."""
    out = []
    for r, p in people:
        if fmt == "moodle" and not p["lms_id"]:
            out.append((r["student"], "no Moodle participant id (Identifier): Moodle's grading "
                        "worksheet skips the row; give --roster with Moodle's worksheet or ids"))
        elif fmt == "canvas" and not (p["lms_id"] or p["sis_user_id"]):
            out.append((r["student"], "no Canvas user id or SIS User ID: Canvas can match the "
                        "row only by its SIS Login ID or name, and skips it if neither fits; "
                        "give --roster with Canvas's gradebook download"))
    return out


def write(path, fmt, assignment, rows, ids=None, roster=None, title=None, column_id=None,
          unverified=None):
    """Write ``rows`` (from :func:`final_scores`) to ``path`` in ``fmt`` (mode 0600); return
    the count. Names and logins are one line each and never a spreadsheet formula.

    ``unverified``: ``{login: reason}`` of rows written although they fail ``bngrade
    verify`` (``--include-unverified``); the ``csv`` and ``moodle`` files get a last column
    ``Unverified`` saying why (Moodle's worksheet upload reads only the columns it knows)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    title, ids = title or assignment, ids or {}
    max_score = number(rows[0]["max_score"]) if rows else "0"
    people = list(_people(rows, ids, roster, fmt))
    flag = unverified is not None and fmt in ("csv", "moodle")
    unverified = unverified or {}

    def flagged(r):
        return [csv_cell(unverified.get(r["student"], ""))] if flag else []

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
                    "Maximum Grade", "Last modified (grade)", *(["Unverified"] if flag else [])])
        for r, p in people:
            ident = f"Participant {p['lms_id']}" if p["lms_id"] else ""
            w.writerow([ident, csv_cell(p["name"] or r["student"]), csv_cell(p["email"]),
                        csv_cell(r["student"]), number(r["score"]), max_score, now,
                        *flagged(r)])
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
                    "raw_score", "late_submission_penalty", "score", "max_score",
                    *(["unverified"] if flag else [])])
        for r, p in people:
            w.writerow([csv_cell(r["student"]), csv_cell(p["last"]), csv_cell(p["first"]),
                        csv_cell(p["email"]), p["lms_id"], number(r["raw_score"]),
                        number(r["late_submission_penalty"]), number(r["score"]),
                        max_score, *flagged(r)])
    write_private(path, f.getvalue())
    return len(rows)


def unverified_rows(course, assignment):
    """``{login: reason}`` of the gradebook rows that do not match their seal (what
    ``bngrade verify`` lists)."""
    from . import integrity
    from .store import Store

    key = integrity.load_key(course_root=course.root)
    store = Store(course.db_url, course.course_id)
    try:
        bad = integrity.check(store.gb, key, course.course_id, assignment,
                              store.rows(assignment))
    finally:
        store.close()
    return {m.student: m.reason for m in bad}


def export(assignment, fmt, course_dir=".", db_url=None, out=None, roster=None, title=None,
           column_id=None, include_unverified=False):
    """Export ``assignment``'s grades for an LMS; return ``(path, number of students,
    warnings)``, ``warnings`` a list of ``(login, why)`` for each row the LMS will skip.

    Refuses (:class:`ExportRefused`, nothing written) while a row fails ``bngrade verify``,
    unless ``include_unverified`` (then those rows are flagged: :func:`write`)."""
    from .course import Course

    course = Course(course_dir, db_url)
    if isinstance(roster, (str, os.PathLike)):
        roster = Roster.read(roster)
    with Gradebook(course.db_url, course.course_id) as gb:
        rows = final_scores(gb, assignment)
        from . import late

        late_marked = [s for s, v in read_lms_ids(course.reports(assignment)).items()
                       if v["late"]]
        rows = late.apply(gb, assignment, rows, lms_late=late_marked)
    bad = unverified_rows(course, assignment)
    if bad and not include_unverified:
        from ..sanitize import line

        raise ExportRefused(
            f"{len(bad)} row(s) of {assignment} fail `bngrade verify` (changed behind "
            f"bngrade's back): " + "; ".join(f"{line(s, 60)}: {why}" for s, why in
                                            sorted(bad.items()))
            + f". Regrade them (`bngrade autograde {assignment}`), or write them flagged "
            "with --include-unverified; nothing was written")
    folder = course.reports(assignment)
    path = out or os.path.join(folder, f"{assignment}-{fmt}.csv")
    ids = read_lms_ids(folder)
    n = write(path, fmt, assignment, rows, ids, roster, title, column_id,
              unverified=bad if include_unverified else None)
    warnings = skipped_by_lms(fmt, _people(rows, ids, roster, fmt))
    return path, n, warnings


BUNDLES = ("canvas", "moodle")


def _canvas_attachments(folder):
    """``{login: (name part, user id, attachment id)}`` of each student's collected Canvas
    file (from ``collection.csv``)."""
    from .lms import CANVAS

    out = {}
    path = os.path.join(folder, "collection.csv")
    if not os.path.exists(path):
        return out
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["layout"] != "canvas" or r["status"] != "collected" or not r["student"]:
                continue
            m = CANVAS.match(r["entry"].rsplit("/", 1)[-1])
            if m and m["uid"].isdigit():
                name = re.sub(r"[^A-Za-z]", "", m["name"] or "") or "student"
                out[r["student"]] = (name, m["uid"], m["aid"])
    return out


def feedback_bundle(assignment, lms, course_dir=".", db_url=None, out=None, roster=None):
    """A zip of the feedback pages that ``lms`` attaches to each student on upload; return
    ``(path, files written, [(login, why not)])``.

    - ``canvas`` (Assignment > "Re-Upload Submissions"): each file is named
      ``<name>_<user id>_<attachment id>_<notebook>-feedback.html``, as "Download
      Submissions" names the student's file; Canvas reads the first two all-digit parts
      between ``_`` as the user id and the id of a file of that student's submission, and
      attaches the file as a comment there. Only students whose notebook was collected from
      a Canvas zip have both ids.
    - ``moodle`` (the assignment's "Upload multiple feedback files in a zip", with the
      "Feedback files" type on): ``<Full Name>_<participant id>_assignsubmission_file_
      <notebook>-feedback.html``, flat, as Moodle's feedback-file importer splits it (at the
      first four ``_``: so ``_`` in a name becomes a space); the participant id comes from
      the Moodle zip or the roster (Moodle's grading worksheet).
    """
    import zipfile

    from .course import Course

    if lms not in BUNDLES:
        raise ValueError(f"unknown LMS {lms!r} for a feedback bundle (one of "
                         f"{', '.join(BUNDLES)})")
    course = Course(course_dir, db_url)
    if isinstance(roster, (str, os.PathLike)):
        roster = Roster.read(roster)
    names = list(course.sources(assignment))
    with Gradebook(course.db_url, course.course_id) as gb:
        rows = final_scores(gb, assignment)
    folder = course.reports(assignment)
    ids = read_lms_ids(folder)
    attachments = _canvas_attachments(folder) if lms == "canvas" else {}
    files, skipped = {}, []
    for r, p in _people(rows, ids, roster, lms):
        pages = [(n, course.path("feedback", r["student"], assignment, f"{n}.html"))
                 for n in names]
        pages = [(n, path) for n, path in pages if os.path.isfile(path)]
        if not pages:
            skipped.append((r["student"], "no feedback page (no submission graded)"))
            continue
        if lms == "canvas":
            if r["student"] not in attachments:
                skipped.append((r["student"], "no Canvas submission file collected (Canvas "
                                "attaches feedback to a file of the student's submission)"))
                continue
            name, uid, aid = attachments[r["student"]]
            prefix = f"{name}_{uid}_{aid}_"
        else:
            if not p["lms_id"].isdigit():
                skipped.append((r["student"], "no Moodle participant id (give --roster with "
                                "Moodle's grading worksheet)"))
                continue
            full = re.sub(r"[_/\\\x00-\x1f]+", " ", p["name"] or r["student"]).strip()
            prefix = f"{full or 'Participant'}_{p['lms_id']}_assignsubmission_file_"
        for n, path in pages:
            with open(path, "rb") as f:
                files[f"{prefix}{n}-feedback.html"] = f.read()
    path = out or os.path.join(folder, f"{assignment}-{lms}-feedback.zip")
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path, len(files), skipped
