"""Isolation by the operating system: every process that runs student code runs under bubblewrap.

A sandbox is ``bwrap`` with new user, pid, network, ipc, uts and mount
namespaces, every capability dropped, a uid of no one (65534), no network at
all (only its own loopback), a read-only view of the Python installation and
of a prepared *site* (:class:`Site`) and nothing else of the host: no course
directory, no home, a ``/proc`` that shows only the sandbox, a private tmpfs
as ``/tmp`` and working directory. Its first process is ``python -I``; it sets
its own limits (:mod:`bngrade.limits`) before it reads any student code, and
without capabilities cannot raise them again. ``--die-with-parent`` and the
pid namespace make the whole sandbox die with the grader thread that started
it, and :meth:`Sandbox.kill` ends it at once.

Two views of bnlib exist: ``scoring`` (a stub without any reference code,
:mod:`bngrade.stubs`) for the sandbox whose outputs are scored, and ``public``
(exactly the package students install) for nbgrader's in-kernel run, whose
notebook and feedback are shown but never scored.
"""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading

import bnlib

from . import stubs
from .box.protocol import Channel

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "box")
# The grader's modules the sandbox runs (copied into the site as package ``bnbox``).
BOX_MODULES = ("inside", "protocol", "limits")
NOBODY = 65534
UID_BASE = 100_000_000
BOOT = ("import sys; sys.path[:0] = ['/box', '/bn']; sys.argv[1:] = {args!r}; "
        "from bnbox import {module} as m; m.main()")


class IsolationUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make a sandbox here; the message says what is missing."""


def _host_dirs():
    """Top-level system paths the interpreter needs, as (kind, path): dirs bound, links kept."""
    out = []
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(path):
            out.append(("link", path))
        elif os.path.isdir(path):
            out.append(("dir", path))
    return out


def python_dirs():
    """The Python installation and the environment (venv) it runs in, read-only."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        dirs.add(os.path.realpath(sysconfig.get_paths()[key]))
    # keep only the outermost of nested paths
    return sorted(d for d in dirs if not any(d != o and d.startswith(o + os.sep) for o in dirs))


def privileged():
    """As root, sandboxes get no user namespace but a user id of their own (see
    :mod:`bngrade.limits`); otherwise a user namespace as ``nobody``."""
    return os.geteuid() == 0


_uids, _uid_lock = [0], threading.Lock()


def sandbox_uid():
    """A user id for one sandbox: unique among the sandboxes alive on this machine (this
    process's pid and a counter), unknown to the system; None when not root."""
    if not privileged():
        return None
    with _uid_lock:
        _uids[0] = (_uids[0] + 1) % 4096
        return UID_BASE + (os.getpid() % 65536) * 4096 + _uids[0]


def bwrap_argv(view, site, rw=(), env=None):
    """The bubblewrap command line (up to ``--``) for a sandbox with bnlib ``view``."""
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--cap-drop", "ALL"]
    if privileged():
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    for kind, path in _host_dirs():
        if kind == "link":
            argv += ["--symlink", os.readlink(path), path]
        else:
            argv += ["--ro-bind", path, path]
    for name in ("ld.so.cache", "localtime", "nsswitch.conf", "passwd", "group"):
        if os.path.exists(f"/etc/{name}"):
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    made = set()
    for path in python_dirs():
        # the folders above a bound path: traversable by the sandbox's user (bwrap would make
        # them 0700, which only root could cross)
        parents = [p for p in _ancestors(path) if p not in made]
        for parent in parents:
            argv += ["--perms", "0755", "--dir", parent]
        made.update(parents)
        argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
             "--perms", "0777", "--dir", "/tmp/work",
             "--ro-bind", os.path.join(site.root, "box"), "/box",
             "--ro-bind", os.path.join(site.root, view), "/bn"]
    for path in rw:
        argv += ["--bind", path, path]
    argv += ["--chdir", "/tmp/work", "--clearenv"]
    base = {"HOME": "/tmp/work", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "MPLCONFIGDIR": "/tmp/work/.matplotlib", "IPYTHONDIR": "/tmp/work/.ipython",
            "JUPYTER_RUNTIME_DIR": "/tmp/work/.runtime", "PYTHONDONTWRITEBYTECODE": "1"}
    for key, value in {**base, **(env or {})}.items():
        argv += ["--setenv", key, value]
    return argv + ["--"]


