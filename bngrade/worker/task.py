"""The grading task: a :class:`bngrade.results.Task` in, a :class:`bngrade.results.Submission`
out, both as JSON.

:func:`grade_submission` is stateless: everything it needs (the source
notebooks, the submission's text, the configuration, the limits) arrives in
its JSON argument, and everything it finds leaves as JSON text, so the driver
never unpickles anything derived from a student. Per notebook, the student's
code runs once (:func:`bngrade.worker.scoring.score_notebook`): its cells in a scoring
sandbox, which sends back each cell's outputs, the checkers here. The
``autograded/`` notebook is assembled here (:func:`fill_outputs`): nbgrader's
view of the submission (its sanitize step, in a private gradebook), the
sandbox's outputs made inert, the checkers' verdicts under the test cells, and
nbgrader's grades recorded by its own preprocessors (no kernel, no second run).
The feedback is rendered here with the engine's verdicts; if it fails, the
score stands and the row is flagged. A worker whose grader is not the driver's
refuses the task before it reads the submission (:mod:`bngrade.build`), and
every result names the worker and its grader.
"""

import copy
import hashlib
import json
import shutil
import sys
import threading
import time
import traceback

import nbformat
from nbformat.v4 import new_output

from .. import build, nbg, sanitize, spec, timelimit
from ..results import Flag, Notebook, Question, Submission, Task, failed_notebook
from ..sandbox import isolation
from ..sandbox.box.limits import Limits
from ..sanitize import SafeClearHiddenTests
from . import feedback, feedback_page, scoring


def grade_submission(payload_json, check_sandbox=False):
    """Grade one student's submission of one assignment; return the result as JSON text.

    Refuses (:class:`bngrade.build.VersionMismatch`) a driver of another grader, and with
    ``check_sandbox`` (a remote worker) a machine where no sandbox can be made."""
    raw = json.loads(payload_json)
    build.require(raw.get("build"), check_sandbox and bool(raw.get("isolated")))
    p = Task.from_dict(raw)
    key = _watch_dask_worker()
    isolation.set_owner(key)
    start = time.monotonic()
    cfg = nbg.to_config(p.config)
    limits, isolated = Limits(**p.limits), bool(p.isolated)
    notebooks = []
    for nbp in p.notebooks:
        try:
            notebooks.append(grade_notebook(p, nbp, cfg, limits, isolated, key))
        except Exception as exc:  # a grader bug must not lose the student's row
            nb = failed_notebook(nbp.name, nbp.questions, "grader_error",
                                 f"the grader failed on this notebook: {type(exc).__name__}")
            nb.timings = {"trace": traceback.format_exc()[-2000:]}
            notebooks.append(nb)
    if not isolated:
        for nb in notebooks:
            nb.flags.append(Flag("unisolated", nb.name, "student code ran without a sandbox "
                                 "(--unsafe-no-isolation)"))
    _running.discard(key)
    if isolation.stopped(key):  # its sandboxes were killed under it: no verdict, a retry
        raise RuntimeError("the task was stopped while grading this submission")
    return Submission(p.assignment, p.student, notebooks, time.monotonic() - start,
                      isolated, {"name": build.worker_name(),
                                 "build": build.fingerprint()}).to_json()


_watching, _running = [], set()
STOPPING = ("closing", "closed", "failed")  # Dask worker states: it is going away
GONE = (None, "cancelled", "released", "forgotten")  # a task nobody waits for any more


