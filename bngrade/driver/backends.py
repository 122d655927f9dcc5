"""Where grading tasks run: a local process pool (default) or a Dask distributed cluster.

Both run the same function, :func:`bngrade.worker.task.grade_submission`, on the same
JSON text and hand back JSON text, so the driver's code does not depend on the
backend. Workers are stateless; a worker that dies costs only a retry.
"""

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import select
import signal
import sys
import tempfile
import threading
import time

from .. import build
from ..worker.entry import grade_submission

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Linux: this process gets SIGKILL when its parent ends (a killed driver leaves no
    worker behind; each worker's sandboxes die with it, ``bwrap --die-with-parent``)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent was already gone
        os._exit(1)


def die_with_driver(driver):
    """A thread that ends this worker, and the fork server it came from, as soon as the
    driver (pid ``driver``) has ended: the fork server does not notice a killed driver."""
    try:
        fd = os.pidfd_open(driver)
    except (OSError, AttributeError):
        os._exit(1)

    def watch():
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll()  # readable once the driver has exited
        try:
            os.kill(os.getppid(), signal.SIGKILL)  # the fork server (ours)
        finally:
            os._exit(1)  # our sandboxes die with us (bwrap --die-with-parent)

    threading.Thread(target=watch, daemon=True, name="die-with-driver").start()


def _warm(kernel_settings, driver=None):
    """Pool initializer: no import from the working directory, die with the pool and the
    driver. (``kernel_settings`` is unused: no kernel runs since one execution.)"""
    die_with_parent()
    if driver is not None:
        die_with_driver(driver)
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p) and p != os.getcwd()]


def _fork_context():
    """The fork server's context: it imports the grading code once (``bngrade.worker.task``);
    each worker is a fork of it, so starting N workers does not cost N imports (nothing of
    the driver is inherited)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bngrade.worker.task"])
    context.set_executable(sys.executable)
    return context


def start_fork_server():
    """Start the fork server now, from a private empty folder and with the ``sys.path``
    workers get (never the working directory), so that its imports overlap the driver's
    own start; :class:`LocalBackend` uses it (it starts one itself when none runs)."""
    from multiprocessing import forkserver

    _fork_context()
    before, path = os.getcwd(), list(sys.path)
    folder = tempfile.mkdtemp(prefix="bngrade-fork-")
    try:
        os.chmod(folder, 0o700)
        sys.path[:] = [p for p in path if p and os.path.isabs(p) and p != before]
        os.chdir(folder)
        forkserver.ensure_running()
    finally:
        os.chdir(before)
        sys.path[:] = path
        os.rmdir(folder)


def stop_fork_server():
    """End the fork server now, once a command's grading is over (its workers are gone),
    rather than when this interpreter exits: it holds nothing, and its own exit would
    keep the command's output open."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is None:
        return
    try:
        os.kill(server._forkserver_pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        server._stop()  # reaps it and forgets it (a later pool starts a new one)
    except ChildProcessError:  # reaped by someone else: forget it all the same
        server._forkserver_pid = None


class LocalBackend:
    """``workers`` processes on this machine, forked from a clean pre-imported server."""

    name = "local"

    def __init__(self, workers=None, kernel_settings=None):
        self.workers = workers or os.cpu_count() or 1
        self.kernel_settings = kernel_settings
        self._start()

    def _start(self):
        # The fork server (:func:`_fork_context`) runs from the driver's private working
        # directory, or from the empty folder :func:`start_fork_server` made for it.
        context = _fork_context()
        self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=context,
                                           initializer=_warm,
                                           initargs=(self.kernel_settings, os.getpid()))

    def submit(self, payload):
        if self.pool._broken:
            self.recover(cf.process.BrokenProcessPool("broken"))
        return self.pool.submit(grade_submission, payload)

    def wait(self, futures, timeout=None):
        """The futures done (at least one, unless ``timeout`` seconds passed first)."""
        done, pending = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done, pending

    def recover(self, exc):
        """After a worker process died the pool is broken: start a new one."""
        if isinstance(exc, cf.process.BrokenProcessPool) and self.pool._broken:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._start()
            return True
        return False

    @property
    def slots(self):
        return self.workers

    def handshake(self, fingerprint, isolated):
        """Nothing to ask: the pool runs this machine's code (each task still checks)."""

    def result(self, future):
        return future.result()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def kill(self, futures=()):
        """Stop now, without waiting for running tasks: SIGKILL every worker and the fork
        server (each worker's sandboxes and kernels die with it, ``bwrap
        --die-with-parent``)."""
        for pid in self.pool._processes or {}:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        stop_fork_server()
        self.pool.shutdown(wait=False, cancel_futures=True)


