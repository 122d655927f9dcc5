"""The sandbox's side of the calls: runs the student's cells and calls their functions.

Started by :mod:`bngrade.sandbox.isolation` as ``python -I`` inside bubblewrap, with
this file copied into the sandbox as ``bnbox.inside``. It applies its limits
(:mod:`bngrade.sandbox.box.limits`) first, then answers the grader's requests on its
standard input/output (:mod:`bngrade.sandbox.box.protocol`): ``run`` a cell, ``call`` a
function, ``new``/``method``/``setattr``/``getattr`` on an object of the
student's class, read ``vars``. It decides nothing: every value it sends back is
only data, checked and judged by the grader. The bnlib it can import is a stub
(:mod:`bngrade.sandbox.stubs`): the helpers a part allows are calls back to the grader.

This is the notebook's only execution: a ``run`` reply carries the cell's
outputs as a kernel would show them (nbformat output dicts: ``stream`` for
stdout/stderr, ``execute_result`` for a last expression, ``display_data`` for
``display()`` and every matplotlib figure left open at the end of the cell, as
PNG; ``error`` with a traceback of the student's own lines). The grader checks
and sanitises them (:func:`bngrade.sanitize.outputs`) before they land in the
autograded notebook or the feedback. Output of graded calls is discarded.
"""

import ast
import base64
import builtins
import json
import os
import sys
import traceback
import warnings

from . import limits
from .protocol import Channel, decode_value, encode_value

_channel = None
_next_id = [0]
_objects = {}  # handle -> the student's object (``new``)


class _NoShell:
    """``get_ipython()`` for answers that use magics: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


_sources = {}  # cell label -> its lines (the student's own code, for tracebacks)
OUTPUT_LIMIT = 100_000  # characters of stream text per cell
RICH_LIMIT = 2_000_000  # characters of rich output (images, HTML) per cell
RICH = (("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_"),
        ("image/svg+xml", "_repr_svg_"), ("image/png", "_repr_png_"),
        ("image/jpeg", "_repr_jpeg_"), ("text/latex", "_repr_latex_"),
        ("application/json", "_repr_json_"))


def _frames(exc):
    """The student's own frames of ``exc``'s traceback: (label, line, function, code)."""
    out = []
    for frame in traceback.extract_tb(exc.__traceback__):
        lines = _sources.get(frame.filename)
        if lines is None:
            continue
        code = lines[frame.lineno - 1].strip() if 0 < (frame.lineno or 0) <= len(lines) else ""
        out.append((frame.filename, frame.lineno, frame.name, code[:200]))
    return out


def _error(exc, label=None):
    frames = _frames(exc)
    if isinstance(exc, SyntaxError) and exc.filename in _sources:  # its own line, no frame
        frames.append((exc.filename, exc.lineno, "<cell>", str(exc.text or "").strip()[:200]))
    line = next((n for lab, n, _f, _c in reversed(frames) if lab == label), None)
    kind = "memory" if isinstance(exc, MemoryError) else (
        "undefined" if isinstance(exc, NameError) else "raised")
    error = {"type": type(exc).__name__[:80], "text": str(exc)[:600], "line": line,
             "kind": kind}
    if frames:  # where the student's code raised: its own line, never the grader's
        lab, n, name, code = frames[-1]
        error["where"] = {"cell": lab[:80], "line": n, "function": name[:80], "code": code}
    return error


class _Capture:
    """One cell's outputs, as a kernel would record them (bounded)."""

    def __init__(self):
        self.outputs, self.chars, self.rich = [], 0, 0

    def stream(self, name, text):
        if not isinstance(text, str) or not text:
            return
        room = OUTPUT_LIMIT - self.chars
        if room <= 0:
            return
        if len(text) > room:
            text = text[:room] + (f"\n... output cut by the grader after {OUTPUT_LIMIT} "
                                  "characters ...\n")
        self.chars += len(text)
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def display(self, obj, result=None):
        data = _bundle(obj)
        size = sum(len(v) for v in data.values())
        if self.rich + size > RICH_LIMIT:
            data = {"text/plain": "<output too large: not kept by the grader>"}
            size = len(data["text/plain"])
        self.rich += size
        out = {"output_type": "display_data" if result is None else "execute_result",
               "data": data, "metadata": {}}
        if result is not None:
            out["execution_count"] = result
        self.outputs.append(out)

    def figures(self):
        """Every matplotlib figure still open, as a PNG (what the inline backend shows)."""
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        try:
            for number in plt.get_fignums():
                self.display(plt.figure(number))
            plt.close("all")
        except Exception as exc:  # a figure the student broke: said, not fatal
            self.stream("stderr", f"the figure could not be drawn ({type(exc).__name__})\n")

    def error(self, exc, error):
        lines = ["Traceback (most recent call last):"]
        where = error.get("where")
        lines += [f"  Cell {lab}, line {n}, in {name}\n    {code}"
                  for lab, n, name, code in _frames(exc)]
        if isinstance(exc, SyntaxError) and where:
            lines.append(f"  Cell {where['cell']}, line {where['line']}\n    {where['code']}")
        lines.append(f"{error['type']}: {error['text']}")
        self.outputs.append({"output_type": "error", "ename": error["type"],
                             "evalue": error["text"], "traceback": lines})


