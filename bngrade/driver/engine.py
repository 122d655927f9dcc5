"""The driver: plan, dispatch, record. The only process that writes the gradebook.

:func:`autograde` registers the assignment in the gradebook (as ``nbgrader
generate_assignment`` would), skips submissions already recorded with the same
input hash (idempotent re-runs; an interrupted run resumes), sends the others
to the backend a few at a time, and records results as they arrive, a batch per
transaction (:data:`RECORD_BATCH` results or :data:`RECORD_SECONDS`), after
writing the autograded notebooks and the feedback.
Every task carries the driver's grader fingerprint (:mod:`bngrade.build`): a
worker of another grader refuses it, and the run stops there without recording
anything that worker computed. Where the time went is in the summary's
``timings`` (:mod:`bngrade.driver.timing`).
"""

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict

import nbformat
from tqdm import tqdm

from .. import __version__, build, nbg, spec, timelimit
from ..results import Submission, Task, TaskNotebook, failed_notebook
from ..sandbox import isolation
from ..sandbox.box.limits import Limits
from ..sanitize import line
from . import backends, integrity, lms, report, stops, timing
from .course import Course
from .store import Store


def _write(path, text):
    integrity.write_private(path, text)


def _input_hash(task):
    """What decides a grade: the engine's version, the sources, the submission, the limits
    other than time (a changed time limit regrades only what it can change:
    :func:`bngrade.timelimit.may_change`)."""
    p = asdict(task)
    del p["build"]  # checked by the worker, not part of the hash
    p.update(limits=dict(task.limits, seconds=None),
             config=dict(task.config, Execute=dict(task.config["Execute"], timeout=None)))
    return hashlib.sha256(json.dumps([__version__, p], sort_keys=True).encode()).hexdigest()


def _outputs_exist(course, student, assignment, names):
    return all(os.path.exists(course.path("feedback", student, assignment, f"{n}.html"))
               for n in names)


def _assignment(course, store, assignment):
    """``(sources, questions)`` of an assignment, registered in the gradebook."""
    sources = course.sources(assignment)
    releases = nbg.register(course.db_url, course.course_id, assignment,
                            {n: nbformat.reads(t, as_version=4) for n, t in sources.items()},
                            course.cfg)
    questions = {}
    for name, text in sources.items():
        sp = spec.build(name, nbformat.reads(text, as_version=4), releases[name])
        questions[name] = [{"grade_id": q.grade_id, "points": q.points} for q in sp.questions]
    return sources, questions


def plan(course, store, assignment, students, force, limits, isolated=True):
    """Payloads to grade (student -> (payload JSON, input hash)); the rest are up to date."""
    sources, questions = _assignment(course, store, assignment)
    config, salt, done = nbg.plain_config(course.cfg, limits.seconds), store.salt(), \
        store.done(assignment)
    for m in store.mismatches(assignment):  # rewritten behind the engine's back: grade again
        done.pop(m.student, None)
    recorded = {r["student"]: r["detail"] for r in store.rows(assignment)}
    todo = {}
    for student in students:
        notebooks = [TaskNotebook(**entry, source=sources[entry["name"]],
                                  questions=questions[entry["name"]])
                     for entry in course.submission(student, assignment, list(sources))]
        task = Task(assignment, student, salt, limits.to_json(), isolated, config, notebooks,
                    build.fingerprint())
        h = _input_hash(task)
        if force or done.get(student) != h or not _outputs_exist(course, student, assignment,
                                                                 sources) \
                or timelimit.may_change(recorded.get(student, ()), limits.seconds):
            todo[student] = (task.to_json(), h)
    return todo


def reference_payload(course, store, assignment, limits, isolated):
    """The solution notebooks, graded like a submission (to measure the reference's time)."""
    sources, questions = _assignment(course, store, assignment)
    notebooks = [TaskNotebook(n, text, questions[n], submitted=text, found_as=f"{n}.ipynb")
                 for n, text in sources.items()]
    return Task(assignment, "reference-solution", store.salt(), limits.to_json(), isolated,
                nbg.plain_config(course.cfg, limits.seconds), notebooks,
                build.fingerprint()).to_json()