class DaskBackend:
    """An existing Dask scheduler (``tls://host:port``); its workers need this package.

    ``security``: a ``distributed.Security`` (mutual TLS) or None."""

    name = "dask"

    def __init__(self, address, security=None):
        from distributed import Client, as_completed

        self.client = Client(address, timeout=30, set_as_default=False,
                             **({"security": security} if security is not None else {}))
        # Results are brought in by the client's own thread as tasks finish, while the
        # driver records the ones before: the driver never waits on a round trip per result.
        self._finished = as_completed(loop=self.client.loop, with_results=True,
                                      raise_errors=False)
        self._fetched = {}  # future -> its result text (or its error)

    def submit(self, payload):
        # a remote worker also checks, once, that it can make a sandbox
        future = self.client.submit(grade_submission, payload, True, pure=False)
        self._finished.add(future)
        return future

    def handshake(self, fingerprint, isolated):
        """Ask every worker now connected for its grader and sandbox; refuse the cluster
        (:class:`bngrade.build.WorkerRefused`, naming each worker) if any differs or cannot
        make a sandbox. Workers that join later are checked by their first task."""
        from ..build import VersionMismatch, WorkerRefused, describe

        reports = self.client.run(build.report)
        mismatched = [(name, r) for name, r in sorted(reports.items())
                      if r.get("build") != fingerprint]
        if mismatched:
            raise VersionMismatch(
                f"{len(mismatched)} of {len(reports)} workers are not this driver's grader "
                f"({describe(fingerprint)}): "
                + "; ".join(f"worker {name} runs {describe(r.get('build'))}"
                            for name, r in mismatched)
                + ". Install the course's environment at the driver's commit on every "
                "worker, then run again; nothing was graded")
        broken = [(name, r["sandbox"]) for name, r in sorted(reports.items()) if r["sandbox"]]
        if isolated and broken:
            raise WorkerRefused("; ".join(f"worker {name} cannot make a sandbox: {why}"
                                          for name, why in broken) + "; nothing was graded")

    def wait(self, futures, timeout=None):
        """The futures done (at least one, unless ``timeout`` seconds passed first)."""
        futures = set(futures)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done = {f for f in futures if f in self._fetched}
            if done or (deadline is not None and time.monotonic() >= deadline):
                return done, futures - done
            if deadline is None:
                self._fetched.update(self._finished.next_batch(block=True))
            else:  # as_completed has no timeout: look again shortly
                self._fetched.update(self._finished.next_batch(block=False))
                if not any(f in self._fetched for f in futures):
                    time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def result(self, future):
        text = self._fetched.pop(future, None)
        return text if isinstance(text, str) else future.result()  # an error: raised here

    def recover(self, exc):
        return False  # the scheduler already reschedules work of lost workers

    @property
    def slots(self):
        return max(1, sum(w.get("nthreads", 1) for w in
                          self.client.scheduler_info()["workers"].values()))

    def close(self):
        self.client.close()

    def kill(self, futures=()):
        """Stop now: cancel this run's tasks (a task already running finishes on its worker,
        within its limits) and leave the cluster."""
        try:
            self.client.cancel(list(futures), force=True)
        finally:
            self.client.close()


def make(workers=None, scheduler=None, kernel_settings=None, security=None):
    if scheduler:
        return DaskBackend(scheduler, security)
    return LocalBackend(workers, kernel_settings)
