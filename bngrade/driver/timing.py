"""Where a run's time goes: the driver's recording, the workers' grading, the queue.

The driver keeps one :class:`RunClock` per ``bngrade autograde``;
:meth:`RunClock.summary` is ``summary.json``'s ``timings``:

``wall``
    seconds from the command's start to the summary (planning, grading, report).
``phases``
    ``plan``, ``grading`` (dispatch until the last result is recorded), ``report``.
``graded``
    submissions graded and recorded in this run (the others were up to date).
``driver``
    the driver's own work on results: ``total`` and ``per_submission`` seconds, and
    per phase (``decode`` the worker's JSON, which a Dask client brings in on its own
    thread meanwhile, ``validate`` it: student and grader,
    ``outputs``: the autograded notebooks and feedback files, ``seal``: the HMAC,
    ``write``: the gradebook transaction without the seal), each as ``{total,
    per_submission}``.
``workers``
    seconds on the workers: ``submission`` (one task), ``question`` (one graded
    question, where the worker timed it), and per notebook phase (``template``,
    ``sandbox``, ``feedback``): each ``{n, total, median, p95, max}``.
``queue``
    per submission, seconds from the driver's submit to the result's arrival that the
    worker did not spend grading (waiting for a free worker, transfer), same statistics.
``workers_one_driver_serves``
    a worker's mean grading seconds per submission over the driver's recording
    seconds per submission: how many busy workers one driver keeps up with.
"""

import contextlib
import math
import time

DRIVER_PHASES = ("decode", "validate", "outputs", "seal", "write")
NOTEBOOK_PHASES = ("template", "sandbox", "feedback")


def stats(values):
    """``{n, total, median, p95, max}`` of ``values`` (``n`` 0 and the rest None when empty)."""
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return {"n": 0, "total": 0.0, "median": None, "p95": None, "max": None}

    def quantile(q):  # the nearest-rank quantile: a value that occurred
        return xs[max(0, math.ceil(q * len(xs)) - 1)]

    return {"n": len(xs), "total": sum(xs), "median": quantile(0.5), "p95": quantile(0.95),
            "max": xs[-1]}


class RunClock:
    """Seconds per driver phase, and what each result says about the workers and the queue."""

    def __init__(self):
        self.started = time.perf_counter()
        self.marks = {}
        self.totals = dict.fromkeys((*DRIVER_PHASES, "db"), 0.0)
        self.sent = {}  # future -> perf_counter at submit
        self.recorded = 0  # results handed to the recorder (a lost one included)
        self.submission, self.question, self.queue = [], [], []
        self.notebook = {p: [] for p in NOTEBOOK_PHASES}

    @contextlib.contextmanager
    def phase(self, name):
        """Add the time spent in the block to driver phase ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start

    def mark(self, name):
        """The end of a run phase (``plan``, ``grading``, ``report``)."""
        self.marks[name] = time.perf_counter()

    def submitted(self, future):
        self.sent[future] = time.perf_counter()

    def arrived(self, future, result=None):
        """A future is done; ``result`` (a :class:`bngrade.results.Submission`) if it decoded."""
        sent = self.sent.pop(future, None)
        if result is None:
            return
        self.recorded += 1
        if not result.worker:  # made by the driver (its worker died): no worker's time
            return
        self.submission.append(result.seconds)
        if sent is not None:
            self.queue.append(max(0.0, time.perf_counter() - sent - result.seconds))
        for nb in result.notebooks:
            for name in NOTEBOOK_PHASES:
                if isinstance(nb.timings.get(name), (int, float)):
                    self.notebook[name].append(nb.timings[name])
            self.question += [q.seconds for q in nb.questions
                              if isinstance(getattr(q, "seconds", None), (int, float))]

    def summary(self):
        now = time.perf_counter()
        marks, previous, phases = self.marks, self.started, {}
        for name in ("plan", "grading", "report"):
            if name in marks:
                phases[name] = marks[name] - previous
                previous = marks[name]
        graded = self.recorded
        totals = dict(self.totals, write=max(0.0, self.totals["db"] - self.totals["seal"]))
        driver = sum(totals[p] for p in DRIVER_PHASES)

        def per(total):
            return total / graded if graded else None

        out = {
            "wall": now - self.started, "phases": phases, "graded": graded,
            "driver": {"total": driver, "per_submission": per(driver),
                       **{p: {"total": totals[p], "per_submission": per(totals[p])}
                          for p in DRIVER_PHASES}},
            "workers": {"submission": stats(self.submission), "question": stats(self.question),
                        **{p: stats(v) for p, v in self.notebook.items()}},
            "queue": stats(self.queue),
        }
        n = len(self.submission)
        mean, per_driver = (sum(self.submission) / n if n else None), per(driver)
        out["workers_one_driver_serves"] = mean / per_driver if mean and per_driver else None
        return out