def _ancestors(path):
    """``/a/b/c`` -> ``["/a", "/a/b"]``."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def python_argv(module, args):
    """``python -I -c BOOT``: runs ``bnbox.<module>.main()`` with ``args`` as its argv."""
    return [sys.executable, "-I", "-c", BOOT.format(args=list(map(str, args)), module=module)]


class Site:
    """The read-only files a sandbox sees besides Python: ``box`` (the sandbox's own code),
    ``scoring`` (the stub bnlib) and ``public`` (bnlib as students install it)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="bngrade-site-")
        box = os.path.join(self.root, "box", "bnbox")
        os.makedirs(box)
        open(os.path.join(box, "__init__.py"), "w").close()
        for name in BOX_MODULES:
            shutil.copy(os.path.join(HERE, f"{name}.py"), box)
        shutil.copy(protocol_plain_path(), os.path.join(box, "plain.py"))
        stubs.write_stub(os.path.join(self.root, "scoring"))
        shutil.copytree(os.path.dirname(os.path.abspath(bnlib.__file__)),
                        os.path.join(self.root, "public", "bnlib"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for dirpath, _dirnames, filenames in os.walk(self.root):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def protocol_plain_path():
    import bnlib.checks.plain

    return bnlib.checks.plain.__file__


_site, _site_lock = None, threading.Lock()


def site():
    """This process's site, built on first use (removed at exit)."""
    global _site
    with _site_lock:
        if _site is None:
            import atexit

            _site = Site()
            atexit.register(_site.remove)
    return _site


@functools.cache
def check():
    """None if sandboxes work here; else raise :class:`IsolationUnavailable` saying why."""
    if shutil.which("bwrap") is None:
        raise IsolationUnavailable(
            "bubblewrap (the `bwrap` command) is not installed: install the Debian package "
            "`bubblewrap` (make sysdeps does), or grade with --unsafe-no-isolation")
    probe, _ = command("inside", {}, ["--probe"])
    for _attempt in range(3):  # a loaded machine may fail a start: judge on three
        try:
            done = subprocess.run(probe, capture_output=True, timeout=120, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IsolationUnavailable(f"bubblewrap could not start a sandbox ({exc})") from None
        if done.returncode == 0:
            break
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]
        raise IsolationUnavailable(
            f"bubblewrap cannot create a sandbox here ({why}); it needs unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1) or root. Grade with "
            "--unsafe-no-isolation to run student code without it")
    return None


def command(module, rlimits, args=(), view="scoring", isolated=True, rw=(), env=None):
    """``(argv, cwd)`` running ``bnbox.<module>.main()`` in a sandbox with bnlib ``view``;
    its first argument says what :func:`bngrade.limits.enter` sets up.

    ``isolated=False`` (``--unsafe-no-isolation``) runs the same program as this user,
    from a private folder: nothing stands between it and the machine."""
    uid = sandbox_uid() if isolated else None
    for path in rw:  # the sandbox's user must be able to write there
        if uid is not None:
            for dirpath, _dirs, files in os.walk(path):
                os.chown(dirpath, uid, uid)
                for f in files:
                    os.chown(os.path.join(dirpath, f), uid, uid)
    argv = python_argv(module, [json.dumps({"rlimits": rlimits, "uid": uid}), *args])
    if isolated:
        return bwrap_argv(view, site(), rw=rw, env=env) + argv, None
    paths = f"{os.path.join(site().root, 'box')!r}, {os.path.join(site().root, view)!r}"
    return [a.replace("'/box', '/bn'", paths) for a in argv], tempfile.mkdtemp(
        prefix="bngrade-unsafe-")


_live, _live_lock, _stopping, _refused = {}, threading.Lock(), threading.Event(), set()
_owner = threading.local()  # the task (a Dask key) the sandboxes this thread starts serve


def set_owner(key):
    """Sandboxes this thread starts from now on serve task ``key`` (see :func:`stop_all`)."""
    _owner.key = key


def track(proc):
    """Register a sandbox's first process (a Popen, its own session) for :func:`stop_all`,
    as serving this thread's task (again: a standby kernel changes hands); refused once
    the task or the process is stopping."""
    owner = getattr(_owner, "key", None)
    with _live_lock:
        if _stopping.is_set() or (owner is not None and owner in _refused):
            _killpg(proc.pid)
            raise RuntimeError("this task or worker is stopping: no new sandbox")
        _live[proc] = owner


def untrack(proc):
    with _live_lock:
        _live.pop(proc, None)


def stop_all(key=None):
    """Kill the sandboxes serving task ``key`` (a cancelled task), or, without a key,
    every sandbox of this process and refuse new ones (the worker is going away)."""
    with _live_lock:
        if key is None:
            _stopping.set()
        else:
            _refused.add(key)
        for proc, owner in list(_live.items()):
            if key is None or owner == key:
                _killpg(proc.pid)
                del _live[proc]


def stopped(key=None):
    """Whether the sandboxes of task ``key`` (or of this worker) were stopped; forgets
    ``key``."""
    with _live_lock:
        gone = key is not None and key in _refused
        _refused.discard(key)
    return _stopping.is_set() or gone


def _killpg(pid):
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Sandbox:
    """One sandbox process speaking :mod:`bngrade.protocol` on its stdin/stdout."""

    def __init__(self, module, rlimits, view="scoring", isolated=True):
        cmd, self.workdir = command(module, rlimits, (), view, isolated)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.workdir, start_new_session=True)
        track(self.proc)
        self.channel = Channel(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def kill(self):
        """End the sandbox: its first process, hence (pid namespace) every process in it."""
        _killpg(self.proc.pid)  # the session too (it is all there is unisolated)
        self.proc.wait()
        untrack(self.proc)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def exit_code(self):
        return self.proc.poll()

    def interrupt(self):
        """SIGINT to the sandbox's Python (the innermost of its first processes): True if
        sent. Seen from here, a sandbox is bwrap -> bwrap (its pid 1) -> python."""
        pid = self.proc.pid
        for _ in range(3):
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    children = f.read().split()
            except OSError:
                return False
            if not children:
                break
            pid = int(children[0])
        if pid == self.proc.pid:
            return False
        try:
            os.kill(pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            return False
        return True
