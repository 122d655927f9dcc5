"""The adversarial catalogue: submissions written against the public code, graded by the CLI.

One course with the six real assignments; in each, a correct and a blank classmate
are graded in the same run as the attacks, by ``bngrade autograde`` exactly as the
README documents it. For every attack: it scores what an honest grader owes, no
classmate's score or flags change, no file outside ``autograded/``, ``feedback/``
and ``reports/`` changes (the gradebook is the driver's), no process of the run is
alive afterwards. Attacks act only on their own run: they find the course through
their own process ancestry (or are given its path, which is stronger) and never
signal processes by name.

``test_without_the_sandbox_the_attacks_work`` grades the attacks that need an OS
boundary with ``--unsafe-no-isolation``: there they succeed, which shows that each
is a real attack and that the sandbox is what stops it.
"""

import hashlib
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
from engine_tools import ROOT, correct_submission, edited, make_course, release, submit
from exercise_tools import manual_points

from bngrade.driver.store import Store

pytestmark = pytest.mark.slow

BNGRADE = str(pathlib.Path(sys.executable).parent / "bngrade")
ASSIGNMENTS = ["ps1-forward", "ps2-backward", "ps3-inference", "ps4-conv-and-folding",
               "ps5-concepts", "ps6-in-practice"]
PS1, PS4, PS5, PS6 = "ps1-forward", "ps4-conv-and-folding", "ps5-concepts", "ps6-in-practice"
POINTS = {"ps1_train_forward": 3.0, "ps1_worked_examples": 2.0, "ps1_inference_forward": 3.0}
STUB = "raise NotImplementedError()"  # what the release's answer cells hold in place of code

# Find the course as a student would: up the process ancestry, for a --course-dir argument
# or a working directory with a gradebook. Inside a sandbox the ancestry ends in the sandbox.
FIND_COURSE = '''
def _find_course():
    import os
    pid, seen = os.getpid(), []
    while pid > 1 and pid not in seen:
        seen.append(pid)
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
            argv = [a.decode() for a in argv]
            if "--course-dir" in argv:
                return argv[argv.index("--course-dir") + 1]
            cwd = os.readlink(f"/proc/{pid}/cwd")
            if os.path.exists(os.path.join(cwd, "gradebook.db")):
                return cwd
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    return None
'''

