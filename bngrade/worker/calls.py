"""The grader's side of the calls: the checker runs here, the sandbox only runs the student's code.

:class:`Session` owns one scoring sandbox (:mod:`bngrade.sandbox.isolation`) in which a
notebook's read-only and answer cells have run. A part of
:mod:`bnlib.checks` is run *here*, unchanged, on a :class:`RemoteNamespace`:
looking up the part's target gives a proxy whose calls send that call's
inputs (plain data, at the moment of the call) and bring back plain outputs;
a class gives instances proxied method by method. While a call runs, the
sandbox may ask for the bnlib helpers the part allows (by qualified name,
e.g. ``bnlib.nn.MLP.forward``): they run here, on plain inputs, and objects
they make stay here behind a handle. Everything that comes back is decoded
by :mod:`bngrade.sandbox.box.protocol` (plain data only, bounded sizes) and judged by the
part's ``evaluate`` in this process.

The helpers themselves run in a child process of the grader (:class:`Helpers`), with
the sandbox's memory budget added to its address space and the pending call's deadline:
a helper asked to build something huge (``bnlib.nn.MLP([1000] * 400)``) fails there
with the ``memory`` flag, and the grader's own process never holds it. Helpers are
served only while the grader waits for a call into the student's code, never while
a cell runs: a cell's top level gets no bnlib code at all.
"""

import functools
import importlib
import os
import resource
import signal
import time

import numpy as np

from ..sandbox import isolation
from ..sandbox.box.protocol import (
    MAX_ELEMENTS,
    Channel,
    Lost,
    OutOfTime,
    ProtocolError,
    Tampered,
    decode_value,
    encode_value,
)

STARTUP_SECONDS = 120.0  # a loaded machine may take long to start Python and numpy
INTERRUPT_GRACE = 2.0  # seconds an interrupted cell has to stop before the sandbox is killed


class OutOfMemory(ProtocolError):
    """The student's code hit the sandbox's memory limit (MemoryError inside)."""

    code = "memory"


class RemoteError(Exception):
    """An exception the student's code raised in the sandbox, by name and text (data only)."""

    kind = "raised"


_error_classes = {}


def remote_error(error):
    """An exception whose class is named as the sandbox's was (``replay`` compares names)."""
    name = str(error.get("type", "Exception"))
    if not name.isidentifier():
        name = "Exception"
    cls = _error_classes.get(name)
    if cls is None:
        cls = _error_classes[name] = type(name, (RemoteError,), {})
    exc = cls(str(error.get("text", ""))[:600])
    exc.where = where_words(error.get("where"))
    return exc


def where_words(where):
    """`` (in `f`, line N: `code`)``: the student's own line the sandbox names (as data), or
    "" (never a line of the grader, where the exception is re-raised)."""
    if not isinstance(where, dict) or type(where.get("line")) is not int:
        return ""
    name, code = str(where.get("function", ""))[:80], str(where.get("code", ""))[:200]
    return f" (in `{name}`, line {where['line']}" + (f": `{code}`)" if code else ")")


def resolve(qualname):
    """bnlib's object named ``qualname`` (``bnlib.nn.MLP.forward``), or None."""
    if not isinstance(qualname, str) or not qualname.startswith("bnlib.") or \
            qualname.startswith("bnlib.checks"):
        if qualname != "bnlib":
            return None
    return _resolve(qualname)


@functools.lru_cache(maxsize=4096)
def _resolve(qualname):
    """(:func:`resolve`, once per name: a training loop asks for the same few helpers
    thousands of times, and each failed import on the way costs.)"""
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                if name.startswith("_") and name != "__call__" and name != "__init__":
                    return None
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _too_big(value):
    """Sizes a helper must not be asked to allocate (an MLP of a million units, say)."""
    if isinstance(value, (list, tuple)):
        ints = [v for v in value if type(v) is int]
        if any(abs(v) > 1_000_000 for v in ints) or any(
                abs(a * b) > MAX_ELEMENTS for a, b in zip(ints, ints[1:])):
            return True
        return any(_too_big(v) for v in value)
    if isinstance(value, dict):
        return any(_too_big(v) for v in value.values())
    return type(value) is int and abs(value) > 1_000_000


