"""The grading task: one submission in, a :class:`bngrade.results.Submission` out, as JSON.

:func:`grade_submission` is stateless: everything it needs (the source
notebooks, the submission's text, the configuration, the limits) arrives in
its JSON argument, and everything it finds leaves as JSON text, so the driver
never unpickles anything derived from a student. Per notebook, two things run
side by side, each with the student's code in a sandbox of its own:

* the engine's score (:func:`bngrade.scoring.score_notebook`): the answers in a
  scoring sandbox, the checker here;
* nbgrader's own autograde in a sandboxed kernel (:mod:`bngrade.inkernel`), for
  the autograded notebook and the feedback; its scores are not used.

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

from .. import build, nbg, spec, timelimit
from ..results import Flag, Notebook, Question, Submission, failed_notebook
from ..sandbox import isolation
from ..sandbox.box.limits import Limits
from . import feedback, feedback_page, inkernel, scoring


def grade_submission(payload_json, check_sandbox=False):
    """Grade one student's submission of one assignment; return the result as JSON text.

    Refuses (:class:`bngrade.build.VersionMismatch`) a driver of another grader, and with
    ``check_sandbox`` (a remote worker) a machine where no sandbox can be made."""
    p = json.loads(payload_json)
    build.require(p.get("build"), check_sandbox and bool(p["isolated"]))
    key = _watch_dask_worker()
    isolation.set_owner(key)
    start = time.monotonic()
    cfg = nbg.to_config(p["config"])
    limits, isolated = Limits(**p["limits"]), bool(p["isolated"])
    notebooks = []
    for nbp in p["notebooks"]:
        try:
            notebooks.append(grade_notebook(p, nbp, cfg, limits, isolated, key))
        except Exception as exc:  # a grader bug must not lose the student's row
            nb = failed_notebook(nbp["name"], nbp["questions"], "grader_error",
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
    return Submission(p["assignment"], p["student"], notebooks, time.monotonic() - start,
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
    name, student, assignment = nbp["name"], p["student"], p["assignment"]
    if nbp["submitted"] is None:
        return _not_graded(nbp, "missing", nbp.get("problem") or f"{name}.ipynb was not submitted")
    try:
        nb = nbg.read_notebook(nbp["submitted"])
    except ValueError as exc:
        return _not_graded(nbp, "corrupt", f"{nbp['found_as']}: {exc}")
    source_nb = nbformat.reads(nbp["source"], as_version=4)
    key = hashlib.sha256((assignment + name + nbp["source"]).encode()).hexdigest()
    clock = {"start": time.monotonic()}
    template, release = inkernel.template(assignment, name, source_nb, cfg, key)
    clock["template"] = time.monotonic()
    sp = spec.build(name, source_nb, release)
    flags = []
    if nbp.get("found_as") and nbp["found_as"] != f"{name}.ipynb":
        flags.append(Flag("renamed", name, f"graded {nbp['found_as']!r} as {name}.ipynb"))
    answers, notes = spec.locate_answers(sp, nb.cells)
    flags += [Flag(kind, name, detail) for kind, detail in notes + spec.check_locked(sp, nb.cells)]

    box, times = {}, []
    runner = threading.Thread(target=_score, args=(box, sp, nb.cells, answers, p["salt"],
                                                   student, limits, isolated, times,
                                                   task_key))
    runner.start()
    db = inkernel.private_gradebook()
    raw = []
    try:
        shutil.copy(template, db)
        autograded, theirs, kernel_note = inkernel.run(
            nb, release, sp, answers, assignment, name, student, db, cfg, limits, isolated, raw)
    except Exception as exc:  # the engine's score does not depend on nbgrader's run
        autograded, theirs, kernel_note = None, {}, None
        flags.append(Flag("kernel_failed", name, f"nbgrader's in-kernel run failed "
                          f"({type(exc).__name__}): no autograded notebook or feedback"))
    finally:
        clock["kernel"] = time.monotonic()
        runner.join()
    flags += [Flag(f["kind"], f["notebook"], f["detail"]) for f in raw]
    if "error" in box:
        raise RuntimeError(f"the scoring sandbox failed: {box['error']}")
    verdicts, problems = box["verdicts"], box["problems"]
    html = None
    if autograded is not None:
        try:
            html = feedback.render(copy.deepcopy(autograded), assignment, name, student, db, cfg,
                                   verdicts, secrets=(p["salt"],))
            # (the page is made inert by the exporter, here on the worker: the driver only
            # writes it)
        except Exception as exc:  # the score stands without its feedback
            flags.append(Flag("feedback_failed", name, f"the feedback could not be rendered "
                              f"({type(exc).__name__})"))
    clock["feedback"] = time.monotonic()
    for code, text in problems:
        if code in ("timeout", "crashed", "memory", "tampered"):  # plain errors are no flag
            flags.append(Flag(code, name, text))
    if kernel_note:
        flags.append(Flag("kernel_died", name, kernel_note))
    questions = _questions(sp, verdicts, theirs, flags, name)
    timings = {"template": clock["template"] - clock["start"],
               "sandbox": box.get("done", clock["template"]) - clock["template"],
               "kernel": clock["kernel"] - clock["template"],
               "feedback": clock["feedback"] - clock["kernel"],
               **timelimit.observed(limits.seconds, times, inkernel.cell_seconds(autograded))}
    return Notebook(name, questions, flags,
                    nbformat.writes(autograded) if autograded is not None else None, html,
                    timings)


def _not_graded(nbp, kind, detail):
    """Zero with the reason, and a page telling the student why (recorded once: a re-run
    finds its outputs and the same input, and leaves it until the file changes)."""
    nb = failed_notebook(nbp["name"], nbp["questions"], kind, detail)
    nb.timings.update(time_limit=None, slowest=0.0, timed_out=False)  # nothing ran
    nb.feedback = feedback_page.problem_page(nbp["name"], kind, detail,
                                             sum(q["points"] for q in nbp["questions"]))
    return nb


def _score(box, sp, cells, answers, salt, student, limits, isolated, times, task_key):
    """The engine's share, in a helper thread (alongside nbgrader's in-kernel run)."""
    isolation.set_owner(task_key)
    try:
        box["verdicts"], box["problems"] = scoring.score_notebook(
            sp, cells, answers, salt, student, limits, isolated, times)
    except Exception as exc:  # reported by the task, as a grader error
        box["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        box["done"] = time.monotonic()


def _questions(sp, verdicts, theirs, flags, name):
    out = []
    for q in sp.questions:
        v = verdicts.get(q.grade_id)
        if v is None:  # no shared checker: nbgrader's score from the student's kernel
            out.append(Question(q.grade_id, q.points, theirs.get(q.grade_id),
                                "scored by nbgrader in the notebook's kernel (no shared "
                                "checker for this cell: not verified)", None, False))
            continue
        if v["mistake"] in ("timeout", "crashed", "memory", "tampered", "malformed"):
            flags.append(Flag(v["mistake"], name, f"{q.grade_id}: {v['message']}"))
        out.append(Question(q.grade_id, q.points, v["score"], v["message"], v["mistake"],
                            seconds=v.get("seconds")))
    return out