def _bundle(obj):
    """``obj``'s rich representations (text only: images base64), plus ``text/plain``."""
    data = {}
    if type(obj).__module__.startswith("matplotlib") and hasattr(obj, "savefig"):
        import io

        buffer = io.BytesIO()
        obj.savefig(buffer, format="png", bbox_inches="tight")
        data["image/png"] = base64.b64encode(buffer.getvalue()).decode()
    for mime, method in RICH:
        fn = getattr(type(obj), method, None)
        if fn is None:
            continue
        try:
            value = fn(obj)
        except Exception:  # a broken _repr_*_ is skipped, as IPython does
            continue
        if isinstance(value, tuple):
            value = value[0]
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        elif mime == "application/json" and value is not None:
            try:
                value = json.dumps(value)
            except (TypeError, ValueError):
                continue
        if isinstance(value, str):
            data[mime] = value
    try:
        data["text/plain"] = repr(obj)[:OUTPUT_LIMIT]
    except Exception as exc:
        data["text/plain"] = f"<{type(obj).__name__} whose repr raised {type(exc).__name__}>"
    return data


class _Writer:
    """``sys.stdout``/``sys.stderr`` during a cell: text goes to the cell's outputs."""

    def __init__(self, name):
        self.name, self.capture = name, None

    def write(self, text):
        if self.capture is not None:
            self.capture.stream(self.name, str(text))
        return len(text) if isinstance(text, str) else 0

    def writelines(self, lines):
        for text in lines:
            self.write(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    encoding, errors = "utf-8", "replace"


_stdout, _stderr = _Writer("stdout"), _Writer("stderr")
_current = [None]  # the capture of the cell that is running


def display(*objs, **kwargs):
    """IPython's ``display()``: each object's rich output in the cell's outputs."""
    capture = _current[0]
    if capture is not None:
        for obj in objs:
            capture.display(obj)


def _run(source, label, namespace, capture, count):
    """Run a cell as IPython does: its last expression, if any, is shown as the result."""
    _sources[label] = source.splitlines()
    tree = ast.parse(source, label)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and \
            not source.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, label, "exec"), namespace)
    if last is not None:
        value = eval(compile(last, label, "eval"), namespace)
        if value is not None:
            capture.display(value, result=count)


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
        capture = _Capture()
        _current[0] = _stdout.capture = _stderr.capture = capture
        sys.stdout, sys.stderr = _stdout, _stderr
        reply = {"ok": True}
        try:
            _run(str(message.get("source", "")), label, namespace, capture,
                 message.get("count"))
        except BaseException as exc:  # the answer's error, reported as data
            reply = {"ok": False, "error": _error(exc, label)}
            capture.error(exc, reply["error"])
        finally:
            capture.figures()
            _current[0] = _stdout.capture = _stderr.capture = None
            sys.stdout = sys.stderr = _null
        reply["outputs"] = capture.outputs
        return reply
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


_null = None  # where output outside a cell (graded calls) goes: nowhere


def serve(channel):
    global _channel
    namespace = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": _NoShell,
                 "display": display}
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
    global _null
    sys.stdout = sys.stderr = _null = open(os.devnull, "w")
    os.environ["MPLBACKEND"] = "Agg"  # figures are drawn as PNG at the end of each cell
    warnings.filterwarnings("ignore", message=".*non-interactive.*")
    channel = Channel(read_fd, write_fd)
    channel.send({"ready": True})  # the grader's deadlines start from here
    serve(channel)
    os._exit(0)
