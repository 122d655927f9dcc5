"""The class review (bngrade.driver.review): its data from the engine's rows, its page, and a
class with known mistakes graded through the command line, its page audited by axe."""

import datetime
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
from engine_tools import edited, make_course, release, run_ok, source, submit

from bngrade.driver import review

# -- the data, from rows as the store returns them ------------------------------------------


def _q(gid, score, points=3.0, mistake=None, message="", seconds=0.1):
    return {"grade_id": gid, "points": points, "score": score, "mistake": mistake,
            "message": message, "verified": True, "seconds": seconds}


def _row(student, *questions, flags=()):
    qs = list(questions)
    return {"student": student, "score": sum(q["score"] or 0 for q in qs),
            "max_score": sum(q["points"] for q in qs), "flags": list(flags),
            "detail": [{"name": "nb", "questions": qs}]}


ROWS = [
    _row("ann", _q("a", 3.0), _q("b", 1.0, 1.0, seconds=2.5)),
    _row("bob", _q("a", 0.0, mistake="unbiased_variance",
                   message="bob: the variance is unbiased; use ddof=0"), _q("b", 1.0, 1.0)),
    _row("cat", _q("a", 0.0, mistake="unbiased_variance", message="use ddof=0"),
         _q("b", 0.0, 1.0, mistake="timeout", message="did not finish", seconds=3.0)),
    _row("dan", _q("a", 0.0, mistake="not_attempted", message="not attempted: ..."),
         _q("b", 0.0, 1.0, mistake="raised", message="`scale` raised NotImplementedError: ")),
    _row("eve", _q("a", 0.0, mistake="syntax_error", message="answer cell has a syntax error"),
         _q("b", 0.0, 1.0, mistake="raised", message="`scale` raised ValueError: no")),
    _row("<b>fay</b>", _q("a", 1.5), _q("b", 0.0, 1.0, mistake="missing", message="missing")),
]


def _data(**kw):
    final = [{"student": r["student"], "score": r["score"], "grades": {},
              "timestamp": None, "max_score": 4.0} for r in ROWS]
    final.append({"student": "gus", "score": 0.0, "grades": {}, "timestamp": None,
                  "max_score": 4.0})
    return review.build("ps9", ROWS, final=final, **kw)


def test_states_are_told_apart_by_the_graders_codes():
    grid = {g["student"]: {gid: c["state"] for gid, c in g["cells"].items()}
            for g in _data()["grid"]}
    assert grid == {
        "ann": {"a": "full", "b": "full"}, "bob": {"a": "mistake", "b": "full"},
        "cat": {"a": "mistake", "b": "timeout"}, "dan": {"a": "not_attempted",
                                                         "b": "not_attempted"},
        "eve": {"a": "syntax_error", "b": "crashed"}, "<b>fay</b>": {"a": "partial",
                                                                     "b": "missing"}}


def test_counts_mistakes_help_and_slowest():
    d = _data()
    a = d["questions"][0]
    assert a["grade_id"] == "a" and a["states"]["mistake"] == 2 and a["states"]["full"] == 1
    assert a["scores"] == {"0": 4, "1.5": 1, "3": 1}
    [m] = d["mistakes"]
    assert (m["question"], m["mistake"], m["count"], m["students"]) == (
        "a", "unbiased_variance", 2, ["bob", "cat"])
    assert "bob" not in m["example"]  # anonymised
    assert [(h["student"], h["kind"]) for h in d["help"]] == [
        ("bob", "low"), ("cat", "low"), ("dan", "low"), ("eve", "low"), ("<b>fay</b>", "low"),
        ("gus", "missing")]
    assert [s["student"] for s in d["slowest"][:2]] == ["cat", "ann"]


