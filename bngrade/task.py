"""The grading task: one submission in, plain JSON out. Runs unchanged in a pool or on Dask.

:func:`grade_submission` is stateless: everything it needs (the source
notebooks, the submission's text, the configuration, the limits) arrives in its
JSON argument, and everything it finds leaves as JSON text, so the driver never
unpickles anything derived from a student. Per worker it keeps only caches that
no student can influence: the zygote, a standby kernel and the private gradebook
template of each source notebook.
"""

import copy
import hashlib
import json
import shutil
import threading
import time
import traceback

import nbformat

from . import feedback, inkernel, nbg, sandbox, scoring, spec


def grade_submission(payload_json):
    """Grade one student's submission of one assignment; return the result as JSON text."""
    p = json.loads(payload_json)
    start = time.monotonic()
    cfg = nbg.to_config(p["config"])
    notebooks = []
    for nbp in p["notebooks"]:
        try:
            notebooks.append(grade_notebook(p, nbp, cfg))
        except Exception as exc:  # a grader bug must not lose the student's row
            notebooks.append(failed(nbp, "grader_error", f"the grader failed on this notebook: "
                                    f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    return json.dumps({"assignment": p["assignment"], "student": p["student"],
                       "notebooks": notebooks, "seconds": time.monotonic() - start,
                       "own_user": bool(inkernel.uid_base(p["limits"])),
                       "flags": [f for nb in notebooks for f in nb["flags"]]})


def failed(nbp, kind, detail, trace=None):
    """A notebook that could not be graded: every question scores zero, with the reason."""
    questions = [{"grade_id": q["grade_id"], "points": q["points"], "score": 0.0,
                  "engine": None, "nbgrader": None, "verified": False, "message": detail,
                  "mistake": kind} for q in nbp["questions"]]
    return {"name": nbp["name"], "questions": questions, "autograded": None, "feedback": None,
            "flags": [{"kind": kind, "notebook": nbp["name"], "detail": detail}],
            "trace": trace}


def _flag(flags, kind, name, detail):
    flags.append({"kind": kind, "notebook": name, "detail": detail})


def grade_notebook(p, nbp, cfg):
    name, student, assignment = nbp["name"], p["student"], p["assignment"]
    if nbp["submitted"] is None:
        return failed(nbp, "missing", nbp.get("problem") or f"{name}.ipynb was not submitted")
    try:
        nb = nbg.read_notebook(nbp["submitted"])
    except ValueError as exc:
        return failed(nbp, "corrupt", f"{nbp['found_as']}: {exc}")
    limits = p["limits"]
    source_nb = nbformat.reads(nbp["source"], as_version=4)
    key = hashlib.sha256((assignment + name + nbp["source"]).encode()).hexdigest()
    clock = {"start": time.monotonic()}
    template, release = inkernel.template(assignment, name, source_nb, cfg, key)
    clock["template"] = time.monotonic()
    sp = spec.build(name, source_nb, release)
    flags = []
    if nbp.get("found_as") and nbp["found_as"] != f"{name}.ipynb":
        _flag(flags, "renamed", name, f"graded {nbp['found_as']!r} as {name}.ipynb")
    answers, notes = spec.locate_answers(sp, nb.cells)
    for kind, detail in notes + spec.check_locked(sp, nb.cells):
        _flag(flags, kind, name, detail)

    steps, cases = scoring.program(sp, nb.cells, answers, p["salt"], student)
    job = {"parts": sorted(cases), "allowed": scoring.allowed(cases),
           "uid_base": inkernel.uid_base(limits),
           "limits": {"memory_bytes": limits["memory_mb"] << 20, "file_bytes": 16 << 20,
                      "cpu_seconds": limits["time"] * (len(steps) + 1) + 5}}
    box = {}
    runner = threading.Thread(target=_sandbox, args=(box, steps, job, limits["time"],
                                                     threading.get_ident()))
    runner.start()
    db = inkernel.private_gradebook()
    try:
        shutil.copy(template, db)
        autograded, nbscores, kernel_note = inkernel.run(
            nb, release, sp, answers, assignment, name, student, db, cfg, limits, flags)
    except Exception as exc:  # the engine's score does not depend on nbgrader's run
        autograded, nbscores, kernel_note = None, {}, None
        _flag(flags, "kernel_failed", name, f"nbgrader's in-kernel run failed "
              f"({type(exc).__name__}: {str(exc)[:200]}): no autograded notebook or feedback")
    finally:
        clock["kernel"] = time.monotonic()
        runner.join()
    if "error" in box:
        raise RuntimeError(f"the sandbox failed: {box['error']}")
    verdicts = scoring.verdicts(sp, steps, box["results"], cases, limits["time"],
                                limits["memory_mb"])
    html = None if autograded is None else feedback.render(
        copy.deepcopy(autograded), assignment, name, student, db, cfg, verdicts)
    clock["feedback"] = time.monotonic()
    for status, text in scoring.step_problems(steps, box["results"], limits["time"],
                                              limits["memory_mb"]):
        if "memory" in text or status in ("timeout", "crashed"):  # plain errors are no flag
            _flag(flags, "memory" if "memory" in text else status, name, text)
    if kernel_note:
        _flag(flags, "kernel_died", name, kernel_note)
    for cell in autograded.cells if autograded else []:
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            _flag(flags, "timeout", name, f"cell {spec.meta(cell).get('grade_id', '(unnamed)')!r} "
                  f"did not finish within {limits['time']:g} s in the notebook's kernel")
    questions = _questions(sp, verdicts, nbscores, flags, name)
    timings = {"template": clock["template"] - clock["start"],
               "sandbox": box.get("done", clock["template"]) - clock["template"],
               "kernel": clock["kernel"] - clock["template"],
               "feedback": clock["feedback"] - clock["kernel"]}
    return {"name": name, "questions": questions, "flags": flags, "timings": timings,
            "autograded": nbformat.writes(autograded) if autograded else None,
            "feedback": html}


def _sandbox(box, steps, job, seconds, owner):
    """The sandbox's share, in a helper thread (alongside nbgrader's in-kernel run)."""
    try:
        box["results"] = sandbox.run_steps(steps, job, seconds, owner)
    except Exception as exc:  # reported by the task, as a grader error
        box["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        box["done"] = time.monotonic()


def _questions(sp, verdicts, nbscores, flags, name):
    out = []
    for q in sp.questions:
        v, theirs = verdicts.get(q.grade_id), nbscores.get(q.grade_id)
        if v is None:
            out.append({"grade_id": q.grade_id, "points": q.points, "score": theirs,
                        "engine": None, "nbgrader": theirs, "verified": False,
                        "message": "scored by nbgrader only (no shared checker for this cell)",
                        "mistake": None})
            continue
        if v["mistake"] in ("calls_reference", "timeout", "crashed", "memory"):
            _flag(flags, v["mistake"], name, f"{q.grade_id}: {v['message']}")
        if theirs is not None and theirs != v["score"]:
            kind = "tampered" if theirs > v["score"] else "inconsistent"
            _flag(flags, kind, name, f"{q.grade_id}: nbgrader in the notebook's kernel gave "
                  f"{theirs:g}/{q.points:g}, the engine {v['score']:g}/{q.points:g}")
        out.append({"grade_id": q.grade_id, "points": q.points, "score": v["score"],
                    "engine": v["score"], "nbgrader": theirs, "verified": True,
                    "message": v["message"], "mistake": v["mistake"]})
    return out
