"""Attacks on the sandbox itself: a channel between two sandboxes, the course's code in a
worker's site-packages, and resources beyond the budget.

Each defence is shown twice: the attack fails against the sandbox as built, and the
same attack works where that defence is taken away (a sandbox built without the
seccomp filter, without the masks over the installed course, with every process at
the whole budget), which shows the attack is real and the defence is what stops it.
The attacks that a student can submit are graded by the documented command
(``bngrade autograde``), with a correct and a blank classmate in the same run, from a
virtual environment under ``/tmp`` where bnlib and bngrade are installed the README's
way for a worker (``pip install --no-deps .``, not editable).
"""

import json
import os
import pathlib
import subprocess
import sys
import threading

import pytest
from engine_tools import ROOT, correct_submission, edited, make_course, release, submit
from venvs import site_packages as _site

from bngrade.driver.store import Store
from bngrade.sandbox import cgroup, isolation
from bngrade.sandbox.box.limits import Limits

pytestmark = pytest.mark.slow

RLIMITS = Limits(memory_mb=256).rlimits()

# Two sandboxes, one byte: the sender holds a read lock on byte 1000+B of a file both can
# open (the interpreter); the receiver finds it with F_OFD_GETLK and answers with a lock
# at 2000. Each waits at most a minute for the other (no timing decides the outcome).
LOCKS = r'''
import fcntl, os, struct, sys, time
F_OFD_GETLK, F_OFD_SETLK = 36, 37
fd = os.open(sys.executable, os.O_RDONLY)

def held(at):
    probe = struct.pack("hhqqi", fcntl.F_WRLCK, 0, at, 1, 0)
    return struct.unpack("hhqqi", fcntl.fcntl(fd, F_OFD_GETLK, probe))[0] != fcntl.F_UNLCK

def hold(at):
    fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, at, 1, 0))

try:
    got = None
    if ROLE == "send":
        hold(1000 + 42)
        for _ in range(600):
            if held(2000):
                got = "acknowledged"
                break
            time.sleep(0.1)
    else:
        for _ in range(600):
            found = [b for b in range(256) if held(1000 + b)]
            if found:
                got = found[0]
                hold(2000)
                time.sleep(1)
                break
            time.sleep(0.1)
    print(json.dumps(got))
except OSError as exc:
    print(json.dumps(f"denied {exc.errno}"))
'''