def time_limit_for(course, store, assignment, time_limit, isolated, backend, log):
    """The run's limit (seconds) and how it was chosen (``summary["time_limit"]``)."""
    if time_limit:
        return {"seconds": float(time_limit), "source": "option"}
    name = timelimit.cache_name(assignment, course.sources(assignment))
    found = store.setting(name)
    if found is None:
        log(f"{assignment}: measuring the reference solution's time (once for these sources)")
        measure = Limits(seconds=timelimit.MEASURE_SECONDS)
        grader = backend(measure)
        future = grader.submit(reference_payload(course, store, assignment, measure, isolated))
        while not future.done():
            grader.wait({future})
        raw = json.loads(grader.result(future))
        build.verify(raw.get("worker"), build.fingerprint())
        found = timelimit.from_reference(Submission.from_dict(raw))
        if found["problems"]:
            log(f"{assignment}: the reference solution itself was flagged "
                f"({', '.join(found['problems'])}): its time may not be representative")
        store.set_setting(name, found)
        how = "measured now"
    else:
        how = "measured earlier"
    return {"seconds": timelimit.derive(found["slowest"]), "source": "derived",
            "reference_seconds": found["slowest"], "reference_questions": found["questions"],
            "floor": timelimit.FLOOR, "multiple": timelimit.MULTIPLE, "measured": how}


def save_outputs(course, assignment, result):
    """Autograded notebooks and feedback HTML where nbgrader keeps them."""
    student = result.student
    stamp = course.path("submitted", student, assignment, "timestamp.txt")
    for nb in result.notebooks:
        # nb.feedback is made inert by the worker (bngrade.worker.task): no script of it may run
        for kind, text, ext in (("autograded", nb.autograded, "ipynb"),
                                ("feedback", nb.feedback, "html")):
            path = course.path(kind, student, assignment, f"{nb.name}.{ext}")
            if text is None:
                if os.path.exists(path):
                    os.remove(path)  # a stale result of an earlier submission
                continue
            _write(path, text)
            if os.path.exists(stamp):
                _write(course.path(kind, student, assignment, "timestamp.txt"), open(stamp).read())


@contextlib.contextmanager
def private_cwd():
    """Work from a private, empty folder: nothing planted in the caller's working directory
    can be imported by a grading process (they start with ``python -I`` too)."""
    before, folder = os.getcwd(), tempfile.mkdtemp(prefix="bngrade-run-")
    path = list(sys.path)
    # what workers inherit as sys.path: never the working directory (python -m puts it first)
    sys.path[:] = [p for p in path if p and os.path.isabs(p) and p != before]
    os.chmod(folder, 0o700)
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
        sys.path[:] = path
        shutil.rmtree(folder, ignore_errors=True)


