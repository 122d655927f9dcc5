"""``bngrade export``: each LMS's import file agrees with ``nbgrader export`` on every row.

A small class comes in through an LMS zip (so LMS ids are known), is graded by
the engine, gets a manual override in nbgrader's gradebook (as the formgrader
would give), and one more student is in the gradebook without a submission.
Then ``nbgrader export`` and ``bngrade export --format ...`` run as commands
and their files are compared column by column; ``grades.csv`` must agree too.
"""

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import zipfile

import nbformat
import pytest
from engine_tools import edited, environ_with_venv, grade, make_course, release, source
from engine_tools import run_ok as run
from nbgrader.api import Gradebook

WRONG = ("x.var(axis=0)", "x.var(axis=0, ddof=1)")
pytestmark = pytest.mark.slow


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course after grading, an override and nbgrader's own export."""
    tmp = tmp_path_factory.mktemp("export")
    course = make_course(tmp / "course")
    right, blank = source(course, "bn-mini"), release(course, "bn-mini")
    wrong = edited(right, "answer_forward", *WRONG)
    archive = tmp / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("kimhana_4410_9921_bn-mini.ipynb", nbformat.writes(right))  # Canvas
        zf.writestr("Ann Lee_301_assignsubmission_file_/bn-mini.ipynb",  # Moodle
                    nbformat.writes(wrong))
        zf.writestr("PS2_smith_j_attempt_2026-03-02-11-00-00_bn-mini.ipynb",  # Blackboard
                    nbformat.writes(blank))
    roster = tmp / "roster.csv"
    roster.write_text("login,first name,last name,email,lms_user_id,section\n"
                      "hkim,Hana,Kim,hk@uni.example,4410,A\n"
                      "alee,Ann,Lee,al@uni.example,301,A\n"
                      "smith_j,Jo,Smith,js@uni.example,,B\n"
                      "zoe,Zoe,Ng,zn@uni.example,,B\n", encoding="utf-8")
    grade(course, zip_path=str(archive), roster=str(roster))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        g = gb.find_grade("ps1_train_forward", "bn-mini", "bn-mini", "alee")
        assert (g.auto_score, g.manual_score) == (0.0, None)
        g.manual_score = 2.5  # the instructor's override
        gb.update_or_create_student("zoe", first_name="Zoe", last_name="Ng",  # no submission
                                    email="zn@uni.example")
        gb.db.commit()
    run(course, sys.executable, "-m", "bngrade", "summary", "bn-mini")  # rewrites grades.csv
    run(course, "nbgrader", "export", "--to", "nbgrader.csv")
    nb = {r["student_id"]: r for r in csv.DictReader(open(course / "nbgrader.csv"))
          if r["assignment"] == "bn-mini"}
    assert {s: float(r["score"]) for s, r in nb.items()} == \
        {"hkim": 4.0, "alee": 3.5, "smith_j": 0.0, "zoe": 0.0}
    return course, roster, nb


def export(course, fmt, *extra):
    out = course / f"{fmt}.csv"
    run(course, sys.executable, "-m", "bngrade", "export", "bn-mini", "--format", fmt,
        "--out", str(out), *extra)
    return read(out)


def test_canvas_gradebook_csv_agrees_with_nbgrader_export(graded):
    course, _, nb = graded
    rows = export(course, "canvas", "--column-id", "8812")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "bn-mini (8812)"]
    assert rows[1][0].strip() == "Points Possible" and float(rows[1][5]) == 4.0
    got = {r[3]: r for r in rows[2:]}
    assert set(got) == set(nb)
    for student, r in got.items():
        assert float(r[5]) == float(nb[student]["score"]), student
        assert r[0] == f"{nb[student]['last_name']}, {nb[student]['first_name']}"
    assert got["hkim"][1] == "4410"  # Canvas's user id, from the zip


def test_moodle_grading_worksheet_agrees_with_nbgrader_export(graded):
    course, roster, nb = graded
    rows = export(course, "moodle", "--roster", str(roster))
    assert rows[0][:5] == ["Identifier", "Full name", "Email address", "Username", "Grade"]
    got = {r[3]: r for r in rows[1:]}
    assert set(got) == set(nb)
    for student, r in got.items():
        assert float(r[4]) == float(nb[student]["score"]), student
        assert float(r[5]) == float(nb[student]["max_score"])
        assert r[2] == nb[student]["email"]
    assert got["alee"][0] == "Participant 301"  # Moodle's participant id, from the zip


def test_blackboard_grade_center_csv_agrees_with_nbgrader_export(graded):
    course, _, nb = graded
    rows = export(course, "blackboard", "--title", "PS2", "--column-id", "1281892")
    assert rows[0] == ["Last Name", "First Name", "Username",
                       "PS2 [Total Pts: 4 Score] |1281892"]
    assert '"Last Name","First Name"' in (course / "blackboard.csv").read_text()  # all quoted
    got = {r[2]: r for r in rows[1:]}
    assert set(got) == set(nb)
    for student, r in got.items():
        assert (r[0], r[1]) == (nb[student]["last_name"], nb[student]["first_name"])
        assert float(r[3]) == float(nb[student]["score"]), student


