"""Manually graded cells (ps6's Part 6: two answers in words) through the engine and out
of ``bngrade export``.

The engine grades everything a checker can while the manual cells wait: their points
count in the maximum, not in the score, nbgrader's gradebook marks them as needing a
manual grade, and the autograded notebook keeps the student's words for the formgrader.
Once an instructor gives the manual grades (as the formgrader writes them), the export
adds them to the score.
"""

import csv
import json
import sys

import nbformat
import pytest
from engine_tools import (
    ROOT,
    cell,
    correct_submission,
    grade,
    make_course,
    release,
    submit,
)
from engine_tools import run_ok as run
from nbgrader.api import Gradebook

from bngrade.driver.store import Store
from bnlib.checks import parts_for

PS6 = "ps6-in-practice"
MANUAL = {"ps6_read_training": 1.0, "ps6_read_adabn": 1.0}
pytestmark = pytest.mark.slow


def with_words(nb, words):
    """``nb`` with the manual cells' text replaced by ``words`` (a student's answers)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for gid, text in words.items():
        cell(nb, gid).source = text
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("manual"), (PS6,), ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    words = {"ps6_read_training": "The difference is 3e-16, the loss falls from 2.9 to 0.4.",
             "ps6_read_adabn": "89.5 % clean, 19.6 % shifted, 78.8 % after AdaBN."}
    submit(course, "ann", PS6, with_words(correct_submission(course, PS6), words))
    submit(course, "ben", PS6, release(course, PS6))  # answered nothing
    summary = grade(course, PS6, time_limit=30)
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    rows = {r["student"]: r for r in store.rows(PS6)}
    store.close()
    return {"course": course, "summary": summary, "rows": rows, "words": words}


def questions(row):
    return {q["grade_id"]: q for nb in row["detail"] for q in nb["questions"]}


def test_the_engine_scores_every_checked_part_and_leaves_the_manual_ones_pending(graded):
    checked = sum(p.points for p in parts_for(PS6))
    ann = graded["rows"]["ann"]
    assert ann["max_score"] == checked + sum(MANUAL.values())
    assert ann["score"] == checked  # every checked part right, the manual ones pending
    got = questions(ann)
    for gid in MANUAL:
        assert got[gid]["score"] is None and "graded by hand" in got[gid]["message"]
    assert not {f["kind"] for f in ann["flags"]} & {"feedback_failed", "grader_error",
                                                    "cells_missing", "metadata_edited"}
    assert graded["rows"]["ben"]["score"] == 0


def test_nbgrader_asks_for_the_manual_grades_and_keeps_the_students_words(graded):
    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for gid in MANUAL:
            g = gb.find_grade(gid, PS6, PS6, "ann")
            assert g.auto_score is None and g.manual_score is None and g.needs_manual_grade
        checked = gb.find_grade("ps6_q_warmup", PS6, PS6, "ann")
        assert checked.auto_score == 1 and not checked.needs_manual_grade
    autograded = nbformat.read(course / "autograded" / "ann" / PS6 / f"{PS6}.ipynb", 4)
    for gid, text in graded["words"].items():
        assert cell(autograded, gid).source == text  # what the formgrader shows


def test_export_carries_the_manual_grades_once_given(graded):
    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.find_grade("ps6_read_training", PS6, PS6, "ann").manual_score = 1.0
        gb.find_grade("ps6_read_adabn", PS6, PS6, "ann").manual_score = 0.5
        gb.db.commit()
    out = course / "grades.csv"
    run(course, sys.executable, "-m", "bngrade", "export", PS6, "--format", "csv",
        "--out", str(out))
    rows = {r["student_id"]: r for r in csv.DictReader(open(out, encoding="utf-8"))}
    checked = sum(p.points for p in parts_for(PS6))
    assert float(rows["ann"]["score"]) == checked + 1.5
    assert float(rows["ann"]["max_score"]) == checked + 2
    assert float(rows["ben"]["score"]) == 0
    verify = run(course, sys.executable, "-m", "bngrade", "verify", PS6)
    assert "manual grades (2;" in verify and "ann ps6_read_adabn: - -> 0.5" in verify
