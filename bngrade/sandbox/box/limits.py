"""Resource limits of a sandbox: the numbers, and applying them before any student code runs.

Used on both sides: the grader builds a :class:`Limits` from the command line
and sends :meth:`Limits.rlimits` to the sandbox; the first thing the
sandbox's own Python does is :func:`enter`: set the limits, then become the
sandbox's own user (stdlib only, so this file is copied into the sandbox as
it is). Without capabilities a hard limit cannot be raised again.

Started as root, a sandbox has no user namespace: its first process keeps only
CAP_SETUID and CAP_SETGID and uses them once, to become a user id of its own
(unique per sandbox, unknown to the system), which clears them. The process
limit counts that user's processes: this sandbox's alone. (In a user namespace
mapped to root, the kernel would not enforce it.)
"""

import ctypes
import os
import resource
from dataclasses import asdict, dataclass

PR_SET_NO_NEW_PRIVS = 38


@dataclass(frozen=True)
class Limits:
    """What one submission's sandbox may use."""

    seconds: float = 30.0  # wall clock per answer cell and per graded call
    memory_mb: int = 1024  # address space the student's code may add to the interpreter's
    processes: int = 64  # processes of the sandbox (a fork bomb stops there)
    file_mb: int = 16  # largest file it may write (in its private tmpfs)
    open_files: int = 256

    def rlimits(self, base_mb=256, cpu_seconds=None):
        """``{name: value}`` for :func:`apply`: ``base_mb`` is the interpreter's own share."""
        cpu = int(cpu_seconds if cpu_seconds is not None else self.seconds * 20 + 30)
        return {"AS": (base_mb + self.memory_mb) << 20, "CPU": cpu, "NPROC": self.processes,
                "FSIZE": self.file_mb << 20, "NOFILE": self.open_files, "CORE": 0}

    def to_json(self):
        return asdict(self)


def apply(rlimits):
    """Set each limit, soft and hard (CPU: a soft limit 5 s before the hard one)."""
    for name, value in rlimits.items():
        value = int(value)
        hard = value + 5 if name == "CPU" else value
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, hard))


def become(uid):
    """Drop to ``uid`` (= gid), no supplementary groups, no way back, no new privileges."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("could not drop to the sandbox's user")


def enter(config):
    """What a sandbox does first: ``{"rlimits": {...}, "uid": int or None}``."""
    apply(config["rlimits"])
    if config.get("uid") is not None:
        become(int(config["uid"]))
