"""Limits on a whole sandbox through a control group: memory (its processes and its tmpfs
together) and a number of processes.

A sandbox's first process (``bwrap``) is put in a group of its own before it
starts anything (``/bin/sh`` writes its pid to the group, then becomes ``bwrap``):
every process of the sandbox is born there and every page it charges, the files
of its ``/tmp`` included, counts against one budget. The memory limit covers
swap too. When the budget is spent, the kernel kills a process of that group
and no other; :meth:`Group.oom_kills` tells the grader so.

Two layouts are used, whichever this host lets this process write:

- cgroup v1 (``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/pids``, writable as
  root), groups made below this process's own;
- cgroup v2 (``/sys/fs/cgroup`` or ``/sys/fs/cgroup/unified``) where this process's
  group is delegated to it with the ``memory`` and ``pids`` controllers enabled.

:func:`available` says which (or why none), once per process; :func:`new` makes a
group, or returns None where none can be made.
"""

import functools
import itertools
import os
import threading
import time

ROOT = "/sys/fs/cgroup"
_counter, _lock = itertools.count(1), threading.Lock()


def _own(controller):
    """This process's group in the v1 hierarchy of ``controller`` ("" for v2), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _num, names, path = line.rstrip("\n").split(":", 2)
                if controller in names.split(",") or (controller == "" and names == ""):
                    return path
    except OSError:
        pass
    return None


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def _v1_parents():
    parents = {}
    for controller in ("memory", "pids"):
        own = _own(controller)
        base = os.path.join(ROOT, controller)
        if own is None or not os.path.isfile(os.path.join(base, "cgroup.procs")):
            return None
        parents[controller] = os.path.join(base, own.lstrip("/"))
    return parents


def _v2_parent():
    own = _own("")
    if own is None:
        return None
    for mount in (ROOT, os.path.join(ROOT, "unified")):
        parent = os.path.join(mount, own.lstrip("/"))
        try:
            with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                enabled = f.read().split()
        except OSError:
            continue
        if {"memory", "pids"} <= set(enabled) and os.access(parent, os.W_OK):
            return parent
    return None


class Group:
    """One sandbox's control group (one directory per hierarchy)."""

    def __init__(self, kind, dirs):
        self.kind, self.dirs = kind, dirs  # kind: "v1" or "v2"; dirs: {controller: path}

    def procs_files(self):
        """The files the sandbox's first process writes its pid to."""
        return sorted({os.path.join(d, "cgroup.procs") for d in self.dirs.values()})

    def empty(self):
        """Whether no process is in the group (any more)."""
        return all(_empty(d) for d in set(self.dirs.values()))

    def oom_kills(self):
        """How many processes the kernel killed in this group for want of memory."""
        if self.kind == "v1":
            name, key = "memory.oom_control", "oom_kill"
        else:
            name, key = "memory.events", "oom_kill"
        try:
            with open(os.path.join(self.dirs["memory"], name)) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key:
                        return int(parts[1])
        except OSError:
            pass
        return 0

    def peak_bytes(self):
        name = "memory.max_usage_in_bytes" if self.kind == "v1" else "memory.peak"
        try:
            with open(os.path.join(self.dirs["memory"], name)) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove(self):
        """Remove the group once its processes are gone (a few tries: they die in turn)."""
        for path in set(self.dirs.values()):
            for attempt in range(10):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02 * (attempt + 1))


def _empty(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return not f.read().strip()
    except OSError:
        return False


def sweep():
    """Remove the empty groups of grader processes that are gone (a worker killed before
    it could remove its sandboxes' groups)."""
    parents = set((_v1_parents() or {}).values())
    v2 = _v2_parent()
    if v2:
        parents.add(v2)
    for parent in parents:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            if not name.startswith("bngrade-"):
                continue
            try:
                pid = int(name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not os.path.exists(f"/proc/{pid}") and \
                    _empty(os.path.join(parent, name)):
                try:
                    os.rmdir(os.path.join(parent, name))
                except OSError:
                    pass


@functools.cache
def available():
    """``("v1" | "v2", None)`` where groups can be made here, else ``(None, why)``."""
    try:
        group = _make(1 << 30, 8)
    except OSError as exc:
        return None, f"no writable memory and pids control groups ({exc})"
    if group is None:
        return None, ("no writable memory and pids control groups (cgroup v1 not writable, "
                      "cgroup v2 not delegated to this process)")
    group.remove()
    sweep()
    return group.kind, None


def _make(memory_bytes, processes):
    with _lock:
        name = f"bngrade-{os.getpid()}-{next(_counter)}"
    parents = _v1_parents()
    if parents is not None and all(os.access(p, os.W_OK) for p in parents.values()):
        dirs = {c: os.path.join(p, name) for c, p in parents.items()}
        made = []
        try:
            for d in dirs.values():
                os.mkdir(d, 0o755)
                made.append(d)
            mem = dirs["memory"]
            _write(os.path.join(mem, "memory.limit_in_bytes"), memory_bytes)
            if os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes")):
                _write(os.path.join(mem, "memory.memsw.limit_in_bytes"), memory_bytes)
            _write(os.path.join(dirs["pids"], "pids.max"), processes)
        except OSError:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise
        return Group("v1", dirs)
    parent = _v2_parent()
    if parent is None:
        return None
    d = os.path.join(parent, name)
    os.mkdir(d, 0o755)
    try:
        _write(os.path.join(d, "memory.max"), memory_bytes)
        if os.path.exists(os.path.join(d, "memory.swap.max")):
            _write(os.path.join(d, "memory.swap.max"), 0)
        _write(os.path.join(d, "pids.max"), processes)
    except OSError:
        os.rmdir(d)
        raise
    return Group("v2", {"memory": d, "pids": d})


def new(memory_bytes, processes):
    """A group limited to ``memory_bytes`` and ``processes``, or None (:func:`available`)."""
    if available()[0] is None:
        return None
    return _make(memory_bytes, processes)