class Held:
    """Objects the grader holds for the sandbox (made by helpers), behind integer handles."""

    def __init__(self):
        self.ids, self.objects = {}, {}

    @staticmethod
    def wants(o):
        return type(o).__module__.startswith("bnlib.") and not isinstance(o, np.ndarray)

    def add(self, o):
        handle = len(self.objects)
        self.ids[id(o)], self.objects[handle] = handle, o
        return handle

    def get(self, handle):
        if handle not in self.objects:
            raise Tampered("a handle the grader never gave")
        return self.objects[handle]

    def names(self):
        return {str(h): f"{type(o).__module__}.{type(o).__qualname__}"
                for h, o in self.objects.items()}


HELPER_BASE = 1 << 20  # handles of objects the helper process holds start here


def _mapped_bytes():
    """This process's address space now (``VmSize``), in bytes (0 if unknown)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Helpers:
    """The child process the allowed helpers run in: started on first use, with an address
    space of ``memory_bytes`` on top of what it starts with; it holds the objects helpers
    make (handles from :data:`HELPER_BASE`).

    It is a fork of this worker (numpy and bnlib already imported: no interpreter to start
    for each notebook), in a session of its own, holding only its two pipes; each
    notebook's helpers get a fresh one, so nothing a helper did outlives the notebook."""

    def __init__(self, memory_bytes, cpu_seconds):
        self.memory_bytes, self.cpu_seconds, self.pid = memory_bytes, cpu_seconds, None

    def _start(self):
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        limits = {"AS": _mapped_bytes() + self.memory_bytes, "CPU": self.cpu_seconds}
        pid = os.fork()
        if pid == 0:  # the helper process: it only ever leaves through os._exit
            code = 1
            try:
                os.setsid()
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
                    signal.signal(sig, signal.SIG_DFL)
                os.dup2(r_in, 0)
                os.dup2(w_out, 1)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the sandbox's pipes, the pool's
                helper_main(limits)
                code = 0
            finally:
                os._exit(code)
        os.close(r_in)
        os.close(w_out)
        self.pid = pid
        self.channel = Channel(r_out, w_in)
        self.fds = (r_out, w_in)

    def serve(self, message, allowed, deadline):
        """The reply to the sandbox's helper request ``message`` (run in the child)."""
        if self.pid is None:
            self._start()
        try:
            self.channel.send({"message": message, "allowed": sorted(allowed)}, deadline)
            reply = self.channel.recv(deadline)
        except OutOfTime:
            self.close()
            raise OutOfTime("a helper did not finish in time") from None
        except Lost:
            self.close()
            raise OutOfMemory("a helper ran out of memory or stopped (its limit is "
                              f"{self.memory_bytes >> 20} MB)") from None
        if reply.get("memory"):
            raise OutOfMemory(f"a helper ran out of memory (its limit is "
                              f"{self.memory_bytes >> 20} MB)")
        if reply.get("tampered"):
            raise Tampered(str(reply["tampered"])[:300])
        return reply["reply"]

    def close(self):
        if self.pid is not None:
            isolation._killpg(self.pid)
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            for fd in self.fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.pid = None


class _ChildHeld(Held):
    def add(self, o):
        handle = HELPER_BASE + len(self.objects)
        self.ids[id(o)], self.objects[handle] = handle, o
        return handle


