"""The worker's end of the zygote (:mod:`bngrade.zygote`): start it, send jobs, reap children.

One zygote per worker thread that grades (:func:`zygote`), restarted if it died
(an answer may have killed it). :meth:`Zygote.start` hands a job and the write
end of a fresh pipe to the zygote, which forks a child for it and answers with
the child's pid; :meth:`Zygote.reap` reads how the child ended.
"""

import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

HEADER = struct.Struct("!Q")
_zygotes, _lock = {}, threading.Lock()  # owner thread id -> Zygote


def readable(fd, seconds):
    """True if ``fd`` has data (or EOF) within ``seconds`` (poll: any fd number works)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0.0, seconds) * 1000))


class ZygoteGone(RuntimeError):
    """The zygote died (an answer may have killed it); a new one is started."""


class Zygote:
    """One ``python -m bngrade.zygote`` process and its socket."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bngrade.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.sock, self.buffer = ours, b""
        self._line(120)

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not readable(self.sock.fileno(), left):
                raise ZygoteGone("no answer from the zygote")
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ZygoteGone("the zygote exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self, job):
        """Fork a child for ``job``; return its pid and the read end of its channel."""
        read_fd, write_fd = os.pipe()
        body = json.dumps(job).encode()
        try:
            socket.send_fds(self.sock, [HEADER.pack(len(body))], [write_fd])
            self.sock.sendall(body)
            pid = self._line(60)["pid"]
        except (OSError, ValueError) as exc:
            os.close(read_fd)
            raise ZygoteGone(str(exc)) from exc
        finally:
            os.close(write_fd)
        return pid, read_fd

    def reap(self, pid):
        """The child's exit code (negative: killed by that signal)."""
        reply = self._line(60)
        return reply["exit"] if reply.get("pid") == pid else None

    def close(self):
        self.sock.close()
        self.proc.wait(10)


def zygote(owner=None):
    """The zygote of ``owner`` (a worker thread's id; default: this thread's), started on
    first use and restarted if it died. A task's sandbox runs in a helper thread, so it
    names the task's thread as owner: one zygote serves all the tasks of a worker thread."""
    owner = threading.get_ident() if owner is None else owner
    with _lock:
        z = _zygotes.get(owner)
        if z is None or z.proc.poll() is not None:
            _zygotes[owner] = z = Zygote()
    return z


def forget(owner):
    """Drop ``owner``'s zygote (it died); the next :func:`zygote` call starts a new one."""
    with _lock:
        _zygotes.pop(owner, None)
