"""The grader's side of the sandbox: deadlines, interrupts, restarts.

:func:`run_steps` runs a submission's steps (set-up cells, answer cells, parts)
in a child of the zygote, with a wall-clock limit per step. A step that runs
out of time is interrupted (SIGINT, as Jupyter does: what it did so far stays)
and, if it does not stop, killed. A step that crashes the child (``os._exit``,
a segfault, the memory cap) or floods the channel is recorded in words and a
new child runs the remaining steps without it, so one bad question costs only
that question.
"""

import json
import os
import signal
import time

from .zygotes import ZygoteGone, forget, readable, zygote

MAX_CHANNEL_BYTES = 64 << 20
INTERRUPT_GRACE = 2.0  # seconds an interrupted step has to stop before it is killed


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid):
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


def describe_exit(code):
    """An exit code in words."""
    if code is None:
        return "the grading process disappeared"
    if code >= 0:
        return f"the process exited (status {code}: os._exit, sys.exit or exit())"
    name = signal.Signals(-code).name
    why = {"SIGSEGV": "a segmentation fault", "SIGXCPU": "the CPU time limit",
           "SIGKILL": "it was killed", "SIGABRT": "an abort (often out of memory)",
           "SIGXFSZ": "the file-size limit"}.get(name, "a signal")
    return f"the process was stopped by {name} ({why})"


def _attempt(job, todo, results, step_seconds, owner):
    """Run the steps ``todo`` once; fill ``results``; return the index that failed or None."""
    z = zygote(owner)
    try:
        pid, fd = z.start({**job, "steps": todo})
    except ZygoteGone as exc:
        forget(owner)
        results[todo[0]["i"]] = {"status": "crashed", "error": f"the sandbox failed: {exc}"}
        return todo[0]["i"]
    pending, buffer, received = [s["i"] for s in todo], b"", 0
    deadline, failure, interrupted = time.monotonic() + step_seconds, None, None
    too_slow = {"status": "timeout", "error": f"no result within {step_seconds:g} s"}
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0 or not readable(fd, left):
                if interrupted is None:  # as Jupyter does: interrupt, keep what was done
                    interrupted = pending[0]
                    _signal(pid, signal.SIGINT)
                    deadline = time.monotonic() + INTERRUPT_GRACE
                    continue
                failure = too_slow
                break
            chunk = os.read(fd, 1 << 20)
            received += len(chunk)
            if not chunk or received > MAX_CHANNEL_BYTES:
                failure = ({"status": "crashed", "error": "sent more than 64 MB of results"}
                           if chunk else None)
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                try:
                    message = json.loads(line)
                    i = int(message["i"])
                except (ValueError, KeyError, TypeError):
                    continue
                if i in pending:
                    results.setdefault(i, too_slow if i == interrupted else message)
                    pending = pending[pending.index(i) + 1:]
                    deadline = time.monotonic() + step_seconds
    finally:
        os.close(fd)
        _kill(pid)
        try:
            code = z.reap(pid)
        except ZygoteGone:
            forget(owner)
            code = None
    if not pending:
        return None
    results[pending[0]] = failure or {"status": "crashed", "error": describe_exit(code)}
    return pending[0]


def run_steps(steps, job, step_seconds, owner=None):
    """Run every step despite failures; return ``{step index: result message}``."""
    steps = [dict(s, i=i) for i, s in enumerate(steps)]
    results, failed = {}, set()
    while True:
        todo = [s for s in steps if s["i"] not in failed
                and not (s["kind"] == "part" and s["i"] in results)]
        if not any(s["kind"] == "part" for s in todo):
            return results
        bad = _attempt(job, todo, results, step_seconds, owner)
        if bad is None:
            return results
        failed.add(bad)