def helper_main(limits):
    """The helper process: ``limits`` (``AS``, ``CPU``) first, then one helper request after
    another, until the grader closes the pipe."""
    resource.setrlimit(resource.RLIMIT_AS, (int(limits["AS"]), int(limits["AS"])))
    resource.setrlimit(resource.RLIMIT_CPU, (int(limits["CPU"]), int(limits["CPU"]) + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    channel = Channel(0, 1)
    held = _ChildHeld()
    names, allowed = None, set()
    while True:
        try:
            request = channel.recv()
        except Lost:
            return
        if request["allowed"] != names:  # (the grader's list: it changes once per part)
            names = request["allowed"]
            allowed = {id(o) for o in map(resolve, names) if o is not None}
        try:
            reply = _serve_helper(request["message"], held, allowed)
            out = {"reply": reply}
        except MemoryError:
            out = {"memory": True}
        except ProtocolError as exc:
            out = {"tampered": str(exc)}
        try:
            channel.send(out)
        except MemoryError:
            channel.send({"memory": True})


def _serve_helper(m, held, allowed):
    """One helper request, served in the helper process (``allowed``: ids of objects)."""
    try:
        args = decode_value(m.get("args", []), remote=held.get)
        kwargs = decode_value(m.get("kwargs", {}), remote=held.get)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise Tampered("malformed arguments")
        fn = _helper_function(m, held, allowed)
        if _too_big(args) or _too_big(kwargs):
            raise ValueError("arguments too large for a helper run by the grader")
        out = fn(*args, **kwargs)
    except (ProtocolError, MemoryError):
        raise
    except Exception as exc:  # bnlib's own error on the student's arguments, as data
        return {"ok": False, "error": {"type": type(exc).__name__, "text": str(exc)[:300]}}
    value = encode_value(out, remotes=held)
    return {"ok": True, "out": value, "names": held.names()}


def _helper_function(m, held, allowed):
    name, handle = m.get("name"), m.get("self")
    if handle is not None:
        obj = held.get(handle)
        method = str(name).rsplit(".", 1)[-1]
        owner = f"{type(obj).__module__}.{type(obj).__qualname__}"
        if str(name) != f"{owner}.{method}" or (method.startswith("_")
                                                and method != "__call__"):
            raise PermissionError(f"{name} is not a method of {owner}")
        real = getattr(type(obj), method, None)
        bound = getattr(obj, method, None)
    else:
        real = bound = resolve(name)
    if real is None or id(real) not in allowed:
        raise PermissionError(
            f"{name} is bnlib's reference: it is not available while this part is graded "
            "(implement it yourself with numpy)")
    return bound


class Session:
    """A scoring sandbox with one notebook's cells run in it; calls go through :meth:`request`."""

    def __init__(self, limits, isolated=True):
        self.limits, self.seconds = limits, limits.seconds
        rlimits = limits.rlimits()
        self.box = isolation.Sandbox("inside", rlimits, isolated=isolated)
        self.helpers = Helpers(int(rlimits["AS"]), int(rlimits["CPU"]))
        self.allowed_names, self.pending = (), None
        self.next_id, self.allowed, self.held = 0, set(), Held()
        self.callbacks, self.last_reply = [], {}
        self.times = []  # wall seconds of each request (a cell, a graded call), in order
        try:  # start-up (Python, numpy) is not the student's time
            hello = self.box.channel.recv(time.monotonic() + STARTUP_SECONDS)
        except ProtocolError:
            self.box.kill()
            raise
        if hello != {"ready": True}:
            self.box.kill()
            raise Tampered("the sandbox did not start as expected")

    def allow(self, qualnames):
        """The helpers the sandbox may ask for from now on (resolved to bnlib's objects)."""
        self.allowed_names = tuple(qualnames)
        self.allowed = {id(o) for o in map(resolve, qualnames) if o is not None}

    def close(self):
        try:
            self.box.channel.send({"op": "bye", "id": 0}, time.monotonic() + 1)
        except (ProtocolError, ValueError):
            pass
        self.box.kill()
        self.helpers.close()

    kill = close

    def request(self, message, seconds=None):
        """Send one request; serve the sandbox's own requests; return the reply (a dict)."""
        self.next_id += 1
        message["id"] = self.next_id
        started = time.monotonic()
        deadline = started + (seconds or self.seconds)
        chan = self.box.channel
        self.pending = message.get("op")
        try:
            chan.send(message, deadline)
            last = 0
            while True:
                m = chan.recv(deadline)
                if "re" in m:
                    if m["re"] != message["id"] or "op" in m:
                        raise Tampered(f"a reply to request {m.get('re')!r} while "
                                       f"{message['id']} was pending")
                    self.last_reply = m
                    if self.box.out_of_memory():  # a process of the sandbox was killed
                        raise OutOfMemory("ran out of memory (the limit is "
                                          f"{self.limits.memory_mb} MB)")
                    return self._reply(m)
                theirs = m.get("id")
                if type(theirs) is not int or theirs <= last:
                    raise Tampered("a request out of order or repeated")
                last = theirs
                answer = self._serve(m, deadline)
                answer["re"] = theirs
                chan.send(answer, deadline)
        except Lost as exc:
            if self.box.out_of_memory():  # the kernel killed it at the sandbox's budget
                raise OutOfMemory(f"ran out of memory (the limit is {self.limits.memory_mb} "
                                  "MB for the whole sandbox)") from None
            code = self.box.exit_code()
            raise Lost(f"the process running your code stopped ({exc}; exit status {code})") \
                from None
        finally:
            self.times.append(time.monotonic() - started)

    def _reply(self, m):
        if m.get("ok") is True:
            return m
        if m.get("ok") is not False or not isinstance(m.get("error"), dict):
            raise Tampered("a malformed reply")
        if m["error"].get("kind") == "memory":
            raise OutOfMemory(f"ran out of memory (the limit is {self.limits.memory_mb} MB)")
        raise remote_error(m["error"])

    def _serve(self, m, deadline=None):
        op = m.get("op")
        if op == "helper" and (self.pending == "run" or (
                m.get("self") is not None and type(m.get("self")) is int
                and m["self"] >= HELPER_BASE) or m.get("self") is None):
            if self.pending == "run":
                return {"ok": False, "error": {"type": "RuntimeError", "text": (
                    "bnlib's helpers are available only while the grader calls your "
                    "function, not at a cell's top level")}}
            return self.helpers.serve(m, self.allowed_names, deadline)
        try:
            args = decode_value(m.get("args", []), remote=self.held.get)
            kwargs = decode_value(m.get("kwargs", {}), remote=self.held.get)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise Tampered("malformed arguments")
            if op == "callback":
                key = m.get("cb")
                if type(key) is not int or not 0 <= key < len(self.callbacks):
                    raise Tampered("a callback the grader never gave")
                fn = self.callbacks[key]
            elif op == "helper":  # a method of an object the checker made and passed
                fn = self._helper(m)
            else:
                raise Tampered(f"an unknown request {op!r}")
            if _too_big(args) or _too_big(kwargs):
                raise ValueError("arguments too large for a helper run by the grader")
            out = fn(*args, **kwargs)
        except ProtocolError:
            raise
        except Exception as exc:  # bnlib's own error on the student's arguments, as data
            return {"ok": False, "error": {"type": type(exc).__name__, "text": str(exc)[:300]}}
        value = encode_value(out, remotes=self.held)
        return {"ok": True, "out": value, "names": self.held.names()}

    def _helper(self, m):
        """The function or bound method a helper request names, if this part allows it."""
        return _helper_function(m, self.held, self.allowed)

    # what parts call ---------------------------------------------------------
    def call(self, op, args=(), kwargs=None, **fields):
        """A call into the student's code: returns (output, arguments after the call)."""
        self.callbacks = []
        message = {"op": op, **fields,
                   "args": encode_value(list(args), self.callbacks, self.held),
                   "kwargs": encode_value(dict(kwargs or {}), self.callbacks, self.held)}
        self.last_reply = {}
        try:
            reply = self.request(message)
        except RemoteError:  # it raised: what it did to its arguments still shows
            if self.last_reply.get("args") is not None:
                _write_back(list(args), decode_value(self.last_reply["args"],
                                                     remote=self.held.get))
            raise
        out = decode_value(reply.get("out"), remote=self.held.get)
        after = decode_value(reply.get("args", []), remote=self.held.get)
        _write_back(list(args), after)
        return out

    def run_cell(self, source, label, count=None):
        """Execute a cell's code in the sandbox's namespace; None or the error (a dict).

        A cell that runs out of time is interrupted (SIGINT, as Jupyter does: what it
        defined before stays) and raises :class:`OutOfTime` only if it does not stop."""
        try:
            self.request({"op": "run", "source": source, "label": label, "count": count})
        except RemoteError as exc:
            return {"type": type(exc).__name__, "text": str(exc)}
        except OutOfTime:
            if not self.box.interrupt():
                raise
            try:
                self._reply(self.box.channel.recv(time.monotonic() + INTERRUPT_GRACE))
            except RemoteError:
                pass
            except ProtocolError:
                raise OutOfTime("no reply in time") from None
            return {"type": "timeout", "text": f"did not finish within {self.seconds:g} s",
                    "code": "timeout"}
        return None


def _write_back(local, after):
    """What the call did to its arguments, mirrored on the grader's copies (in place)."""
    if isinstance(local, np.ndarray):
        if isinstance(after, np.ndarray) and after.shape == local.shape:
            np.copyto(local, after, casting="unsafe")
        else:
            local[...] = np.nan  # replaced by something else: it certainly changed
        return
    if isinstance(local, (list, tuple)) and isinstance(after, (list, tuple)):
        for a, b in zip(local, after):
            _write_back(a, b)
    elif isinstance(local, dict) and isinstance(after, dict):
        for k, v in local.items():
            if k in after:
                _write_back(v, after[k])


class RemoteFunction:
    """The student's function ``name`` in the sandbox."""

    def __init__(self, session, name):
        self.session, self.name = session, name

    def __call__(self, *args, **kwargs):
        return self.session.call("call", args, kwargs, target=self.name)


class RemoteInstance:
    """An instance of the student's class in the sandbox: methods and attributes by request."""

    def __init__(self, session, handle):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_handle", handle)

    def _method(self, name, args):
        out = self._session.call("method", args, obj=self._handle, name=name)
        # A method that returned its own object (``bn.eval()``): the sandbox says so with a
        # flag (it cannot send the object), and the caller gets this same proxy back.
        if self._session.last_reply.get("self") is True:
            return self
        return out

    def __call__(self, *args):
        return self._method("__call__", args)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self._method(name, args)

    def __setattr__(self, name, value):
        self._session.call("setattr", (value,), obj=self._handle, name=name)

    def snapshot_of(self, names):
        """Plain values of attributes ``names`` (``"<missing>"`` for absent ones)."""
        return self._session.call("getattr", (), obj=self._handle, names=list(names))


class RemoteClass:
    def __init__(self, session, name):
        self.session, self.name = session, name

    def __call__(self, *args, **kwargs):
        handle = self.session.call("new", args, kwargs, target=self.name)
        if type(handle) is not int:
            raise Tampered("a malformed object handle")
        return RemoteInstance(self.session, handle)


class RemoteNamespace:
    """What a part's ``run`` sees as the notebook's namespace."""

    def __init__(self, session, classes=()):
        self.session, self.classes = session, set(classes)

    def get(self, name, default=None):
        if name in self.classes:
            return RemoteClass(self.session, name)
        return RemoteFunction(self.session, name)

    def _vars(self, names):
        out = self.session.call("vars", (), names=list(names))
        if not isinstance(out, dict):
            raise Tampered("malformed variables")
        return out

    def __contains__(self, name):
        return name in self._vars([name])

    def __getitem__(self, name):
        values = self._vars([name])
        if name not in values:
            raise KeyError(name)
        return values[name]


__all__ = ["Session", "RemoteNamespace", "OutOfMemory", "OutOfTime", "Lost", "Tampered",
           "ProtocolError", "RemoteError", "resolve"]
