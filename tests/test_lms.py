"""LMS zips (Canvas, Moodle, Blackboard name schemes) collected with every entry accounted for.

The zips are built from each LMS's file-name scheme (see :mod:`bngrade.driver.lms`),
with the cases that were once misfiled: a Moodle folder entry, a Blackboard
assignment name that looks like a student, two Blackboard students who would
merge, the login ``smith_j``, the Canvas user id. Fast: nothing is graded here
(``tests/test_engine_runs.py`` grades a zip end to end).
"""

import csv
import os
import stat
import zipfile

import pytest
from engine_tools import make_course
from nbgrader.api import Gradebook

from bngrade.driver import lms
from bngrade.driver.course import Course
from bngrade.driver.lms import CollectionError, collect
from bngrade.driver.roster import Roster, RosterError

NB = "bn-mini"
BB = "PS2 Backward"  # a Blackboard assignment name that looks like a student's name


def receipt(name, username, stamp):
    return (f"Name: {name} ({username})\nAssignment: {BB}\nDate Submitted: {stamp}\n"
            f"Current Grade: Needs Grading\n\nFiles:\n\tOriginal filename: {NB}.ipynb\n")


def make_zip(path, entries):
    """``entries``: name -> text, or None for a folder entry, or a ZipInfo-text pair."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            if isinstance(text, tuple):
                zf.writestr(*text)
            elif text is None:
                zf.writestr(zipfile.ZipInfo(name), "")  # a name ending in "/": a folder
            else:
                zf.writestr(name, text)
    return path


def rows(course, name):
    with open(course.root + f"/reports/{NB}/{name}", newline="") as f:
        return list(csv.DictReader(f))


def saved(course, login, file=f"{NB}.ipynb"):
    with open(course.path("submitted", login, NB, file)) as f:
        return f.read()


@pytest.fixture
def course(tmp_path):
    return Course(str(make_course(tmp_path / "course")))


MIXED = {
    # Canvas: <name>[_LATE]_<user id>_<attachment id>_<file>
    "kim_4410_9921_bn-mini.ipynb": '{"who": "kim"}',
    "kim_4410_9922_notes.pdf": "%PDF",
    "chenbo_LATE_4411_9925_bn-mini-1.ipynb": '{"who": "chenbo"}',
    # Moodle: a folder per student (its folder entry too), and the flat form
    "Ann Lee_301_assignsubmission_file_/": None,
    "Ann Lee_301_assignsubmission_file_/bn-mini.ipynb": '{"who": "ann"}',
    "Dee Roy_302_assignsubmission_file_bn-mini.ipynb": '{"who": "dee"}',
    "Dee Roy_302_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>",
    # Blackboard: two students (one with "_" in the username), receipts, an earlier attempt
    f"{BB}_lee_attempt_2026-03-01-09-00-00_bn-mini.ipynb": '{"who": "lee, first try"}',
    f"{BB}_lee_attempt_2026-03-01-09-00-00.txt": receipt("Lee Park", "lee", "1 March"),
    f"{BB}_lee_attempt_2026-03-02-10-30-00_bn-mini.ipynb": '{"who": "lee"}',
    f"{BB}_lee_attempt_2026-03-02-10-30-00.txt": receipt("Lee Park", "lee", "2 March"),
    f"{BB}_smith_j_attempt_2026-03-02-11-00-00_bn-mini.ipynb": '{"who": "smith_j"}',
    f"{BB}_smith_j_attempt_2026-03-02-11-00-00.txt": receipt("Jo Smith", "smith_j", "2 March"),
    # the plain layout, and what a Mac or Jupyter adds
    "moe/bn-mini.ipynb": '{"who": "moe"}',
    "__MACOSX/moe/._bn-mini.ipynb": "\x00\x05",
    "moe/.ipynb_checkpoints/bn-mini-checkpoint.ipynb": '{"who": "old moe"}',
    "readme.txt": "not a submission",
}


def test_every_entry_of_a_mixed_zip_is_collected_or_skipped_with_its_reason(course, tmp_path):
    got = collect(course, NB, make_zip(tmp_path / "all.zip", MIXED), [NB])
    assert sorted(got.students) == ["Ann_Lee", "Dee_Roy", "chenbo", "kim", "lee", "moe",
                                    "smith_j"]  # no "PS2 Backward", "smith" or lost student
    report = {r["entry"]: r for r in rows(course, "collection.csv")}
    assert list(report) == list(MIXED)  # every entry, in the zip's order
    assert all(r["status"] in ("collected", "receipt", "skipped") for r in report.values())
    assert all(r["reason"] for r in report.values())
    status = {name: r["status"] for name, r in report.items()}
    assert [n for n, s in status.items() if s == "collected"] == [
        "kim_4410_9921_bn-mini.ipynb", "chenbo_LATE_4411_9925_bn-mini-1.ipynb",
        "Ann Lee_301_assignsubmission_file_/bn-mini.ipynb",
        "Dee Roy_302_assignsubmission_file_bn-mini.ipynb",
        f"{BB}_lee_attempt_2026-03-02-10-30-00_bn-mini.ipynb",
        f"{BB}_smith_j_attempt_2026-03-02-11-00-00_bn-mini.ipynb", "moe/bn-mini.ipynb"]
    assert "earlier attempt" in report[f"{BB}_lee_attempt_2026-03-01-09-00-00_bn-mini.ipynb"][
        "reason"]
    assert report[f"{BB}_lee_attempt_2026-03-02-10-30-00.txt"]["status"] == "receipt"
    assert report["kim_4410_9922_notes.pdf"]["reason"] == "not a notebook (notes.pdf)"
    assert "onlinetext" in report["Dee Roy_302_assignsubmission_onlinetext_onlinetext.html"][
        "reason"]
    assert "layout" in report["readme.txt"]["reason"]
    assert "folder" in report["Ann Lee_301_assignsubmission_file_/"]["reason"]
    for login in got.students:
        assert saved(course, login).startswith('{"who": "' + login.split("_")[0].lower()[:3])
    assert saved(course, "lee") == '{"who": "lee"}'  # the latest attempt
    assert saved(course, "lee", "timestamp.txt") == "2026-03-02 10:30:00"
    assert report["__MACOSX/moe/._bn-mini.ipynb"]["reason"].startswith("a hidden or system")
    assert got.counts() == {"entries": 17, "students": 7, "collected": 7, "receipt": 2,
                            "skipped": 8}


def test_lms_ids_and_late_markers_are_kept_with_the_student(course, tmp_path):
    collect(course, NB, make_zip(tmp_path / "all.zip", MIXED), [NB])
    ids = {r["student"]: r for r in rows(course, "lms_ids.csv")}
    assert (ids["chenbo"]["lms"], ids["chenbo"]["lms_user_id"], ids["chenbo"]["late"]) == \
        ("canvas", "4411", "late")
    assert (ids["kim"]["lms_user_id"], ids["kim"]["late"]) == ("4410", "")
    assert (ids["Ann_Lee"]["lms"], ids["Ann_Lee"]["lms_user_id"]) == ("moodle", "301")
    assert (ids["smith_j"]["lms"], ids["smith_j"]["name"]) == ("blackboard", "Jo Smith")
    with Gradebook(course.db_url, course.course_id) as gb:  # nbgrader's own field
        assert gb.find_student("chenbo").lms_user_id == "4411"


def test_a_second_zip_adds_its_students_to_the_lms_ids(course, tmp_path):
    collect(course, NB, make_zip(tmp_path / "a.zip", {"kim_4410_9921_bn-mini.ipynb": "{}"}),
            [NB])
    collect(course, NB, make_zip(tmp_path / "b.zip", {"bo_4412_9931_bn-mini.ipynb": "{}"}),
            [NB])
    assert [(r["student"], r["lms_user_id"]) for r in rows(course, "lms_ids.csv")] == \
        [("bo", "4412"), ("kim", "4410")]


def test_canvas_resubmissions_keep_the_latest_upload(course, tmp_path):
    got = collect(course, NB, make_zip(tmp_path / "c.zip", {
        "kim_4410_9950_bn-mini-2.ipynb": '"third"',
        "kim_4410_9921_bn-mini.ipynb": '"first"',
        "kim_4410_9933_bn-mini-1.ipynb": '"second"'}), [NB])
    assert saved(course, "kim") == '"third"'
    skipped = [e.reason for e in got.entries if e.status == "skipped"]
    assert skipped == ["an earlier upload (attachment 9921) of bn-mini.ipynb; attachment 9950 "
                       "is collected",
                       "an earlier upload (attachment 9933) of bn-mini.ipynb; attachment 9950 "
                       "is collected"]


def test_an_anonymised_canvas_download_keeps_the_anonymous_id(course, tmp_path):
    got = collect(course, NB, make_zip(tmp_path / "c.zip", {
        "LATE_anon_x7Kq2_9950_bn-mini.ipynb": "{}", "anon_b81Zs_9951_bn-mini.ipynb": "{}"}),
        [NB])
    assert sorted(got.students) == ["anon_b81Zs", "anon_x7Kq2"]
    assert got.students["anon_x7Kq2"]["late"] is True


def test_a_renamed_notebook_is_kept_under_its_own_name(course, tmp_path):
    got = collect(course, NB, make_zip(tmp_path / "r.zip", {
        "kim_4410_9921_my work.ipynb": "{}"}), [NB])
    assert got.entries[0].saved_as == "my work.ipynb"
    assert saved(course, "kim", "my work.ipynb") == "{}"


def test_a_student_who_sent_no_notebook_gets_a_folder_and_is_graded_missing(course, tmp_path):
    collect(course, NB, make_zip(tmp_path / "p.zip", {"kim_4410_9922_answers.pdf": "%PDF"}),
            [NB])
    assert course.students(NB) == ["kim"]


def test_two_moodle_students_of_the_same_name_are_an_error_naming_both(course, tmp_path):
    archive = make_zip(tmp_path / "m.zip", {
        "Ann Lee_301_assignsubmission_file_/bn-mini.ipynb": "{}",
        "Ann Lee_305_assignsubmission_file_/bn-mini.ipynb": "{}"})
    with pytest.raises(CollectionError, match="(?s)Ann Lee_301.*Ann Lee_305.*--roster"):
        collect(course, NB, archive, [NB])
    assert course.students(NB) == []  # nothing written


def test_two_files_for_one_notebook_in_one_attempt_are_an_error(course, tmp_path):
    archive = make_zip(tmp_path / "m.zip", {
        "Ann Lee_301_assignsubmission_file_/bn-mini.ipynb": "{}",
        "Ann Lee_301_assignsubmission_file_/bn-mini (1).ipynb": "{}"})
    with pytest.raises(CollectionError, match=r"bn-mini\.ipynb.*bn-mini \(1\)\.ipynb.*same "
                                              r"attempt"):
        collect(course, NB, archive, [NB])


def test_a_blackboard_split_nothing_can_decide_is_an_error(course, tmp_path):
    lone = {f"{BB}_smith_j_attempt_2026-03-02-11-00-00_bn-mini.ipynb": "{}"}
    with pytest.raises(CollectionError, match="'PS2 Backward' or 'PS2 Backward_smith'"):
        collect(course, NB, make_zip(tmp_path / "b.zip", lone), [NB])
    lone[f"{BB}_smith_j_attempt_2026-03-02-11-00-00.txt"] = receipt("Jo Smith", "smith_j", "x")
    got = collect(course, NB, make_zip(tmp_path / "b2.zip", lone), [NB])  # the receipt decides
    assert list(got.students) == ["smith_j"]


def write_roster(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_roster_maps_lms_ids_and_names_to_logins(course, tmp_path):
    roster = write_roster(tmp_path / "roster.csv",
                          "Student,ID,SIS User ID,SIS Login ID,Section\n"
                          "    Points Possible,,,,\n"
                          '"Kim, Hana",4410,S1,hkim,A\n'
                          '"Lee, Ann",,S2,alee,A\n'
                          '"Park, Lee",,S3,lee,B\n')
    got = collect(course, NB, make_zip(tmp_path / "r.zip", {
        "kimhana_4410_9921_bn-mini.ipynb": "{}",
        "Ann Lee_301_assignsubmission_file_/bn-mini.ipynb": "{}",
        f"{BB}_lee_attempt_2026-03-02-10-30-00_bn-mini.ipynb": "{}"}), [NB], roster=roster)
    assert {k: (v["lms_user_id"], v["name"]) for k, v in got.students.items()} == {
        "hkim": ("4410", "Kim, Hana"), "alee": ("301", "Lee, Ann"), "lee": ("", "Park, Lee")}


def test_with_a_roster_an_unknown_or_doubtful_student_is_an_error(course, tmp_path):
    roster = write_roster(tmp_path / "roster.csv", "login,name\nalee,Ann Lee\nalee2,Ann Lee\n"
                                                   "kim,Hana Kim\n")
    archive = make_zip(tmp_path / "r.zip", {
        "Ann Lee_301_assignsubmission_file_/bn-mini.ipynb": "{}",
        "Zed Q_302_assignsubmission_file_/bn-mini.ipynb": "{}"})
    with pytest.raises(CollectionError) as err:
        collect(course, NB, archive, [NB], roster=roster)
    assert "could be any of alee, alee2" in str(err.value)
    assert "'Zed Q' is not on the roster" in str(err.value)


def test_a_roster_that_names_someone_twice_is_refused(tmp_path):
    with pytest.raises(RosterError, match="'kim' appears twice"):
        Roster.read(write_roster(tmp_path / "r.csv", "login,name\nkim,A\nkim,B\n"))
    with pytest.raises(RosterError, match="no login column"):
        Roster.read(write_roster(tmp_path / "r.csv", "name,email\nA,a@x\n"))
    nbgrader_style = Roster.read(write_roster(tmp_path / "n.csv",
                                              "id,first_name,last_name,email,lms_user_id\n"
                                              "smith_j,Jo,Smith,j@x,77\n"))
    assert nbgrader_style.login("smith_j")["lms_id"] == "77"  # the login is not mangled


def test_the_user_pattern_replaces_the_built_in_layouts(course, tmp_path):
    got = collect(course, NB, make_zip(tmp_path / "u.zip", {"hw/smith_j--bn-mini.ipynb": "{}"}),
                  [NB], regexp=r"^hw/(?P<student_id>.+)--(?P<file_id>.+)$")
    assert list(got.students) == ["smith_j"]


def test_unsafe_entries_are_skipped_and_nothing_lands_outside_the_course(course, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(lms, "MAX_NOTEBOOK_BYTES", 1000)
    link = zipfile.ZipInfo("kim/bn-mini.ipynb")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    got = collect(course, NB, make_zip(tmp_path / "evil.zip", {
        "../../out_1_bn-mini.ipynb": "{}", "/abs/bn-mini.ipynb": "{}",
        "..\\..\\win_1_2_bn-mini.ipynb": "{}", "link": (link, "/etc/passwd"),
        "big/bn-mini.ipynb": "x" * 2000, "./bn-mini.ipynb": "{}"}), [NB])
    assert got.students == {}
    reasons = [e.reason for e in got.entries]
    assert reasons == ["a path that leaves its folder ('..')", "an absolute path",
                           "a path that leaves its folder ('..')",
                           "a symbolic link (never followed)", "larger than 0 MB",
                           "a hidden or system file (such as __MACOSX/ or "
                           ".ipynb_checkpoints/)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "evil.zip"]


def test_a_file_that_is_not_a_zip_is_a_clear_error(course, tmp_path):
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(CollectionError, match="cannot read .*not.zip as a zip"):
        collect(course, NB, str(tmp_path / "not.zip"), [NB])


def test_a_corrupt_entry_is_skipped_and_leaves_no_partial_file(course, tmp_path):
    archive = make_zip(tmp_path / "bad.zip", {"kim/bn-mini.ipynb": "A" * 500,
                                              "lee/bn-mini.ipynb": "{}"})
    raw = archive.read_bytes()
    archive.write_bytes(raw.replace(b"A" * 500, b"A" * 250 + b"B" + b"A" * 249))  # bad CRC
    got = collect(course, NB, archive, [NB])
    assert got.entries[0].status == "skipped"
    assert got.entries[0].reason.startswith("unreadable in the zip (BadZipFile")
    assert sorted(p.name for p in (tmp_path / "course" / "submitted" / "kim" / NB).iterdir()) \
        == []
    assert saved(course, "lee") == "{}"


def test_a_zip_that_unpacks_too_large_is_refused_before_writing(course, tmp_path, monkeypatch):
    monkeypatch.setattr(lms, "MAX_TOTAL_BYTES", 100)
    archive = make_zip(tmp_path / "big.zip", {"kim/bn-mini.ipynb": "{}" * 30,
                                              "lee/bn-mini.ipynb": "{}" * 30})
    with pytest.raises(CollectionError, match="unpacks to more than"):
        collect(course, NB, archive, [NB])
    assert course.students(NB) == []


def test_hostile_entry_names_reach_the_summary_as_text(course, tmp_path):
    from bngrade.driver.report import render

    got = collect(course, NB, make_zip(tmp_path / "h.zip", {
        "kim_4410_9921_<img src=x onerror=alert(1)>.pdf": "%PDF",
        "kim_4410_9922_a`b\nc.txt": "x", "kim_4410_9923_=HYPERLINK(1).pdf": "x"}), [NB])
    text = render({"assignment": NB, "students": 0, "mean": 0, "max_score": 4,
                   "per_question": [], "per_student": [], "flagged": [],
                   "collection": got.summary()})
    # Markdown-escaped: shown, never run; one line each
    assert "- kim_4410_9921_\\<img src=x onerror=alert(1)\\>.pdf: " in text
    assert "<img" not in text.replace("\\<img", "")
    assert "- kim_4410_9922_a\\`b\\\\x0ac.txt: " in text
    cells = [r["entry"] for r in rows(course, "collection.csv")]
    assert cells[2] == "kim_4410_9923_=HYPERLINK(1).pdf"  # not at the start of the cell
    with open(course.root + f"/reports/{NB}/collection.csv", newline="") as f:
        assert all(not c.startswith("=") for row in csv.reader(f) for c in row)


def test_export_files_show_names_from_the_lms_as_text(tmp_path):
    from bngrade.driver.export import write

    row = {"student": "kim", "first_name": "", "last_name": "", "email": "",
           "lms_user_id": "", "max_score": 4.0, "timestamp": None, "raw_score": 3.5,
           "late_submission_penalty": 0.0, "score": 3.5, "grades": {}}
    ids = {"kim": {"lms": "moodle", "lms_user_id": "301", "name": "=HYPERLINK(\"x\") Kim",
                   "late": False, "attempt": ""}}
    for fmt in ("canvas", "moodle", "blackboard", "csv"):
        write(tmp_path / f"{fmt}.csv", fmt, NB, [row], ids)
        with open(tmp_path / f"{fmt}.csv", newline="") as f:
            cells = [c for r in csv.reader(f) for c in r]
        assert not any(c.startswith("=") for c in cells), fmt
        assert "3.5" in cells, fmt


def test_hostile_entry_names_reach_the_log_on_one_line_each(course, tmp_path):
    got = collect(course, NB, make_zip(tmp_path / "h.zip", {
        "kim/a\x1b[2J\nbngrade: all grades deleted\r.txt": "x",
        "kim/bn-mini.ipynb": "{}"}), [NB])
    lines = got.describe()  # the reason repeats the file name: "not a notebook (...)"
    assert len(lines) == 2 and "(a\\x1b[2J\\x0abngrade: all grades deleted\\x0d.txt)" in lines[1]
    assert not any(ch in text for text in lines for ch in "\x1b\n\r")


def test_collection_and_export_files_are_private(course, tmp_path):
    from bngrade.driver.export import write

    got = collect(course, NB, make_zip(tmp_path / "a.zip", {"kim/bn-mini.ipynb": "{}"}), [NB])
    row = {"student": "kim", "first_name": "", "last_name": "", "email": "",
           "lms_user_id": "", "max_score": 4.0, "timestamp": None, "raw_score": 3.5,
           "late_submission_penalty": 0.0, "score": 3.5, "grades": {}}
    write(tmp_path / "out" / "canvas.csv", "canvas", NB, [row])
    for path in (got.files["collection"], got.files["lms_ids"], tmp_path / "out" / "canvas.csv"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
