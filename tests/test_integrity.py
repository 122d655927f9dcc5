"""bngrade.driver.integrity: sealed gradebook rows, a private key, private files."""

import os
import sqlite3
import stat

import pytest
from engine_tools import make_course, source

from bngrade import nbg, spec
from bngrade.driver import integrity
from bngrade.driver.store import Store, transaction
from bngrade.results import Notebook, Question, Submission


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "config" / "bngrade" / "gradebook.key"
    monkeypatch.setenv(integrity.ENV_KEY, str(path))
    return path


def test_the_key_is_made_private_on_first_use(key_file):
    key = integrity.load_key()
    assert len(key) == 32 and integrity.load_key() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700


def test_the_default_key_is_in_the_users_config(monkeypatch, tmp_path):
    monkeypatch.delenv(integrity.ENV_KEY, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert integrity.key_path() == str(tmp_path / "xdg" / "bngrade" / "gradebook.key")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert integrity.key_path() == str(tmp_path / "home" / ".config" / "bngrade" /
                                       "gradebook.key")


def test_an_unsafe_key_is_refused(key_file, tmp_path):
    integrity.load_key()
    key_file.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        integrity.load_key()
    key_file.chmod(0o600)
    with pytest.raises(ValueError, match="inside the course directory"):
        integrity.load_key(course_root=tmp_path)
    link = tmp_path / "link.key"
    link.symlink_to(key_file)
    with pytest.raises(ValueError, match="not a regular file"):
        integrity.load_key(path=str(link))


def _result(student, scores):
    return Submission("bn-mini", student, [Notebook("bn-mini", [
        Question(gid, 1.0, s) for gid, s in scores.items()])])


@pytest.fixture
def gradebook(tmp_path, key_file):
    """A course whose gradebook holds two sealed rows, as the engine writes them."""
    course = make_course(tmp_path / "course")
    cfg = nbg.load_config(course)
    db = f"sqlite:///{course / 'gradebook.db'}"
    releases = nbg.register(db, "default_course", "bn-mini",
                            {"bn-mini": source(course, "bn-mini")}, cfg)
    gids = [q.grade_id for q in spec.build("bn-mini", source(course, "bn-mini"),
                                           releases["bn-mini"]).questions]
    store, key = Store(db), integrity.load_key(course_root=course)
    items = [(_result("ann", dict.fromkeys(gids, 1.0)), "h-ann", None),
             (_result("ben", dict.fromkeys(gids, 0.0)), "h-ben", None)]
    store.record("bn-mini", items)
    with transaction(store.gb) as session:
        for row in store.rows("bn-mini"):
            integrity.seal(session, key, "default_course", "bn-mini", row["student"], row)
    yield course, store, key, gids
    store.close()


def _check(store, key):
    return {m.student: m.reason for m in integrity.check(store.gb, key, "default_course",
                                                         "bn-mini", store.rows("bn-mini"))}


def _sql(course, statement):
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute(statement)


@pytest.mark.slow  # an nbgrader gradebook
def test_rows_the_engine_sealed_verify(gradebook):
    course, store, key, gids = gradebook
    assert _check(store, key) == {}


@pytest.mark.slow  # an nbgrader gradebook
def test_an_engine_row_rewritten_by_sql_is_reported(gradebook):
    course, store, key, _ = gradebook
    _sql(course, "UPDATE bngrade_result SET score = 99 WHERE student = 'ben'")
    assert set(_check(store, key)) == {"ben"}


@pytest.mark.slow  # an nbgrader gradebook
def test_an_nbgrader_grade_rewritten_by_sql_is_reported(gradebook):
    course, store, key, _ = gradebook
    _sql(course, "UPDATE grade SET auto_score = 1.0 WHERE id IN (SELECT grade.id FROM grade "
                 "JOIN submitted_notebook n ON grade.notebook_id = n.id JOIN "
                 "submitted_assignment a ON n.assignment_id = a.id WHERE a.student_id = 'ben')")
    assert _check(store, key) == {"ben": "the row or its nbgrader grades were changed after "
                                         "bngrade wrote them"}


@pytest.mark.slow  # an nbgrader gradebook
def test_a_row_copied_from_a_classmate_or_forged_with_another_key_is_reported(gradebook):
    course, store, key, _ = gradebook
    _sql(course, "UPDATE bngrade_seal SET mac = (SELECT mac FROM bngrade_seal WHERE "
                 "student = 'ann') WHERE student = 'ben'")
    assert set(_check(store, key)) == {"ben"}
    assert set(_check(store, b"another key, another key")) == {"ann", "ben"}


@pytest.mark.slow  # an nbgrader gradebook
def test_an_unsealed_row_and_a_lone_nbgrader_submission_are_reported(gradebook):
    course, store, key, gids = gradebook
    store.record("bn-mini", [(_result("cy", dict.fromkeys(gids, 1.0)), "h", None)])
    _sql(course, "DELETE FROM bngrade_result WHERE student = 'ann'")
    found = _check(store, key)
    assert found["cy"].startswith("no seal")
    assert found["ann"] == "nbgrader grades with no bngrade row"


def test_private_files_and_write_private(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "reports" / "summary.md"
        target.parent.mkdir()
        target.write_text("old")
        target.chmod(0o644)
        integrity.write_private(str(target), "new")
        assert target.read_text() == "new"
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        integrity.private_files()
        (tmp_path / "made").mkdir()
        (tmp_path / "made" / "f").write_text("x")
        assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "made" / "f").stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.slow  # an nbgrader gradebook
def test_bngrade_verify_reports_each_changed_row(gradebook, capsys):
    from bngrade.driver import cli

    course, store, key, _ = gradebook
    assert cli.main(["verify", "bn-mini", "--course-dir", str(course)]) == 0
    assert "2 of 2 rows match their seal; 0 do not" in capsys.readouterr().out
    _sql(course, "UPDATE bngrade_result SET score = 99, student = 'ben\n| forged' "
                 "WHERE student = 'ben'")
    assert cli.main(["verify", "bn-mini", "--course-dir", str(course)]) == 1
    out = capsys.readouterr().out
    assert "ben\\x0a| forged: no seal" in out and "1 of 2 rows match their seal; 2 do not" in out
