"""Operating bngrade at scale: workers of another grader are refused, runs report their timings.

A worker whose bngrade/bnlib differs from the driver's (another version, or the same version
with edited code) must not grade: the run stops with an error naming both, and nothing is
recorded. Real Dask workers are started with a PYTHONPATH overlay that carries the other
grader; the driver is this checkout.
"""

import concurrent.futures as cf
import json
import os
import pathlib
import re
import shutil

import pytest
from engine_tools import edited, grade, make_course, source, submit
from servers import dask_processes, tls_folder

import bngrade
import bnlib
from bngrade import build
from bngrade.driver import engine, timing
from bngrade.results import Question, Submission
from bngrade.worker import task

V, B = bngrade.__version__, bnlib.__version__  # this grader's versions
NEWER = V + ".post1"  # a worker's bngrade of another version

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRONG = ("x.var(axis=0)", "x.var(axis=0, ddof=1)")


def other(fp, **changes):
    return dict(fp, **changes)


# ---------------------------------------------------------------- the fingerprint, unit by unit

def test_the_fingerprint_names_versions_and_a_digest_of_the_grading_code():
    fp = build.fingerprint()
    assert set(fp) == set(build.KEYS)
    import bngrade
    import bnlib

    assert fp["bngrade"] == bngrade.__version__ and fp["bnlib"] == bnlib.__version__
    assert len(fp["code"]) == 16 and int(fp["code"], 16) >= 0


def test_a_worker_refuses_a_driver_of_another_version_before_reading_the_submission():
    driver = other(build.fingerprint(), bngrade="9.9.9")
    payload = json.dumps({"build": driver, "isolated": True})  # nothing else: never read
    with pytest.raises(build.VersionMismatch) as err:
        task.grade_submission(payload)
    text = str(err.value)
    assert "bngrade 9.9.9" in text and f"bngrade {build.fingerprint()['bngrade']}" in text
    assert "worker pid " in text and "bngrade" in text.split("differ in: ")[1]


def test_same_version_with_edited_code_is_refused_too():
    driver = other(build.fingerprint(), code="0" * 16)
    with pytest.raises(build.VersionMismatch, match="differ in: code"):
        build.require(driver)
    with pytest.raises(build.VersionMismatch, match="differ in: bngrade, bnlib, code"):
        build.require(None)  # a driver too old to send its fingerprint


def test_the_driver_refuses_a_result_of_a_worker_that_did_not_refuse():
    fp = build.fingerprint()
    build.verify({"name": "tls://10.0.0.7:4000", "build": fp}, fp)
    with pytest.raises(build.VersionMismatch, match="tls://10.0.0.7:4000 runs bngrade 0.0.1"):
        build.verify({"name": "tls://10.0.0.7:4000", "build": other(fp, bngrade="0.0.1")}, fp)
    with pytest.raises(build.VersionMismatch, match="did not name itself"):
        build.verify({}, fp)  # a result of an older bngrade, which knew no fingerprint


class FakeBackend:
    """Hands back canned worker results, as a pool would."""

    slots = 2

    def __init__(self, results):
        self.results = results

    def submit(self, payload):
        future = cf.Future()
        student = json.loads(payload)["student"]
        future.set_result(self.results[student])
        return future

    def wait(self, futures, timeout=None):
        return set(futures), set()

    def recover(self, exc):
        return False

    def result(self, future):
        return future.result()


def _result(student, fp, seconds=2.0):
    return Submission("a", student, [], seconds, True, {"name": "w1", "build": fp}).to_json()


def test_dispatch_stops_at_a_mismatched_result_and_records_nothing_of_it():
    fp = build.fingerprint()
    todo = {s: (json.dumps({"student": s}), "h") for s in ("ann", "ben")}
    recorded = []
    backend = FakeBackend({"ann": _result("ann", fp), "ben": _result("ben", other(fp, code="x"))})
    with pytest.raises(build.VersionMismatch, match="differ in: code"):
        engine.dispatch(backend, todo, recorded.extend, progress=False)
    # ann's result (this grader's) may be recorded before the stop; ben's never
    assert [r.student for r, _ in recorded] in ([], ["ann"])


