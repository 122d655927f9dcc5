"""The system calls a sandbox may not make: a seccomp filter, built with libseccomp.

Every sandbox is started with this filter (bubblewrap loads it with ``--seccomp FD``
before the sandbox's first process runs; it holds for every process after). It
closes the channels that namespaces leave open between two sandboxes on one
machine, and the kernel interfaces a grader's student has no use for. Each call
below fails with EPERM (``clone3`` with ENOSYS, so the C library falls back to
``clone``, whose flags the filter can read):

- file locks: ``flock`` and ``fcntl``'s lock, lease and notify commands. Locks on
  a file both sandboxes can open (the Python binary, say) are visible across
  mount and pid namespaces: one sandbox could set a lock that the other tests,
  a bit at a time;
- change notification and page-cache probes: ``inotify_*``, ``fanotify_*``,
  ``mincore``;
- other processes and the kernel: ``ptrace``, ``process_vm_readv``/``writev``,
  ``keyctl``/``add_key``/``request_key`` (keyrings are per user, not per
  namespace), ``userfaultfd``, ``perf_event_open``, ``bpf``, ``kexec_*``,
  ``*_module``, ``acct``, ``swapon``/``swapoff``, ``reboot``;
- the sandbox's own walls: ``mount``, ``umount2``, ``pivot_root``, ``chroot``,
  the new mount API, ``unshare``, ``setns``, and ``clone`` with any namespace flag.

System calls of other architectures (32-bit calls from a 64-bit process) kill
the process: libseccomp's default for an architecture the filter was not built for.

``bpf()`` returns the filter as bytes (built once per process); ``memfd()`` a file
descriptor holding them, to hand to bubblewrap. Without libseccomp
(``pyseccomp``, or Debian's ``seccomp`` module) both raise :class:`Unavailable`.
"""

import errno
import functools
import os

# fcntl commands that lock, lease or notify (linux/fcntl.h)
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_SETLEASE, F_GETLEASE, F_NOTIFY = 1024, 1025, 1026
LOCK_COMMANDS = (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
                 F_SETLEASE, F_GETLEASE, F_NOTIFY)
# clone's namespace flags (linux/sched.h): NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
# NEWUSER, NEWPID, NEWNET
CLONE_NAMESPACES = (0x80, 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                    0x20000000, 0x40000000)
DENIED = (
    "flock", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "fanotify_init", "fanotify_mark", "mincore",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "keyctl", "add_key", "request_key", "userfaultfd", "perf_event_open", "bpf",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "acct", "swapon", "swapoff", "reboot", "syslog", "quotactl",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "name_to_handle_at", "open_by_handle_at",
)


class Unavailable(RuntimeError):
    """libseccomp cannot be loaded here: the message says what is missing."""


def _library():
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as first:
        try:
            import seccomp  # Debian's python3-seccomp, when the interpreter can see it
        except ImportError:
            raise Unavailable(
                f"the seccomp filter cannot be built: pyseccomp (pinned in requirements.lock) "
                f"or its libseccomp is missing ({first}); install the course's environment "
                "and the Debian package libseccomp2") from None
    return seccomp


def build(lib=None):
    """The filter as a libseccomp ``SyscallFilter`` (not loaded)."""
    sc = lib or _library()
    f = sc.SyscallFilter(sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)

    def rule(action, name, *args):
        try:
            f.add_rule(action, name, *args)
        except (OSError, RuntimeError, ValueError) as exc:
            if name in ("flock", "fcntl", "clone", "ptrace", "unshare", "mount"):
                raise Unavailable(f"the seccomp filter cannot deny {name}: {exc}") from None
            # a call this libseccomp does not know (newer than it): the kernel may not either

    for name in DENIED:
        rule(deny, name)
    for cmd in LOCK_COMMANDS:
        rule(deny, "fcntl", sc.Arg(1, sc.EQ, cmd))
    for flag in CLONE_NAMESPACES:
        rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags are behind a pointer: use clone
    return f


@functools.cache
def bpf():
    """The filter compiled to BPF (bytes), as ``bwrap --seccomp`` reads it."""
    f = build()
    fd = os.memfd_create("bngrade-seccomp-export", 0)
    try:
        with os.fdopen(fd, "w+b", closefd=False) as out:
            f.export_bpf(out)
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(fd, "rb", closefd=False) as inp:
            data = inp.read()
    except (OSError, RuntimeError) as exc:
        raise Unavailable(f"libseccomp could not export the filter: {exc}") from None
    finally:
        os.close(fd)
    if not data or len(data) % 8:
        raise Unavailable("libseccomp exported an empty or malformed filter")
    return data


def memfd(data=None):
    """A new file descriptor (inheritable, at offset 0) holding the filter."""
    data = bpf() if data is None else data
    fd = os.memfd_create("bngrade-seccomp", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd
