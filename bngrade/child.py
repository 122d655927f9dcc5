"""What runs inside one sandbox child: answer cells, then the parts on grader-made inputs.

The child is a fresh fork of the zygote (numpy and the checkers already
imported). It limits itself, drops root if it has it, switches bnlib's reference
off (:mod:`bngrade.poison`), executes the steps it was given in order and
writes one JSON line per finished step to ``out_fd``. Part results travel as
:func:`bnlib.checks.plain.encode` text; the grader decodes and evaluates them in
its own process, so nothing here can decide a score.
"""

import builtins
import json
import os
import resource

from bnlib.checks import REGISTRY
from bnlib.checks.plain import decode, encode

from . import poison


class _NoShell:
    """``get_ipython()`` for answers that use magics: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def limit(limits):
    """Memory, CPU, file-size and core-dump limits for this process and its children."""
    cap = limits["address_space"]
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)


def others_can_read(*paths):
    """True if a user with no rights can reach and read each of ``paths`` (dirs or files)."""
    for path in paths:
        path = os.path.realpath(path)
        if not os.stat(path).st_mode & 0o004:
            return False
        while path != os.path.dirname(path):
            path = os.path.dirname(path)
            if not os.stat(path).st_mode & 0o001:
                return False
    return True


def isolation_possible():
    """A user of its own can run this Python only if the installation is world-readable."""
    import numpy

    import bnlib

    return os.geteuid() == 0 and others_can_read(
        os.path.dirname(os.__file__), os.path.dirname(numpy.__path__[0]),
        bnlib.__path__[0], os.path.realpath(os.sys.executable))


def drop_root(uid_base):
    """As root, become a user of our own: uid = gid = ``uid_base + pid``.

    Unique per process, so an answer can neither signal another student's
    sandbox nor read its files, and cannot write to the course directory.
    """
    if os.geteuid() != 0 or not uid_base:
        return
    uid = int(uid_base) + os.getpid()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


def _describe(exc, filename):
    where = exc.__traceback__
    line = None
    while where is not None:
        if where.tb_frame.f_code.co_filename == filename:
            line = where.tb_lineno
        where = where.tb_next
    text = f"{type(exc).__name__}: {exc}"[:600]
    return f"line {line}: {text}" if line else text


def run(job, out_fd):
    """Execute ``job['steps']``; report each on ``out_fd``. Never returns normally."""
    def send(message):
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(out_fd, data):]

    parts = {gid: REGISTRY[gid] for gid in job["parts"]}
    for other in set(REGISTRY) - set(parts):
        del REGISTRY[other]  # nothing but this job's parts is reachable from here
    gate = poison.install(allowed=set(job["allowed"]))
    namespace = {"__name__": "__main__", "__builtins__": builtins,
                 "get_ipython": _NoShell, "display": lambda *a, **k: None}
    for step in job["steps"]:
        kind, label = step["kind"], step["label"]
        try:
            if kind == "part":
                part = parts[step["grade_id"]]
                records = part.run(namespace, decode(step["cases"]))
                send({"i": step["i"], "status": "ok", "records": encode(records)})
                continue
            code = compile(step["source"], label, "exec")
            gate.depth = 1 if kind == "setup" else 0  # set-up cells may use the reference
            try:
                exec(code, namespace)
            finally:
                gate.depth = 0
            send({"i": step["i"], "status": "ok"})
        except BaseException as exc:  # the answer's error, reported in words
            send({"i": step["i"], "status": "error", "error": _describe(exc, label)})
    os._exit(0)