def test_the_run_clock_sums_phases_and_gives_quantiles():
    assert timing.stats([]) == {"n": 0, "total": 0.0, "median": None, "p95": None, "max": None}
    s = timing.stats(range(1, 101))
    assert (s["n"], s["median"], s["p95"], s["max"], s["total"]) == (100, 50, 95, 100, 5050)
    clock = timing.RunClock()
    fp = build.fingerprint()
    for i in range(4):
        future = object()
        clock.submitted(future)
        result = Submission.from_json(_result(f"s{i}", fp, seconds=1.0 + i))
        result.notebooks = [type("NB", (), {"timings": {"sandbox": 0.5},
                                            "questions": [Question("q", 1, 1.0)]})()]
        clock.arrived(future, result)
    with clock.phase("decode"):
        pass
    t = clock.summary()
    assert t["graded"] == 4 and t["workers"]["submission"]["max"] == 4.0
    assert t["workers"]["sandbox"]["n"] == 4 and t["queue"]["n"] == 4
    assert t["driver"]["total"] == pytest.approx(sum(t["driver"][p]["total"]
                                                     for p in timing.DRIVER_PHASES))


# ----------------------------------------------------------------- a real run's timings

@pytest.mark.slow
def test_summary_json_carries_consistent_timings(tmp_path):
    course = make_course(tmp_path)
    right = source(course, "bn-mini")
    for i in range(4):
        submit(course, f"s{i}", "bn-mini", right if i % 2 else edited(right, "answer_forward",
                                                                       *WRONG))
    grade(course)
    t = json.loads((course / "reports" / "bn-mini" / "summary.json").read_text())["timings"]
    assert t["graded"] == 4 and set(t["phases"]) == {"plan", "grading", "report"}
    assert sum(t["phases"].values()) == pytest.approx(t["wall"], abs=0.05)
    d, w = t["driver"], t["workers"]
    assert d["total"] == pytest.approx(sum(d[p]["total"] for p in timing.DRIVER_PHASES))
    assert d["per_submission"] == pytest.approx(d["total"] / 4)
    assert all(d[p]["total"] > 0 for p in timing.DRIVER_PHASES)  # every phase was timed
    assert d["total"] < t["phases"]["grading"]
    sub = w["submission"]
    assert sub["n"] == 4 and 0 < sub["median"] <= sub["p95"] <= sub["max"]
    assert sub["max"] < t["phases"]["grading"]  # a task is timed inside the grading phase
    for phase in ("template", "sandbox", "feedback"):
        assert w[phase]["n"] == 4 and w[phase]["max"] <= sub["max"]
    assert t["queue"]["n"] == 4 and t["queue"]["median"] >= 0
    assert t["workers_one_driver_serves"] == pytest.approx(sub["total"] / 4 / d["per_submission"])
    from bngrade.driver import cli

    assert cli.main(["summary", "bn-mini", "--course-dir", str(course)]) == 0
    again = json.loads((course / "reports" / "bn-mini" / "summary.json").read_text())
    assert again["timings"] == t  # `bngrade summary` keeps the last run's timings
    again = grade(course)  # nothing to grade: no worker figures, still a wall time
    assert again["timings"]["graded"] == 0 and again["timings"]["workers"]["submission"]["n"] == 0
    assert "## Timings" in (course / "reports" / "bn-mini" / "summary.md").read_text()


# ---------------------------------------------------- real Dask workers of another grader

