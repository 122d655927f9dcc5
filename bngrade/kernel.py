"""``python -m bngrade.kernel MEMORY UID_BASE -f CONNECTION_FILE ...``: a limited IPython kernel.

The in-kernel nbgrader run starts this instead of ``ipykernel_launcher``: the
kernel gets a memory cap and no core dumps and, when started as root, becomes a
user of its own (uid = gid = ``UID_BASE + pid``) that owns only its working
folder, so the student's code cannot signal the grader or another student's
processes, nor write to the course directory. ``UID_BASE`` 0 keeps the user.
"""

import os
import resource
import shutil
import sys


def become_own_user(uid_base, argv):
    """Copy the connection file into the working folder; switch to a unique uid."""
    uid = uid_base + os.getpid()
    home = os.getcwd()
    i = argv.index("-f") + 1
    private = os.path.join(home, ".kernel-connection.json")
    shutil.copyfile(argv[i], private)
    argv[i] = private
    for path in (home, private):
        os.chown(path, uid, uid)
    os.environ.update(HOME=home, IPYTHONDIR=os.path.join(home, ".ipython"),
                      MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
                      JUPYTER_RUNTIME_DIR=os.path.join(home, ".runtime"))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


if __name__ == "__main__":
    cap, uid_base = int(sys.argv.pop(1)), int(sys.argv.pop(1))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from ipykernel import kernelapp

    import bnlib.checks  # noqa: F401 (what every test cell imports; loaded while on standby)

    if uid_base and os.geteuid() == 0:
        become_own_user(uid_base, sys.argv)

    kernelapp.launch_new_instance()