def autograde(assignment, course_dir=".", workers=None, scheduler=None, db_url=None,
              students=None, zip_path=None, zip_regexp=None, roster=None, force=False,
              time_limit=None, memory_mb=1024, isolated=True, progress=True, log=print,
              security=None):
    """Grade ``assignment`` for the class (or ``students``); return the summary dict.

    Refuses (:class:`bngrade.sandbox.isolation.IsolationUnavailable`) when no sandbox can be made,
    unless ``isolated=False`` (``--unsafe-no-isolation``), which flags every row; stops with
    :class:`bngrade.build.WorkerRefused` when a worker is not the driver's grader."""
    clock = timing.RunClock()
    course_dir, zip_path = os.path.abspath(course_dir), zip_path and os.path.abspath(zip_path)
    if isolated:
        isolation.check()
    course = Course(course_dir, db_url)
    collected = zip_path and lms.collect(course, assignment, zip_path,
                                         list(course.sources(assignment)), roster, zip_regexp)
    for text in collected.describe() if collected else ():
        log(text)
    everyone = course.students(assignment)
    chosen = list(students) if students else everyone
    store = Store(course.db_url, course.course_id, integrity.load_key(course.root))
    backend = None

    def started(limits):
        nonlocal backend
        if backend is None:
            backend = backends.make(workers, scheduler,
                                    None, security)
            stop.force = backend.kill
            backend.handshake(build.fingerprint(), isolated)
        return backend

    try:
        bad = store.mismatches(assignment)
        if bad:
            log(f"{len(bad)} gradebook rows do not match their seal (regraded if submitted): "
                + ", ".join(line(m.student, 60) for m in bad[:10]))
        interrupted, todo, chosen_limit = None, {}, None
        with private_cwd(), stops.StopSignals() as stop:
            try:
                chosen_limit = time_limit_for(course, store, assignment, time_limit, isolated,
                                              started, log)
                limits = Limits(seconds=chosen_limit["seconds"], memory_mb=int(memory_mb))
                todo = plan(course, store, assignment, chosen, force or bool(students), limits,
                            isolated)
                log(f"{assignment}: {len(chosen)} submissions, {len(chosen) - len(todo)} up to "
                    f"date, {len(todo)} to grade")
                log(timelimit.describe(chosen_limit))
                clock.mark("plan")
                if todo:
                    dispatch(
                        started(limits), todo,
                        lambda batch: _record(course, store, assignment, batch, log, clock),
                        progress, clock=clock, stop=stop)
            except stops.Stopped as exc:
                if backend is not None:  # nothing of the run may go on: workers, sandboxes
                    backend.kill(getattr(exc, "running", ()))
                done = getattr(exc, "recorded", 0)
                interrupted = {"signal": exc.name, "graded": done,
                               "remaining": len(todo) - done}
                log(f"{assignment}: stopped by {exc.name}: {done} of {len(todo)} graded and "
                    f"recorded, {len(todo) - done} left; run the same command again to grade "
                    "the rest")
            except BaseException:
                if backend is not None:
                    backend.kill()
                raise
            else:
                if backend is not None:
                    backend.close()
        clock.mark("grading")
        summary = report.write(course, store, assignment, collected and collected.summary(),
                               clock, extra={"interrupted": interrupted,
                                             "time_limit": chosen_limit,
                                             "sandbox_limits": isolation.in_force(
                                                 Limits(memory_mb=int(memory_mb)).rlimits())
                                             if isolated else None})
        if collected:
            summary["files"].update(collected.files)
        return summary
    finally:
        store.close()


def _record(course, store, assignment, batch, log, clock=None):
    """Outputs, then one transaction for the batch (one per result if the batch fails)."""
    clock = clock or timing.RunClock()
    items = []
    with clock.phase("outputs"):
        for result, input_hash in batch:
            save_outputs(course, assignment, result)
            items.append((result, input_hash, course.timestamp(result.student, assignment)))
    with clock.phase("db"):
        _commit(store, assignment, items, log, clock)


def _commit(store, assignment, items, log, clock):
    try:
        store.record(assignment, items, clock)
    except Exception:  # find the culprit; the others are recorded alone
        for item in items:
            try:
                store.record(assignment, [item], clock)
            except Exception as exc:  # left unrecorded: the next run grades it again
                log(line(f"could not record {item[0].student}: {type(exc).__name__}: {exc}"))


RECORD_BATCH, RECORD_SECONDS = 32, 2.0  # results per gradebook transaction, longest wait