def _overlay(folder, package, edit):
    """``folder`` on a worker's PYTHONPATH: a copy of ``package`` with ``edit`` applied."""
    shutil.copytree(ROOT / package, folder / package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    path, old, new = edit
    target = folder / package / path
    text = target.read_text()
    assert text.count(old) == 1
    target.write_text(text.replace(old, new))
    return {"PYTHONPATH": str(folder)}


@pytest.fixture(scope="module")
def mixed_cluster(tmp_path_factory):
    """Three workers: this grader, bngrade of another version, bnlib with an edited checker;
    yields the scheduler's address and the driver's ``Security`` (mutual TLS) and
    certificates folder."""
    from bngrade.driver import tls

    base = tmp_path_factory.mktemp("overlays")
    newer = _overlay(base / "newer", "bngrade",
                     ("__init__.py", f'__version__ = "{V}"', f'__version__ = "{NEWER}"'))
    edited_checker = _overlay(base / "edited", "bnlib",
                              ("checks/ps1.py", '"""Checks for ps1-forward',
                               '"""Checks (edited, same version) for ps1-forward'))
    certs = tls_folder(tmp_path_factory.mktemp("dask-mixed-certs"))
    with dask_processes(tmp_path_factory.mktemp("dask-mixed"), 3, certs,
                        worker_env=[{}, newer, edited_checker]) as address:
        yield address, tls.security(certs), certs


@pytest.mark.slow
def test_the_handshake_refuses_a_cluster_with_another_grader_naming_each_worker(
        tmp_path, mixed_cluster):
    from distributed import Client

    address, security, _ = mixed_cluster
    with Client(address, timeout=30, security=security) as client:
        names = {info["name"]: addr for addr, info in client.scheduler_info()["workers"].items()}
    course = make_course(tmp_path)
    submit(course, "ann", "bn-mini", source(course, "bn-mini"))
    with pytest.raises(build.VersionMismatch) as err:
        grade(course, scheduler=address, security=security)
    text = str(err.value)
    assert "2 of 3 workers" in text and f"worker {names['w1']} runs" not in text
    assert f"worker {names['w2']} runs bngrade {NEWER}, bnlib {B}" in text
    code = re.search(rf"worker {re.escape(names['w3'])} runs bngrade {re.escape(V)}, "
                     rf"bnlib {re.escape(B)} \(code (\w+),", text)
    assert code and code.group(1) != build.fingerprint()["code"]  # same versions, edited code
    assert not (course / "gradebook.db").exists() or _rows(course) == []


@pytest.mark.slow
def test_a_worker_that_joins_later_refuses_its_tasks_and_the_run_records_none(
        tmp_path, mixed_cluster, monkeypatch):
    """Without the handshake (a worker joining after it), each task refuses on the worker."""
    from bngrade.driver import backends

    monkeypatch.setattr(backends.DaskBackend, "handshake", lambda self, fp, isolated: None)
    address, security, _ = mixed_cluster
    course = make_course(tmp_path)
    right = source(course, "bn-mini")
    for i in range(6):
        submit(course, f"s{i}", "bn-mini", right)
    with pytest.raises(build.VersionMismatch) as err:
        grade(course, scheduler=address, security=security)
    text = str(err.value)
    assert "worker tls://" in text or "worker tcp://" in text
    assert f"but this driver runs bngrade {V}" in text
    assert all(r[2] == 4.0 for r in _rows(course))  # only good workers' results, all right


@pytest.mark.slow
def test_the_command_says_which_worker_differs_and_exits_2(tmp_path, mixed_cluster, capsys):
    from bngrade.driver import cli

    course = make_course(tmp_path)
    submit(course, "ann", "bn-mini", source(course, "bn-mini"))
    address, _, certs = mixed_cluster
    code = cli.main(["autograde", "bn-mini", "--course-dir", str(course), "--scheduler",
                     address, "--certs", certs, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and f"runs bngrade {NEWER}" in err and f"driver's grader (bngrade {V}" in err
    assert not (course / "reports").exists()


def _rows(course):
    import sqlite3

    with sqlite3.connect(course / "gradebook.db") as db:
        try:
            return db.execute("SELECT student, input_hash, score FROM bngrade_result").fetchall()
        except sqlite3.OperationalError:
            return []


# ------------------------------------------------------------- the README's cluster recipes

def _readme_block(marker):
    """The README's fenced bash block holding ``marker``, as commands (continuations joined,
    comments dropped)."""
    text = (ROOT / "README.md").read_text()
    block = next(b for b in text.split("```bash\n")[1:] if marker in b.split("```")[0])
    lines = block.split("```")[0].replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#.*$", "", ln).strip() for ln in lines
            if ln.strip() and not ln.lstrip().startswith("#")]


def test_cluster_security_holds_every_role_for_a_cluster_manager(tmp_path):
    from bngrade.driver import tls

    tls.make_certs(str(tmp_path))
    sec = tls.cluster_security(str(tmp_path))
    assert sec.require_encryption
    for role in tls.ROLES:  # what dask-jobqueue writes into each job's `dask worker` line
        cfg = sec.get_tls_config_for_role(role)
        assert cfg["cert"].endswith(f"{role}.pem") and cfg["key"].endswith(f"{role}-key.pem")
    (tmp_path / "worker-key.pem").unlink()
    with pytest.raises(ValueError, match="worker-key.pem is missing"):
        tls.cluster_security(str(tmp_path))


@pytest.mark.slow
def test_the_readme_worker_environment_check_runs_as_printed():
    import subprocess
    import sys

    [check] = [c for c in _readme_block("python -m bngrade.build") if "bngrade.build" in c]
    cmd = check.replace("/opt/bn-env/bin/", os.path.dirname(sys.executable) + "/")
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert build.describe(build.fingerprint()) in done.stdout and "sandbox: ok" in done.stdout


@pytest.mark.slow
def test_the_readme_tls_cluster_commands_grade_as_printed(tmp_path):
    """The README's certificates, scheduler, worker and driver lines, on 127.0.0.1 (a free
    port, one worker process, the test course), each run by the shell as printed."""
    import subprocess
    import sys
    import time

    from distributed import Client
    from servers import free_port

    from bngrade.driver import tls

    certs, port = tmp_path / "certs", free_port()
    bin_dir = os.path.dirname(sys.executable)

    def adapt(cmd):
        return (cmd.replace("~/.config/bngrade/cluster", str(certs))
                .replace(".venv/bin/", bin_dir + "/").replace("SCHEDULER", "127.0.0.1")
                .replace("8786", str(port)).replace("--nworkers 8", "--nworkers 1")
                .replace("ps1-forward", "bn-mini"))

    commands = [adapt(c) for c in _readme_block("dask scheduler --protocol tls")]
    setting = next(c for c in commands if c.startswith("C="))
    env = dict(os.environ, C=setting.split("=", 1)[1],
               PATH=bin_dir + os.pathsep + os.environ["PATH"])
    certs_cmd, scheduler, worker, driver = (
        next(c for c in commands if key in c)
        for key in (" certs ", "dask scheduler", "dask worker", "autograde"))
    course = make_course(tmp_path / "course")
    right = source(course, "bn-mini")
    submit(course, "ann", "bn-mini", right)
    submit(course, "ben", "bn-mini", edited(right, "answer_forward", *WRONG))
    assert subprocess.run(certs_cmd, shell=True, env=env, timeout=120).returncode == 0
    logs, procs = [], []
    try:
        for cmd in (scheduler, worker):
            logs.append(open(tmp_path / f"{len(logs)}.log", "w"))
            procs.append(subprocess.Popen(cmd, shell=True, env=env, stdout=logs[-1],
                                          stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(f"tls://127.0.0.1:{port}", security=tls.security(str(certs)),
                            timeout=5) as client:
                    if client.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
                [open(f.name).read()[-2000:] for f in logs]
            time.sleep(1)
        done = subprocess.run(driver + " --no-progress", shell=True, env=env, cwd=course,
                              capture_output=True, text=True, timeout=600)
    finally:
        for p in procs:
            os.killpg(p.pid, 15)
        for p in procs:
            p.wait(30)
        for f in logs:
            f.close()
    assert done.returncode == 0, done.stderr
    assert "| ann | 4 / 4 |" in done.stdout and "| ben | 1 / 4 |" in done.stdout
    summary = json.loads((course / "reports" / "bn-mini" / "summary.json").read_text())
    assert summary["timings"]["graded"] == 2


@pytest.mark.slow
def test_the_scale_bench_runs_a_small_loopback_class():
    """bench/bench_scale.py at 10 submissions (the figures are the bench's, not asserted)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_scale.py"), "loopback",
                           "--n", "10", "--workers", "1", "--projection"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "10 submissions of ps1-forward" in out and "graded and recorded 10 in" in out
    assert re.search(r"driver / worker per submission: 1/\d+", out)
    assert "projection: 2,000 students x 1 assignments" in out and "core-hours" in out


@pytest.fixture(scope="module")
def sandboxless_cluster(tmp_path_factory):
    """One worker of this grader on a machine without bubblewrap (not on its PATH)."""
    import sys

    path = {"PATH": os.path.dirname(sys.executable)}
    with dask_processes(tmp_path_factory.mktemp("dask-nobwrap"), 1,
                        worker_env=[path]) as address:
        yield address


@pytest.mark.slow
def test_a_worker_that_cannot_make_a_sandbox_is_refused(tmp_path, sandboxless_cluster,
                                                         monkeypatch):
    from bngrade.driver import backends

    course = make_course(tmp_path)
    submit(course, "ann", "bn-mini", source(course, "bn-mini"))
    with pytest.raises(build.WorkerRefused, match="cannot make a sandbox: bubblewrap"):
        grade(course, scheduler=sandboxless_cluster)  # the handshake
    monkeypatch.setattr(backends.DaskBackend, "handshake", lambda self, fp, isolated: None)
    with pytest.raises(build.WorkerRefused, match="cannot grade: bubblewrap"):
        grade(course, scheduler=sandboxless_cluster)  # a worker that joined later: its task
    assert _rows(course) == []