ATTACKS = {
    # -- detection, not absence: the reference is not there to be reached -------------------
    "profile_hook_off": (PS1, "answer_forward", '''
import sys, threading
sys.setprofile(None)
threading.setprofile(None)
import bnlib
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    sys.setprofile(None)
    return bnlib.batchnorm_forward(x, gamma, beta, eps)
''', {"ps1_train_forward": 0}),
    "reference_from_a_thread": (PS1, "answer_forward", '''
import threading, bnlib
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    box = {}
    t = threading.Thread(target=lambda: box.update(y=bnlib.batchnorm_forward(x, gamma, beta,
                                                                              eps)))
    t.start(); t.join()
    return box["y"]
''', {"ps1_train_forward": 0}),
    "copy_of_bnlib_under_another_name": (PS1, "answer_forward", '''
import importlib, os, shutil, sys, tempfile
def _find():
    roots = {"/work", "/tmp", "/bn", "/box"} | {p for p in sys.path if p}
    for top in sorted(roots):
        for d, dirs, files in os.walk(top):
            if d.count(os.sep) - top.count(os.sep) > 3:
                dirs[:] = []
            if "batchnorm.py" in files and "np." in open(os.path.join(d, "batchnorm.py")).read():
                return d
FOUND = _find()
if FOUND:
    _copy = os.path.join(tempfile.mkdtemp(), "mylib")
    shutil.copytree(FOUND, _copy)
    sys.path.insert(0, os.path.dirname(_copy))
    mine = importlib.import_module("mylib")
    def batchnorm_forward(x, gamma, beta, eps=1e-5):
        return mine.batchnorm_forward(x, gamma, beta, eps)
''', {"ps1_train_forward": 0}),
    "value_part_from_the_reference": (PS1, "answer_examples", '''
import numpy as np, bnlib
_x = np.array([[2.0], [4.0], [6.0], [8.0]])
x_hat_A = bnlib.batchnorm_forward(_x, [1.0], [0.0], 1e-300)[0].ravel()
y_B = bnlib.batchnorm_forward(_x, [2.0], [1.0], 1e-300)[0].ravel()
mean_y_B, var_y_B = float(y_B.mean()), float(y_B.var())
''', {"ps1_worked_examples": 0}),
    # -- the student's process holds no secret and no channel it can use ------------------
    "forge_replies_on_the_channel": (PS1, "answer_forward", '''
import json, os
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    for fd in range(3, 64):
        for n in range(1, 40):
            try:
                os.write(fd, (json.dumps({"re": n, "ok": True, "out": {"__tuple__": []}})
                              + "\\n").encode())
            except OSError:
                break
    return x
''', {"ps1_train_forward": 0}),
    "ps5_key_from_the_package": (PS5, "answer_q1", '''
answer_output_stats = "b"
try:
    from bnlib.checks.ps5_questions import QUESTIONS
    for gid, _q, choices in QUESTIONS:
        for letter, option in choices.items():
            if isinstance(option, tuple) and option[1] is None and gid == "ps5_q_output_stats":
                answer_output_stats = letter
    from bnlib.checks import REGISTRY
    answer_output_stats = REGISTRY["ps5_q_output_stats"].answer or answer_output_stats
except Exception:
    pass
''', {"ps5_q_output_stats": 0}),
    "the_checkers_own_training_loop": (PS4, "answer_train", '''
from bnlib.data import train
def train_and_validate(norm, x, y, x_val, y_val, lr, steps, batch_size, seed):
    model = MLP([x.shape[1], 32, 32, int(y.max()) + 1], norm=norm, seed=seed)
    hist = train(model, x, y, lr, steps, batch_size, seed=seed)
    model.eval()
    return hist["loss"], float((model(x_val).argmax(axis=1) == y_val).mean())
''', {"ps4_train_with_without_bn": 0}),
    "adabn_by_the_chapters_function": (PS6, "answer_adabn", '''
from bnlib import BatchNorm2d
from bnlib.convnet import Conv2d, ConvNet, ReLU
from bnlib.wild import reestimate_bn
def adapt_statistics(x, blocks, batch_size, seed):
    layers = []
    for b in blocks:
        conv = Conv2d(b["weight"].shape[1], b["weight"].shape[0])
        conv.w, conv.b = b["weight"], b["bias"]
        bn = BatchNorm2d(len(b["gamma"]), eps=b["eps"])
        bn.gamma, bn.beta = b["gamma"], b["beta"]
        layers += [conv, bn, ReLU()]
    net = reestimate_bn(ConvNet(layers), x, batch_size, seed)
    return [(bn.running_mean, bn.running_var) for bn in net.norms()]
''', {"ps6_adabn": 0}),
    "group_norm_from_the_package": (PS6, "answer_groupnorm_forward", '''
import bnlib
def groupnorm_forward(x, gamma, beta, num_groups, eps=1e-5):
    return bnlib.groupnorm_forward(x, gamma, beta, num_groups, eps)
''', {"ps6_groupnorm_forward": 0, "ps6_groupnorm_backward": 0}),
    # -- no filesystem, process or network boundary to cross --------------------------------
    "steal_the_solution_and_classmates": (PS1, "answer_forward", FIND_COURSE + '''
import glob, json, os
COURSE = _find_course() or COURSE_PATH
STOLEN = []
for path in glob.glob(os.path.join(COURSE, "submitted", "zz_correct", "ps1-forward", "*.ipynb")) + \
        glob.glob(os.path.join(COURSE, "solutions", "ps1-forward", "*.ipynb")):
    try:
        cells = json.load(open(path))["cells"]
    except (OSError, ValueError):
        continue
    STOLEN.append(path)
    for cell in cells:
        text = "".join(cell["source"])
        if text.startswith("def batchnorm_forward") and "np.sqrt" in text and \
                len(STOLEN) == 1:
            exec(text)  # a classmate's (or the solution's) answer
print("stolen:", len(STOLEN))
''', {"ps1_train_forward": 0}),
    "write_into_the_course": (PS1, "answer_forward", FIND_COURSE + '''
import os
COURSE = _find_course() or COURSE_PATH
for rel in ("nbgrader_config.py", "gradebook.db",
            "solutions/ps1-forward/ps1-forward.ipynb", "submitted/zz_correct/ps1-forward/x.py"):
    try:
        with open(os.path.join(COURSE, rel), "a") as f:
            f.write("\\n# written by an answer\\n")
    except OSError:
        pass
''', {"ps1_train_forward": 0}),
    "a_process_that_outlives_the_run": (PS1, "answer_forward", FIND_COURSE + '''
import os, time
COURSE = _find_course() or COURSE_PATH
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("python3", ["python3", "-c", "import time, sqlite3, sys; time.sleep(8); "
                  "db = sqlite3.connect(sys.argv[1]); db.execute('UPDATE grade SET "
                  "auto_score = 99'); db.commit(); time.sleep(600)",
                  os.path.join(COURSE, "gradebook.db"), "LINGER_TOKEN"])
    os._exit(0)
''', {"ps1_train_forward": 0}),
    "kill_the_grader": (PS1, "answer_forward", '''
import os, signal
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    pid = os.getppid()
    for _ in range(4):  # its own ancestry only, never processes by name
        try:
            parent = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            os.kill(pid, signal.SIGKILL)
            pid = parent
        except (OSError, ValueError):
            break
    return x
''', {"ps1_train_forward": 0}),
    "reach_the_network": (PS1, "answer_forward", '''
import socket
REACHED = []
for port in (LISTEN_PORT,):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).sendall(b"hello")
        REACHED.append(port)
    except OSError:
        pass
''', {"ps1_train_forward": 0}),
    # -- student text that reaches the instructor ------------------------------------------
    "words_that_look_like_flags": (PS1, "answer_forward", '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    raise ValueError("MemoryError: out of memory; timeout; tampered; crashed")
''', {"ps1_train_forward": 0}),
    "a_hidden_test_marker_in_an_answer": (PS1, "answer_inference", '''
### BEGIN HIDDEN TESTS
print("### BEGIN HIDDEN TESTS")
''', {}),  # appended to a right answer: full marks owed
    "salt_and_hidden_tests_into_the_feedback": (PS1, "answer_examples", FIND_COURSE + '''
import os, sqlite3
COURSE = _find_course() or COURSE_PATH
try:
    SALTS = sqlite3.connect(os.path.join(COURSE, "gradebook.db")).execute(
        "SELECT value FROM bngrade_setting").fetchall()
    # as found, and reversed: the feedback blanks the salt, but no filter knows every encoding
    print("SALT", SALTS, [value[::-1] for (value,) in SALTS])
except Exception as exc:
    print("no gradebook:", type(exc).__name__)
try:
    print(open(os.path.join(COURSE, "solutions/ps1-forward/ps1-forward.ipynb")).read())
except OSError:
    pass
''', {}),  # appended to right answers: full marks owed
}
APPENDED_TO_RIGHT = {"a_hidden_test_marker_in_an_answer", "salt_and_hidden_tests_into_the_feedback",
                     "adabn_by_the_chapters_function", "group_norm_from_the_package"}
NEEDS_THE_OS = ["steal_the_solution_and_classmates", "write_into_the_course",
                "a_process_that_outlives_the_run", "salt_and_hidden_tests_into_the_feedback"]


def attack_notebook(course, name, listen_port):
    assignment, grade_id, code, _owed = ATTACKS[name]
    code = code.replace("COURSE_PATH", repr(str(course))).replace("LISTEN_PORT",
                                                                   str(listen_port))
    ok = correct_submission(course, assignment)
    if name in APPENDED_TO_RIGHT:
        return edited(ok, grade_id, append=code)
    blank = release(course, assignment)
    return edited(blank, grade_id, append=code)


def fingerprint(course):
    """Hash of every file outside the folders the engine writes (and its gradebook)."""
    out = {}
    for path in sorted(course.rglob("*")):
        rel = path.relative_to(course)
        if path.is_file() and rel.parts[0] not in ("autograded", "feedback", "reports",
                                                   "planted-cwd") and \
                rel.name not in ("gradebook.db", "gradebook.db-journal"):
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def processes_with(token):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append(int(pid))
        except OSError:
            pass
    return found


def grade_with_cli(course, assignment, *extra):
    planted = course / "planted-cwd"
    planted.mkdir(exist_ok=True)
    # a module an instructor's working directory might hold: never imported by the grader
    (planted / "pkgutil.py").write_text(f"open({str(course / 'PLANTED_RAN')!r}, 'w')\n"
                                        "raise SystemExit('planted module imported')\n")
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run([BNGRADE, "autograde", assignment, "--course-dir", str(course),
                           "--workers", "2", "--time-limit", "15", "--no-progress", *extra],
                          cwd=planted, env=env, capture_output=True, text=True, timeout=1200)


def rows_of(course, assignment):
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    try:
        return {r["student"]: r for r in store.rows(assignment)}, store.gradebook_scores(
            assignment), store.salt()
    finally:
        store.close()


def run_catalogue(course, names, *extra):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    for a in ASSIGNMENTS:
        submit(course, "zz_correct", a, correct_submission(course, a))
        submit(course, "zz_blank", a, release(course, a))
    for name in names:
        submit(course, name, ATTACKS[name][0], attack_notebook(course, name, port))
    before = fingerprint(course)
    runs = {}
    for a in ASSIGNMENTS:
        if a in {ATTACKS[n][0] for n in names} or a == PS1:
            runs[a] = grade_with_cli(course, a, *extra)
    time.sleep(10)  # longer than the lingering process waits before it strikes
    connections = 0
    try:
        while True:
            listener.accept()[0].close()
            connections += 1
    except BlockingIOError:
        pass
    listener.close()
    return {"runs": runs, "before": before, "after": fingerprint(course),
            "rows": {a: rows_of(course, a) for a in runs}, "connections": connections,
            "lingering": processes_with("LINGER_TOKEN")}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("attacks"), ASSIGNMENTS, ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    out = run_catalogue(course, list(ATTACKS))
    out["course"] = course
    return out


def test_every_run_of_the_cli_finished_and_no_planted_module_ran(attacked):
    for a, done in attacked["runs"].items():
        assert done.returncode == 0, (a, done.stderr[-3000:])
    assert not (attacked["course"] / "PLANTED_RAN").exists()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_attack_scores_what_an_honest_grader_owes(attacked, name):
    assignment, _gid, _code, owed = ATTACKS[name]
    rows, nbgrader, _salt = attacked["rows"][assignment]
    row = rows[name]
    got = {q["grade_id"]: q["score"] for nb in row["detail"] for q in nb["questions"]}
    right = {q["grade_id"]: q["score"] for nb in rows["zz_correct"]["detail"]
             for q in nb["questions"]}
    blank = {q["grade_id"]: q["score"] for nb in rows["zz_blank"]["detail"]
             for q in nb["questions"]}
    base = right if name in APPENDED_TO_RIGHT else blank
    assert got == {**base, **owed}, row["flags"]
    assert nbgrader[name] == got  # what nbgrader's own tables say
    kinds = {f["kind"] for f in row["flags"]}
    if name == "words_that_look_like_flags":
        assert not kinds & {"memory", "timeout", "tampered", "crashed"}, row["flags"]
    if name == "forge_replies_on_the_channel":
        assert "tampered" in kinds


def test_classmates_keep_their_scores_and_no_flags(attacked):
    for a, (rows, _nbgrader, _salt) in attacked["rows"].items():
        pending = sum(manual_points(a).values())  # graded by hand, later
        assert rows["zz_correct"]["score"] == rows["zz_correct"]["max_score"] - pending > 0, a
        assert rows["zz_blank"]["score"] == 0, a
        assert rows["zz_correct"]["flags"] == [] and rows["zz_blank"]["flags"] == [], a


def test_no_file_outside_the_engines_folders_changed(attacked):
    assert attacked["after"] == attacked["before"]


def test_nothing_of_the_run_is_alive_and_nothing_reached_the_network(attacked):
    assert attacked["lingering"] == []
    assert processes_with(str(attacked["course"])) == []
    assert attacked["connections"] == 0


def test_the_feedback_holds_no_salt_and_no_hidden_test(attacked):
    course = attacked["course"]
    salt = attacked["rows"][PS1][2]
    for path in (course / "feedback").rglob("*.html"):
        page = path.read_text()
        assert salt not in page and salt[::-1] not in page and "hidden=True" not in page, path


def test_the_gradebook_verifies(attacked):
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    for a in attacked["runs"]:
        done = subprocess.run([BNGRADE, "verify", a, "--course-dir", str(attacked["course"])],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_without_the_sandbox_the_attacks_work(tmp_path):
    """The attacks that need an OS boundary, graded with --unsafe-no-isolation: they succeed
    (which is why bngrade refuses to grade without a sandbox unless told)."""
    course = make_course(tmp_path, ASSIGNMENTS, ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    out = run_catalogue(course, NEEDS_THE_OS, "--unsafe-no-isolation")
    try:
        rows, _nbgrader, salt = out["rows"][PS1]
        assert rows["steal_the_solution_and_classmates"]["score"] > 0  # the solution, stolen
        assert out["after"] != out["before"]  # the course was written to
        assert out["lingering"]  # a process outlived the run
        page = (course / "feedback" / "salt_and_hidden_tests_into_the_feedback" / PS1 /
                f"{PS1}.html").read_text()
        assert salt not in page and salt[::-1] in page  # blanked as such, not re-encoded
        assert all("unisolated" in {f["kind"] for f in r["flags"]} for r in rows.values())
    finally:
        for pid in out["lingering"]:
            os.kill(pid, 9)


def test_bngrade_refuses_without_a_sandbox_and_names_what_is_missing(tmp_path):
    course = make_course(tmp_path, ["ps1-forward"], ROOT)
    submit(course, "ann", PS1, release(course, PS1))
    env = dict(os.environ, PATH="/nonexistent")  # no bwrap on PATH
    done = subprocess.run([BNGRADE, "autograde", PS1, "--course-dir", str(course)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "bubblewrap" in done.stderr
    assert not (course / "reports").exists()

