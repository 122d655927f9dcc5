"""Clean stops: SIGTERM and SIGINT end a run without losing what is finished.

What Slurm's ``scancel``, a Kubernetes pod stop and Ctrl-C send. The first signal
raises :class:`Stopped` in the driver at the next safe point (never inside the
gradebook transaction that records a batch: that finishes first); the engine then
records the results that have already arrived, kills its workers (their sandboxes and
kernels die with them, ``bwrap --die-with-parent``) and writes the summary, which says
the run was interrupted; running the same command again resumes. A second signal
forces: the workers are killed and the driver exits at once.
"""

import contextlib
import os
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """The driver was asked to stop (a BaseException, like KeyboardInterrupt: no
    ``except Exception`` on the way may swallow it)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self):
        return signal.Signals(self.signum).name


class StopSignals:
    """While active (in the main thread), SIGTERM and SIGINT stop the run.

    ``force``: called on the second signal before the driver exits (kills the workers)."""

    def __init__(self):
        self.signum, self.force = None, None
        self._quiet, self._previous, self._raised = 0, {}, False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
        return False

    def _handler(self, signum, frame):
        if self.signum is not None:  # the second: no more waiting
            try:
                if self.force is not None:
                    self.force()
            finally:
                os._exit(128 + signum)
        self.signum = signum
        self.check()

    @contextlib.contextmanager
    def deferred(self):
        """A section a first signal does not interrupt (it takes effect at its end)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1
        self.check()

    def check(self):
        """Raise :class:`Stopped` once, if a signal came and no section defers it."""
        if self.signum is not None and not self._quiet and not self._raised:
            self._raised = True
            raise Stopped(self.signum)
