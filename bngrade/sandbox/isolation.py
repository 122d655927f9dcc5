"""Isolation by the operating system: every process that runs student code runs under bubblewrap.

A sandbox is ``bwrap`` with new pid, network, ipc, uts and mount namespaces
(and, unless root, a user namespace as no one, 65534; as root a user id of its
own), every capability dropped, the seccomp filter of :mod:`bngrade.sandbox.seccomp`, no
network at all (only its own loopback), a read-only view of the Python
installation and of a prepared *site* (:class:`Site`) and nothing else of the
host: no course directory, no home, a ``/proc`` that shows only the sandbox, a
private, sized tmpfs as ``/tmp`` and working directory, no writable host folder.
The Python installation is bound after that tmpfs (a venv under ``/tmp`` stays
visible), and then the course's own packages are masked wherever this
interpreter has them installed (:func:`course_paths`): the sandbox's Python sees
the interpreter and the third-party packages only. :func:`check` refuses a host
where a sandbox could still import ``bnlib`` or ``bngrade`` or read their files.

A sandbox's memory (all its processes and its ``/tmp``) and its processes are
limited as a whole: by a control group (:mod:`bngrade.sandbox.cgroup`) where the host
allows one, else by caps that add up (:func:`bngrade.sandbox.box.limits.whole`);
:func:`in_force` says which. Its first process is ``python -I``; it sets its
own per-process limits (:mod:`bngrade.sandbox.box.limits`) before it reads any student
code, and without capabilities cannot raise them again. ``--die-with-parent``
and the pid namespace make the whole sandbox die with the grader thread that
started it, and :meth:`Sandbox.kill` ends it at once.

The only bnlib a sandbox sees is ``scoring``: a stub without any reference code
(:mod:`bngrade.sandbox.stubs`). Student code runs once, there; no sandbox ever holds
the package students install, let alone the checkers or the keys.
"""

import concurrent.futures
import functools
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

import bnlib

from . import cgroup, seccomp, stubs
from .box.limits import whole
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
    # site folders a .pth file added (an environment layered on another); never a
    # checkout's root, which a .pth of an older editable install may add too
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages") and \
                os.path.isdir(entry):
            dirs.add(os.path.realpath(entry))
    # keep only the outermost of nested paths
    return sorted(d for d in dirs if not any(d != o and d.startswith(o + os.sep) for o in dirs))


def privileged():
    """As root, sandboxes get no user namespace but a user id of their own (see
    :mod:`bngrade.sandbox.box.limits`); otherwise a user namespace as ``nobody``."""
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


COURSE_PACKAGES = ("bnlib", "bngrade")


def _site_dirs():
    return {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}


@functools.cache
def course_paths():
    """What of the course the bound Python directories hold, as ``(dirs, files)`` to mask:
    ``bnlib`` and ``bngrade`` wherever this interpreter finds them, every file of a
    distribution that installs them (``pip install .`` or ``-e .``: the packages, the
    editable finder and ``.pth``), and whatever else in site-packages is named after them."""
    dirs, files = set(), set()
    for name in COURSE_PACKAGES:
        spec = importlib.util.find_spec(name)
        for loc in (spec.submodule_search_locations or []) if spec else []:
            dirs.add(os.path.realpath(loc))
    for dist in importlib.metadata.distributions():
        entries = [str(f) for f in (dist.files or [])]
        tops = {e.split("/", 1)[0] for e in entries}
        if not tops & set(COURSE_PACKAGES) and not any(
                e.startswith("__editable__") and "bn_first_principles" in e for e in entries):
            continue
        for top in tops - {"..", ".", "__pycache__"}:
            path = os.path.realpath(str(dist.locate_file(top)))
            if os.path.isdir(path):
                dirs.add(path)
            elif os.path.isfile(path) and os.path.dirname(path) in _site_dirs():
                files.add(path)
    for folder in _site_dirs():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for n in names:
            low = n.lower()
            if low.startswith(COURSE_PACKAGES + ("bn_first_principles", "bn-first-principles")) \
                    or (low.startswith("__editable__") and "bn_first_principles" in low):
                path = os.path.join(folder, n)
                (dirs if os.path.isdir(path) else files).add(path)
        cache = os.path.join(folder, "__pycache__")
        for n in os.listdir(cache) if os.path.isdir(cache) else []:
            if n.startswith("__editable__"):
                files.add(os.path.join(cache, n))
    bound = python_dirs()
    inside = [p for p in sorted(dirs) if any(p == b or p.startswith(b + os.sep) for b in bound)]
    # the outermost of nested directories is enough
    inside = [p for p in inside if not any(p != o and p.startswith(o + os.sep) for o in inside)]
    files = [f for f in sorted(files) if any(f.startswith(b + os.sep) for b in bound)
             and not any(f.startswith(d + os.sep) for d in inside)]
    return inside, files


