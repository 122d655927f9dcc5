"""Reports that never lose a good run, and that agree with the gradebook.

A class is graded once; then a run is stopped by a real SIGINT (sent to the test's own
process, where the run's signal handler is) at each phase before anything is recorded:
the reference solution's measurement, the planning, the start of grading. Each time every
report file stays byte for byte what the good run wrote. Another gradebook (``--db``) gets
its own reports; late and missing students are in the summary; a late rule's penalty
reaches the summary, ``grades.csv`` and ``nbgrader``'s own tables. nbformat's
``MissingIDFieldWarning`` never reaches the terminal.
"""

import csv
import json
import pathlib
import sqlite3
import subprocess
import sys
import warnings
import zipfile

import nbformat
import pytest
from engine_tools import edited, environ_with_venv, grade, make_course, source, submit

from bngrade import nbg
from bngrade.driver import late
from bngrade.driver.course import Course

WRONG = ("x.var(axis=0)", "x.var(axis=0, ddof=1)")


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("reports") / "course")
    right = source(course, "bn-mini")
    submit(course, "amy", "bn-mini", right)
    submit(course, "bob", "bn-mini", edited(right, "answer_forward", *WRONG))
    summary = grade(course, time_limit=None)
    assert summary["students"] == 2 and not summary.get("unchanged")
    return course


STOPPED_RUN = """
import json, os, signal, sys
from bngrade.driver import engine

name, course, time_limit = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
original = getattr(engine, name)

def stopped(*args, **kw):
    os.kill(os.getpid(), signal.SIGINT)  # the run's own handler raises Stopped here
    return original(*args, **kw)

setattr(engine, name, stopped)
summary = engine.autograde("bn-mini", course, workers=2, time_limit=time_limit, force=True,
                           progress=False, log=lambda m: None)
print(json.dumps({k: summary.get(k) for k in ("interrupted", "unchanged")}))
"""


