"""Kernels for nbgrader's in-kernel run: each in a sandbox of its own, started ahead of need.

A kernel runs :mod:`bngrade.kernel` under bubblewrap (:mod:`bngrade.isolation`,
the ``public`` view of bnlib: what students install) with no network at all.
The grader's client talks to it over ``ipc`` sockets in a folder that is the
only writable path bound into the sandbox. :func:`take_kernel` hands out a
fresh kernel and starts the next one at once (a *standby*), so a kernel's
start-up overlaps the previous submission's grading. A kernel is never reused;
killing its process group ends its whole sandbox.
"""

import atexit
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from ..sandbox import isolation

_local = threading.local()
MAX_MESSAGE = 64 << 20  # what one kernel message may weigh (the client's memory)
SEND_TIMEOUT_MS = 10_000


@functools.cache
def _context():
    """One zmq context for every kernel this process talks to (each has its own threads
    and file descriptors, which would otherwise pile up, one set per submission)."""
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    # A kernel whose sockets an answer broke never reads again: a send (an interrupt
    # request, say) must fail after a while instead of blocking the worker for good.
    context.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
    context.setsockopt(zmq.LINGER, 0)
    return context


_standbys = []  # every kernel started as a standby, for clean-up at exit


class SandboxedKernelManager(AsyncKernelManager):
    """Launches :mod:`bngrade.kernel` in a sandbox instead of ipykernel on the host."""

    settings = ("{}", True)  # (rlimits as JSON, isolated)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        tail = cmd[cmd.index("-f"):]
        rlimits, isolated = self.settings
        argv, _cwd = isolation.command("kernel", json.loads(rlimits), tail, view="public",
                                       isolated=isolated, rw=[self.workdir],
                                       env={"NBGRADER_EXECUTION": "autograde"})
        return argv


def _start(settings):
    workdir = tempfile.mkdtemp(prefix="bngrade-k-")
    km = SandboxedKernelManager(kernel_name="python3", context=_context(), transport="ipc",
                                ip=os.path.join(workdir, "k"))
    km.connection_file = os.path.join(workdir, "kernel.json")
    km.settings, km.workdir = tuple(settings), workdir
    km.kernel_spec.interrupt_mode = "message"  # a signal would reach bwrap, not the kernel
    run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"],
                              cwd=workdir, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    isolation.track(km.provisioner.process)  # killed if this worker stops
    return km


def take_standby(settings):
    """This thread's standby kernel, started now if there is none (or other settings)."""
    km = getattr(_local, "standby", None)
    if km is not None and km.settings != tuple(settings):
        discard_kernel(km)
        km = None
    if km is None:
        _local.standby = km = _start(settings)
        _standbys.append(km)
    return km


def take_kernel(settings):
    """A fresh kernel (started earlier if possible); a new standby starts at once."""
    km = take_standby(settings)
    _local.standby = None
    if not run_sync(km.is_alive)():
        discard_kernel(km)
        km = _start(settings)
    else:
        isolation.track(km.provisioner.process)  # it serves this thread's task now
    take_standby(settings)
    return km


@atexit.register
def _cleanup():
    for km in list(_standbys):
        kill_kernel(km)
        shutil.rmtree(km.workdir, ignore_errors=True)


def kill_kernel(km):
    """Kill the kernel's process group: bwrap, hence its whole sandbox."""
    try:
        os.killpg(km.provisioner.process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        pass


def discard_kernel(km):
    """Stop a used kernel for good and remove its folder."""
    if km in _standbys:
        _standbys.remove(km)
    kill_kernel(km)
    if getattr(km.provisioner, "process", None) is not None:
        isolation.untrack(km.provisioner.process)
    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # already dead: nothing left to stop
        pass
    shutil.rmtree(km.workdir, ignore_errors=True)
