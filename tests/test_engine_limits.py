"""Time limits sized to the work, on real runs: a looping answer is stopped by a limit
derived from the reference solution (reported, cached), and a changed ``--time-limit``
regrades exactly the rows whose outcome it can change."""

import json

import pytest
from engine_tools import by_student, db_rows, edited, grade, make_course, source, submit

from bngrade import timelimit

pytestmark = pytest.mark.slow

LOOP = ("mu = x.mean(axis=0)", "mu = x.mean(axis=0)\n    while True:\n        pass")


def stamps(course):
    return dict(db_rows(course, "SELECT student, graded_at FROM bngrade_result"))


def flags(course, student):
    rows = db_rows(course, f"SELECT flags FROM bngrade_result WHERE student = '{student}'")
    return {f["kind"] for f in json.loads(rows[0][0])}


def test_a_looping_answer_stops_at_the_derived_limit(tmp_path):
    course = make_course(tmp_path)
    right = source(course, "bn-mini")
    submit(course, "ann", "bn-mini", right)
    submit(course, "bob", "bn-mini", edited(right, "answer_forward", *LOOP))
    messages = []
    summary = grade(course, time_limit=None, log=messages.append)
    limit = summary["time_limit"]
    assert limit["source"] == "derived" and limit["measured"] == "measured now"
    assert limit["seconds"] == timelimit.derive(limit["reference_seconds"])
    assert limit["seconds"] < 60  # the reference takes well under a second here
    assert set(limit["reference_questions"]) == {"ps1_train_forward", "test_scale"}
    assert any(m.startswith("time limit: ") and "reference solution" in m for m in messages)
    text = (course / "reports" / "bn-mini" / "summary.md").read_text()
    assert f"Time limit: {limit['seconds']:g} s per cell and graded call" in text
    scores = {s: p["score"] for s, p in by_student(summary).items()}
    assert scores["ann"] == 4.0 and "timeout" in flags(course, "bob")
    detail = json.loads(db_rows(course, "SELECT detail FROM bngrade_result "
                                        "WHERE student = 'bob'")[0][0])
    assert detail[0]["time_limit"] == limit["seconds"] and detail[0]["timed_out"]
    looped = [q["seconds"] for q in detail[0]["questions"] if q["mistake"] == "timeout"]
    assert looped and all(limit["seconds"] <= s < limit["seconds"] + 5 for s in looped)

    messages.clear()  # measured once: the next run reads it from the gradebook
    again = grade(course, time_limit=None, log=messages.append)
    assert again["time_limit"]["measured"] == "measured earlier"
    assert "2 submissions, 2 up to date, 0 to grade" in " ".join(messages)


def test_a_changed_limit_regrades_only_the_rows_it_can_change(tmp_path):
    course = make_course(tmp_path)
    right = source(course, "bn-mini")
    for s in ("r1", "r2"):
        submit(course, s, "bn-mini", right)
    submit(course, "loop", "bn-mini", edited(right, "answer_forward", *LOOP))
    # a slow answer cell (3 s), correct: within 8 s, not within 2 s
    submit(course, "slow", "bn-mini", edited(right, "answer_forward",
                                             append="import time\ntime.sleep(3)"))

    def run(limit):
        before, messages = stamps(course) if (course / "gradebook.db").exists() else {}, []
        grade(course, time_limit=limit, log=messages.append)
        after = stamps(course)
        return sorted(s for s in after if before.get(s) != after[s]), messages

    regraded, _ = run(8)
    assert regraded == ["loop", "r1", "r2", "slow"]
    assert "timeout" in flags(course, "loop") and "timeout" not in flags(course, "slow")
    regraded, messages = run(12)  # grew: only the row that hit the old limit
    assert regraded == ["loop"], messages
    assert "3 up to date, 1 to grade" in " ".join(messages)
    regraded, messages = run(2)  # shrank below the slow step: it and the looping one
    assert regraded == ["loop", "slow"], messages
    assert "timeout" in flags(course, "slow")
    regraded, _ = run(2)  # the same limit again: nothing
    assert regraded == []