def bwrap_argv(view, site, rw=(), env=None, seccomp_fd=None, tmp_bytes=None):
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
    argv += ["--proc", "/proc", "--dev", "/dev"]
    if tmp_bytes is not None:
        argv += ["--size", str(int(tmp_bytes))]
    argv += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "0777", "--dir", "/tmp/work"]
    # The interpreter after /tmp's tmpfs: a venv under /tmp (a fresh clone there, a node's
    # scratch) is bound over it, not hidden by it.
    made = set()
    for path in python_dirs():
        # the folders above a bound path: traversable by the sandbox's user (bwrap would make
        # them 0700, which only root could cross)
        parents = [p for p in _ancestors(path) if p not in made]
        for parent in parents:
            argv += ["--perms", "0755", "--dir", parent]
        made.update(parents)
        argv += ["--ro-bind", path, path]
    # then the course's own code, wherever it was installed, masked: empty folders and files
    dirs, files = course_paths()
    for path in dirs:
        argv += ["--ro-bind", os.path.join(site.root, "empty"), path]
    for path in files:
        argv += ["--ro-bind", "/dev/null", path]
    argv += ["--ro-bind", os.path.join(site.root, "box"), "/box",
             "--ro-bind", os.path.join(site.root, view), "/bn"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
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


MASK = "raise ImportError(\"the course's code is not in the sandbox\")\n"


class Site:
    """The read-only files a sandbox sees besides Python: ``box`` (the sandbox's own code),
    and ``scoring`` (the stub bnlib)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="bngrade-site-")
        box = os.path.join(self.root, "box", "bnbox")
        os.makedirs(box)
        # what a sandbox finds where the course's code was installed: a package that
        # refuses to import (an empty folder would import as a namespace package)
        os.makedirs(os.path.join(self.root, "empty"))
        with open(os.path.join(self.root, "empty", "__init__.py"), "w") as f:
            f.write(MASK)
        open(os.path.join(box, "__init__.py"), "w").close()
        for name in BOX_MODULES:
            shutil.copy(os.path.join(HERE, f"{name}.py"), box)
        shutil.copy(protocol_plain_path(), os.path.join(box, "plain.py"))
        stubs.write_stub(os.path.join(self.root, "scoring"))
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
            atexit.register(_remove_groups)
    return _site


# ``/bin/sh`` puts itself in the sandbox's control group, opens the seccomp filter as
# descriptor 9, and becomes bubblewrap (same pid): every process of the sandbox starts
# inside the group, under the filter. Any launcher can start this command line.
LAUNCH = ('f=$1; shift; while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; '
          'shift; exec "$@" 9< "$f"')
SECCOMP_FD = 9


class Prepared:
    """A sandbox's command line (``argv``, ``cwd``) and its control ``group`` (or None)."""

    def __init__(self, argv, cwd=None, group=None):
        self.argv, self.cwd, self.group = argv, cwd, group

    def finish(self):
        """After the sandbox is gone: remove its control group."""
        if self.group is not None:
            self.group.remove()
            with _groups_lock:
                _groups.discard(self.group)
            self.group = None


_groups, _groups_lock = set(), threading.Lock()


def _remove_groups():
    with _groups_lock:
        groups = list(_groups)
    for g in groups:
        g.remove()


def filter_path():
    """This process's seccomp filter (BPF) in its site; :class:`IsolationUnavailable`
    when libseccomp cannot build it."""
    path = os.path.join(site().root, "seccomp.bpf")
    if not os.path.exists(path):
        try:
            data = seccomp.bpf()
        except seccomp.Unavailable as exc:
            raise IsolationUnavailable(f"{exc}; or grade with --unsafe-no-isolation") from None
        tmp = path + f".{threading.get_ident()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


def prepare(module, rlimits, args=(), view="scoring", isolated=True, rw=(), env=None,
            use_seccomp=True):
    """:class:`Prepared` running ``bnbox.<module>.main()`` in a sandbox with bnlib ``view``;
    its first argument says what :func:`bngrade.sandbox.box.limits.enter` sets up. The sandbox's
    limits hold for it as a whole (:func:`bngrade.sandbox.box.limits.whole`): a control group where
    this host allows one. ``use_seccomp=False`` exists for the tests that show what the
    filter stops.

    ``isolated=False`` (``--unsafe-no-isolation``) runs the same program as this user,
    from a private folder: nothing stands between it and the machine."""
    if not isolated:
        argv = python_argv(module, [json.dumps({"rlimits": rlimits, "uid": None}), *args])
        paths = f"{os.path.join(site().root, 'box')!r}, {os.path.join(site().root, view)!r}"
        return Prepared([a.replace("'/box', '/bn'", paths) for a in argv],
                        tempfile.mkdtemp(prefix="bngrade-unsafe-"))
    bpf = filter_path() if use_seccomp else None
    group = None
    try:
        group = cgroup.new(int(rlimits["AS"]), int(rlimits["NPROC"]))
    except OSError:
        group = None
    plan = whole(rlimits, group is not None)
    uid = sandbox_uid()
    for path in rw:  # the sandbox's user must be able to write there
        if uid is not None:
            for dirpath, _dirs, files in os.walk(path):
                os.chown(dirpath, uid, uid)
                for f in files:
                    os.chown(os.path.join(dirpath, f), uid, uid)
    argv = python_argv(module, [json.dumps({"rlimits": plan["rlimits"], "uid": uid}), *args])
    inner = bwrap_argv(view, site(), rw=rw, env=env,
                       seccomp_fd=SECCOMP_FD if bpf else None,
                       tmp_bytes=plan["tmp_bytes"]) + argv
    procs = group.procs_files() if group is not None else []
    if group is not None:
        with _groups_lock:
            _groups.add(group)
    return Prepared(["/bin/sh", "-c", LAUNCH, "sh", bpf or "/dev/null", *procs, "--", *inner],
                    None, group)


def command(module, rlimits, args=(), view="scoring", isolated=True, rw=(), env=None):
    """``(argv, cwd)`` of :func:`prepare`, for a launcher of its own; its control group is
    removed once empty (a later call) or at exit."""
    _remove_finished()
    p = prepare(module, rlimits, args, view, isolated, rw, env)
    if p.group is not None:
        with _groups_lock:
            _launched[p.group] = time.monotonic()
    return p.argv, p.cwd


_launched = {}  # groups of command()'s sandboxes -> when made


def _remove_finished(grace=60.0):
    """Remove the groups of command()'s sandboxes that are over (empty, made long ago)."""
    now = time.monotonic()
    with _groups_lock:
        old = [g for g, t in _launched.items() if now - t > grace]
    for g in old:
        if g.empty():
            Prepared(None, None, g).finish()
            with _groups_lock:
                _launched.pop(g, None)


def in_force(rlimits):
    """Which limits hold for a sandbox with per-process ``rlimits`` here: a dict for
    ``summary.json`` and ``python -m bngrade.build``."""
    kind, why = cgroup.available()
    plan = whole(rlimits, kind is not None)
    mb = 1 << 20
    out = {"memory_mb": plan["memory_bytes"] // mb, "processes": plan["processes"],
           "tmp_mb": plan["tmp_bytes"] // mb, "per_process_mb": plan["rlimits"]["AS"] // mb,
           "writable_host_folder": False}
    if kind is not None:
        out["whole_sandbox"] = f"control group ({kind})"
        out["how"] = (f"control group ({kind}): {out['memory_mb']} MB for all processes and "
                      f"/tmp together, at most {out['processes']} processes")
    else:
        out["whole_sandbox"] = None
        out["how"] = (f"no control group ({why}): at most {out['processes']} processes of "
                      f"{out['per_process_mb']} MB each and a {out['tmp_mb']} MB /tmp, "
                      f"{out['memory_mb']} MB in all")
    try:
        filter_path()
        out["seccomp"] = "locks, inotify, ptrace, keyrings, perf, mount and namespaces denied"
    except IsolationUnavailable as exc:
        out["seccomp"] = None
        out["seccomp_missing"] = str(exc)
    return out


def _bwrap_cause(stderr, returncode):
    """The refusal's real cause, from what bubblewrap or Python said."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    why = (lines or [f"exit status {returncode}"])[-1][:300]
    if returncode == 125:
        return f"could not put the sandbox in its control group ({why})"
    bwrap = [ln for ln in lines if ln.startswith("bwrap:")]
    if bwrap:
        msg = bwrap[-1][:300]
        if any(w in msg for w in ("namespace", "uid map", "setting up uid", "No permissions to "
                                  "creating new namespace", "Creating new namespace")):
            return (f"{msg}: bubblewrap needs unprivileged user namespaces "
                    "(sysctl kernel.unprivileged_userns_clone=1) or root")
        if "seccomp" in msg:
            return f"{msg}: the kernel refused the seccomp filter"
        if "execvp" in msg or "No such file" in msg or "Can't" in msg:
            return (f"{msg}: a path the sandbox needs (the Python interpreter "
                    f"{sys.executable}, its environment {sys.prefix}) cannot be bound or run")
        return msg
    return f"Python failed inside the sandbox: {why}"


def run_probe(code, rlimits, use_seccomp=True, timeout=120):
    """Run ``code`` (Python) in a sandbox as the student's code would run (after
    :func:`bngrade.sandbox.box.limits.enter`); return the CompletedProcess, with ``oom_kills`` and
    ``peak_bytes`` of its control group (None without one)."""
    boot = ("import sys, json; sys.path[:0] = ['/box']; from bnbox import limits; "
            f"limits.enter(json.loads(sys.argv[1])); sys.path.remove('/box'); "
            f"exec({code!r})")
    p = prepare("inside", rlimits, use_seccomp=use_seccomp)
    # the same command line, with the probe in place of the sandbox's program (the last
    # four words: python -I -c BOOT)
    config = _config_of(p.argv[-1])
    argv = p.argv[:-4] + [sys.executable, "-I", "-c", boot, config]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, text=True)
        # what its control group saw (None without one)
        done.oom_kills = p.group.oom_kills() if p.group else None
        done.peak_bytes = p.group.peak_bytes() if p.group else None
        return done
    finally:
        p.finish()


def _config_of(boot):
    """The limits argument (JSON) a :func:`python_argv` BOOT line carries."""
    import ast

    return ast.literal_eval(boot.split("sys.argv[1:] = ", 1)[1].split("; from bnbox", 1)[0])[0]


@functools.cache
def check():
    """None if sandboxes work here; else raise :class:`IsolationUnavailable` saying why."""
    if shutil.which("bwrap") is None:
        raise IsolationUnavailable(
            "bubblewrap (the `bwrap` command) is not installed: install the Debian package "
            "`bubblewrap` (make sysdeps does), or grade with --unsafe-no-isolation")
    filter_path()
    # the course probe (seconds of its own) runs while the sandbox's start is tried
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reach = pool.submit(course_in_reach)
        _check_start()
        reach = reach.result()
    if reach:
        raise IsolationUnavailable(
            "a sandbox here could reach the course's code (the reference or the answer "
            f"keys): {'; '.join(reach)[:600]}. Report this as a bug of bngrade's masking")
    return None


def _check_start():
    """None if a sandbox starts here (judged on up to three tries); else raise."""
    for _attempt in range(3):  # a loaded machine may fail a start: judge on three
        p = prepare("inside", {"AS": 1280 << 20, "NPROC": 64, "NOFILE": 256, "CORE": 0},
                    ["--probe"])
        try:
            done = subprocess.run(p.argv, capture_output=True, timeout=120, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IsolationUnavailable(f"bubblewrap could not start a sandbox ({exc})") from None
        finally:
            p.finish()
        if done.returncode == 0:
            break
    if done.returncode != 0:
        raise IsolationUnavailable(
            f"cannot create a sandbox here: {_bwrap_cause(done.stderr, done.returncode)}. "
            "Grade with --unsafe-no-isolation to run student code without it")


COURSE_PROBE = """
import importlib, json, os, sys
for name in list(sys.modules):
    if name.split('.')[0] in ('bnlib', 'bngrade', 'bnbox'):
        del sys.modules[name]