def stopped_run(course, name, time_limit):
    """A grading run, in its own process as the command is, that gets a real SIGINT as
    ``engine.<name>`` starts; returns its summary's ``interrupted`` and ``unchanged``."""
    done = subprocess.run([sys.executable, "-c", STOPPED_RUN, name, str(course),
                           json.dumps(time_limit)], capture_output=True, text=True,
                          env=environ_with_venv(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def forget_reference_time(course):
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute("DELETE FROM bngrade_setting WHERE name != 'salt'")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["reference", "plan", "grading"])
def test_a_sigint_before_anything_is_recorded_leaves_the_reports_byte_identical(graded, phase):
    course = graded
    folder = course / "reports" / "bn-mini"
    before = snapshot(folder)
    assert {"grades.csv", "summary.json", "summary.md"} <= set(before)
    if phase == "reference":  # measured again only for sources it has not timed
        forget_reference_time(course)
    name = {"reference": "reference_payload", "plan": "plan", "grading": "dispatch"}[phase]
    got = stopped_run(course, name, None if phase == "reference" else 3)
    assert got["interrupted"]["signal"] == "SIGINT"
    assert got["interrupted"]["graded"] == 0 and got["unchanged"]
    assert snapshot(folder) == before


@pytest.mark.slow
def test_each_gradebook_has_its_own_reports_named_in_its_summary(graded, tmp_path):
    course = graded
    default = snapshot(course / "reports" / "bn-mini")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    summary = grade(course, db_url=other)
    folder = pathlib.Path(summary["files"]["json"]).parent
    assert folder == pathlib.Path(Course(course, other).reports("bn-mini"))
    assert folder.parent.name.startswith("reports@other-db-")
    assert json.loads((folder / "summary.json").read_text())["gradebook"] == other
    assert snapshot(course / "reports" / "bn-mini") == default  # the course's own: untouched


@pytest.mark.slow
def test_late_and_missing_students_are_in_the_summary_and_a_late_rule_takes_its_points(
        tmp_path):
    course = make_course(tmp_path / "course")
    right = source(course, "bn-mini")
    archive = tmp_path / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("kimhana_4410_9921_bn-mini.ipynb", nbformat.writes(right))
        zf.writestr("leeann_late_4411_9922_bn-mini.ipynb", nbformat.writes(right))
    submit(course, "zed", "bn-mini", None)  # a folder, no notebook
    summary = grade(course, zip_path=str(archive))
    assert summary["missing"] == ["zed"]
    assert [(e["student"], e["marked_by_lms"], e["penalty"]) for e in summary["late"]] == \
        [("leeann", True, 0.0)]
    full = summary["max_score"]
    db = course / "gradebook.db"
    from bngrade.driver.store import Store

    store = Store(f"sqlite:///{db}")
    store.set_setting(late.setting_name("bn-mini"), late.rule(penalty=25))
    store.close()
    summary = grade(course)  # nothing to grade: the rule alone changes the scores
    scores = {p["student"]: p["score"] for p in summary["per_student"]}
    assert scores == {"kimhana": full, "leeann": full * 0.75, "zed": 0.0}
    rows = {r["student"]: r for r in csv.DictReader(open(summary["files"]["csv"]))}
    assert float(rows["leeann"]["score"]) == full * 0.75
    with sqlite3.connect(db) as con:  # where nbgrader keeps it: nbgrader export agrees
        [(penalty,)] = con.execute(
            "SELECT SUM(late_submission_penalty) FROM submitted_notebook JOIN "
            "submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id"
            " WHERE student_id = 'leeann'").fetchall()
    assert penalty == full * 0.25


def test_the_late_rule_counts_each_started_day_and_never_goes_below_zero():
    the_rule = late.rule(penalty=10, max_days=3)
    assert late.penalty_for(0.01, 4.0, 4.0, the_rule) == pytest.approx(0.4)
    assert late.penalty_for(1.5, 4.0, 4.0, the_rule) == pytest.approx(0.8)
    assert late.penalty_for(3.5, 4.0, 4.0, the_rule) == 4.0  # after max_days: all
    assert late.penalty_for(2, 4.0, 0.5, the_rule) == 0.5  # never below zero
    assert late.penalty_for(0, 4.0, 4.0, the_rule) == 0.0
    with pytest.raises(ValueError, match="percent"):
        late.rule(penalty=150)
    with pytest.raises(ValueError, match="date"):
        late.rule(due="next tuesday", penalty=10)


def test_a_notebook_without_cell_ids_reads_without_a_warning_and_gets_stable_ids():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"),
                                         nbformat.v4.new_markdown_cell("x")])
    raw = json.loads(nbformat.writes(nb))
    for c in raw["cells"]:
        del c["id"]
    text = json.dumps(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning would raise here
        first, second = nbg.reads(text), nbg.read_notebook(text)
        nbformat.validate(first)
        nbformat.writes(second)
    assert [c.id for c in first.cells] == [c.id for c in second.cells] == ["cell-0", "cell-1"]


def test_a_report_folder_per_gradebook_and_the_password_never_shown(tmp_path):
    course = make_course(tmp_path / "course")
    own = Course(course)
    assert own.reports("a") == str(course / "reports" / "a")
    assert Course(course, own.db_url).reports("a") == own.reports("a")
    pg = Course(course, "postgresql+psycopg2://grader:s3cret@db.example/bn")
    assert "s3cret" not in pg.gradebook() and "s3cret" not in pg.reports("a")
    assert pathlib.Path(pg.reports("a")).parent.name.startswith("reports@bn-")
    assert Course(course, "sqlite:////tmp/x.db").reports("a") != pg.reports("a")


@pytest.mark.slow
def test_the_summary_times_the_whole_class_as_graded_not_the_last_run(graded):
    summary = grade(graded, students=["amy"])  # one student regraded
    assert summary["timings"]["graded"] == 1
    c = summary["class_timings"]
    assert c["graded"] == c["timed"] == c["submission"]["n"] == 2
    assert {e["student"] for e in c["slowest"]} == {"amy", "bob"}
    assert all(e["seconds"] > 0 for e in c["slowest"])
    assert "the whole class as graded" in pathlib.Path(summary["files"]["markdown"]).read_text()