def dispatch(backend, todo, record, progress=True, attempts=3, clock=None, stop=None):
    """Keep the backend busy (a bounded window of tasks); record results as they come, in
    batches (up to ``RECORD_BATCH`` results, or those of ``RECORD_SECONDS``: one transaction
    each, so the driver's cost per result stays small beside a worker's).

    Returns the seconds spent recording (the driver's own share of the work; ``clock``, a
    :class:`bngrade.driver.timing.RunClock`, gets the details). A result of a worker that is not
    the driver's grader (:class:`bngrade.build.WorkerRefused`) stops the run; the results
    already received are recorded first, as on any exit. On a stop
    (:class:`bngrade.driver.stops.Stopped`, from ``stop``) too; the exception then says how many
    were recorded (``recorded``) and which tasks still ran (``running``)."""
    clock = clock or timing.RunClock()
    stop = stop or stops.StopSignals()  # inert unless entered
    expected = build.fingerprint()
    queue, recording, recorded, pending, since = list(todo), 0.0, 0, [], 0.0

    def flush():
        nonlocal recording, recorded
        batch = list(pending)
        pending.clear()
        started = time.perf_counter()
        record(batch)
        recording += time.perf_counter() - started
        recorded += len(batch)
        bar.update(len(batch))

    tries = dict.fromkeys(queue, 0)
    running = {}  # future -> student
    bar = tqdm(total=len(queue), unit="submission", disable=not progress, dynamic_ncols=True)
    try:
        while queue or running:
            while queue and len(running) < 2 * backend.slots:
                student = queue.pop(0)
                tries[student] += 1
                future = backend.submit(todo[student][0])
                running[future] = student
                clock.submitted(future)
            # results waiting to be recorded wait at most RECORD_SECONDS, even while every
            # task still running takes its whole time limit
            timeout = max(0.0, since + RECORD_SECONDS - time.perf_counter()) if pending else None
            done, _ = backend.wait(set(running), timeout)
            with stop.deferred():  # a signal waits for these results to be recorded
                for fut in done:
                    student, result = running.pop(fut), None
                    try:
                        with clock.phase("decode"):
                            raw = json.loads(backend.result(fut))
                        with clock.phase("validate"):
                            build.verify(raw.get("worker"), expected)  # before anything else
                            result = Submission.from_dict(raw)
                            if result.student != student:
                                raise ValueError("a result for another student")
                    except build.WorkerRefused:
                        raise  # not this student's fault: stop, record nothing of that worker
                    except Exception as exc:  # the worker died or the task could not finish
                        clock.arrived(fut)
                        backend.recover(exc)  # a dead worker is replaced; the run goes on
                        if tries[student] < attempts:
                            queue.append(student)
                            continue
                        result = lost(todo[student][0], exc)
                    clock.arrived(fut, result)
                    if not pending:
                        since = time.perf_counter()
                    pending.append((result, todo[student][1]))
                if pending and (len(pending) >= RECORD_BATCH or not (queue or running)
                                or time.perf_counter() - since >= RECORD_SECONDS):
                    flush()
    except stops.Stopped as exc:
        with stop.deferred():
            pending.extend(_finished(backend, running, todo, expected))
            if pending:
                flush()
            exc.recorded = recorded
            exc.running = list(running)  # for the backend to cancel
        raise
    finally:
        try:
            if pending:  # a stop or a refused worker: what arrived is recorded all the same
                flush()
        finally:
            bar.close()
    return recording


def _finished(backend, running, todo, expected):
    """The results that arrived but were not recorded yet (at a stop), from this driver's
    grader only."""
    out = []
    for fut, student in running.items():
        try:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                raw = json.loads(backend.result(fut))
                build.verify(raw.get("worker"), expected)
                result = Submission.from_dict(raw)
                if result.student == student:
                    out.append((result, todo[student][1]))
        except Exception:  # not finished after all, or not ours: graded again by the next run
            continue
    return out


def lost(payload_json, exc):
    """A result for a submission whose worker died twice: zero, flagged, not lost."""
    p = Task.from_json(payload_json)
    detail = f"the grading worker died twice on this submission ({type(exc).__name__})"
    return Submission(p.assignment, p.student,
                      [failed_notebook(nbp.name, nbp.questions, "worker_died", detail)
                       for nbp in p.notebooks], 0.0, p.isolated)
