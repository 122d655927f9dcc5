"""Which grader a worker is: versions and a digest of the grading code, compared with the driver's.

A grade is only as good as the code that computed it. Every task carries the
driver's :func:`fingerprint`; a worker whose own differs refuses the task
(:class:`VersionMismatch`) before it reads the submission, and every result
names the worker and its fingerprint, which the driver checks again (a worker
too old to refuse is caught there). The driver then stops the run: nothing
such a worker computed is recorded. A worker that cannot make a sandbox
refuses too (:class:`WorkerRefused`).

The fingerprint holds the versions of bngrade and bnlib, a digest of their
Python files (the engine, the stubs, the answer keys and every checker: an
edited tree that kept its version number is caught), and the versions of
Python (major.minor), numpy and nbgrader, which the course's environment pins.

Public functions
----------------
``fingerprint() -> dict``
    This process's (computed once): ``bngrade``, ``bnlib``, ``code``,
    ``python``, ``numpy``, ``nbgrader``.
``worker_name() -> str``
    The Dask worker's address, else ``pid N on HOST``.
``require(driver, isolated=False)``
    In a worker, before grading: raise :class:`VersionMismatch` when
    ``driver`` (the task's fingerprint) differs from this worker's, and
    :class:`WorkerRefused` when ``isolated`` and no sandbox can be made here
    (checked once per worker process).
``verify(worker, driver)``
    In the driver, for a result: raise :class:`VersionMismatch` unless
    ``worker`` (the result's ``{"name", "build"}``) has the driver's fingerprint.
``describe(fp) -> str``
    ``bngrade 0.1.0, bnlib 0.1.0 (code 1a2b3c4d5e6f, python 3.11, ...)``.
``report() -> dict``
    What a worker answers the driver's handshake: ``name``, ``build`` and
    ``sandbox`` (None, or why no sandbox can be made here).

``python -m bngrade.build`` prints this machine's report (exit status 1 when no
sandbox can be made): run it on a worker to compare with the driver's.
"""

import functools
import hashlib
import json
import os
import platform
import socket
import sys
import threading

KEYS = ("bngrade", "bnlib", "code", "python", "numpy", "nbgrader")


class WorkerRefused(RuntimeError):
    """A worker cannot grade for this driver: the run stops, nothing it computed is recorded."""


class VersionMismatch(WorkerRefused):
    """The worker's bngrade/bnlib (versions or code) is not the driver's."""


def _package_files(module):
    root = os.path.dirname(os.path.abspath(module.__file__))
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, root).replace(os.sep, "/"), path


@functools.cache
def fingerprint():
    """This process's grader: versions and the digest of the grading code (see the module)."""
    from importlib.metadata import version

    import bngrade
    import bnlib

    digest = hashlib.sha256()
    for module in (bngrade, bnlib):
        for rel, path in _package_files(module):
            with open(path, "rb") as f:
                data = f.read()
            digest.update(f"{module.__name__}/{rel}\0{len(data)}\0".encode())
            digest.update(data)
    return {"bngrade": bngrade.__version__, "bnlib": bnlib.__version__,
            "code": digest.hexdigest()[:16],
            "python": ".".join(platform.python_version_tuple()[:2]),
            "numpy": version("numpy"), "nbgrader": version("nbgrader")}


def describe(fp):
    """A fingerprint as one line of text."""
    fp = fp if isinstance(fp, dict) else {}
    rest = ", ".join(f"{k} {fp.get(k, '?')}" for k in KEYS[3:])
    return (f"bngrade {fp.get('bngrade', '?')}, bnlib {fp.get('bnlib', '?')} "
            f"(code {fp.get('code', '?')}, {rest})")


def worker_name():
    """Who is grading: the Dask worker's address, else this process on this host."""
    if "distributed" not in sys.modules:  # a Dask worker has imported it (a pool has not)
        return f"pid {os.getpid()} on {socket.gethostname()}"
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()} on {socket.gethostname()}"


def _mismatch(worker_fp, driver_fp, worker):
    differ = [k for k in KEYS if (worker_fp or {}).get(k) != (driver_fp or {}).get(k)]
    return VersionMismatch(
        f"worker {worker} runs {describe(worker_fp)}, but this driver runs "
        f"{describe(driver_fp)} (they differ in: {', '.join(differ)}): install the course's "
        f"environment at the driver's commit on every worker, then run again; nothing "
        f"this worker computed was recorded")


def verify(worker, driver):
    """Raise :class:`VersionMismatch` unless the result's worker has the driver's fingerprint."""
    worker = worker if isinstance(worker, dict) else {}
    fp = worker.get("build")
    if not isinstance(fp, dict) or any(fp.get(k) != driver.get(k) for k in KEYS):
        name = worker.get("name") or "(a worker that did not name itself: an older bngrade?)"
        raise _mismatch(fp if isinstance(fp, dict) else {}, driver, str(name)[:200])


_sandbox_ok, _sandbox_lock = [], threading.Lock()


def require(driver, isolated=False):
    """In a worker: refuse a driver of another grader, or a sandbox this machine cannot make."""
    mine = fingerprint()
    if not isinstance(driver, dict) or any(driver.get(k) != mine[k] for k in KEYS):
        raise _mismatch(mine, driver if isinstance(driver, dict) else {}, worker_name())
    if isolated:
        with _sandbox_lock:
            if not _sandbox_ok:
                from .sandbox.isolation import IsolationUnavailable, check

                try:
                    check()
                except IsolationUnavailable as exc:
                    raise WorkerRefused(f"worker {worker_name()} cannot grade: {exc}") from None
                _sandbox_ok.append(True)


def report():
    """What a worker says in the driver's handshake: its name, fingerprint, sandbox (None,
    or why none can be made here: course code in reach of one counts) and the limits that
    hold for a sandbox here (:func:`bngrade.sandbox.isolation.in_force`)."""
    from .sandbox.box.limits import Limits
    from .sandbox.isolation import IsolationUnavailable, check, in_force

    try:
        check()
        sandbox = None
    except IsolationUnavailable as exc:
        sandbox = str(exc)
    return {"name": worker_name(), "build": fingerprint(), "sandbox": sandbox,
            "limits": in_force(Limits().rlimits())}


def main():
    r = report()
    print(json.dumps(r, indent=1))
    print(describe(r["build"]))
    print("sandbox: " + ("ok" if r["sandbox"] is None else f"UNAVAILABLE: {r['sandbox']}"))
    lim = r["limits"]
    print(f"limits of a sandbox (default --memory-mb): {lim['how']}; seccomp: "
          f"{lim['seccomp'] or 'UNAVAILABLE: ' + lim.get('seccomp_missing', '')}; "
          "no writable host folder")
    return 0 if r["sandbox"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
