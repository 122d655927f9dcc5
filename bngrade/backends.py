"""Where grading tasks run: a local process pool (default) or a Dask distributed cluster.

Both run the same function, :func:`bngrade.task.grade_submission`, on the same
JSON text and hand back JSON text, so the driver's code does not depend on the
backend. Workers are stateless; a worker that dies costs only a retry.
"""

import concurrent.futures as cf
import multiprocessing
import os

from .task import grade_submission


def _warm(kernel_limits):
    """Pool initializer: import everything and start a zygote and a standby kernel."""
    from . import kernels, zygotes

    zygotes.zygote()
    kernels.take_standby(kernel_limits)


class LocalBackend:
    """``workers`` processes on this machine, forked from a clean pre-imported server."""

    name = "local"

    def __init__(self, workers=None, kernel_limits=(2 << 30, 0)):
        self.workers = workers or os.cpu_count() or 1
        self.kernel_limits = kernel_limits
        self._start()

    def _start(self):
        # A fork server imports the grading code once; each worker is a fork of it, so
        # starting N workers does not cost N imports (nothing of the driver is inherited).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["bngrade.task"])
        self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=context,
                                           initializer=_warm, initargs=(self.kernel_limits,))

    def submit(self, payload):
        return self.pool.submit(grade_submission, payload)

    def wait(self, futures):
        done, pending = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
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

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """An existing Dask scheduler; its workers need this package.

    With ``certs`` (a folder made by ``bngrade certs``) the connection is mutual
    TLS (``tls://host:port``) and plain TCP is refused (``bngrade.tls``).
    """

    name = "dask"

    def __init__(self, address, certs=None):
        from distributed import Client

        from . import tls

        if certs is None and address.startswith("tls://"):
            raise ValueError(f"{address} is a TLS scheduler: give the folder of the cluster's "
                             "certificates with --certs DIR (made by `bngrade certs DIR`)")
        if certs is not None and not address.startswith("tls://"):
            raise ValueError(f"with --certs the scheduler address must be tls://..., got "
                             f"{address}")
        security = tls.security(certs, "client") if certs else None
        self.client = Client(address, timeout=30, set_as_default=False, security=security)

    def submit(self, payload):
        return self.client.submit(grade_submission, payload, pure=False)

    def wait(self, futures):
        from distributed import wait

        with self.client.as_current():
            done, pending = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done), set(pending)

    def recover(self, exc):
        return False  # the scheduler already reschedules work of lost workers

    @property
    def slots(self):
        return max(1, sum(w.get("nthreads", 1) for w in
                          self.client.scheduler_info()["workers"].values()))

    def close(self):
        self.client.close()


def make(workers=None, scheduler=None, kernel_limits=(2 << 30, 0), certs=None):
    return DaskBackend(scheduler, certs) if scheduler else LocalBackend(workers, kernel_limits)
