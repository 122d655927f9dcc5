"""Who owns ``feedback/``: bngrade's pages survive nbgrader's ``generate_feedback --force``,
``bngrade feedback`` rebuilds them without grading, and an unreadable notebook is recorded
once with a page that tells its student why.

The engine's test course (bn-mini) with the course's own ``nbgrader_config.py``.
"""

import re
import shutil
import sys
from pathlib import Path

import pytest
from engine_tools import ROOT, edited, grade, make_course, source, submit
from engine_tools import run_ok as run

pytestmark = pytest.mark.slow
A = "bn-mini"
BIN = Path(sys.executable).parent


def pages(course):
    return {p.relative_to(course / "feedback").as_posix(): p.read_text()
            for p in sorted((course / "feedback").glob(f"*/{A}/{A}.html"))}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("owners"))
    config = (ROOT / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + "\nc.Execute.timeout = 20\n")
    right = source(course, A)
    submit(course, "right", A, right)
    submit(course, "wrong", A, edited(right, "answer_forward", "x.var(axis=0)",
                                      "x.var(axis=0, ddof=1)"))
    submit(course, "corrupt", A, '{"cells": [')
    logs = []
    grade(course, log=logs.append)
    return {"dir": course, "logs": logs, "pages": pages(course)}


def test_bngrade_pages_have_the_engine_verdicts(course):
    assert sorted(course["pages"]) == [f"{s}/{A}/{A}.html" for s in ("corrupt", "right", "wrong")]
    wrong = course["pages"][f"wrong/{A}/{A}.html"]
    assert "Grader" in wrong and "Not passed." in wrong


def test_an_unreadable_notebook_gets_a_page_in_plain_words(course):
    page = course["pages"][f"corrupt/{A}/{A}.html"]
    text = re.sub(r"<[^>]+>", " ", page)
    assert "could not be read as a Jupyter notebook" in text and "What to do" in text
    assert "not graded (0 of" in text
    for word in ("Traceback", "JSONDecodeError", "ValueError", str(course["dir"]), "/tmp/"):
        assert word not in page
    assert "Content-Security-Policy" in page


def test_an_unreadable_notebook_is_graded_once_until_its_file_changes(course, tmp_path):
    logs = []
    grade(course["dir"], log=logs.append)
    assert any("3 up to date, 0 to grade" in line for line in logs), logs
    submit_again = course["dir"] / "submitted" / "corrupt" / A / f"{A}.ipynb"
    submit_again.write_text('{"cells": [1')
    logs = []
    grade(course["dir"], log=logs.append)
    assert any("2 up to date, 1 to grade" in line for line in logs), logs


def test_nbgrader_generate_feedback_force_keeps_bngrades_pages(course):
    before = pages(course["dir"])
    run(course["dir"], str(BIN / "nbgrader"), "generate_feedback", A, "--force")
    after = pages(course["dir"])
    for student in ("right", "wrong"):
        key = f"{student}/{A}/{A}.html"
        assert after[key] == before[key], student


def test_bngrade_feedback_rebuilds_the_pages_without_grading(course):
    before = pages(course["dir"])
    shutil.rmtree(course["dir"] / "feedback")
    out = run(course["dir"], str(BIN / "bngrade"), "feedback", A)
    assert "3 feedback pages written" in out
    assert pages(course["dir"]) == before
