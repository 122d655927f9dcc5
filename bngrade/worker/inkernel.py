"""nbgrader's normal in-kernel autograde: the autograded notebook and the feedback's outputs.

The worker never touches the course's gradebook: it records the source's cells
in a throw-away SQLite file (:func:`template`), copies it per submission, and
runs nbgrader's sanitize and autograde preprocessors against the copy. The
notebook's code runs in a fresh kernel in a sandbox of its own
(:mod:`bngrade.kernels`), with output capped and total time bounded, and with
the hidden tests removed first: nothing secret is ever in that sandbox. Its
scores are not the engine's (those come from :mod:`bngrade.scoring`); the
notebook it produces is what the student sees.
"""

import atexit
import copy
import datetime
import json
import os
import shutil
import tempfile
import threading

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.preprocessors import ClearHiddenTests, Execute

from bnlib.checks import REGISTRY

from .. import nbg
from ..spec import meta
from . import kernels, scoring
from .kernels import kill_kernel

_templates = {}  # source hash -> (private gradebook template, release)
_local = threading.local()
KERNEL_BASE_MB = 1024  # what an idle kernel with numpy maps before the answer allocates


class EngineExecute(Execute):
    """nbgrader's Execute on a given kernel, with output capped per cell."""

    output_limit = 100_000

    def __init__(self, km, **kw):
        super().__init__(**kw)
        self._given_km, self.executed, self._chars = km, set(), {}

    def preprocess(self, nb, resources=None, km=None):
        return super().preprocess(nb, resources, km=self._given_km)

    def on_cell_executed(self, **kwargs):
        self.executed.add(kwargs["cell_index"])
        super().on_cell_executed(**kwargs)

    def output(self, outs, msg, display_id, cell_index):
        used = self._chars.get(cell_index, 0)
        size = len(str(msg.get("content", "")))
        self._chars[cell_index] = used + size
        if used + size <= self.output_limit:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self.output_limit:
            outs.append(new_output("stream", name="stdout", text=(
                f"\n... output cut by the grader after {self.output_limit} characters ...\n")))
        return None


class ClearCheckedHiddenTests(ClearHiddenTests):
    """Hidden tests removed from the cells a shared checker scores (the engine runs those
    parts itself, outside the kernel). Other test cells keep theirs: only nbgrader's run in
    the kernel can score them, and their score is marked unverified."""

    def preprocess_cell(self, cell, resources, cell_index):
        if meta(cell).get("grade_id") in REGISTRY:
            return super().preprocess_cell(cell, resources, cell_index)
        return cell, resources


def template(assignment, notebook, source_nb, cfg, key):
    """A private gradebook file knowing the source's cells; cached per worker process."""
    if key not in _templates:
        path = os.path.join(tempfile.mkdtemp(prefix="bngrade-gb-"), "template.db")
        release = nbg.release(source_nb, assignment, notebook, f"sqlite:///{path}", cfg)
        _templates[key] = (path, release)
        atexit.register(shutil.rmtree, os.path.dirname(path), True)
    return _templates[key]


def cell_seconds(nb):
    """Wall seconds of each code cell the kernel ran (nbclient's timing metadata); a cell
    that started and never replied counts as ``inf``."""
    out = []
    for cell in nb.cells if nb is not None else ():
        when = cell.get("metadata", {}).get("execution", {})
        start, end = when.get("iopub.execute_input"), when.get("shell.execute_reply")
        if start is None:
            continue
        try:
            out.append((datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
                        - datetime.datetime.fromisoformat(start.replace("Z", "+00:00")))
                       .total_seconds() if end else float("inf"))
        except (AttributeError, ValueError):
            continue
    return out


def _mark_unexecuted(nb, executed, why):
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i not in executed and cell.source.strip():
            cell.outputs = [new_output("error", ename="NotExecuted", evalue=why,
                                       traceback=[f"NotExecuted: {why}"])]


