"""Clean stops: SIGTERM and SIGINT to the driver, and a dead Dask worker, leave nothing running.

A class with looping submissions is graded by the real command; mid-run the driver
gets the signal Slurm's ``scancel`` or a pod stop (SIGTERM) or Ctrl-C (SIGINT) sends.
Every process the run ever had (seen in the process tree while it ran), every process
running as one of its sandboxes' users, and every process whose command line names one
of its private folders must be gone within a few seconds; what was finished is in the
gradebook, sealed; the same command again grades the rest.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from engine_tools import (
    alive,
    by_student,
    children,
    cmdline,
    db_rows,
    descendants,
    edited,
    environ_with_venv,
    grade,
    make_course,
    source,
    submit,
)
from servers import dask_processes

from bngrade.sandbox.isolation import UID_BASE

pytestmark = pytest.mark.slow

LOOP = ("mu = x.mean(axis=0)", "mu = x.mean(axis=0)\n    while True:\n        pass")
FOLDER = re.compile(r"bngrade-(?:site|k|run|gb|unsafe)-[A-Za-z0-9_]+")
SETTLE = 5.0  # seconds everything has to be gone in


def looping_class(course, n=6):
    """Even students right (4 points), odd ones loop in ``batchnorm_forward`` (1: the
    question nbgrader scores in the kernel does not call it)."""
    right = source(course, "bn-mini")
    loop = edited(right, "answer_forward", *LOOP)
    for i in range(n):
        submit(course, f"s{i}", "bn-mini", loop if i % 2 else right)
    return {f"s{i}": 1.0 if i % 2 else 4.0 for i in range(n)}


def _uid(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(x for x in f if x.startswith("Uid:")).split()[1])
    except (OSError, StopIteration):
        return None


def sandbox_owner(uid):
    """The pid-derived part of a sandbox user id (``isolation.sandbox_uid``), or None."""
    return None if uid is None or uid < UID_BASE else (uid - UID_BASE) // 4096


class Watch:
    """What a run has: every process seen below the driver, its sandboxes' users, the
    private folders named on its command lines."""

    def __init__(self, root):
        self.root, self.pids, self.owners, self.folders = root, set(), set(), set()

    def look(self):
        for pid in descendants(self.root):
            self.pids.add(pid)
            self.folders.update(FOLDER.findall(cmdline(pid)))
        self.owners.update(pid % 65536 for pid in self.pids)

    def leftovers(self):
        """Processes of the run still alive (not zombies), with their command lines."""
        out = set(alive(self.pids))
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            pid = int(name)
            text = cmdline(pid)
            if sandbox_owner(_uid(pid)) in self.owners or \
                    any(folder in text for folder in self.folders):
                out.add(pid)
        return {pid: cmdline(pid)[:160] for pid in alive(out)}

    def settle(self, seconds=SETTLE):
        deadline = time.monotonic() + seconds
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.leftovers()


def recorded(course):
    try:
        return db_rows(course, "SELECT count(*) FROM bngrade_result")[0][0]
    except Exception:  # not created yet, or locked
        return 0


def sandboxes(pids):
    return [p for p in alive(pids) if "bnbox" in cmdline(p)]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_records_what_is_done_and_leaves_nothing(tmp_path, signame):
    course = make_course(tmp_path)
    expected = looping_class(course)
    cmd = [sys.executable, "-m", "bngrade", "autograde", "bn-mini", "--course-dir", str(course),
           "--workers", "2", "--time-limit", "60", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=environ_with_venv())
    watch, deadline = Watch(proc.pid), time.monotonic() + 240
    try:
        # the first right answer is recorded; looping ones hold both workers
        while recorded(course) < 1 or len(sandboxes(watch.pids)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "nothing to stop"
            watch.look()
            time.sleep(0.2)
        watch.look()
        assert watch.owners and watch.folders
        os.kill(proc.pid, getattr(signal, signame))
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=SETTLE)
        left = watch.settle(SETTLE - (time.monotonic() - stopped))
        assert left == {}, f"still running {time.monotonic() - stopped:.1f} s after {signame}"
    finally:
        for pid in alive(watch.pids) + [proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == 128 + getattr(signal, signame), err[-2000:]
    assert f"stopped by {signame}" in err and "run the same command again" in err
    summary = json.loads((course / "reports" / "bn-mini" / "summary.json").read_text())
    done = {s: score for s, score in db_rows(course, "SELECT student, score FROM bngrade_result")}
    assert summary["interrupted"] == {"signal": signame, "graded": len(done),
                                      "remaining": 6 - len(done)}
    assert 1 <= len(done) < 6 and all(expected[s] == score for s, score in done.items())
    assert f"This run was stopped by {signame}" in out
    check = subprocess.run([sys.executable, "-m", "bngrade", "verify", "bn-mini",
                            "--course-dir", str(course)], capture_output=True, text=True,
                           env=environ_with_venv())
    assert check.returncode == 0, check.stdout  # every recorded row matches its seal

    messages = []
    # the rest, quickly; a shorter limit regrades only rows with a step near it (none of
    # the recorded ones: a right answer's steps take well under a second here)
    summary = grade(course, time_limit=5, log=messages.append)
    assert f"{len(done)} up to date, {6 - len(done)} to grade" in " ".join(messages)
    assert {s: p["score"] for s, p in by_student(summary).items()} == expected
    assert summary["interrupted"] is None


@pytest.mark.parametrize("signame", ["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("nanny", [True, False], ids=["nanny", "no-nanny"])
def test_a_dead_dask_worker_leaves_nothing_running(tmp_path, signame, nanny):
    """The worker process dies while it grades a looping submission: its scoring sandbox
    and its kernel die with it (``bwrap --die-with-parent`` fires for the thread that
    started each; all its threads end with the process)."""
    course = make_course(tmp_path / "course")
    looping_class(course, 4)
    started = []
    with dask_processes(tmp_path, 1, nanny=nanny, started=started) as address:
        worker = started[1]
        if nanny:  # the worker is the nanny's spawned child
            worker_pid = next(c for c in children(worker.pid) if "spawn_main" in cmdline(c))
        else:
            worker_pid = worker.pid
        driver = subprocess.Popen(
            [sys.executable, "-m", "bngrade", "autograde", "bn-mini", "--course-dir",
             str(course), "--scheduler", address, "--time-limit", "60", "--no-progress"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env=environ_with_venv())
        watch, deadline = Watch(worker_pid), time.monotonic() + 240
        try:
            while len(sandboxes(watch.pids)) < 2 or recorded(course) < 1:
                assert driver.poll() is None and time.monotonic() < deadline, "no sandbox"
                watch.look()
                time.sleep(0.2)
            watch.look()
            os.kill(worker_pid, getattr(signal, signame))
            left = watch.settle()
            assert left == {}, f"{signame} to the worker left its sandboxes running"
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
            for pid in alive(watch.pids):
                os.kill(pid, signal.SIGKILL)


def test_a_stopped_driver_stops_its_tasks_on_dask_workers(tmp_path):
    """Dask cannot stop a running task: the worker kills the sandboxes and kernel of a
    task the stopped driver cancelled (the worker itself stays, for other runs)."""
    course = make_course(tmp_path / "course")
    looping_class(course, 4)
    started = []
    with dask_processes(tmp_path, 1, nanny=False, started=started) as address:
        worker = started[1].pid
        driver = subprocess.Popen(
            [sys.executable, "-m", "bngrade", "autograde", "bn-mini", "--course-dir",
             str(course), "--scheduler", address, "--time-limit", "60", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env=environ_with_venv())
        deadline = time.monotonic() + 240
        try:
            while len(sandboxes(descendants(worker))) < 2 or recorded(course) < 1:
                assert driver.poll() is None and time.monotonic() < deadline, "no sandbox"
                time.sleep(0.2)
            os.kill(driver.pid, signal.SIGTERM)
            stopped = time.monotonic()
            _out, err = driver.communicate(timeout=2 * SETTLE)  # it tells the scheduler
            assert driver.returncode == 128 + signal.SIGTERM, err[-2000:]

            def left():
                mine = [int(n) for n in os.listdir("/proc") if n.isdigit()
                        and sandbox_owner(_uid(int(n))) == worker % 65536]
                return alive(sandboxes(descendants(worker)) + mine)

            while left() and time.monotonic() - stopped < SETTLE:
                time.sleep(0.2)
            assert left() == [], "the cancelled task's sandboxes ran on"
            assert started[1].poll() is None  # the worker itself is still there
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
                driver.wait()
