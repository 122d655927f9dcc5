"""Per-student feedback HTML: nbgrader's feedback template, the engine's scores, no hidden test.

nbgrader's ``generate_feedback`` shows hidden tests unless configured otherwise;
here they are always removed (``SafeClearHiddenTests``: test cells only, and a
marker a student typed never makes rendering fail), test-cell tracebacks (which
quote test code) are reduced to their final line, and after each test cell a
note gives the engine's verdict: the score the gradebook records.
"""

import functools
import json
import os

import nbgrader
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook
from nbgrader.preprocessors import GetGrades
from traitlets import Bool
from traitlets.config import Config

from . import nbg
from .sanitize import SafeClearHiddenTests, markdown
from .spec import meta

_FORMGRADER = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")


class ScrubTests(Preprocessor):
    """Reduce tracebacks in test cells to ``ename: evalue`` (tracebacks quote hidden code)."""

    enabled = Bool(True)

    def preprocess_cell(self, cell, resources, index):
        m = meta(cell)
        if cell.cell_type == "code" and m.get("grade") and not m.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


def verdict_cells(nb, verdicts):
    """After each test cell the engine scored, a note with its verdict."""
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        v = verdicts.get(meta(cell).get("grade_id"))
        if v is not None and cell.cell_type == "code":
            text = (f"**Grader** (your functions, run outside this notebook on new inputs): "
                    f"{v['score']:g} / {v['points']:g}. {markdown(v['message'], limit=2000)}")
            cells.append(new_markdown_cell(text, metadata={"bngrade": True}))
    nb.cells = cells
    return nb


def _exporter_config(cfg):
    c = Config(cfg)
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [os.path.join(_FORMGRADER, "templates")]
    c.HTMLExporter.extra_template_paths = [os.path.join(
        _FORMGRADER, "static", "node_modules", "bootstrap", "dist", "css")]
    return c


def render(nb, assignment, notebook, student, db_path, cfg, verdicts):
    """Record the engine's scores in the private gradebook; return the feedback HTML."""
    url = f"sqlite:///{db_path}"
    with Gradebook(url) as gb:
        for gid, v in verdicts.items():
            grade = gb.find_grade(gid, notebook, assignment, student)
            grade.auto_score = v["score"]
        gb.db.commit()
    res = nbg.resources_for(assignment, notebook, student, url)
    out, _ = _exporter(json.dumps(cfg, sort_keys=True, default=str)).from_notebook_node(
        verdict_cells(nb, verdicts), resources=res)
    return out


@functools.lru_cache(maxsize=4)
def _exporter(cfg_json):
    """The HTML exporter, kept per process: building one compiles its templates (0.3 s)."""
    exporter = HTMLExporter(config=_exporter_config(Config(json.loads(cfg_json))))
    exporter._preprocessors = []
    for pp in (GetGrades, ScrubTests, SafeClearHiddenTests, CSSHTMLHeaderPreprocessor):
        exporter.register_preprocessor(pp)
    return exporter
