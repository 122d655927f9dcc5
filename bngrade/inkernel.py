"""nbgrader's normal in-kernel autograde, run inside a worker against a private gradebook.

The worker never touches the course's gradebook: it records the source's cells
in a throw-away SQLite file (:func:`template`), copies it per submission, and
runs nbgrader's sanitize and autograde preprocessors against the copy. The
kernel is limited (:mod:`bngrade.kernel`), its output capped, its total time
bounded, and a fresh one is started ahead of need: a standby kernel is never
reused, so nothing carries over from one student to the next.
"""

import atexit
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute

from . import nbg

_local = threading.local()


@functools.cache
def _context():
    """One zmq context for every kernel this process talks to (each has its own threads
    and file descriptors, which would otherwise pile up, one set per submission)."""
    return zmq.asyncio.Context()


_templates = {}
_standbys = []  # every kernel started as a standby, for clean-up at exit


class LimitedKernelManager(AsyncKernelManager):
    """Launches :mod:`bngrade.kernel` (memory cap, no core dumps) instead of ipykernel."""

    limits = (2 << 30, 0)  # (memory cap in bytes, uid base: 0 keeps the user)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        tail = cmd[cmd.index("-f"):] if "-f" in cmd else cmd[-2:]
        return [os.sys.executable, "-m", "bngrade.kernel", *map(str, self.limits)] + tail


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
    for path, _release in _templates.values():
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


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


class EngineExecute(Execute):
    """nbgrader's Execute on a given kernel, with output capped per cell."""

    output_limit = 100_000

    def __init__(self, km, **kw):
        super().__init__(**kw)
        self._given_km, self.executed, self._chars = km, set(), {}

    def preprocess(self, nb, resources=None, km=None):
        return super().preprocess(nb, resources, km=self._given_km)

    def on_cell_executed(self, **kwargs):
        self.executed.add(kwargs["cell_index"])
        super().on_cell_executed(**kwargs)

    def output(self, outs, msg, display_id, cell_index):
        used = self._chars.get(cell_index, 0)
        size = len(str(msg.get("content", "")))
        self._chars[cell_index] = used + size
        if used + size <= self.output_limit:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self.output_limit:
            outs.append(new_output("stream", name="stdout", text=(
                f"\n... output cut by the grader after {self.output_limit} characters ...\n")))
        return None


def template(assignment, notebook, source_nb, cfg, key):
    """A private gradebook file knowing the source's cells; cached per worker process."""
    if key not in _templates:
        path = os.path.join(tempfile.mkdtemp(prefix="bngrade-gb-"), "template.db")
        release = nbg.release(source_nb, assignment, notebook, f"sqlite:///{path}", cfg)
        _templates[key] = (path, release)
    return _templates[key]


def _mark_unexecuted(nb, executed, why):
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i not in executed and cell.source.strip():
            cell.outputs = [new_output("error", ename="NotExecuted", evalue=why,
                                       traceback=[f"NotExecuted: {why}"])]


def autograde(nb, assignment, notebook, student, db_path, cfg, km, total_seconds):
    """Sanitize and autograde ``nb`` as nbgrader does; return (nb, {grade_id: score}, note)."""
    url = f"sqlite:///{db_path}"
    with Gradebook(url) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
    res = nbg.resources_for(assignment, notebook, student, url, path=km.workdir)
    traits = Autograde.class_traits()
    for pp in traits["sanitize_preprocessors"].default():
        nb, res = pp(config=cfg)(nb, res)
    runner, note = EngineExecute(km, config=cfg), None
    timer = threading.Timer(total_seconds, kill_kernel, [km])
    timer.start()
    try:
        for pp in traits["autograde_preprocessors"].default():
            try:
                nb, res = (runner if pp is Execute else pp(config=cfg))(nb, res)
            except DeadKernelError:
                note = "the kernel died (os._exit, a crash, the memory cap or the time limit)"
                _mark_unexecuted(nb, runner.executed, "the kernel had died before this cell")
    finally:
        timer.cancel()
        if runner.kc is not None:  # the client's sockets are ours to close (we own the km)
            runner.kc.stop_channels()
            runner.kc = None
    with Gradebook(url) as gb:
        sub = gb.find_submission_notebook(notebook, assignment, student)
        scores = {g.name: g.auto_score for g in sub.grades}
    return nb, scores, note
