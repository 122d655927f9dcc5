"""``bngrade feedback``: the feedback pages again, from the gradebook and the autograded
notebooks, without grading anything (the pages are made by the worker's renderer,
:mod:`bngrade.worker.feedback`)."""

import os

import nbformat

from .. import nbg
from ..results import Notebook, Submission
from ..worker import feedback
from ..worker.feedback_page import problem_page
from . import engine
from .course import Course
from .store import Store


def regenerate(assignment, course_dir=".", db_url=None, students=None):
    """``bngrade feedback``: every recorded student's pages again, from the gradebook and the
    autograded notebooks, without grading anything. Returns the pages written."""
    course = Course(course_dir, db_url)
    cfg = nbg.plain_config(course.cfg, course.cfg.get("Execute", {}).get("timeout", 30))
    store = Store(course.db_url, course.course_id)
    written = 0
    try:
        secrets = (store.salt(),)
        for row in store.rows(assignment):
            if students and row["student"] not in students:
                continue
            notebooks = []
            for detail in row["detail"]:
                name, student = detail["name"], row["student"]
                path = course.path("autograded", student, assignment, f"{name}.ipynb")
                flag = next((f for f in row["flags"] if f["notebook"] == name
                             and f["kind"] in ("corrupt", "missing")), None)
                if os.path.exists(path):
                    text = open(path, encoding="utf-8").read()
                    html = feedback.page(nbformat.reads(text, as_version=4), assignment, name,
                                         student, course.db_url, cfg, None, secrets)
                    notebooks.append(Notebook(name, autograded=text, feedback=html))
                elif flag is not None:
                    points = sum(q["points"] for q in detail["questions"])
                    notebooks.append(Notebook(name, feedback=problem_page(
                        name, flag["kind"], flag["detail"], points)))
            engine.save_outputs(course, assignment, Submission(assignment, row["student"],
                                                               notebooks))
            written += len(notebooks)
    finally:
        store.close()
    return written