def _watch_dask_worker():
    """On a Dask worker: this task's key (None elsewhere). Once per process, a thread
    kills the sandboxes and kernels of a task the driver cancelled (a stopped run), and
    every one of them when the worker closes (SIGTERM, a lost scheduler). Dask cannot
    stop a running task, and a closing worker may wait for it: a looping answer would
    run on."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        worker = get_worker()
        key = worker.get_current_task()
    except ValueError:  # not in a Dask task
        return None
    _running.add(key)
    if not _watching:
        _watching.append(worker)
        threading.Thread(target=_watch, args=(worker,), daemon=True,
                         name="bngrade-stop-with-worker").start()
    return key


def _watch(worker):
    while getattr(worker.status, "value", "closed") not in STOPPING:
        for key in list(_running):
            task = worker.state.tasks.get(key)
            if getattr(task, "state", None) in GONE:
                _running.discard(key)
                isolation.stop_all(key)
        time.sleep(0.2)
    isolation.stop_all()


def grade_notebook(p, nbp, cfg, limits, isolated, task_key=None):
    name, student, assignment = nbp.name, p.student, p.assignment
    if nbp.submitted is None:
        return _not_graded(nbp, "missing", nbp.problem or f"{name}.ipynb was not submitted")
    try:
        nb = nbg.read_notebook(nbp.submitted)
    except ValueError as exc:
        return _not_graded(nbp, "corrupt", f"{nbp.found_as}: {exc}")
    source_nb = nbformat.reads(nbp.source, as_version=4)
    key = hashlib.sha256((assignment + name + nbp.source).encode()).hexdigest()
    clock = {"start": time.monotonic()}
    template, release = nbg.template(assignment, name, source_nb, cfg, key)
    clock["template"] = time.monotonic()
    sp = spec.build(name, source_nb, release)
    flags = []
    if nbp.found_as and nbp.found_as != f"{name}.ipynb":
        flags.append(Flag("renamed", name, f"graded {nbp.found_as!r} as {name}.ipynb"))
    answers, notes = spec.locate_answers(sp, nb.cells)
    flags += [Flag(kind, name, detail) for kind, detail in notes + spec.check_locked(sp, nb.cells)]

    # nbgrader's view of the submission (locked cells from the source, deleted test cells
    # back), in a private gradebook; hidden tests out of every test cell.
    db = nbg.private_gradebook()
    shutil.copy(template, db)
    url = f"sqlite:///{db}"
    try:
        clean, res = nbg.sanitize(copy.deepcopy(nb), assignment, name, student, url, cfg)
    except Exception as exc:  # nbgrader's sanitizers refuse broken metadata
        flags.append(Flag("nbgrader_refused", name, (
            "nbgrader could not read the notebook as submitted "
            f"({type(exc).__name__}: {str(exc)[:200]}); a copy of the release with the "
            "submission's answer cells was graded instead")))
        rebuilt = scoring.rebuild(release, sp, nb.cells, answers)
        clean, res = nbg.sanitize(rebuilt, assignment, name, student, url, cfg)
    clean, res = SafeClearHiddenTests(config=cfg)(clean, res)

    # The one execution: the cells in the scoring sandbox, the parts judged here.
    cells = scoring.notebook_cells(clean)
    times, outputs = [], {}
    verdicts, problems = scoring.score_notebook(sp, cells, p.salt, student, limits,
                                                isolated, times, outputs)
    clock["sandbox"] = time.monotonic()
    theirs = fill_outputs(clean, cells, outputs, verdicts)
    html = autograded = None
    try:
        autograded, res = nbg.save_autogrades(clean, res, cfg)
        html = feedback.render(copy.deepcopy(autograded), assignment, name, student, db, cfg,
                               verdicts, secrets=(p.salt,))
        # (the page is made inert by the exporter, here on the worker: the driver only
        # writes it)
    except Exception as exc:  # the score stands without its feedback
        flags.append(Flag("feedback_failed", name, f"the feedback could not be rendered "
                          f"({type(exc).__name__})"))
    clock["feedback"] = time.monotonic()
    for code, text in problems:
        if code in ("timeout", "crashed", "memory", "tampered"):  # plain errors are no flag
            flags.append(Flag(code, name, text))
    questions = _questions(sp, verdicts, theirs, flags, name)
    timings = {"template": clock["template"] - clock["start"],
               "sandbox": clock["sandbox"] - clock["template"],
               "feedback": clock["feedback"] - clock["sandbox"],
               **timelimit.observed(limits.seconds, times, [])}
    return Notebook(name, questions, flags,
                    nbformat.writes(autograded) if autograded is not None else None, html,
                    timings)


def fill_outputs(nb, cells, outputs, verdicts):
    """The notebook as a kernel would have left it, assembled here: each cell that ran gets
    the outputs the scoring sandbox captured (checked and made inert:
    :func:`bngrade.sanitize.outputs`), each test cell a shared checker scores gets the
    grader's verdict. Returns ``{grade_id: points or 0}`` of the test cells no checker
    scores (they ran in the sandbox: an error output scores 0, as nbgrader scores it)."""
    ran = {index: count for count, (_label, _source, index) in enumerate(cells, 1)}
    theirs = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        m = cell.get("metadata", {}).get("nbgrader", {})
        v = verdicts.get(m.get("grade_id")) if m.get("grade") and not m.get("solution") \
            else None
        if v is not None:
            cell.outputs = [_verdict_output(m["grade_id"], v)]
        elif i in ran:
            cell.execution_count = ran[i]
            cell.outputs = [nbformat.from_dict(o) for o in sanitize.outputs(outputs.get(i, []))]
            if m.get("grade") and not m.get("solution") and m.get("grade_id"):
                failed = any(o.get("output_type") == "error" for o in cell.outputs)
                theirs[m["grade_id"]] = 0.0 if failed else float(m.get("points", 0) or 0)
    return theirs


def _verdict_output(grade_id, v):
    """A test cell's output, as ``bnlib.checks.check`` prints it in a notebook."""
    from bnlib.checks import REGISTRY

    if v["score"] >= v["points"]:
        return new_output("stream", name="stdout", text=f"OK - {v['message']}\n")
    words = f"{REGISTRY[grade_id].description}: not passed. {v['message']}"
    return new_output("error", ename="MistakeFound", evalue=words,
                      traceback=[f"MistakeFound: {words}"])


def _not_graded(nbp, kind, detail):
    """Zero with the reason, and a page telling the student why (recorded once: a re-run
    finds its outputs and the same input, and leaves it until the file changes)."""
    nb = failed_notebook(nbp.name, nbp.questions, kind, detail)
    nb.timings.update(time_limit=None, slowest=0.0, timed_out=False)  # nothing ran
    nb.feedback = feedback_page.problem_page(nbp.name, kind, detail,
                                             sum(q["points"] for q in nbp.questions))
    return nb


def _questions(sp, verdicts, theirs, flags, name):
    out = []
    for q in sp.questions:
        v = verdicts.get(q.grade_id)
        if q.kind == "manual":  # an instructor's grade, given in nbgrader's formgrader
            out.append(Question(q.grade_id, q.points, None, "graded by hand: an instructor "
                                "reads this answer and gives its points", None, False))
            continue
        if v is None:  # no shared checker: nbgrader's score from the student's kernel
            out.append(Question(q.grade_id, q.points, theirs.get(q.grade_id),
                                "scored by running the test cell in the sandbox, as nbgrader "
                                "does (no shared checker for this cell: not verified)", None,
                                False))
            continue
        if v["mistake"] in ("timeout", "crashed", "memory", "tampered", "malformed"):
            flags.append(Flag(v["mistake"], name, f"{q.grade_id}: {v['message']}"))
        out.append(Question(q.grade_id, q.points, v["score"], v["message"], v["mistake"],
                            seconds=v.get("seconds")))
    return out