def test_plain_csv_agrees_with_nbgrader_export(graded):
    course, _, nb = graded
    rows = export(course, "csv")
    header = rows[0]
    got = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert set(got) == set(nb)
    for student, r in got.items():
        for key in ("last_name", "first_name", "email"):
            assert r[key] == nb[student][key]
        for key in ("raw_score", "late_submission_penalty", "score", "max_score"):
            assert float(r[key]) == float(nb[student][key]), (student, key)


def test_grades_csv_includes_the_manual_override(graded):
    course, _, nb = graded
    rows = {r["student"]: r for r in csv.DictReader(open(course / "reports" / "bn-mini" /
                                                         "grades.csv"))}
    assert set(rows) == set(nb) - {"zoe"}  # the graded submissions
    for student, r in rows.items():
        assert float(r["score"]) == float(nb[student]["score"]), student
    assert rows["alee"]["ps1_train_forward"] == "2.5"


def test_an_unknown_assignment_or_format_is_a_clear_error(graded):
    course, _, _ = graded
    done = subprocess.run([sys.executable, "-m", "bngrade", "export", "ps9", "--format", "csv"],
                          cwd=course, env=environ_with_venv(), capture_output=True, text=True)
    assert done.returncode == 2 and "no assignment 'ps9'" in done.stderr


def test_the_manual_grade_reaches_the_summary_as_it_reaches_csv_and_export(graded):
    course, _, nb = graded
    summary = json.loads((course / "reports" / "bn-mini" / "summary.json").read_text())
    scores = {p["student"]: p["score"] for p in summary["per_student"]}
    assert scores == {s: float(nb[s]["score"]) for s in scores} and scores["alee"] == 3.5
    forward = next(q for q in summary["per_question"] if q["grade_id"] == "ps1_train_forward")
    column = [float(r["ps1_train_forward"]) for r in csv.DictReader(
        open(course / "reports" / "bn-mini" / "grades.csv"))]
    assert forward["mean"] == pytest.approx(sum(column) / len(column)) and 2.5 in column
    assert "3.5 / 4" in (course / "reports" / "bn-mini" / "summary.md").read_text()
    assert summary["missing"] == ["zoe"]  # in the gradebook, no submission


def test_verify_lists_every_manual_grade_for_the_record(graded):
    course, _, _ = graded
    out = run(course, sys.executable, "-m", "bngrade", "verify", "bn-mini")
    assert "manual grades (1;" in out
    assert "alee ps1_train_forward: 0 -> 2.5" in out


def bngrade(course, *args):
    return subprocess.run([sys.executable, "-m", "bngrade", *args], cwd=course,
                          env=environ_with_venv(), capture_output=True, text=True, timeout=300)


def test_export_refuses_a_tampered_row_naming_it_unless_told_to_flag_it(graded, tmp_path):
    course = tmp_path / "copy"
    shutil.copytree(graded[0], course)
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute("UPDATE bngrade_result SET score = 4 WHERE student = 'smith_j'")
    out = course / "out.csv"
    done = bngrade(course, "export", "bn-mini", "--format", "csv", "--out", str(out))
    assert done.returncode == 2 and "smith_j" in done.stderr and "hkim" not in done.stderr
    assert "nothing was written" in done.stderr and not out.exists()
    done = bngrade(course, "export", "bn-mini", "--format", "csv", "--out", str(out),
                   "--include-unverified")
    assert done.returncode == 0, done.stderr
    flags = {r["student_id"]: r["unverified"] for r in csv.DictReader(open(out))}
    assert flags["smith_j"] and not any(v for s, v in flags.items() if s != "smith_j")


def test_export_names_each_student_the_lms_will_skip(graded):
    course, _, _ = graded
    done = bngrade(course, "export", "bn-mini", "--format", "moodle", "--out",
                   str(course / "m.csv"))
    assert done.returncode == 0, done.stderr
    warned = {ln.split(":")[1].strip() for ln in done.stderr.splitlines()
              if ln.startswith("warning:")}
    assert warned == {"hkim", "smith_j", "zoe"}  # alee came from Moodle: her id is known
    assert "3 of them the LMS will skip" in done.stdout


def test_the_feedback_bundles_have_the_names_canvas_and_moodle_read(graded):
    course, roster, _ = graded
    out = run(course, sys.executable, "-m", "bngrade", "bundle", "bn-mini", "--lms", "canvas",
              "--out", str(course / "canvas.zip"))
    assert "1 feedback pages" in out
    [name] = zipfile.ZipFile(course / "canvas.zip").namelist()
    assert name == "kimhana_4410_9921_bn-mini-feedback.html"
    # Canvas's re-upload: the first two all-digit parts are the user id and the attachment
    assert [p for p in name.split("_") if p.isdigit()][:2] == ["4410", "9921"]
    run(course, sys.executable, "-m", "bngrade", "bundle", "bn-mini", "--lms", "moodle",
        "--roster", str(roster), "--out", str(course / "moodle.zip"))
    with zipfile.ZipFile(course / "moodle.zip") as zf:
        names = zf.namelist()
        assert b"<html" in zf.read(names[0]).lower()
    assert "Ann Lee_301_assignsubmission_file_bn-mini-feedback.html" in names
    for name in names:  # Moodle's importer: name, participant id, plugin type and name, file
        who, pid, kind, plugin, file = name.split("_", 4)
        assert pid.isdigit() and (kind, plugin) == ("assignsubmission", "file")
        assert file == "bn-mini-feedback.html" and "/" not in name
