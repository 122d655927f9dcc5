"""Helpers for the grading-engine tests: throw-away courses, submissions, engine runs."""

import copy
import os
import pathlib
import shutil
import sqlite3
import subprocess

import nbformat

from bngrade import nbg
from bngrade.driver import engine

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "engine_course"  # bn-mini: a two-question course of the tests'


def make_course(tmp, assignments=("bn-mini",), source_root=FIXTURE):
    """A course folder in ``tmp`` with the sources of ``assignments`` and a config."""
    course = pathlib.Path(tmp)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE / "nbgrader_config.py", course / "nbgrader_config.py")
    for a in assignments:
        shutil.copytree(source_root / "solutions" / a, course / "solutions" / a)
    return course


def source(course, assignment):
    return nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", 4)


def release(course, assignment):
    """What students receive (generated in memory by nbgrader's own preprocessors)."""
    cfg = nbg.load_config(course)
    db = f"sqlite:///{course / '.release.db'}"
    return nbg.release(source(course, assignment), assignment, assignment, db, cfg)


def with_answers(course, assignment, answers):
    """The release with the answer cells of ``answers`` (a notebook) typed in."""
    nb = release(course, assignment)
    answers = nbformat.from_dict(answers)
    for mine, theirs in zip(nb.cells, answers.cells):
        if theirs.metadata.get("nbgrader", {}).get("solution"):
            mine.source = theirs.source
    return nb


def correct_submission(course, assignment):
    """What a good student submits: the release with the solution's answers."""
    solution = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", 4)
    return with_answers(course, assignment, solution)


def submit(course, student, assignment, nb, filename=None):
    """Put ``nb`` (a notebook, raw text or None) in nbgrader's submitted/ layout."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    if nb is None:
        return folder
    path = folder / (filename or f"{assignment}.ipynb")
    path.write_text(nb if isinstance(nb, str) else nbformat.writes(nb), encoding="utf-8")
    return folder


def cell(nb, grade_id):
    """The cell with nbgrader ``grade_id``."""
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def edited(nb, grade_id, old=None, new="", append=None):
    """A copy of ``nb`` whose cell ``grade_id`` has ``old`` replaced (or ``append`` added)."""
    nb = copy.deepcopy(nb)
    c = cell(nb, grade_id)
    if old is not None:
        assert c.source.count(old) == 1, (grade_id, old)
        c.source = c.source.replace(old, new)
    if append is not None:
        c.source += "\n" + append
    return nb


def grade(course, assignment="bn-mini", **kw):
    """Run the engine as the command does (quietly); return its summary."""
    kw.setdefault("workers", 2)
    kw.setdefault("time_limit", 3)
    kw.setdefault("log", lambda message: None)
    return engine.autograde(assignment, str(course), progress=False, **kw)


def by_student(summary):
    return {p["student"]: p for p in summary["per_student"]}


def db_rows(course, sql):
    with sqlite3.connect(course / "gradebook.db") as db:
        return db.execute(sql).fetchall()


def nbgrader_grades(course):
    """(student, grade cell, auto_score) rows of nbgrader's own tables, sorted."""
    return sorted(db_rows(course, """
        SELECT student.id, base_cell.name, grade.auto_score
        FROM grade JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id
        JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id
        JOIN student ON submitted_assignment.student_id = student.id
        JOIN base_cell ON grade.cell_id = base_cell.id"""))


def tree(path):
    """Relative paths of the files under ``path`` (sorted)."""
    return sorted(str(p.relative_to(path)) for p in pathlib.Path(path).rglob("*") if p.is_file())


def environ_with_venv():
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(os.sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_ok(course, *cmd):
    """Run ``cmd`` in ``course`` with the venv's commands first on PATH, as an instructor
    would; it must succeed. Returns its standard output."""
    done = subprocess.run(cmd, cwd=course, env=environ_with_venv(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def children(pid):
    """Direct children of ``pid`` (Linux /proc)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def descendants(pid):
    """Every process below ``pid`` in the process tree, now."""
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid):
    """A process's command line as text ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pids):
    """Those of ``pids`` that still exist (and are not zombies)."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(pid)
        except OSError:
            pass
    return out