def sanitize(nb, assignment, notebook, student, url, cfg):
    """nbgrader's sanitize step (sources, points, locks and cells from the gradebook)."""
    with Gradebook(url) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
    res = nbg.resources_for(assignment, notebook, student, url)
    for pp in Autograde.class_traits()["sanitize_preprocessors"].default():
        nb, res = pp(config=cfg)(nb, res)
    return nb, res


def autograde(nb, res, cfg, km, total_seconds):
    """nbgrader's autograde step on kernel ``km``; return (nb, {grade_id: score}, note)."""
    res["metadata"] = {"path": km.workdir}
    runner, note = EngineExecute(km, config=cfg), None
    timer = threading.Timer(total_seconds, kill_kernel, [km])
    timer.start()
    try:
        nb, res = ClearCheckedHiddenTests(config=cfg)(nb, res)  # the kernel never sees them
        for pp in Autograde.class_traits()["autograde_preprocessors"].default():
            try:
                nb, res = (runner if pp is Execute else pp(config=cfg))(nb, res)
            except DeadKernelError:
                note = "the kernel died (os._exit, a crash, the memory cap or the time limit)"
                _mark_unexecuted(nb, runner.executed, "the kernel had died before this cell")
    finally:
        timer.cancel()
        if runner.kc is not None:  # the client's sockets are ours to close (we own the km)
            kill_kernel(km)  # done with it: a kernel an answer broke must not hold us
            stop_client(runner.kc)
            runner.kc = None
    info = res["nbgrader"]
    with Gradebook(info["db_url"]) as gb:
        sub = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
        scores = {g.name: g.auto_score for g in sub.grades}
    return nb, scores, note


def stop_client(kc, seconds=5.0):
    """Close a kernel client's channels, giving up after ``seconds``: the heartbeat
    channel of a kernel whose sockets an answer wrote into can wait for ever. (Its
    thread is a daemon; the worker goes on.)"""
    closer = threading.Thread(target=kc.stop_channels, daemon=True)
    closer.start()
    closer.join(seconds)


def private_gradebook():
    """This thread's private gradebook file (one path, so nbgrader's engine is reused)."""
    if not hasattr(_local, "db"):
        _local.db = os.path.join(tempfile.mkdtemp(prefix="bngrade-gb-"), "gradebook.db")
        atexit.register(shutil.rmtree, os.path.dirname(_local.db), True)
    return _local.db


def run(nb, release, sp, answers, assignment, name, student, db, cfg, limits, isolated, flags):
    """nbgrader's own autograde of ``nb`` (of a rebuilt copy if nbgrader refuses it).

    A kernel that fails (it may not even start: ports are raced for) gets one retry.
    """
    url = f"sqlite:///{db}"
    try:
        clean, res = sanitize(copy.deepcopy(nb), assignment, name, student, url, cfg)
    except Exception as exc:  # nbgrader's sanitizers refuse broken metadata
        flags.append({"kind": "nbgrader_refused", "notebook": name, "detail": (
            "nbgrader could not grade the notebook as submitted "
            f"({type(exc).__name__}: {str(exc)[:200]}); a copy of the release with the "
            "submission's answer cells was graded instead")})
        rebuilt = scoring.rebuild(release, sp, nb.cells, answers)
        clean, res = sanitize(rebuilt, assignment, name, student, url, cfg)
    total = limits.seconds * (1 + sum(c.cell_type == "code" for c in sp.cells)) + 60
    for attempt in (1, 2):
        km = kernels.take_kernel(kernel_settings(limits, isolated))
        try:
            return autograde(copy.deepcopy(clean), copy.deepcopy(res), cfg, km, total)
        except Exception:
            if attempt == 2:
                raise
        finally:
            kernels.discard_kernel(km)


def kernel_settings(limits, isolated):
    """What a kernel is started with: its limits (the answer's memory plus the kernel's own)
    and whether it runs in a sandbox."""
    return json.dumps(limits.rlimits(base_mb=KERNEL_BASE_MB)), bool(isolated)
