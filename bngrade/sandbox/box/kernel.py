"""The in-kernel run's kernel, inside a sandbox: limits first, then a plain IPython kernel.

Started by :mod:`bngrade.kernels` as ``python -I`` under bubblewrap (this file
is copied into the sandbox as ``bnbox.kernel``): ``main RLIMITS -f CONNECTION``.
The connection file and the kernel's ``ipc`` sockets live in a folder of
their own, the only one bound writable into the sandbox, so the grader's
client outside talks to the kernel without any network.
"""

import json
import sys

from . import limits


def main():
    limits.enter(json.loads(sys.argv.pop(1)))
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
