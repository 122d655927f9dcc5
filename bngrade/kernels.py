"""Kernels for the in-kernel run: limited, one per submission, started ahead of need.

:func:`take_kernel` hands out a fresh kernel and starts the next one at once
(a *standby*), so a kernel's start-up overlaps the previous submission's
grading. A kernel is never reused: nothing carries over from one student to the
next. Kernels run :mod:`bngrade.kernel` (memory cap, no core dumps, optionally
a user id of their own) and share one zmq context per process.
"""

import atexit
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

_local = threading.local()


@functools.cache
def _context():
    """One zmq context for every kernel this process talks to (each has its own threads
    and file descriptors, which would otherwise pile up, one set per submission)."""
    return zmq.asyncio.Context()


_standbys = []  # every kernel started as a standby, for clean-up at exit


class LimitedKernelManager(AsyncKernelManager):
    """Launches :mod:`bngrade.kernel` (memory cap, no core dumps) instead of ipykernel."""

    limits = (2 << 30, 0)  # (memory cap in bytes, uid base: 0 keeps the user)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        tail = cmd[cmd.index("-f"):] if "-f" in cmd else cmd[-2:]
        return [sys.executable, "-m", "bngrade.kernel", *map(str, self.limits)] + tail


def _start(limits):
    km = LimitedKernelManager(kernel_name="python3", context=_context())
    km.limits = tuple(limits)
    km.workdir = tempfile.mkdtemp(prefix="bngrade-kernel-")
    env = dict(os.environ, NBGRADER_EXECUTION="autograde", OPENBLAS_NUM_THREADS="1")
    run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"],
                              cwd=km.workdir, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    return km


def take_standby(limits):
    """This thread's standby kernel, started now if there is none (or other limits)."""
    km = getattr(_local, "standby", None)
    if km is not None and km.limits != tuple(limits):
        discard_kernel(km)
        km = None
    if km is None:
        _local.standby = km = _start(limits)
        _standbys.append(km)
    return km


def take_kernel(limits):
    """A fresh kernel (started earlier if possible); a new standby starts at once."""
    km = take_standby(limits)
    _local.standby = None
    if not run_sync(km.is_alive)():
        discard_kernel(km)
        km = _start(limits)
    take_standby(limits)
    return km


@atexit.register
def _cleanup():
    for km in _standbys:
        kill_kernel(km)
        shutil.rmtree(km.workdir, ignore_errors=True)


def kill_kernel(km):
    """Kill the kernel's process group (the kernel runs in a session of its own)."""
    try:
        os.killpg(km.provisioner.process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        pass


def discard_kernel(km):
    """Stop a used kernel for good and remove its working folder."""
    if km in _standbys:
        _standbys.remove(km)
    kill_kernel(km)
    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # already dead: nothing left to stop
        pass
    shutil.rmtree(km.workdir, ignore_errors=True)
