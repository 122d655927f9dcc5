"""The driver's writes: nbgrader's gradebook plus the engine's own table, one transaction each.

Only the driver calls this. For each student the nbgrader rows (student,
submission, grades) and the engine's row (``bngrade_result``: the input hash
that makes re-runs idempotent and resumable, the flags, the per-question
verdicts) are committed together or not at all; the results that arrive
together are committed in one transaction. Any SQLAlchemy URL nbgrader
accepts works: SQLite by default, PostgreSQL through psycopg2. With a ``key``
each student's row is sealed in the same transaction (``bngrade.integrity``).
"""

import contextlib
import datetime
import json
import secrets
from dataclasses import asdict

from nbgrader.api import (
    BaseCell,
    Comment,
    Grade,
    Gradebook,
    Notebook,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
    new_uuid,
)
from nbgrader.utils import parse_utc
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)

from . import integrity

META = MetaData()
RESULT = Table(
    "bngrade_result", META,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("input_hash", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("flags", Text, nullable=False),  # JSON list of {kind, notebook, detail}
    Column("detail", Text, nullable=False),  # JSON list of notebooks with their questions
    Column("graded_at", DateTime, nullable=False),
)
TIMES = ("time_limit", "slowest", "timed_out")  # per notebook: see bngrade.timelimit
# nbgrader's own tables, for the bulk writes of a first submission (Store._first_submission)
STUDENT, SUBMISSION = Student.__table__, SubmittedAssignment.__table__
SUBMITTED_NOTEBOOK, GRADE, COMMENT = (SubmittedNotebook.__table__, Grade.__table__,
                                      Comment.__table__)
SETTING = Table("bngrade_setting", META, Column("name", String(64), primary_key=True),
                Column("value", Text, nullable=False))


@contextlib.contextmanager
def transaction(gb):
    """nbgrader's Gradebook commits after every call; make its commits flushes, commit once."""
    session = gb.db()
    session.commit = session.flush
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        del session.commit
    session.commit()


class Store:
    """The course gradebook, opened by the driver."""

    def __init__(self, db_url, course_id="default_course", key=None):
        self.gb = Gradebook(db_url, course_id)
        self.course_id, self.key = course_id, key
        self._shapes = {}  # assignment -> its notebooks and cells in nbgrader's tables
        META.create_all(self.gb.engine)
        integrity.META.create_all(self.gb.engine)

    def close(self):
        self.gb.close()

    def salt(self):
        """A secret made once per gradebook: the hidden cases' seeds derive from it."""
        with transaction(self.gb) as s:
            row = s.execute(select(SETTING.c.value).where(SETTING.c.name == "salt")).first()
            if row:
                return row[0]
            value = secrets.token_hex(16)
            s.execute(insert(SETTING).values(name="salt", value=value))
        return value

    def setting(self, name):
        """A value the engine stored (JSON), or None."""
        row = self.gb.db.execute(select(SETTING.c.value).where(SETTING.c.name == name)).first()
        return None if row is None else json.loads(row[0])

    def set_setting(self, name, value):
        with transaction(self.gb) as s:
            s.execute(delete(SETTING).where(SETTING.c.name == name))
            s.execute(insert(SETTING).values(name=name, value=json.dumps(value)))

    def done(self, assignment):
        """``{student: input_hash}`` of the submissions already recorded."""
        rows = self.gb.db.execute(select(RESULT.c.student, RESULT.c.input_hash)
                                  .where(RESULT.c.assignment == assignment))
        return dict(rows.all())

    def record(self, assignment, items, clock=None):
        """Write ``(result, input_hash, timestamp)`` items: grades and engine rows, atomically.

        ``clock`` (a :class:`bngrade.timing.RunClock`) gets the seconds spent sealing."""
        with transaction(self.gb) as session:
            for result, input_hash, timestamp in items:
                self._write(session, assignment, result, input_hash, timestamp, clock)

    def _write(self, s, assignment, result, input_hash, timestamp, clock=None):
        """One :class:`bngrade.results.Submission`: nbgrader's grades and the engine's row."""
        student = result.student
        scores = {(nb.name, q.grade_id): q.score for nb in result.notebooks for q in nb.questions}
        if not self._first_submission(s, assignment, student, timestamp, scores):
            self._update_submission(s, assignment, student, timestamp, scores)
        total = sum(q.score or 0.0 for nb in result.notebooks for q in nb.questions)
        maximum = sum(q.points for nb in result.notebooks for q in nb.questions)
        s.execute(delete(RESULT).where(RESULT.c.assignment == assignment,
                                       RESULT.c.student == student))
        row = {"input_hash": input_hash, "score": total, "max_score": maximum,
               "flags": [asdict(f) for f in result.flags],
               "detail": [{"name": nb.name, "questions": [asdict(q) for q in nb.questions],
                           **{k: nb.timings[k] for k in TIMES if k in nb.timings}}
                          for nb in result.notebooks]}
        s.execute(insert(RESULT).values(
            assignment=assignment, student=student, input_hash=input_hash, score=total,
            max_score=maximum, flags=json.dumps(row["flags"]), detail=json.dumps(row["detail"]),
            graded_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None)))
        if self.key is not None:
            with clock.phase("seal") if clock else contextlib.nullcontext():
                # What is sealed is what was stored, read back as check() will read it.
                integrity.seal(s, self.key, self.course_id, assignment, student,
                               dict(row, flags=json.loads(json.dumps(row["flags"])),
                                    detail=json.loads(json.dumps(row["detail"]))))

    def _update_submission(self, s, assignment, student, timestamp, scores):
        """nbgrader's own calls: a submission seen before (its manual grades are kept)."""
        gb = self.gb
        gb.update_or_create_student(student)
        extra = {"timestamp": timestamp} if timestamp else {}
        grades = self._grades(s, gb.update_or_create_submission(assignment, student, **extra).id)
        for (notebook, grade_id), score in scores.items():
            grade = grades.get((notebook, grade_id)) or gb.find_grade(
                grade_id, notebook, assignment, student)  # (MissingEntry says which)
            grade.auto_score = score
            grade.needs_manual_grade = grade.manual_score is not None or score is None

    def _first_submission(self, s, assignment, student, timestamp, scores):
        """A student's first submission of ``assignment``, written as nbgrader's
        ``add_submission`` lays it out (the submission, one row per notebook, a grade per
        graded cell, a comment per answer or task cell) in a few bulk statements instead of
        an ORM object each. False (nothing written) when the submission exists already, or
        when a result names a cell the assignment does not have (nbgrader's path says which).
        """
        shape = self._shapes.get(assignment)
        if shape is None:
            a = self.gb.find_assignment(assignment)
            shape = self._shapes[assignment] = (a.id, [
                (nb.id, nb.name, {c.name: c.id for c in [*nb.grade_cells, *nb.task_cells]},
                 [c.id for c in [*nb.solution_cells, *nb.task_cells]]) for nb in a.notebooks])
        assignment_id, notebooks = shape
        cells = {(name, cell) for _, name, graded, _ in notebooks for cell in graded}
        if not set(scores) <= cells or s.execute(
                select(SUBMISSION.c.id).where(SUBMISSION.c.assignment_id == assignment_id,
                                              SUBMISSION.c.student_id == student)).first():
            return False
        if not s.execute(select(STUDENT.c.id).where(STUDENT.c.id == student)).first():
            s.execute(insert(STUDENT).values(id=student))
        submission_id = new_uuid()
        s.execute(insert(SUBMISSION).values(
            id=submission_id, assignment_id=assignment_id, student_id=student,
            timestamp=parse_utc(timestamp) if timestamp else None))
        books, grades, comments = [], [], []
        for notebook_id, name, graded, commented in notebooks:
            book = new_uuid()
            books.append({"id": book, "assignment_id": submission_id,
                          "notebook_id": notebook_id, "flagged": False})
            for cell, cell_id in graded.items():
                score = scores.get((name, cell))
                grades.append({"id": new_uuid(), "cell_id": cell_id, "notebook_id": book,
                               "auto_score": score,
                               "needs_manual_grade": (name, cell) not in scores or score is None})
            comments += [{"id": new_uuid(), "cell_id": cell_id, "notebook_id": book}
                         for cell_id in commented]
        for table, rows in ((SUBMITTED_NOTEBOOK, books), (GRADE, grades), (COMMENT, comments)):
            if rows:
                s.execute(insert(table), rows)
        return True

    @staticmethod
    def _grades(s, submission_id):
        """``{(notebook, cell): Grade}`` of one submission, in one query (not one per cell)."""
        rows = (s.query(Grade, BaseCell.name, Notebook.name)
                .join(BaseCell, BaseCell.id == Grade.cell_id)
                .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                .filter(SubmittedNotebook.assignment_id == submission_id))
        return {(notebook, cell): grade for grade, cell, notebook in rows}

    def mismatches(self, assignment):
        """Students whose recorded grade does not match its seal (``[]`` without a key)."""
        if self.key is None:
            return []
        return integrity.check(self.gb, self.key, self.course_id, assignment,
                               self.rows(assignment))

    def rows(self, assignment):
        """Every recorded student of ``assignment``, sorted, with flags and verdicts decoded."""
        rows = self.gb.db.execute(select(RESULT).where(RESULT.c.assignment == assignment)
                                  .order_by(RESULT.c.student))
        return [dict(r._mapping, flags=json.loads(r.flags), detail=json.loads(r.detail))
                for r in rows]

    def gradebook_scores(self, assignment):
        """``{student: {grade_id: auto_score}}`` as nbgrader's tables hold them."""
        out = {}
        for sub in self.gb.find_assignment(assignment).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out.setdefault(sub.student.id, {})[g.name] = g.auto_score
        return out