def test_help_names_earlier_assignments_and_lateness():
    due = datetime.datetime(2026, 1, 1, 12)
    rows = [_row("ann", _q("a", 3.0)), _row("bob", _q("a", 0.0))]
    final = [{"student": "ann", "score": 3.0, "grades": {},
              "timestamp": datetime.datetime(2026, 1, 2, 12), "max_score": 3.0},
             {"student": "bob", "score": 0.0, "grades": {}, "timestamp": due,
              "max_score": 3.0}]
    d = review.build("ps2", rows, final, due, earlier={"ps1": {"ann": 1.0, "bob": 0.2}})
    assert [(h["student"], h["reasons"]) for h in d["help"]] == [
        ("ann", ["late by 24.0 h"]), ("bob", ["0% of the points; also below 50% on ps1"])]


def test_a_manual_grade_is_the_score_shown():
    final = [{"student": "bob", "score": 3.0, "grades": {"a": 3.0}, "timestamp": None,
              "max_score": 3.0}]
    d = review.build("ps9", [_row("bob", _q("a", 0.0, mistake="unbiased_variance"))], final)
    assert d["grid"][0]["score"] == 3.0 and d["grid"][0]["cells"]["a"]["state"] == "full"
    assert d["help"] == [] and d["mistakes"] == []


class _Tags(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_the_page_is_offline_and_student_text_is_inert():
    page = review.render(_data(pairs=[{
        "a": "bob", "b": "<script>x</script>", "kind": "copies_classmate", "similarity": 0.9,
        "tokens": 120, "fragments": [{"a_notebook": "nb", "a_name": "f",
                                      "a_code": "</pre><script>alert(1)</script>",
                                      "b_notebook": "nb", "b_name": "g", "b_code": "x = 1"}]}]))
    tags = _Tags(page).tags
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed", "link")]
    srcs = [a.get("src") for t, a in tags if t == "img"]
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page)
    assert "<b>fay</b>" not in page and "&lt;b&gt;fay&lt;/b&gt;" in page
    assert "</pre><script>" not in page
    # every plot has its table; every student of a mistake links to their row
    assert page.count("<img") <= page.count("<table")
    anchors = {a["id"] for _, a in tags if "id" in a}
    links = [a["href"][1:] for t, a in tags if t == "a" and a.get("href", "").startswith("#")]
    assert set(links) <= anchors, set(links) - anchors


# -- messages a student can act on (issue 19, item 5) ----------------------------------------
def test_a_stub_left_as_released_is_not_attempted():
    from bnlib.checks import REGISTRY

    part = REGISTRY["ps1_train_forward"]
    cases = part.cases()
    stub = [{"error": "NotImplementedError: ", "used_reference": []} for _ in cases]
    outcome = part.evaluate(cases, stub)
    assert outcome.mistake == "not_attempted" and outcome.message.startswith("not attempted")
    crash = [{"error": "ValueError: no (in `batchnorm_forward`, line 2)", "used_reference": []}
             for _ in cases]
    assert part.evaluate(cases, crash).mistake == "raised"


def test_a_syntax_error_is_named_with_the_students_line():
    from bngrade.worker.scoring import _syntax

    code, words = _syntax("def f(x):\n    mu = x.mean(axis=0\n    return mu\n")
    assert code == "syntax_error"
    assert words.startswith("has a syntax error at line 2") and "`mu = x.mean(axis=0`" in words


def test_the_feedback_contents_name_the_parts():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from bngrade.worker.feedback_page import name_parts

    def test(gid):
        return new_code_cell("check()", metadata={"nbgrader": {"grade": True, "solution": False,
                                                               "grade_id": gid}})

    nb = new_notebook(cells=[new_markdown_cell("## Part 1: the <b>mean</b> (2 points)"),
                             test("p1"), test("ps2_rel_error"), test("other")])
    nb.cells.insert(2, new_markdown_cell("text without a heading"))
    page = "".join(f'<li><a href="#{g}">Test cell</a> (Score: 1 / 1)</li>'
                   for g in ("p1", "ps2_rel_error", "other", "unknown"))
    out = name_parts(page, nb)
    assert '<a href="#p1">Part 1: the &lt;b&gt;mean&lt;/b&gt;</a>' in out
    assert out.count("Part 1: the") == 3  # the heading above holds for the next parts
    bare = new_notebook(cells=[test("ps2_rel_error"), test("other")])
    out = name_parts(page, bare)
    assert '<a href="#ps2_rel_error">relative error of two arrays</a>' in out, out
    assert '<a href="#other">other</a>' in out and '<a href="#unknown">Test cell</a>' in out


