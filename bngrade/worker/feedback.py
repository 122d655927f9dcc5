"""Per-student feedback HTML: nbgrader's feedback template, the engine's scores, no hidden test.

The page is rendered by :mod:`bngrade.feedback_page` (the exporter and
preprocessors ``nbgrader generate_feedback`` uses on this course too): hidden
tests, their outputs and seeds, the checker's source and server paths removed,
math as MathML, and after each test cell a note with the engine's verdict: the
score the gradebook records.
"""

import functools
import json
import os

from nbgrader.api import Gradebook
from traitlets.config import Config

from .. import nbg
from .feedback_page import PREPROCESSORS, FeedbackExporter, formgrader_dir


def _exporter_config(cfg):
    c = Config(cfg)
    c.HTMLExporter.template_name = "feedback"
    # code coloured as on the pages nbgrader's generate_feedback makes
    c.CSSHTMLHeaderPreprocessor.update({"enabled": True, "style": "default"})
    c.HTMLExporter.extra_template_basedirs = [f"{formgrader_dir()}/templates"]
    c.HTMLExporter.extra_template_paths = [
        f"{formgrader_dir()}/static/node_modules/bootstrap/dist/css"]
    return c


def render(nb, assignment, notebook, student, db_path, cfg, verdicts, secrets=()):
    """Record the engine's scores in the private gradebook; return the feedback HTML."""
    url = f"sqlite:///{db_path}"
    with Gradebook(url) as gb:
        for gid, v in verdicts.items():
            grade = gb.find_grade(gid, notebook, assignment, student)
            grade.auto_score = v["score"]
        gb.db.commit()
    return page(nb, assignment, notebook, student, url, cfg, verdicts, secrets)


def page(nb, assignment, notebook, student, db_url, cfg, verdicts=None, secrets=()):
    """The feedback HTML of an autograded notebook, from gradebook ``db_url``'s grades and
    the engine's ``verdicts`` (None: as the gradebook records them)."""
    res = nbg.resources_for(assignment, notebook, student, db_url)
    res["bngrade"] = {"verdicts": verdicts, "secrets": list(secrets)}
    out, _ = _exporter(json.dumps(cfg, sort_keys=True, default=str)).from_notebook_node(
        nb, resources=res)
    return out


@functools.lru_cache(maxsize=4)
def _exporter(cfg_json):
    """The HTML exporter, kept per process: building one compiles its templates (0.3 s)."""
    exporter = FeedbackExporter(config=_exporter_config(Config(json.loads(cfg_json))))
    exporter._preprocessors = []
    for pp in PREPROCESSORS:
        exporter.register_preprocessor(pp)
    return exporter


def regenerate(assignment, course_dir=".", db_url=None, students=None):
    """``bngrade feedback``: every recorded student's pages again, from the gradebook and the
    autograded notebooks, without grading anything. Returns the pages written."""
    import nbformat

    from ..driver import engine
    from ..driver.course import Course
    from ..driver.store import Store
    from ..results import Notebook, Submission
    from .feedback_page import problem_page

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
                    html = page(nbformat.reads(text, as_version=4), assignment, name, student,
                                course.db_url, cfg, None, secrets)
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
