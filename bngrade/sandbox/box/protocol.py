"""The call protocol between the grader and a sandbox: framing, plain values, strict order.

One JSON object per line over a pair of pipes, at most :data:`MAX_MESSAGE`
bytes each. Values are plain data (:mod:`bnlib.checks.plain`: numbers,
strings, numeric arrays, lists, tuples, dicts), never pickle; two markers
stand for what cannot travel: ``{"__callback__": k}`` (a function of the
grader's the sandbox may call back, e.g. the loss a numerical gradient
differentiates) and ``{"__remote__": k}`` (an object that lives on the other
side, e.g. a :class:`bnlib.nn.MLP` the grader holds for the student's code).

The grader sends a request with a fresh ``id`` and waits for exactly one reply
``{"re": id, ...}``; while it waits, the sandbox may send requests of its own
(``helper``, ``callback``) that the grader answers. Anything else -- a reply to
another id, a second reply, a line that is not JSON, an unknown marker -- is
:class:`Tampered`. The grader's deadline bounds every wait.

This file is used on both sides (it is copied into the sandbox).
"""

import json
import os
import select
import time

import numpy as np

if __package__ == "bnbox":  # inside the sandbox: the copy of bnlib/checks/plain.py
    from .plain import _default, _hook, to_plain
else:
    from bnlib.checks.plain import _default, _hook, to_plain

MAX_MESSAGE = 32 << 20
MAX_ELEMENTS = 4_000_000  # per array that crosses


class ProtocolError(BaseException):
    """The sandbox broke the protocol or stopped. A BaseException: no ``except Exception``
    around a student's call can swallow it."""

    code = "crashed"


class Tampered(ProtocolError):
    code = "tampered"


class Lost(ProtocolError):
    """The sandbox's end closed (it exited, was killed, or hit a limit)."""

    code = "crashed"


class OutOfTime(ProtocolError):
    code = "timeout"


def encode_value(obj, callbacks=None, remotes=None):
    """Plain data as a JSON-able structure; callables and objects become handles."""
    def walk(o, depth=0):
        if depth > 12:
            return "<too deeply nested>"
        if remotes is not None and id(o) in remotes.ids:
            return {"__remote__": remotes.ids[id(o)]}
        if isinstance(o, tuple):
            return {"__tuple__": [walk(v, depth + 1) for v in o]}
        if isinstance(o, list):
            return [walk(v, depth + 1) for v in o]
        if isinstance(o, dict):
            return {str(k): walk(v, depth + 1) for k, v in o.items()}
        if callbacks is not None and callable(o) and not isinstance(o, (type, np.ndarray)):
            callbacks.append(o)
            return {"__callback__": len(callbacks) - 1}
        if remotes is not None and remotes.wants(o):
            return {"__remote__": remotes.add(o)}
        p = to_plain(o)
        return _default(p) if isinstance(p, np.ndarray) else p
    return walk(obj)


def decode_value(obj, callback=None, remote=None):
    """The inverse of :func:`encode_value`; markers resolved by ``callback(k)``/``remote(k)``.

    Raises :class:`Tampered` on anything that is not plain data."""
    def walk(o):
        if isinstance(o, list):
            return [walk(v) for v in o]
        if isinstance(o, dict):
            if "__ndarray__" in o:
                shape = o.get("shape")
                if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0
                                                           for s in shape)
                        or int(np.prod(shape)) > MAX_ELEMENTS):
                    raise Tampered("an array of a shape the protocol refuses")
                try:
                    return _hook(o)
                except Exception as exc:
                    raise Tampered(f"a malformed array ({type(exc).__name__})") from None
            if "__tuple__" in o:
                return tuple(walk(v) for v in _list(o["__tuple__"]))
            if "__callback__" in o or "__remote__" in o:
                key = o.get("__callback__", o.get("__remote__"))
                resolve = callback if "__callback__" in o else remote
                if resolve is None or type(key) is not int:
                    raise Tampered("a handle where none may be")
                return resolve(key)
            return {str(k): walk(v) for k, v in o.items()}
        if o is None or type(o) in (bool, int, float, str):
            return o
        raise Tampered(f"a value of type {type(o).__name__}")
    return walk(obj)


def _list(o):
    if not isinstance(o, list):
        raise Tampered("a malformed tuple")
    return o


class Channel:
    """Line-delimited JSON over two file descriptors, with deadlines."""

    def __init__(self, read_fd, write_fd):
        self.rfd, self.wfd, self.buffer = read_fd, write_fd, b""
        self.received = 0

    def send(self, message, deadline=None):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        if len(data) > MAX_MESSAGE:
            raise ValueError("message too large")
        os.set_blocking(self.wfd, False)
        view = memoryview(data)
        while view:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            poller = select.poll()
            poller.register(self.wfd, select.POLLOUT)
            if not poller.poll(None if wait is None else wait * 1000):
                raise OutOfTime("the other side does not read")
            try:
                view = view[os.write(self.wfd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError) as exc:
                raise Lost(f"the channel closed ({type(exc).__name__})") from None

    def recv(self, deadline=None):
        """The next message (a dict); Lost at EOF, OutOfTime past ``deadline``."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_MESSAGE:
                raise Tampered(f"a message longer than {MAX_MESSAGE >> 20} MB")
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise OutOfTime("no reply in time")
            poller = select.poll()
            poller.register(self.rfd, select.POLLIN)
            if not poller.poll(None if wait is None else wait * 1000):
                raise OutOfTime("no reply in time")
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise Lost("the channel closed")
            self.buffer += chunk
            self.received += len(chunk)
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            raise Tampered("a line that is not JSON") from None
        if not isinstance(message, dict):
            raise Tampered("a message that is not an object")
        return message