# -- a class with known mistakes, graded through the command line ----------------------------
WRONG = ("x.var(axis=0)", "x.var(axis=0, ddof=1)")
DUE = "2026-03-01 12:00:00"


def _class(course, assignment):
    right = source(course, assignment)

    def forward(old, new):
        return edited(right, "answer_forward", old, new)

    students = {
        "right1": right, "right2": right, "right3": right,
        "unbiased1": forward(*WRONG), "unbiased2": forward(*WRONG),
        "nobeta": forward("gamma * x_hat + beta", "gamma * x_hat"),
        "blank": release(course, assignment),
        "syntax": forward("mu = x.mean(axis=0)", "mu = x.mean(axis=0"),
        "crash": forward("mu = x.mean(axis=0)", "raise ValueError('no')"),
        "loop": forward("mu = x.mean(axis=0)", "while True:\n        pass"),
        "late": right,
    }
    for student, nb in students.items():
        folder = submit(course, student, assignment, nb)
        stamp = "2026-03-02 12:00:00" if student == "late" else "2026-02-28 12:00:00"
        (folder / "timestamp.txt").write_text(stamp)
    submit(course, "empty", assignment, None)  # a folder with no notebook: missing


def _with_second_assignment(course):
    """bn-early: the same questions as bn-mini, due earlier."""
    src = course / "solutions" / "bn-mini"
    early = course / "solutions" / "bn-early"
    early.mkdir()
    shutil.copy(src / "bn-mini.ipynb", early / "bn-early.ipynb")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    from nbgrader.api import Gradebook

    course = make_course(tmp_path_factory.mktemp("review") / "course")
    _with_second_assignment(course)
    right = source(course, "bn-early")
    for student in ("right1", "unbiased1", "syntax"):  # earlier: unbiased1 below the line
        submit(course, student, "bn-early",
               right if student == "right1" else edited(right, "answer_scale", "return 2 * x",
                                                        "return x") if student == "syntax"
               else edited(edited(right, "answer_forward", *WRONG), "answer_scale",
                           "return 2 * x", "return x"))
    _class(course, "bn-mini")
    bngrade = [shutil.which("bngrade") or "bngrade"]
    common = ["--time-limit", "3", "--workers", "2", "--no-progress"]
    run_ok(course, *bngrade, "autograde", "bn-early", *common)
    gb = Gradebook(f"sqlite:///{course / 'gradebook.db'}")
    try:
        gb.update_or_create_assignment("bn-early", duedate="2026-02-01 12:00:00")
        gb.update_or_create_assignment("bn-mini", duedate=DUE)
        gb.add_student("ghost")  # on the roster, never submitted
    finally:
        gb.close()
    out = run_ok(course, *bngrade, "autograde", "bn-mini", *common)
    assert "review_html" in out
    out = run_ok(course, *bngrade, "review", "bn-mini")
    data = json.loads((course / "reports" / "bn-mini" / "review.json").read_text())
    run_ok(course, *bngrade, "review", "--all")
    return {"course": course, "data": data, "out": out}


@pytest.mark.slow
def test_the_review_of_a_graded_class_is_exactly_right(reviewed):
    d = reviewed["data"]
    assert d["students"] == 12
    grid = {g["student"]: g["cells"]["ps1_train_forward"]["state"] for g in d["grid"]}
    assert grid == {
        "right1": "full", "right2": "full", "right3": "full", "late": "full",
        "unbiased1": "mistake", "unbiased2": "mistake", "nobeta": "mistake",
        "blank": "not_attempted", "syntax": "syntax_error", "crash": "crashed",
        "loop": "timeout", "empty": "missing"}
    q = next(q for q in d["questions"] if q["grade_id"] == "ps1_train_forward")
    assert {k: v for k, v in q["states"].items() if v} == {
        "full": 4, "mistake": 3, "not_attempted": 1, "syntax_error": 1, "crashed": 1,
        "timeout": 1, "missing": 1}
    assert [(m["mistake"], m["count"], m["students"]) for m in d["mistakes"]
            if m["question"] == "ps1_train_forward"] == [
        ("unbiased_variance", 2, ["unbiased1", "unbiased2"]), ("beta_missing", 1, ["nobeta"])]
    help_ = {h["student"]: h["reasons"] for h in d["help"]}
    assert set(help_) == {"unbiased1", "unbiased2", "nobeta", "blank", "syntax", "crash",
                          "loop", "empty", "late", "ghost"}, help_
    assert help_["ghost"] == ["no submission"]
    assert help_["late"] == ["late by 24.0 h"]
    assert "also below 50% on bn-early" in help_["unbiased1"][0]
    assert help_["unbiased2"] == ["25% of the points; no submission of bn-early"]
    assert d["earlier"] == ["bn-early"]
    slowest = [s["student"] for s in d["slowest"]]
    assert slowest[0] == "loop"


@pytest.mark.slow
def test_review_all_joins_every_assignment(reviewed):
    data = json.loads((reviewed["course"] / "reports" / "review.json").read_text())
    assert [a["assignment"] for a in data["assignments"]] == ["bn-early", "bn-mini"]
    rows = {r["student"]: r["fractions"] for r in data["grid"]}
    assert rows["right1"]["bn-early"] == 1.0 and rows["right2"]["bn-early"] is None
    assert rows["ghost"] == {"bn-early": None, "bn-mini": None}


@pytest.mark.slow
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_review_page_passes_axe(reviewed, browser, width):
    from axe_playwright_python.sync_playwright import Axe
    from builtsite import DESKTOP, PHONE, LocalServer, Visit
    from readable import WCAG_AA

    with LocalServer(reviewed["course"] / "reports") as server:
        for page in ("bn-mini/review.html", "review.html"):
            visit = Visit(browser, server, viewport=DESKTOP if width == "desktop" else PHONE)
            try:
                visit.open(server.url + page)
                found = Axe().run(visit.page, options={
                    "runOnly": {"type": "tag", "values": WCAG_AA},
                    "resultTypes": ["violations"]}).response["violations"]
                assert not visit.external and not visit.console_errors
                wide = visit.page.evaluate(
                    "document.documentElement.scrollWidth - window.innerWidth")
            finally:
                visit.close()
            assert not found, [(v["id"], v["help"], [n["target"] for n in v["nodes"][:3]])
                               for v in found]
            assert wide <= 1, f"{page} scrolls sideways by {wide}px at {width} width"


@pytest.mark.slow
def test_the_graded_class_gets_messages_it_can_act_on(reviewed):
    from bngrade.driver.store import Store

    store = Store(f"sqlite:///{reviewed['course'] / 'gradebook.db'}")
    try:
        verdicts = {r["student"]: {q["grade_id"]: q for nb in r["detail"]
                                   for q in nb["questions"]} for r in store.rows("bn-mini")}
    finally:
        store.close()
    syntax = verdicts["syntax"]["ps1_train_forward"]
    assert syntax["mistake"] == "syntax_error"
    assert syntax["message"].startswith("answer cell answer_forward has a syntax error at "
                                        "line 3: `mu = x.mean(axis=0`"), syntax["message"]
    blank = verdicts["blank"]["ps1_train_forward"]
    assert blank["mistake"] == "not_attempted" and "raised" not in blank["message"]


@pytest.mark.slow
def test_the_graded_feedback_contents_name_the_parts(reviewed):
    page = (reviewed["course"] / "feedback" / "right1" / "bn-mini" / "bn-mini.html").read_text()
    assert "Test cell" not in page and ">training-mode forward pass</a>" in page
