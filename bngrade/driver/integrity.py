"""A gradebook no answer can rewrite: every row the engine writes is sealed with an HMAC.

The key lives outside the course directory, in the grading user's
configuration (``$XDG_CONFIG_HOME/bngrade/gradebook.key``, else
``~/.config/bngrade/gradebook.key``; ``$BNGRADE_KEY_FILE`` overrides the path,
for tests and for a key kept elsewhere). It is made on first use, 32 random
bytes in a 0600 file in a 0700 folder, and refused when it lies inside the
course, when anyone but its owner may read or write it, or when it is not a
regular file. Nothing a student's code can reach holds it.

A seal covers what a grade *is*: the course, assignment and student, the input
hash, the score and maximum, the flags and per-question verdicts of the
engine's row (``bngrade_result``), and the ``auto_score`` of every grade cell
of the student's submission in nbgrader's own tables (what ``nbgrader export``
reads). Seals live in their own table, ``bngrade_seal``, written in the same
transaction as the row. A row changed, added or copied from another student by
anything but the engine no longer matches; so does an nbgrader submission of
the assignment that the engine never sealed.

Public functions
----------------
``key_path() -> str``
    Where the key is (the environment variable, else the XDG location).
``load_key(course_root=None, path=None) -> bytes``
    The key, made on first use; ``ValueError`` naming the problem when unsafe.
``seal(session, key, course_id, assignment, student, row)``
    Write the seal of one student's row inside the caller's transaction.
    ``row``: ``input_hash, score, max_score, flags, detail`` (decoded values;
    ``detail`` lists notebooks with their questions' ``grade_id`` and
    ``score``, the auto scores written to nbgrader's grade cells).
``grades_of(gradebook, assignment) -> {student: {notebook: {grade_id: auto_score}}}``
    nbgrader's recorded auto scores, as sealed.
``check(gradebook, key, course_id, assignment, rows) -> [Mismatch]``
    Every student whose row or grades do not match their seal (``rows`` as
    ``Store.rows`` returns them). ``Mismatch(student, reason)``.
``private_files()``
    Set the process umask to 077, so every file and folder the grader creates
    is 0600 / 0700 (call once at the start of a command).
``write_private(path, text)``
    Write a text file atomically with mode 0600 (folders made 0700), also when
    it existed before with a wider mode.
"""

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, String, Table, delete, insert, select

ENV_KEY = "BNGRADE_KEY_FILE"
META = MetaData()
SEAL = Table("bngrade_seal", META,
             Column("assignment", String(128), primary_key=True),
             Column("student", String(128), primary_key=True),
             Column("mac", String(64), nullable=False))


@dataclass(frozen=True)
class Mismatch:
    """A student whose recorded grade is not what the engine sealed."""

    student: str
    reason: str


def key_path():
    """The key file: ``$BNGRADE_KEY_FILE``, else ``$XDG_CONFIG_HOME`` or ``~/.config``."""
    if os.environ.get(ENV_KEY):
        return os.path.abspath(os.environ[ENV_KEY])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(os.path.abspath(base), "bngrade", "gradebook.key")


def _inside(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def load_key(course_root=None, path=None):
    """The HMAC key (bytes), created on first use; refused when it is not private."""
    path = path or key_path()
    if course_root is not None and _inside(path, course_root):
        raise ValueError(f"the gradebook key {path} is inside the course directory "
                         f"{course_root}, where student code could reach it: keep it outside "
                         f"(default ~/.config/bngrade/, or set {ENV_KEY})")
    folder = os.path.dirname(path)
    if not os.path.exists(path):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # made meanwhile by a concurrent run: read it below
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"the gradebook key {path} is not a regular file")
    if st.st_mode & 0o077:
        raise ValueError(f"the gradebook key {path} may be read or written by others "
                         f"(mode {stat.S_IMODE(st.st_mode):o}): run chmod 600 {path}")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise ValueError(f"the gradebook key {path} belongs to another user (uid {st.st_uid})")
    with open(path, encoding="ascii") as f:
        text = f.read().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"the gradebook key {path} is not hexadecimal text") from None
    if len(key) < 16:
        raise ValueError(f"the gradebook key {path} is too short ({len(key)} bytes; "
                         "delete it to make a new one, then regrade with --force)")
    return key


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _mac(key, course_id, assignment, student, row, grades):
    message = _canonical({
        "course": course_id, "assignment": assignment, "student": student,
        "input_hash": row["input_hash"], "score": float(row["score"]),
        "max_score": float(row["max_score"]), "flags": row["flags"], "detail": row["detail"],
        "grades": {nb: {g: (None if s is None else float(s)) for g, s in cells.items()}
                   for nb, cells in grades.items()}})
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _engine_grades(row):
    return {nb["name"]: {q["grade_id"]: q["score"] for q in nb["questions"]}
            for nb in row["detail"]}


def seal(session, key, course_id, assignment, student, row):
    """Write (replace) the seal of ``student``'s row, in the caller's transaction (whose
    gradebook has the seal table: :class:`bngrade.driver.store.Store` makes it)."""
    session.execute(delete(SEAL).where(SEAL.c.assignment == assignment,
                                       SEAL.c.student == student))
    session.execute(insert(SEAL).values(
        assignment=assignment, student=student,
        mac=_mac(key, course_id, assignment, student, row, _engine_grades(row))))


def grades_of(gradebook, assignment):
    """``{student: {notebook: {grade_id: auto_score}}}`` from nbgrader's tables."""
    from nbgrader.api import MissingEntry  # (imported here: a command starts without it)

    out = {}
    try:
        submissions = gradebook.find_assignment(assignment).submissions
    except MissingEntry:  # nothing recorded yet
        return out
    for sub in submissions:
        per = out.setdefault(sub.student.id, {})
        for nb in sub.notebooks:
            per[nb.name] = {g.name: g.auto_score for g in nb.grades}
    return out


def check(gradebook, key, course_id, assignment, rows):
    """``[Mismatch]``: every student whose row or nbgrader grades do not match the seal."""
    META.create_all(gradebook.engine, checkfirst=True)
    seals = dict(gradebook.db.execute(select(SEAL.c.student, SEAL.c.mac)
                                      .where(SEAL.c.assignment == assignment)).all())
    grades = grades_of(gradebook, assignment)
    bad, seen = [], set()
    for row in rows:
        student = row["student"]
        seen.add(student)
        mac = seals.get(student)
        if mac is None:
            bad.append(Mismatch(student, "no seal: the row was not written by bngrade"))
            continue
        mine = _engine_grades(row)
        recorded = grades.get(student, {})
        # Sealed grades are the engine's; nbgrader may hold more cells (manual ones).
        sealed = {nb: {g: recorded.get(nb, {}).get(g) for g in cells}
                  for nb, cells in mine.items()}
        if not hmac.compare_digest(mac, _mac(key, course_id, assignment, student, row, sealed)):
            bad.append(Mismatch(student, "the row or its nbgrader grades were changed after "
                                         "bngrade wrote them"))
    for student in sorted(set(grades) - seen):
        if any(s is not None for cells in grades[student].values() for s in cells.values()):
            bad.append(Mismatch(student, "nbgrader grades with no bngrade row"))
    for student in sorted(set(seals) - seen - set(grades)):
        bad.append(Mismatch(student, "a seal without a row (the row was deleted)"))
    return bad


def private_files():
    """Every file and folder this process creates from now on is 0600 / 0700."""
    os.umask(0o077)


def write_private(path, text):
    """Write ``text`` to ``path`` atomically, mode 0600, its folder made 0700 if new."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
