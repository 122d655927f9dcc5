"""Glue to nbgrader's Python API: configuration, the release, the gradebook's cells.

Everything here is nbgrader's own code driven in memory: the course's
``nbgrader_config.py`` is read as nbgrader reads it, the release is what
``nbgrader generate_assignment`` would produce, and the cells it records in a
gradebook are the ones its ``SaveCells`` preprocessor records.
"""

import atexit
import copy
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings

import jsonschema
import nbformat
import nbgrader.api
from nbconvert.exporters import NotebookExporter
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import Execute
from sqlalchemy import create_engine
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

# nbgrader runs the bare `alembic` command (from this environment) for migrations; find it
# on PATH. To learn its schema version each time it creates a gradebook it runs
# `alembic heads` too (seconds, per worker): read the same answer from its scripts instead.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


@functools.cache
def alembic_head():
    """nbgrader's current schema revision (what ``alembic heads`` prints first)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location",
                        os.path.join(os.path.dirname(nbgrader.__file__), "alembic"))
    return ScriptDirectory.from_config(cfg).get_current_head()


nbgrader.api.get_alembic_version = alembic_head


def _validate_cell(self, cell):
    """nbgrader's check of a cell's metadata, with its schema compiled once: nbgrader's
    own calls ``jsonschema.validate``, which checks the schema itself again for every cell
    (a sixth of a submission's grading time). Same checks, same errors."""
    if "nbgrader" not in cell.metadata:
        return
    version = cell.metadata["nbgrader"].get("schema_version", 0)
    if version != self.schema_version:  # nbgrader's own errors for old and new schemas
        return _stock_validate_cell(self, cell)
    error = jsonschema.exceptions.best_match(
        _validator(json.dumps(self.schema, sort_keys=True)).iter_errors(
            cell.metadata["nbgrader"]))
    if error is not None:
        raise error


@functools.lru_cache(maxsize=8)
def _validator(schema_json):
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


_stock_validate_cell = BaseMetadataValidator.validate_cell
BaseMetadataValidator.validate_cell = _validate_cell
# nbgrader's ORM warns about its own session use on every new submission.
warnings.filterwarnings("ignore", category=SAWarning, module="nbgrader")


@functools.cache
def _engine(url, **kwargs):
    return create_engine(url, **kwargs)


def _shared_engine(url, **kwargs):
    """One engine per URL per process. nbgrader makes one per Gradebook, and each new
    engine starts with an empty compiled-SQL cache (a third of a worker's time)."""
    return _engine(str(url), **kwargs)


nbgrader.api.create_engine = _shared_engine

# What the engine needs from nbgrader regardless of the course's settings.
ENGINE_CONFIG = {
    "OverwriteCells": {"add_missing_cells": True},  # deleted test cells come back
    # (nbgrader's own commands only: bngrade never executes a notebook in a kernel)
    "Execute": {"interrupt_on_timeout": True, "allow_errors": True},
}


def load_config(root):
    """nbgrader's configuration for the course at ``root`` (its ``nbgrader_config.py``)."""
    path = os.path.join(root, "nbgrader_config.py")
    cfg = PyFileConfigLoader(path).load_config() if os.path.exists(path) else Config()
    cfg.CourseDirectory.root = os.path.abspath(root)
    return cfg


def coursedir(cfg):
    """nbgrader's CourseDirectory for ``cfg`` (paths, db_url, course_id)."""
    return CourseDirectory(config=cfg)


def plain_config(cfg, time_limit):
    """``cfg`` reduced to JSON (what travels to workers), with the engine's settings."""
    out = {}
    for section, values in cfg.items():
        if not isinstance(values, dict) or section == "CourseDirectory":
            continue
        try:
            out[section] = json.loads(json.dumps(dict(values)))
        except TypeError:
            continue  # classes or callables: the engine's own defaults apply
    for section, values in ENGINE_CONFIG.items():
        out.setdefault(section, {}).update(values)
    out["Execute"]["timeout"] = int(max(1, time_limit))
    return out


def to_config(plain):
    return Config(copy.deepcopy(plain))


def resources_for(assignment, notebook, student, db_url, path=None):
    """The resources dict nbgrader's converters hand their preprocessors."""
    res = {"unique_key": notebook, "output_files_dir": f"{notebook}_files",
           "nbgrader": {"student": student, "assignment": assignment, "notebook": notebook,
                        "db_url": db_url}}
    if path:
        res["metadata"] = {"path": path}
    return res


def export(nb, preprocessors, resources, cfg, exporter_class=NotebookExporter):
    """Run nbgrader preprocessors on ``nb`` the way its converters do; return (output, res)."""
    exporter = exporter_class(config=cfg)
    exporter._preprocessors = []
    for pp in preprocessors:
        exporter.register_preprocessor(pp)
    return exporter.from_notebook_node(nb, resources=resources)


def release(source_nb, assignment, notebook, db_url, cfg, course_id="default_course"):
    """Generate the release of ``source_nb``, recording its cells in ``db_url``."""
    with Gradebook(db_url, course_id or "default_course") as gb:
        gb.update_or_create_assignment(assignment)
    pps = GenerateAssignment.class_traits()["preprocessors"].default()
    res = resources_for(assignment, notebook, ".", db_url)
    out, _ = export(copy.deepcopy(source_nb), pps, res, cfg)
    return nbformat.reads(out, as_version=4)


def register(db_url, course_id, assignment, sources, cfg):
    """Make sure the gradebook knows ``assignment`` and its notebooks (as generate_assignment).

    ``sources`` maps notebook name -> source NotebookNode. Returns the releases.
    """
    return {name: release(nb, assignment, name, db_url, cfg, course_id)
            for name, nb in sources.items()}


def reads(text):
    """``nbformat.reads`` (version 4) without nbformat's ``MissingIDFieldWarning`` traceback:
    a cell of a 4.5+ notebook without an ``id`` (Colab and hand edits drop them) gets one,
    made from its position (``cell-3``), before nbformat sees it, so the same text always
    reads the same (nbformat's own repair draws random ids)."""
    from nbformat.warnings import MissingIDFieldWarning

    try:
        raw = json.loads(text)
    except ValueError:
        raw = None  # nbformat says why
    if isinstance(raw, dict) and isinstance(raw.get("cells"), list) \
            and (raw.get("nbformat"), raw.get("nbformat_minor", 0)) >= (4, 5):
        cells = [c for c in raw["cells"] if isinstance(c, dict)]
        seen = {c.get("id") for c in cells}
        if any(not c.get("id") for c in cells):
            for i, c in enumerate(cells):
                if not c.get("id"):
                    c["id"] = next(n for n in (f"cell-{i}", *(f"cell-{i}-{k}" for k in
                                                               range(1, len(cells) + 2)))
                                   if n not in seen)
                    seen.add(c["id"])
            text = json.dumps(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        return nbformat.reads(text, as_version=4)


def read_notebook(text):
    """Parse notebook JSON text; raise ValueError with a readable reason."""
    try:
        nb = reads(text)
    except Exception as exc:  # nbformat raises many kinds of errors
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("not a readable notebook (no list of cells)")
    return nb


# ------------------------------------------------------------- the autograded notebook
#
# The worker never touches the course's gradebook: it records the source's cells in a
# throw-away SQLite file (:func:`template`), copies it per submission, and runs
# nbgrader's sanitize preprocessors (sources of locked cells, points, deleted test cells
# back) and its autograde preprocessors other than Execute against the copy. Nothing
# runs in a kernel: the cells' outputs are the scoring sandbox's (bngrade.scoring).

_templates = {}  # source hash -> (private gradebook template, release)
_local = threading.local()


def template(assignment, notebook, source_nb, cfg, key):
    """A private gradebook file knowing the source's cells; cached per worker process."""
    if key not in _templates:
        path = os.path.join(tempfile.mkdtemp(prefix="bngrade-gb-"), "template.db")
        rel = release(source_nb, assignment, notebook, f"sqlite:///{path}", cfg)
        _templates[key] = (path, rel)
        atexit.register(shutil.rmtree, os.path.dirname(path), True)
    return _templates[key]


def private_gradebook():
    """This thread's private gradebook file (one path, so nbgrader's engine is reused)."""
    if not hasattr(_local, "db"):
        _local.db = os.path.join(tempfile.mkdtemp(prefix="bngrade-gb-"), "gradebook.db")
        atexit.register(shutil.rmtree, os.path.dirname(_local.db), True)
    return _local.db


def sanitize(nb, assignment, notebook, student, url, cfg):
    """nbgrader's sanitize step (sources, points, locks and cells from the gradebook)."""
    with Gradebook(url) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
    res = resources_for(assignment, notebook, student, url)
    for pp in Autograde.class_traits()["sanitize_preprocessors"].default():
        nb, res = pp(config=cfg)(nb, res)
    return nb, res


def save_autogrades(nb, res, cfg):
    """nbgrader's autograde step without its execution (the outputs are already in ``nb``):
    its grades recorded in the private gradebook, its checks of the cells."""
    for pp in Autograde.class_traits()["autograde_preprocessors"].default():
        if pp is not Execute:
            nb, res = pp(config=cfg)(nb, res)
    return nb, res