sys.path[:] = [p for p in sys.path if p not in ('/bn', '/box', '')]
found = []
for name in ('bnlib', 'bngrade', 'bnlib.checks', 'bngrade.worker.keys'):
    try:
        module = importlib.import_module(name)
    except BaseException:
        continue
    found.append(f"`import {name}` imports {getattr(module, '__file__', None) or module}")
for path in PATHS:
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, ValueError):
        continue
    if text != MASK and text:  # a mask (the course's packages) or /dev/null (its files)
        found.append(f"{path} is readable")
print(json.dumps(found))
"""


def course_in_reach():
    """What of the course a sandbox's Python can reach (empty: nothing): checked by
    trying, in a real sandbox, to import ``bnlib`` and ``bngrade`` past the stub and to
    read their files (the answer keys among them) where this process has them."""
    import bngrade

    paths = []
    for module in (bnlib, bngrade):
        root = os.path.dirname(os.path.abspath(module.__file__))
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            paths += [os.path.join(folder, n) for n in names if n.endswith(".py")]
    done = run_probe(f"PATHS, MASK = {sorted(paths)!r}, {MASK!r}\n" + COURSE_PROBE,
                     {"AS": 1280 << 20, "NPROC": 64, "NOFILE": 256, "CORE": 0})
    if done.returncode != 0:
        return [f"the probe failed in the sandbox: {_bwrap_cause(done.stderr, done.returncode)}"]
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    """One sandbox process speaking :mod:`bngrade.sandbox.box.protocol` on its stdin/stdout."""

    def __init__(self, module, rlimits, view="scoring", isolated=True, use_seccomp=True):
        self.prepared = prepare(module, rlimits, (), view, isolated, use_seccomp=use_seccomp)
        self.workdir = self.prepared.cwd
        try:
            self.proc = subprocess.Popen(
                self.prepared.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, cwd=self.workdir, start_new_session=True)
        except BaseException:
            self.prepared.finish()
            raise
        track(self.proc)
        self.seen_oom = 0
        self.channel = Channel(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def kill(self):
        """End the sandbox: its first process, hence (pid namespace) every process in it."""
        _killpg(self.proc.pid)  # the session too (it is all there is unisolated)
        self.proc.wait()
        untrack(self.proc)
        self.prepared.finish()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def exit_code(self):
        return self.proc.poll()

    def out_of_memory(self):
        """Whether the kernel killed a process of this sandbox for want of memory since the
        last time this was asked (its control group's count; False without one)."""
        group = self.prepared.group
        if group is None:
            return False
        n = group.oom_kills()
        new, self.seen_oom = n > self.seen_oom, max(n, self.seen_oom)
        return new

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
