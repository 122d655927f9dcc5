"""The sandbox's side of the calls: runs the student's cells and calls their functions.

Started by :mod:`bngrade.isolation` as ``python -I`` inside bubblewrap, with
this file copied into the sandbox as ``bnbox.inside``. It applies its limits
(:mod:`bngrade.limits`) first, then answers the grader's requests on its
standard input/output (:mod:`bngrade.protocol`): ``run`` a cell, ``call`` a
function, ``new``/``method``/``setattr``/``getattr`` on an object of the
student's class, read ``vars``. It decides nothing: every value it sends back is
only data, checked and judged by the grader. The bnlib it can import is a stub
(:mod:`bngrade.stubs`): the helpers a part allows are calls back to the grader.
"""

import builtins
import json
import os
import sys

from . import limits
from .protocol import Channel, decode_value, encode_value

_channel = None
_next_id = [0]
_objects = {}  # handle -> the student's object (``new``)


class _NoShell:
    """``get_ipython()`` for answers that use magics: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _error(exc, label=None):
    line = None
    where = exc.__traceback__
    while where is not None:
        if label and where.tb_frame.f_code.co_filename == label:
            line = where.tb_lineno
        where = where.tb_next
    kind = "memory" if isinstance(exc, MemoryError) else (
        "undefined" if isinstance(exc, NameError) else "raised")
    return {"type": type(exc).__name__[:80], "text": str(exc)[:600], "line": line,
            "kind": kind}


class RemoteObject:
    """An object that lives in the grader (e.g. a ``bnlib.nn.MLP``): methods are requests."""

    def __init__(self, handle, qualname):
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_qualname", qualname)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: helper(f"{self._qualname}.{name}", args, kwargs,
                                              self._handle)

    def __call__(self, *args, **kwargs):
        return helper(f"{self._qualname}.__call__", args, kwargs, self._handle)

    def __repr__(self):
        return f"<{self._qualname} held by the grader>"


def _remote(handle):
    return RemoteObject(handle, _remote_names.get(handle, "object"))


_remote_names = {}


def _request(message):
    """Send a request of ours to the grader; return its decoded answer (or raise)."""
    if _channel is None:
        raise RuntimeError("bnlib's helpers are available only while the grader calls your "
                           "function")
    _next_id[0] += 1
    message["id"] = _next_id[0]
    _channel.send(message)
    reply = _channel.recv()
    if reply.get("re") != message["id"]:
        raise SystemExit(3)  # the grader never does this: stop rather than guess
    for handle, name in reply.get("names", {}).items():
        _remote_names[int(handle)] = name
    if not reply.get("ok"):
        error = reply.get("error", {})
        cls = getattr(builtins, str(error.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = RuntimeError
        raise cls(error.get("text", "the grader refused the request"))
    return decode_value(reply.get("out"), remote=_remote)


def helper(qualname, args, kwargs, handle=None):
    """Call one of bnlib's helpers, which runs in the grader (if this part allows it)."""
    return _request({"op": "helper", "name": qualname, "self": handle,
                     "args": encode_value(list(args), remotes=_Handles),
                     "kwargs": encode_value(dict(kwargs), remotes=_Handles)})


class _Handles:
    """Lets :func:`encode_value` turn RemoteObjects back into their handles."""

    ids = {}

    @staticmethod
    def wants(o):
        return isinstance(o, RemoteObject)

    @staticmethod
    def add(o):
        return o._handle


def _callback(key):
    def call_grader(*args):
        return _request({"op": "callback", "cb": key,
                         "args": encode_value(list(args), remotes=_Handles)})
    return call_grader


def _args(message):
    args = decode_value(message.get("args", []), callback=_callback, remote=_remote)
    kwargs = decode_value(message.get("kwargs", {}), callback=_callback, remote=_remote)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("malformed arguments")
    return args, kwargs


def _answer(message, namespace):
    op = message.get("op")
    if op == "run":
        label = str(message.get("label", "<cell>"))
        try:
            exec(compile(str(message.get("source", "")), label, "exec"), namespace)
        except BaseException as exc:  # the answer's error, reported as data
            return {"ok": False, "error": _error(exc, label)}
        return {"ok": True}
    if op == "vars":
        names = [str(n) for n in message.get("names", [])]
        return {"ok": True, "out": encode_value({n: namespace[n] for n in names
                                                 if n in namespace})}
    args, kwargs = _args(message)
    try:
        if op in ("call", "new"):
            target = namespace.get(str(message.get("target")))
            if not callable(target):
                raise NameError(f"define `{message.get('target')}` (run its cell first)")
            out = target(*args, **kwargs)
            if op == "new":
                _objects[len(_objects)] = out
                return {"ok": True, "out": len(_objects) - 1}
        elif op == "method":
            obj = _objects[message.get("obj")]
            name = str(message.get("name"))
            out = obj(*args, **kwargs) if name == "__call__" else getattr(obj, name)(*args,
                                                                                     **kwargs)
        elif op == "setattr":
            setattr(_objects[message.get("obj")], str(message.get("name")), args[0])
            out = None
        elif op == "getattr":
            obj = _objects[message.get("obj")]
            out = {str(n): getattr(obj, str(n), "<missing>") for n in message.get("names", [])}
        else:
            return {"ok": False, "error": {"type": "ValueError", "text": f"unknown op {op!r}",
                                           "kind": "raised"}}
    except BaseException as exc:  # the student's exception, reported as data
        try:  # what the call did to its arguments before it raised
            after = encode_value(args, remotes=_Handles)
        except BaseException:
            after = None
        return {"ok": False, "error": _error(exc), "args": after}
    if op == "method" and out is _objects[message.get("obj")]:
        # the layer itself (train() and eval() return it, as PyTorch's do): said as a
        # flag, the grader keeps its handle
        return {"ok": True, "out": None, "self": True,
                "args": encode_value(args, remotes=_Handles)}
    return {"ok": True, "out": encode_value(out, remotes=_Handles),
            "args": encode_value(args, remotes=_Handles)}


def serve(channel):
    global _channel
    namespace = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": _NoShell,
                 "display": lambda *a, **k: None}
    while True:
        message = channel.recv()
        if message.get("op") == "bye":
            return
        _channel = channel
        reply = _answer(message, namespace)
        _channel = None
        reply["re"] = message.get("id")
        channel.send(reply)


def main():
    limits.enter(json.loads(sys.argv[1]))
    if sys.argv[2:] == ["--probe"]:  # isolation.check(): the sandbox works
        import numpy  # noqa: F401

        return
    # The channel gets descriptors of its own; the student's prints go nowhere.
    read_fd, write_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    channel = Channel(read_fd, write_fd)
    channel.send({"ready": True})  # the grader's deadlines start from here
    serve(channel)
    os._exit(0)
