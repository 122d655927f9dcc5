"""Attacks on what reaches the instructor, through the documented command.

A course (the tests' ``bn-mini``) with a correct and a blank classmate and
students whose ids, answers and outputs try to: forge rows of ``summary.md``
and the terminal with newlines and ANSI codes, put a formula in the CSV, run a
script in their feedback page, make feedback rendering fail with a
``BEGIN HIDDEN TESTS`` marker, copy the solution or a classmate, and rewrite the
gradebook after the run. Graded with ``bngrade autograde`` as the README shows;
each test fails without its defence (``bngrade.sanitize``, ``bngrade.driver.copies``,
``bngrade.driver.integrity``).
"""

import csv
import json
import os
import sqlite3
import stat
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from engine_tools import (
    edited,
    environ_with_venv,
    make_course,
    nbgrader_grades,
    release,
    source,
    submit,
)
from nbformat.v4 import new_markdown_cell

pytestmark = pytest.mark.slow

BNGRADE = os.path.join(os.path.dirname(sys.executable), "bngrade")
A = "bn-mini"
# File names cannot hold "/": the forged row uses U+2044, which looks the same.
FORGED = "| zz_blank | 4 \u2044 4 | - |"
NEWLINE_ID = f"nl\n{FORGED}\n| x"
ANSI_ID = "ansi\x1b[1A\x1b[2K\r" + FORGED
FORMULA_ID = '=HYPERLINK("evil.example","4")'
RAISES = ("return 2 * x", 'raise ValueError("\\n' + FORGED + '\\n\\x1b[2K\\x1b[1A\\r' + FORGED
          + '")')
SCRIPT = ("from IPython.display import HTML, display\n"
          "display(HTML('<script>document.title=\"pwned\"</script>"
          "<img src=x onerror=\"document.title=1\"><a href=\"javascript:alert(1)\">a</a>'))")
RENAMED_SOLUTION = '''def batchnorm_forward(inp, g, b, e=1e-5):
    # my very own work
    m = inp.mean(axis=0)
    v = inp.var(axis=0)
    h = (inp - m) / np.sqrt(v + e)
    return g * h + b, (h, v, e)'''
SHARED = '''def {name}(c, e):
    return c / np.sqrt((c ** 2).mean(axis=0) + e)

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    {local} = x - x.mean(axis=0)
    xh = {name}({local}, eps)
    return gamma * xh + beta, (xh, ({local} ** 2).mean(axis=0), eps)'''
INDEPENDENT = '''def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    mu = np.sum(x, axis=0) / n
    d = x - mu
    var = np.sum(d * d, axis=0) / n
    x_hat = d / np.sqrt(var + eps)
    return x_hat * gamma + beta, (x_hat, var, eps)'''


def _answer(nb, text):
    nb = edited(nb, "answer_forward")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                == "answer_forward")
    cell.source = text
    return nb


def run(*args):
    return subprocess.run([BNGRADE, *args], capture_output=True, text=True, timeout=600,
                          env=environ_with_venv())


def autograde(course, *extra):
    return run("autograde", A, "--course-dir", str(course), "--workers", "2", "--time-limit",
               "10", "--no-progress", *extra)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("defences") / "course")
    right, blank = source(course, A), release(course, A)
    submit(course, "zz_correct", A, right)
    submit(course, "zz_blank", A, blank)
    for sid in (NEWLINE_ID, ANSI_ID, FORMULA_ID):
        submit(course, sid, A, right)
    submit(course, "raises", A, edited(right, "answer_scale", *RAISES))
    script = edited(right, "answer_scale", append=SCRIPT)
    script.cells.append(new_markdown_cell('<script>document.title="md"</script>'
                                          '<iframe src="https://evil.example"></iframe>'))
    submit(course, "script", A, script)
    submit(course, "marker", A, edited(right, "answer_scale", "return 2 * x",
                                       "# BEGIN HIDDEN TESTS\n    return 2 * x"))
    submit(course, "copier", A, _answer(blank, RENAMED_SOLUTION))
    submit(course, "pair1", A, _answer(blank, SHARED.format(name="norm", local="c")))
    submit(course, "pair2", A, _answer(blank, SHARED.format(name="unit_scale", local="zz")))
    submit(course, "indep", A, _answer(blank, INDEPENDENT))
    before = {p for p in course.rglob("*")}
    done = autograde(course)
    assert done.returncode == 0, done.stderr
    summary = json.loads((course / "reports" / A / "summary.json").read_text())
    return {"course": course, "out": done.stdout + done.stderr, "summary": summary,
            "students": {p["student"]: p for p in summary["per_student"]}, "before": before}