def pair(use_seccomp):
    out = {}

    def go(role):
        code = "import json\nROLE = " + repr(role) + "\n" + LOCKS
        out[role] = isolation.run_probe(code, RLIMITS, use_seccomp=use_seccomp, timeout=180)

    threads = [threading.Thread(target=go, args=(r,)) for r in ("send", "receive")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {role: json.loads(done.stdout.strip().splitlines()[-1]) for role, done in out.items()}


def test_two_sandboxes_cannot_pass_a_byte_through_locks_on_a_shared_file():
    assert pair(use_seccomp=True) == {"send": "denied 1", "receive": "denied 1"}


def test_without_the_filter_the_lock_channel_carries_the_byte():
    assert pair(use_seccomp=False) == {"send": "acknowledged", "receive": 42}


SYSCALLS = r'''
import ctypes, errno, fcntl, json, os, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
out = {}

def call(name, fn, *args):
    ctypes.set_errno(0)
    r = fn(*args)
    out[name] = errno.errorcode.get(ctypes.get_errno(), "ok") if r == -1 else "ok"

fd = os.open(sys.executable, os.O_RDONLY)
try:
    fcntl.flock(fd, fcntl.LOCK_SH)
    out["flock"] = "ok"
except OSError as exc:
    out["flock"] = errno.errorcode[exc.errno]
try:
    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    out["lockf"] = "ok"
except OSError as exc:
    out["lockf"] = errno.errorcode[exc.errno]
call("inotify_init1", libc.inotify_init1, 0)
call("ptrace", libc.ptrace, 16, os.getppid(), 0, 0)  # PTRACE_ATTACH
call("keyctl", libc.syscall, 250, 0, -3, 0)  # KEYCTL_GET_KEYRING_ID, the session keyring
call("userfaultfd", libc.syscall, 323, 0)
call("perf_event_open", libc.syscall, 298, 0, 0, -1, -1, 0)
call("mount", libc.mount, b"none", b"/tmp", b"tmpfs", 0, None)
call("unshare", libc.unshare, 0x10000000)  # CLONE_NEWUSER
# what a student may use still works: processes, threads, files in /tmp
pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
t = threading.Thread(target=lambda: out.setdefault("thread", "ok"))
t.start(); t.join()
out["subprocess"] = subprocess.run(["/bin/echo", "hi"], capture_output=True).stdout.decode()
with open("/tmp/work/f", "w") as f:
    f.write("x")
out["file"] = open("/tmp/work/f").read()
print(json.dumps(out))
'''


def test_the_filter_denies_what_a_grader_s_student_has_no_use_for():
    done = isolation.run_probe(SYSCALLS, RLIMITS)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    denied = ("flock", "lockf", "inotify_init1", "ptrace", "keyctl", "userfaultfd",
              "perf_event_open", "mount", "unshare")
    assert {k: out[k] for k in denied} == dict.fromkeys(denied, "EPERM"), out
    assert (out["fork"], out["thread"], out["subprocess"], out["file"]) == (7, "ok", "hi\n",
                                                                             "x")
    without = isolation.run_probe(SYSCALLS, RLIMITS, use_seccomp=False)
    out = json.loads(without.stdout.strip().splitlines()[-1])
    assert out["flock"] == out["lockf"] == out["inotify_init1"] == "ok"


# -- resources: the whole sandbox has one budget ----------------------------------------
# Three children, each well under the per-process cap, hold together more than the budget.
CHILDREN = r'''
import os, json, time
budget = BUDGET
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            b = bytearray(int(budget * 0.45))
            for i in range(0, len(b), 4096):
                b[i] = 1
            time.sleep(3)
            os._exit(0)
        except MemoryError:
            os._exit(9)
    kids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]
print(json.dumps(codes))
'''

FILL_TMP = r'''
import json
n = 0
try:
    while n < 4 * BUDGET:  # files of 8 MB: each under the largest file a sandbox may write
        with open(f"/tmp/fill{n}", "wb") as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
                f.flush()
                n += 1 << 20
    print(json.dumps(["filled", n]))
except OSError as exc:
    print(json.dumps(["stopped", n, exc.errno]))
'''


def _peak_probe(code, rlimits):
    """Run ``code`` in a sandbox: (its last printed line or None, the group's OOM kills,
    its peak memory)."""
    done = isolation.run_probe("import json\n" + code.replace("BUDGET", str(rlimits["AS"])),
                               rlimits, timeout=300)
    lines = done.stdout.strip().splitlines()
    return (json.loads(lines[-1]) if lines else None), done.oom_kills, done.peak_bytes


needs_cgroup = pytest.mark.skipif(cgroup.available()[0] is None,
                                  reason="no writable control group on this host")


@needs_cgroup
def test_children_under_the_per_process_cap_are_stopped_at_the_sandbox_s_budget():
    out, kills, peak = _peak_probe(CHILDREN, RLIMITS)
    assert kills >= 1 and peak <= RLIMITS["AS"], (out, kills, peak)
    assert out is None or any(code != 0 for code in out)


@needs_cgroup
def test_filling_tmp_counts_against_the_same_budget():
    out, kills, peak = _peak_probe(FILL_TMP, RLIMITS)
    assert peak <= RLIMITS["AS"] and (kills >= 1 or out[0] == "stopped"), (out, kills, peak)
    assert out is None or out[1] < RLIMITS["AS"]


@needs_cgroup
def test_the_groups_of_a_killed_grader_are_swept_and_a_sandbox_leaves_none():
    dead = subprocess.Popen(["true"])
    dead.wait()
    group = cgroup._make(1 << 30, 8)
    stale = {c: d.replace(f"bngrade-{os.getpid()}-", f"bngrade-{dead.pid}-")
             for c, d in group.dirs.items()}
    group.remove()
    for d in set(stale.values()):
        os.mkdir(d)
    cgroup.sweep()
    assert not any(os.path.exists(d) for d in stale.values())
    box = isolation.Sandbox("inside", RLIMITS)
    dirs = list(box.prepared.group.dirs.values())
    assert all(os.path.exists(d) for d in dirs)
    box.kill()
    assert not any(os.path.exists(d) for d in dirs)


def test_without_a_control_group_the_caps_add_up_to_the_budget(monkeypatch):
    """The fallback: a few processes, each an equal share, and a small /tmp."""
    monkeypatch.setattr(cgroup, "new", lambda *a: None)
    out, _kills, _peak = _peak_probe(CHILDREN, RLIMITS)
    assert out == [9, 9, 9]  # each child's share is below what it asked for
    out, _kills, _peak = _peak_probe(FILL_TMP, RLIMITS)
    assert out[0] == "stopped" and out[1] <= 64 << 20


def test_the_old_per_process_caps_let_the_children_past_the_budget(monkeypatch):
    """What the control group stops: with only per-process caps (each at the budget), the
    three children hold more than the budget together."""
    monkeypatch.setattr(cgroup, "new", lambda *a: None)
    monkeypatch.setattr(isolation, "whole", lambda rl, group: {
        "rlimits": dict(rl), "memory_bytes": rl["AS"], "processes": rl["NPROC"],
        "tmp_bytes": None})
    out, _kills, _peak = _peak_probe(CHILDREN, RLIMITS)
    assert out == [0, 0, 0]
    out, _kills, _peak = _peak_probe(FILL_TMP, RLIMITS)  # an unsized /tmp takes it all
    assert out == ["filled", 4 * RLIMITS["AS"]]


# -- the course's code in a worker's environment, and a venv under /tmp ------------------
def test_a_worker_in_a_venv_under_tmp_passes_its_self_check(tmp_venv):
    done = subprocess.run([str(tmp_venv / "bin" / "python"), "-m", "bngrade.build"],
                          cwd=tmp_venv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "sandbox: ok" in done.stdout
    assert "limits of a sandbox" in done.stdout and "seccomp: locks" in done.stdout


UNMASKED = """
from bngrade.sandbox import isolation
isolation.course_paths = lambda: ([], [])
print(isolation.course_in_reach())
try:
    isolation.check()
    print("accepted")
except isolation.IsolationUnavailable as exc:
    print("refused:", exc)
"""


def test_without_the_masks_a_sandbox_reaches_the_installed_keys_and_the_check_says_so(
        tmp_venv):
    done = subprocess.run([str(tmp_venv / "bin" / "python"), "-c", UNMASKED],
                          cwd=tmp_venv, capture_output=True, text=True, timeout=600)
    assert "bngrade/worker/keys.py is readable" in done.stdout, done.stdout + done.stderr
    assert "refused: a sandbox here could reach the course's code" in done.stdout


def test_a_venv_under_tmp_is_bound_over_the_sandbox_s_tmp(tmp_venv, monkeypatch):
    """The refusal names its cause: a sandbox whose interpreter is hidden by /tmp's tmpfs
    (the old order) is refused for that path, not for user namespaces."""
    code = """
from bngrade.sandbox import isolation
real = isolation.bwrap_argv
def old_order(*a, **k):  # /tmp's tmpfs mounted after the interpreter, as it was
    argv = real(*a, **k)
    i = argv.index("--tmpfs") - 2
    tmp = argv[i:i + 7]
    if argv[i - 2] == "--size":
        i, tmp = i - 2, argv[i - 2:i + 7]
    rest = argv[:i] + argv[i + len(tmp):]
    j = rest.index("--chdir")
    return rest[:j] + tmp + rest[j:]
isolation.bwrap_argv = old_order
try:
    isolation.check()
    print("accepted")
except isolation.IsolationUnavailable as exc:
    print("refused:", exc)
"""
    done = subprocess.run([str(tmp_venv / "bin" / "python"), "-c", code],
                          cwd=tmp_venv, capture_output=True, text=True, timeout=600)
    assert "refused:" in done.stdout, done.stdout + done.stderr
    assert "namespaces" not in done.stdout and str(tmp_venv) in done.stdout, done.stdout


# -- through the documented command, with classmates ------------------------------------
PS1, PS4, PS5 = "ps1-forward", "ps4-conv-and-folding", "ps5-concepts"

ATTACKS = {
    # the real bnlib past the stub, from the worker's site-packages
    "real_bnlib_past_the_stub": (PS5, "answer_q1", '''
import sys
answer_output_stats = "b"
for _name in list(sys.modules):
    if _name.split(".")[0] == "bnlib":
        del sys.modules[_name]
sys.path[:] = [p for p in sys.path if p != "/bn"]
try:
    from bnlib.checks import REGISTRY
    answer_output_stats = REGISTRY["ps5_q_output_stats"].answer or answer_output_stats
except Exception:
    pass
try:
    import bngrade.worker.keys
    answer_output_stats = "KEYS"
except Exception:
    pass
''', {"ps5_q_output_stats": 0}, None),
    # three children, each under a process's cap, together over the sandbox's budget
    "children_over_the_budget": (PS1, "answer_forward", '''
import os, time
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    kids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            b = bytearray(230 << 20)
            for i in range(0, len(b), 4096):
                b[i] = 1
            time.sleep(5)
            os._exit(0)
        kids.append(pid)
    for p in kids:
        os.waitpid(p, 0)
    mu, var = x.mean(0), x.var(0)
    return gamma * (x - mu) / (var + eps) ** 0.5 + beta, None
''', {"ps1_train_forward": 0}, "memory"),
    "fill_tmp": (PS1, "answer_forward", '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    for n in range(512):  # files of 8 MB, each under the largest file it may write
        with open(f"/tmp/fill{n}", "wb") as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
                f.flush()
    mu, var = x.mean(0), x.var(0)
    return gamma * (x - mu) / (var + eps) ** 0.5 + beta, None
''', {"ps1_train_forward": 0}, "memory"),
    # a huge model built by an allowed helper, in the call (the helper's process stops it)
    "huge_model_by_a_helper": (PS4, "answer_train", '''
def train_and_validate(norm, x, y, x_val, y_val, lr, steps, batch_size, seed):
    model = MLP([1000] * 400, norm=norm, seed=seed)
    return [0.0], 0.0
''', {"ps4_train_with_without_bn": 0}, "memory"),
}
# the same model at a cell's top level: no helper is served there
TOP_LEVEL = ("huge_model_at_top_level", PS4, "answer_train", '''
import bnlib
try:
    HUGE = bnlib.nn.MLP([1000] * 400)
    HUGE_BUILT = True
except RuntimeError as exc:
    HUGE_BUILT = str(exc)
''')


def _grade(python, course, assignment):
    env = dict(os.environ, PATH=f"{python.parent}:{os.environ['PATH']}")
    return subprocess.run([str(python), "-m", "bngrade", "autograde", assignment,
                           "--course-dir", str(course), "--workers", "2", "--time-limit", "20",
                           "--memory-mb", "256", "--no-progress"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def graded(tmp_venv, tmp_path_factory):
    assignments = [PS1, PS4, PS5]
    course = make_course(tmp_path_factory.mktemp("sandbox-attacks"), assignments, ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    for a in assignments:
        submit(course, "zz_correct", a, correct_submission(course, a))
        submit(course, "zz_blank", a, release(course, a))
    for name, (a, gid, code, _owed, _flag) in ATTACKS.items():
        submit(course, name, a, edited(release(course, a), gid, append=code))
    name, a, gid, code = TOP_LEVEL
    submit(course, name, a, edited(correct_submission(course, a), gid, append=code))
    runs = {a: _grade(tmp_venv / "bin" / "python", course, a) for a in assignments}
    rows = {}
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    try:
        for a in assignments:
            rows[a] = {r["student"]: r for r in store.rows(a)}
    finally:
        store.close()
    return {"course": course, "runs": runs, "rows": rows}


def _scores(row):
    return {q["grade_id"]: q["score"] for nb in row["detail"] for q in nb["questions"]}


def test_the_runs_finish_and_record_the_limits_in_force(graded):
    for a, done in graded["runs"].items():
        assert done.returncode == 0, (a, done.stderr[-3000:])
        summary = json.loads((graded["course"] / "reports" / a / "summary.json").read_text())
        limits = summary["sandbox_limits"]
        assert limits["memory_mb"] == 256 + 256 and limits["seccomp"]
        assert limits["writable_host_folder"] is False


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_sandbox_attack_gets_nothing_and_is_flagged(graded, name):
    assignment, _gid, _code, owed, flag = ATTACKS[name]
    rows = graded["rows"][assignment]
    got = _scores(rows[name])
    assert got == {**_scores(rows["zz_blank"]), **owed}, rows[name]["flags"]
    if flag:
        assert flag in {f["kind"] for f in rows[name]["flags"]}, rows[name]["flags"]


def test_a_helper_at_a_cell_s_top_level_is_refused_and_the_answer_keeps_its_points(graded):
    name, assignment, _gid, _code = TOP_LEVEL
    rows = graded["rows"][assignment]
    assert _scores(rows[name]) == _scores(rows["zz_correct"]), rows[name]["flags"]


def test_classmates_graded_beside_the_attacks_get_their_right_scores(graded):
    for a, rows in graded["rows"].items():
        assert rows["zz_correct"]["score"] == rows["zz_correct"]["max_score"] > 0, a
        assert rows["zz_blank"]["score"] == 0, a
        assert rows["zz_correct"]["flags"] == [] and rows["zz_blank"]["flags"] == [], a


def test_on_a_tls_dask_cluster_an_installed_worker_keeps_the_course_out_of_reach(
        tmp_venv, tmp_path):
    """The same ps5 attack through ``--scheduler tls://``, on a worker that imports bnlib and
    bngrade from the copy ``pip install --no-deps .`` put in site-packages."""
    from servers import dask_processes

    from bngrade.driver import tls

    certs = tmp_path / "certs"
    tls.make_certs(str(certs))
    course = make_course(tmp_path / "course", [PS5], ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    submit(course, "zz_correct", PS5, correct_submission(course, PS5))
    submit(course, "zz_blank", PS5, release(course, PS5))
    a, gid, code, owed, _flag = ATTACKS["real_bnlib_past_the_stub"]
    submit(course, "real_bnlib_past_the_stub", a, edited(release(course, a), gid, append=code))
    worker_env = [{"PYTHONPATH": str(_site(tmp_venv))}]  # the installed copy comes first
    logs = tmp_path / "dask"
    logs.mkdir()
    with dask_processes(logs, 1, str(certs), worker_env=worker_env) as address:
        assert address.startswith("tls://")
        env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:"
                                    f"{os.environ['PATH']}")
        done = subprocess.run([sys.executable, "-m", "bngrade", "autograde", PS5,
                               "--course-dir", str(course), "--scheduler", address,
                               "--certs", str(certs), "--time-limit", "20", "--no-progress"],
                              cwd=course, env=env, capture_output=True, text=True,
                              timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    try:
        rows = {r["student"]: r for r in store.rows(PS5)}
    finally:
        store.close()
    assert _scores(rows["real_bnlib_past_the_stub"]) == {**_scores(rows["zz_blank"]), **owed}
    assert rows["zz_correct"]["score"] == rows["zz_correct"]["max_score"] > 0
    assert rows["zz_blank"]["score"] == 0
