"""The zygote: a clean, pre-imported Python that forks one sandbox child per job.

``python -m bngrade.zygote FD`` is started once per grading worker. It imports
numpy, bnlib (every module) and the checkers, then serves jobs on the Unix
socket ``FD``: a job is a length-prefixed JSON body that arrives with the write
end of a fresh pipe. The zygote forks; the child puts itself in a new process
group, limits itself and runs :func:`bngrade.child.run` writing to that pipe.
The zygote replies ``{"pid": ...}`` at once and ``{"pid", "exit", "signal"}``
when the child has ended. The zygote itself never runs student code, so every
child starts from the same clean state, in milliseconds.
"""

import importlib
import json
import os
import pkgutil
import resource
import socket
import struct
import sys

import numpy  # noqa: F401 (loaded once, shared by every child)

import bnlib
import bnlib.checks

from . import child

HEADER = struct.Struct("!Q")


def preload():
    """Import every bnlib module now, so the poison reaches all of them."""
    for info in pkgutil.walk_packages(bnlib.__path__, "bnlib."):
        importlib.import_module(info.name)


def address_space():
    """This process's current virtual size in bytes (the child's starting point)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _recv_job(sock):
    first, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 1)
    if not first:
        return None, None
    size = HEADER.unpack_from(first)[0]
    body = bytearray(first[HEADER.size:])
    while len(body) < size:
        chunk = sock.recv(min(1 << 20, size - len(body)))
        if not chunk:
            return None, None
        body += chunk
    return json.loads(body), fds[0]


def _start_child(job, out_fd, sock):
    limits = dict(job["limits"])
    limits["address_space"] = address_space() + limits["memory_bytes"]
    pid = os.fork()
    if pid:
        return pid
    status = 70
    try:
        sock.close()
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        child.limit(limits)
        child.drop_root(job.get("uid_base"))
        child.run(job, out_fd)
    finally:
        os._exit(status)


def serve(sock):
    """Answer jobs until the worker closes the socket."""
    while True:
        job, out_fd = _recv_job(sock)
        if job is None:
            return
        pid = _start_child(job, out_fd, sock)
        os.close(out_fd)
        sock.sendall((json.dumps({"pid": pid}) + "\n").encode())
        _, status = os.waitpid(pid, 0)
        reply = {"pid": pid, "exit": os.waitstatus_to_exitcode(status)}
        sock.sendall((json.dumps(reply) + "\n").encode())


def main():
    preload()
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.sendall(b'{"ready": true}\n')
    serve(sock)


if __name__ == "__main__":
    main()