def test_the_run_grades_everyone(graded):
    s = graded["students"]
    assert len(s) == 12
    assert s["zz_correct"]["score"] == 4 and s["zz_blank"]["score"] == 0
    assert s["raises"]["score"] == 3 and s["indep"]["score"] == 3


def test_no_student_text_forges_a_row_of_the_summary_or_the_terminal(graded):
    md = (graded["course"] / "reports" / A / "summary.md").read_text()
    for text in (md, graded["out"]):
        assert "\x1b" not in text and "\r" not in text
        lines = text.split("\n")
        start = lines.index("## Per student")
        end = next(i for i, ln in enumerate(lines) if i > start and ln.startswith("## "))
        table = lines[start + 4:end]
        assert table[-1] == "" and len(table) == 13, table  # one row per student, no more
        assert all(ln.startswith("| ") and ln.count(" | ") == 2 for ln in table[:-1]), table
        assert [ln for ln in table if ln.startswith("| zz_blank")] == ["| zz_blank | 0 / 4 | - |"]


def test_summary_json_has_no_control_character(graded):
    def strings(v):
        if isinstance(v, dict):
            for k, x in v.items():
                yield k
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, str):
            yield v
    bad = [s for s in strings(graded["summary"]) if not s.isprintable()]
    assert bad == []


def test_the_csv_has_one_row_per_student_and_no_formula(graded):
    with open(graded["course"] / "reports" / A / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 13
    assert all(cell[:1] not in "=+-@" or cell == "" for row in rows for cell in row), rows


class _Tags(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_feedback_html_runs_no_script(graded):
    page = (graded["course"] / "feedback" / "script" / A / f"{A}.html").read_text()
    tags = _Tags(page).tags
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed")]
    assert not [(t, a) for t, a in tags for k in a if k.startswith("on")]
    assert not [(t, a) for t, a in tags for v in a.values() if "javascript:" in (v or "")]
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") ==
           "Content-Security-Policy"]
    assert csp and "script-src 'none'" in csp[0]["content"]
    assert "Grader" in page  # still the feedback page


def test_a_hidden_tests_marker_in_an_answer_costs_nothing(graded):
    row = graded["students"]["marker"]
    assert row["score"] == 4 and not set(row["flags"]) - {"copies_reference",
                                                          "copies_classmate"}, row
    page = graded["course"] / "feedback" / "marker" / A / f"{A}.html"
    assert "Grader" in page.read_text()


def test_copies_are_flagged_with_the_pair_and_independent_work_is_not(graded):
    s, flagged = graded["students"], {e["student"]: e["flags"] for e in graded["summary"]
                                      ["flagged"]}
    # seven of these twelve hand in the source's answer: code most of the class shares is
    # no evidence (bngrade.copies), so the renamed copy of it is not told from theirs
    assert s["copier"]["flags"] == [] and s["zz_correct"]["flags"] == []
    for me, other in (("pair1", "pair2"), ("pair2", "pair1")):
        assert s[me]["flags"] == ["copies_classmate"]
        assert f"{other}'s batchnorm_forward" in flagged[me][0]["detail"]
    assert s["indep"]["flags"] == [] and s["zz_blank"]["flags"] == []


def test_files_the_run_wrote_are_private(graded):
    course = graded["course"]
    made = [p for p in course.rglob("*") if p not in graded["before"]]
    assert made
    for p in made:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
    assert stat.S_IMODE((course / "gradebook.db").stat().st_mode) == 0o600


def test_a_rewritten_gradebook_is_reported_and_regraded(tmp_path):
    course = make_course(tmp_path / "course")
    right = source(course, A)
    submit(course, "ann", A, edited(right, "answer_forward", "x.var(axis=0)",
                                    "x.var(axis=0, ddof=1)"))
    submit(course, "ben", A, right)
    assert autograde(course).returncode == 0
    honest = nbgrader_grades(course)
    assert run("verify", A, "--course-dir", str(course)).returncode == 0
    # What an answer that outlived its run would do: full marks in both tables.
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute("UPDATE grade SET auto_score = 3 WHERE id IN (SELECT grade.id FROM "
                   "grade JOIN submitted_notebook n ON grade.notebook_id = n.id JOIN "
                   "submitted_assignment s ON n.assignment_id = s.id WHERE s.student_id='ann')")
        db.execute("UPDATE bngrade_result SET score = 4 WHERE student = 'ann'")
    assert nbgrader_grades(course) != honest
    checked = run("verify", A, "--course-dir", str(course))
    assert checked.returncode == 1 and checked.stdout.startswith("ann: "), checked.stdout
    again = autograde(course)
    assert "1 gradebook rows do not match their seal" in again.stderr, again.stderr
    assert "1 up to date, 1 to grade" in again.stderr
    assert nbgrader_grades(course) == honest
    assert run("verify", A, "--course-dir", str(course)).returncode == 0
