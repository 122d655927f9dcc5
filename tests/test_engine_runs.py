"""Grading-engine runs: concurrency, resume after a kill, idempotence, one student,
LMS zips, and the same grades from SQLite and PostgreSQL, a local pool and Dask."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest
from engine_tools import (
    alive,
    by_student,
    children,
    cmdline,
    db_rows,
    descendants,
    edited,
    environ_with_venv,
    grade,
    make_course,
    nbgrader_grades,
    release,
    source,
    submit,
)
from servers import dask_cluster, postgres_server  # noqa: F401 (fixtures)

from bngrade.driver.course import Course
from bngrade.driver.store import Store
from bngrade.sandbox.box.limits import Limits

pytestmark = pytest.mark.slow

WRONG = ("x.var(axis=0)", "x.var(axis=0, ddof=1)")


def course_of(path):
    return Course(str(path))


def class_of(course, n):
    """``n`` students: even ones right, odd ones with the unbiased-variance mistake."""
    right = source(course, "bn-mini")
    wrong = edited(right, "answer_forward", *WRONG)
    for i in range(n):
        submit(course, f"s{i:02d}", "bn-mini", right if i % 2 == 0 else wrong)
    return {f"s{i:02d}": 4.0 if i % 2 == 0 else 1.0 for i in range(n)}


def engine_view(url, assignment="bn-mini"):
    """What a gradebook holds, backend-neutral: nbgrader's scores and the engine's verdicts."""
    store = Store(url)
    try:
        rows = {r["student"]: (r["score"], sorted(f["kind"] for f in r["flags"]),
                               [(q["grade_id"], q["score"], q["mistake"])
                                for nb in r["detail"] for q in nb["questions"]])
                for r in store.rows(assignment)}
        return store.gradebook_scores(assignment), rows
    finally:
        store.close()


def test_four_workers_one_sqlite_gradebook_no_lost_or_duplicated_rows(tmp_path):
    course = make_course(tmp_path)
    expected = class_of(course, 12)
    summary = grade(course, workers=4)
    assert {s: p["score"] for s, p in by_student(summary).items()} == expected
    assert db_rows(course, "SELECT count(*) FROM submitted_assignment") == [(12,)]
    assert db_rows(course, "SELECT count(*) FROM grade") == [(24,)]
    assert db_rows(course, "SELECT count(*), count(DISTINCT student) FROM bngrade_result") == \
        [(12, 12)]
    assert len({(s, g) for s, g, _ in nbgrader_grades(course)}) == 24


def test_resume_after_a_killed_run_then_idempotent_then_one_student(tmp_path):
    course = make_course(tmp_path)
    n = 40  # enough that the kill lands mid-run: one execution grades a bn-mini in well under 1 s
    expected = class_of(course, n)
    cmd = [sys.executable, "-m", "bngrade", "autograde", "bn-mini", "--course-dir", str(course),
           "--workers", "2", "--time-limit", "3", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=environ_with_venv())
    deadline = time.monotonic() + 180
    recorded = 0
    while recorded < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "no result to interrupt"
        time.sleep(0.2)
        if (course / "gradebook.db").exists():
            try:
                recorded = db_rows(course, "SELECT count(*) FROM bngrade_result")[0][0]
            except Exception:  # the table may not exist yet, or the file is locked
                recorded = 0
    run = descendants(proc.pid)  # workers, their sandboxes and kernels
    assert run
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone: nothing of the run may outlive it
    proc.wait()
    deadline = time.monotonic() + 30
    while alive(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(run) == []
    done_before = {r[0] for r in db_rows(course, "SELECT student FROM bngrade_result")}
    assert 2 <= len(done_before) < n

    messages = []
    summary = grade(course, log=messages.append)
    assert f"{len(done_before)} up to date, {n - len(done_before)} to grade" in messages[0]
    assert {s: p["score"] for s, p in by_student(summary).items()} == expected
    assert db_rows(course, "SELECT count(*) FROM submitted_assignment") == [(n,)]
    csv_before = (course / "reports" / "bn-mini" / "grades.csv").read_text()
    stamps = dict(db_rows(course, "SELECT student, graded_at FROM bngrade_result"))

    messages.clear()
    grade(course, log=messages.append)  # idempotent: nothing to do, same report
    assert f"{n} up to date, 0 to grade" in messages[0]
    assert (course / "reports" / "bn-mini" / "grades.csv").read_text() == csv_before

    grade(course, students=["s03"], log=messages.append)  # one student alone
    after = dict(db_rows(course, "SELECT student, graded_at FROM bngrade_result"))
    assert [s for s in after if after[s] != stamps[s]] == ["s03"]
    assert db_rows(course, "SELECT count(*) FROM grade") == [(2 * n,)]


def test_a_dead_worker_is_replaced_and_its_submissions_regraded(tmp_path):
    course = make_course(tmp_path)
    expected = class_of(course, 8)
    cmd = [sys.executable, "-m", "bngrade", "autograde", "bn-mini", "--course-dir", str(course),
           "--workers", "2", "--time-limit", "5", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environ_with_venv())
    deadline, victim = time.monotonic() + 300, None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        # the fork server (not the driver's own isolation probes); its children are the workers
        for server in (c for c in children(proc.pid) if "forkserver" in cmdline(c)):
            busy = [w for w in children(server)
                    if any("inside" in cmdline(c) for c in descendants(w))]
            victim = busy[0] if busy else None
    assert victim is not None, "no worker caught grading"
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    rows = {s: (score, flags) for s, score, flags in
            db_rows(course, "SELECT student, score, flags FROM bngrade_result")}
    assert {s: score for s, (score, _) in rows.items()} == expected
    assert not any("worker_died" in flags for _, flags in rows.values())


def test_a_changed_submission_is_regraded_on_the_next_run(tmp_path):
    course = make_course(tmp_path)
    right = source(course, "bn-mini")
    submit(course, "ann", "bn-mini", edited(right, "answer_forward", *WRONG))
    submit(course, "ben", "bn-mini", right)
    assert by_student(grade(course))["ann"]["score"] == 1.0
    submit(course, "ann", "bn-mini", right)  # a late fix
    messages = []
    assert by_student(grade(course, log=messages.append))["ann"]["score"] == 4.0
    assert "1 up to date, 1 to grade" in messages[0]


def test_an_lms_zip_is_graded_with_every_entry_accounted_for(tmp_path):
    course = make_course(tmp_path / "course")
    right, blank = source(course, "bn-mini"), release(course, "bn-mini")
    archive = tmp_path / "downloads.zip"
    import nbformat

    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("kim_4410_9921_bn-mini.ipynb", nbformat.writes(right))  # Canvas
        zf.writestr("lee_4411_9925_bn-mini-2.ipynb", nbformat.writes(right))  # resubmitted
        zf.writestr("Ann Roy_301_assignsubmission_file_/bn-mini.ipynb",  # Moodle's folder
                    nbformat.writes(right))
        zf.writestr("PS2 Backward_smith_j_attempt_2026-03-02-11-00-00_bn-mini.ipynb",
                    nbformat.writes(right))  # Blackboard, two students
        zf.writestr("PS2 Backward_bo_attempt_2026-03-02-12-00-00_bn-mini.ipynb",
                    nbformat.writes(blank))
        zf.writestr("moe/bn-mini.ipynb", nbformat.writes(blank))
        zf.writestr("../../out_1_bn-mini.ipynb", "{}")  # never leaves the course
        zf.writestr("notes.txt", "not a notebook")
    messages = []
    summary = grade(course, zip_path=str(archive), log=messages.append)
    assert {s: p["score"] for s, p in by_student(summary).items()} == \
        {"kim": 4.0, "lee": 4.0, "Ann_Roy": 4.0, "smith_j": 4.0, "bo": 0.0, "moe": 0.0}
    assert summary["collection"]["counts"] == {"entries": 8, "students": 6, "collected": 6,
                                               "receipt": 0, "skipped": 2}
    saved = json.loads((course / "reports" / "bn-mini" / "summary.json").read_text())
    assert [s["entry"] for s in saved["collection"]["skipped"]] == \
        ["../../out_1_bn-mini.ipynb", "notes.txt"]
    assert "- notes.txt: not in a layout" in \
        (course / "reports" / "bn-mini" / "summary.md").read_text()
    assert "skipped '../../out_1_bn-mini.ipynb': a path that leaves its folder ('..')" in \
        "\n".join(messages)
    assert summary["files"]["collection"].endswith("reports/bn-mini/collection.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "downloads.zip"]


def _copy_class(src, dst):
    shutil.copytree(src / "solutions", dst / "solutions")
    shutil.copytree(src / "submitted", dst / "submitted")
    shutil.copy(src / "nbgrader_config.py", dst / "nbgrader_config.py")
    return dst


def varied_class(course):
    right = source(course, "bn-mini")
    submit(course, "right", "bn-mini", right)
    submit(course, "wrong", "bn-mini", edited(right, "answer_forward", *WRONG))
    submit(course, "blank", "bn-mini", release(course, "bn-mini"))
    submit(course, "loop", "bn-mini", edited(right, "answer_scale", "return 2 * x",
                                             "while True:\n        pass"))
    submit(course, "patch", "bn-mini", edited(edited(right, "answer_forward", *WRONG),
                                              "answer_forward",
                                              append="np.allclose = lambda *a, **k: True"))
    submit(course, "corrupt", "bn-mini", '{"cells": [')


def test_sqlite_and_postgresql_give_identical_grades(tmp_path, postgres_server):
    lite = make_course(tmp_path / "sqlite")
    varied_class(lite)
    pg = _copy_class(lite, tmp_path / "pg")
    url = postgres_server("bngrade_identical")
    grade(lite)
    grade(pg, db_url=url)
    assert engine_view(url) == engine_view(f"sqlite:///{lite / 'gradebook.db'}")
    # patching in the student's process reaches no checker: nothing to flag
    assert engine_view(url)[1]["patch"][1] == []


def test_a_local_pool_and_a_dask_cluster_give_identical_grades(tmp_path, dask_cluster):
    local = make_course(tmp_path / "local")
    varied_class(local)
    remote = _copy_class(local, tmp_path / "dask")
    grade(local)
    summary = grade(remote, scheduler=dask_cluster)
    assert engine_view(f"sqlite:///{remote / 'gradebook.db'}") == \
        engine_view(f"sqlite:///{local / 'gradebook.db'}")
    assert by_student(summary)["right"]["score"] == 4.0
    feedback = json.loads((remote / "reports" / "bn-mini" / "summary.json").read_text())
    assert feedback["students"] == 6
    assert sorted(os.listdir(remote / "feedback")) == ["blank", "corrupt", "loop", "patch", "right",
                                                       "wrong"]


@pytest.mark.parametrize("bad", ["no_such_assignment"])
def test_an_unknown_assignment_is_a_clear_error(tmp_path, bad):
    course = make_course(tmp_path)
    with pytest.raises(FileNotFoundError, match="no source notebooks for 'no_such_assignment'"):
        grade(course, assignment=bad)


def test_a_worker_keeps_no_file_descriptors_from_one_submission_to_the_next(tmp_path):
    from bngrade.driver import engine
    from bngrade.worker import task

    course = make_course(tmp_path)
    class_of(course, 1)
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    limits = Limits(seconds=3.0, memory_mb=512)
    payload, _hash = engine.plan(course_of(course), store, "bn-mini", ["s00"], True, limits)["s00"]
    store.close()
    counts = []
    for _ in range(5):
        assert json.loads(task.grade_submission(payload))["notebooks"][0]["questions"][0][
            "score"] == 3.0
        counts.append(len(os.listdir("/proc/self/fd")))
    # the first one opens the caches (zygote, kernel); after that, no growth (a leak of
    # one kernel client was 12 per submission), give or take a transient descriptor
    assert max(counts[1:]) - min(counts[1:]) <= 2, counts
