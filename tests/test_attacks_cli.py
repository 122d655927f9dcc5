"""The attack catalogue through the documented command, on all six assignments, locally and
on a TLS Dask cluster (issue 17).

Every assignment of the course is graded by ``bngrade autograde`` (``--workers 2``
locally; ``--scheduler tls://…`` with two Dask workers) from a virtual environment
under ``/tmp`` where bnlib and bngrade are installed the README's way for a worker
(``pip install --no-deps .``, not editable). Beside a correct and a blank classmate,
each assignment gets one submission per class of attack:

* ``course_past_the_stub``: drops the sandbox's stub bnlib and imports the real one
  (and bngrade's keys) from the worker's site-packages, to answer with the reference;
* ``collude_giver`` and ``collude_receiver``: two students graded at the same time;
  the giver (a correct submission) publishes its answers through every channel two
  processes on one machine share (files in ``/tmp`` and ``/dev/shm``, an abstract Unix
  socket, a loopback TCP port, byte-range locks on the interpreter both can open),
  the receiver (a blank one) waits for them and runs them;
* ``live_output``: displays HTML and SVG that would run script in the instructor's
  tools (the formgrader, the feedback page);
* ``memory_hog``: asks for far more memory than the sandbox's budget.

Each gets what an honest grader owes (the giver: its own correct score; the others:
the blank classmate's) and the classmates keep theirs. The control, graded the same way
with ``--unsafe-no-isolation``, shows the attacks are real: there the receiver scores
what the giver does and the stub is passed.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest
from engine_tools import ROOT, correct_submission, make_course, release, submit
from exercise_tools import manual_points
from live_html import HTML_ATTACKS, Live, inert
from venvs import site_packages as _site

from bngrade.driver.store import Store

pytestmark = pytest.mark.slow

ASSIGNMENTS = ["ps1-forward", "ps2-backward", "ps3-inference", "ps4-conv-and-folding",
               "ps5-concepts", "ps6-in-practice"]
ASSIGNMENTS = os.environ["DBG_A"].split(",") if os.environ.get("DBG_A") else ASSIGNMENTS
WAIT = 8  # seconds each colluder waits for the other (both start at once: see the test)

PAST_THE_STUB = '''
import importlib, os, sys


def _stub(folder):  # the sandbox's stand-in says what it is in its first line
    try:
        return "stand-in" in open(os.path.join(folder or ".", "bnlib", "__init__.py")).read()
    except OSError:
        return False


for _name in list(sys.modules):
    if _name.split(".")[0] in ("bnlib", "bngrade"):
        del sys.modules[_name]
sys.path[:] = [p for p in sys.path if not _stub(p)]
try:
    import pkgutil
    import bnlib as _real
    from bnlib.checks import REGISTRY  # only the real library has its checkers
    for _m in pkgutil.walk_packages(_real.__path__, "bnlib."):
        try:
            _mod = importlib.import_module(_m.name)
        except Exception:
            continue
        globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("_")})
    print("PAST THE STUB: bnlib")
except Exception as _exc:
    print("stub held:", type(_exc).__name__)
try:
    import bngrade.worker.keys
    print("PAST THE STUB: keys")
except Exception as _exc:
    print("keys held:", type(_exc).__name__)
'''

# Shared by both colluders: where they meet.
CHANNELS = r'''
import fcntl as _f, os as _o, socket as _s, struct as _st, sys as _sys, threading as _t
import time as _tm
_FILES = ("/tmp/bn-collude.py", "/dev/shm/bn-collude.py")
_ACKS = ("/tmp/bn-collude.ack", "/dev/shm/bn-collude.ack")
_SOCKETS = ((_s.AF_UNIX, "\0bn-collude"), (_s.AF_INET, ("127.0.0.1", 47191)))
_BASE, _ACK_AT = 1 << 20, 1 << 19
_F_OFD_GETLK, _F_OFD_SETLK = 36, 37


def _lockfd():
    try:
        return _o.open(_sys.executable, _o.O_RDONLY)
    except OSError:
        return None


def _hold(fd, at):
    _f.fcntl(fd, _F_OFD_SETLK, _st.pack("hhqqi", _f.F_RDLCK, 0, at, 1, 0))


def _first_lock(fd, at, n):  # where in [at, at + n) another description holds a lock
    got = _st.unpack("hhqqi", _f.fcntl(fd, _F_OFD_GETLK,
                                       _st.pack("hhqqi", _f.F_WRLCK, 0, at, n, 0)))
    return None if got[0] == _f.F_UNLCK else got[2] - at
'''

GIVER = CHANNELS + r'''
_T0 = _tm.time()
print("COLLUDE giver start", _T0)
_DATA = _ANSWER.encode()
for _p in _FILES:
    try:
        with open(_p, "w") as _fh:
            _fh.write(_ANSWER)
    except OSError:
        pass
_LOCKFD = _lockfd()
try:  # the length in 4 bytes, then the answer, one byte per 256-wide slot
    for _i, _b in enumerate(len(_DATA).to_bytes(4, "big") + _DATA):
        _hold(_LOCKFD, _BASE + 256 * _i + _b)
except (OSError, TypeError):
    pass


def _acked():
    if any(_o.path.exists(p) for p in _ACKS):
        return True
    try:
        return _first_lock(_LOCKFD, _ACK_AT, 1) is not None
    except (OSError, TypeError):
        return False


def _serve(family, address):
    try:
        srv = _s.socket(family, _s.SOCK_STREAM)
        srv.bind(address)
        srv.listen(4)
        srv.settimeout(0.2)
    except OSError:
        return
    while _tm.time() < _T0 + WAIT and not _acked():
        try:
            conn, _ = srv.accept()
        except OSError:
            continue
        conn.sendall(_DATA)
        conn.close()


for _fam, _addr in _SOCKETS:
    try:
        _t.Thread(target=_serve, args=(_fam, _addr), daemon=True).start()
    except RuntimeError:
        pass
while _tm.time() < _T0 + WAIT and not _acked():
    _tm.sleep(0.1)
print("COLLUDE giver end", _tm.time(), "acknowledged" if _acked() else "alone")
'''

RECEIVER = CHANNELS + r'''
_T0, _GOT = _tm.time(), None
print("COLLUDE receiver start", _T0)
_LOCKFD = _lockfd()


def _by_locks():
    out = bytearray()
    for _i in range(1 << 20):
        _b = _first_lock(_LOCKFD, _BASE + 256 * _i, 256)
        if _b is None:
            return None
        out.append(_b)
        if len(out) >= 4 and len(out) == 4 + int.from_bytes(out[:4], "big"):
            return bytes(out[4:]).decode()


while _GOT is None and _tm.time() < _T0 + WAIT:
    for _p in _FILES:
        try:
            _GOT = _GOT or open(_p).read() or None
        except OSError:
            pass
    for _fam, _addr in _SOCKETS:
        try:
            with _s.socket(_fam, _s.SOCK_STREAM) as _c:
                _c.settimeout(0.5)
                _c.connect(_addr)
                _buf = b""
                while _chunk := _c.recv(65536):
                    _buf += _chunk
                _GOT = _GOT or _buf.decode() or None
        except OSError:
            pass
    try:
        _GOT = _GOT or _by_locks()
    except (OSError, TypeError):
        pass
    if _GOT is None:
        _tm.sleep(0.1)
if _GOT is not None:
    for _p in _ACKS:
        try:
            open(_p, "w").close()
        except OSError:
            pass
    try:
        _hold(_LOCKFD, _ACK_AT)
    except (OSError, TypeError):
        pass
print("COLLUDE receiver end", _tm.time(), "got answers" if _GOT else "nothing")
if _GOT:
    exec(_GOT, globals())
'''

# the receiver's other answer cells hold only this (the release's stubs there would replace
# what it received)
AGAIN = "\nif globals().get('_GOT'):\n    exec(_GOT, globals())\n"

LIVE_OUTPUT = f"""
class _Page:  # what display() shows, as a kernel would: its HTML and SVG
    def _repr_html_(self):
        return {''.join(HTML_ATTACKS[:4])!r}

    def _repr_svg_(self):
        return {HTML_ATTACKS[4]!r}


display(_Page())
"""

MEMORY_HOG = '''
_hog = []
for _ in range(64):  # 4 GB, a page at a time
    _hog.append(bytearray(64 << 20))
    for _i in range(0, 64 << 20, 4096):
        _hog[-1][_i] = 1
'''


def answer_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
            and not c.metadata["nbgrader"].get("grade") and c.cell_type == "code"]


def _with(nb, code, first="prepend", others=None):
    """``nb`` with ``code`` added to its first answer cell (before what is there: a blank
    answer cell raises ``NotImplementedError``; "append": after; "replace": instead) and,
    with ``others``, every other answer cell replaced by ``others``."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    cells = answer_cells(nb)
    cells[0].source = {"prepend": code + "\n" + cells[0].source,
                       "append": cells[0].source + "\n" + code, "replace": code}[first]
    for c in cells[1:] if others is not None else ():
        c.source = others
    return nb


def make_class(course, assignment):
    """The catalogue's submissions for ``assignment``; their names in grading order."""
    correct, blank = correct_submission(course, assignment), release(course, assignment)
    answers = "\n\n".join(c.source for c in answer_cells(correct))
    submit(course, "a_collude_giver", assignment,
           _with(correct, f"_ANSWER = {answers!r}\nWAIT = {WAIT}\n" + GIVER, "append"))
    submit(course, "a_collude_receiver", assignment,
           _with(blank, f"WAIT = {WAIT}\n" + RECEIVER, "replace", AGAIN))
    submit(course, "course_past_the_stub", assignment, _with(blank, PAST_THE_STUB))
    submit(course, "live_output", assignment, _with(blank, LIVE_OUTPUT))
    submit(course, "memory_hog", assignment, _with(blank, MEMORY_HOG))
    submit(course, "zz_correct", assignment, correct)
    submit(course, "zz_blank", assignment, blank)


def autograde(python, course, assignment, *extra):
    env = dict(os.environ, PATH=f"{pathlib.Path(python).parent}:{os.environ['PATH']}")
    return subprocess.run([str(python), "-m", "bngrade", "autograde", assignment,
                           "--course-dir", str(course), "--time-limit", "20",
                           "--memory-mb", "256", "--no-progress", *extra],
                          cwd=course, env=env, capture_output=True, text=True, timeout=1800)


def results(course, assignments):
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    try:
        return {a: {r["student"]: r for r in store.rows(a)} for a in assignments}
    finally:
        store.close()


def scores(row):
    return {q["grade_id"]: q["score"] for nb in row["detail"] for q in nb["questions"]}


def printed(course, student, assignment):
    path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def window(text, role):
    start = re.search(rf"COLLUDE {role} start (\S+)", text)
    end = re.search(rf"COLLUDE {role} end (\S+)", text)
    assert start and end, text[-2000:]
    return float(start.group(1)), float(end.group(1))


def catalogue(tmp_venv, root, scheduler=None):
    course = make_course(root, ASSIGNMENTS, ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    for a in ASSIGNMENTS:
        make_class(course, a)
    if scheduler is None:
        runs = {a: autograde(tmp_venv / "bin" / "python", course, a, "--workers", "2")
                for a in ASSIGNMENTS}
    else:
        address, certs = scheduler
        runs = {a: autograde(sys.executable, course, a, "--scheduler", address,
                             "--certs", str(certs)) for a in ASSIGNMENTS}
    return {"course": course, "runs": runs, "rows": results(course, ASSIGNMENTS)}


@pytest.fixture(scope="module")
def local(tmp_venv, tmp_path_factory):
    return catalogue(tmp_venv, tmp_path_factory.mktemp("cli-attacks"))


@pytest.fixture(scope="module")
def cluster(tmp_venv, tmp_path_factory):
    """The same catalogue through ``--scheduler tls://`` on two Dask workers whose bnlib and
    bngrade are the copies ``pip install --no-deps .`` put in site-packages."""
    from servers import dask_processes

    from bngrade.driver import tls

    root = tmp_path_factory.mktemp("cli-attacks-tls")
    certs = root / "certs"
    tls.make_certs(str(certs))
    logs = root / "dask"
    logs.mkdir()
    worker_env = [{"PYTHONPATH": str(_site(tmp_venv))}] * 2  # the installed copy first
    with dask_processes(logs, 2, str(certs), worker_env=worker_env) as address:
        assert address.startswith("tls://")
        return catalogue(tmp_venv, root / "course", (address, certs))


@pytest.fixture(params=["local", "cluster"])
def graded(request):
    return request.getfixturevalue(request.param)


def test_every_run_finishes(graded):
    for a, done in graded["runs"].items():
        assert done.returncode == 0, (a, done.stdout[-2000:], done.stderr[-3000:])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_classmates_keep_their_scores(graded, assignment):
    rows = graded["rows"][assignment]
    pending = sum(manual_points(assignment).values())  # graded by hand, later
    assert rows["zz_correct"]["score"] == rows["zz_correct"]["max_score"] - pending > 0
    assert rows["zz_blank"]["score"] == 0
    assert rows["zz_correct"]["flags"] == [] and rows["zz_blank"]["flags"] == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_colluders_graded_at_the_same_time_get_what_they_earned(graded, assignment):
    rows, course = graded["rows"][assignment], graded["course"]
    giver = printed(course, "a_collude_giver", assignment)
    receiver = printed(course, "a_collude_receiver", assignment)
    (g0, g1), (r0, r1) = window(giver, "giver"), window(receiver, "receiver")
    assert max(g0, r0) < min(g1, r1), "the two were not graded at the same time"
    assert "got answers" not in receiver and "alone" in giver
    assert scores(rows["a_collude_giver"]) == scores(rows["zz_correct"])
    assert scores(rows["a_collude_receiver"]) == scores(rows["zz_blank"])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_course_past_the_stub_is_out_of_reach(graded, assignment):
    rows, course = graded["rows"][assignment], graded["course"]
    out = printed(course, "course_past_the_stub", assignment)
    assert "stub held" in out and "keys held" in out and "PAST THE STUB" not in out, out
    assert scores(rows["course_past_the_stub"]) == scores(rows["zz_blank"])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_live_output_lands_inert_in_the_instructor_s_files(graded, assignment):
    course = graded["course"]
    stored = (course / "autograded" / "live_output" / assignment /
              f"{assignment}.ipynb").read_text()
    nb = nbformat.reads(stored, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", []) if "data" in o]
    assert outputs, "the displayed outputs are kept (inert), not lost"
    assert inert(json.dumps(outputs))
    page = (course / "feedback" / "live_output" / assignment / f"{assignment}.html")
    assert Live(page.read_text()).found == []
    assert scores(graded["rows"][assignment]["live_output"]) == \
        scores(graded["rows"][assignment]["zz_blank"])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_memory_hog_is_stopped_at_the_budget_and_flagged(graded, assignment):
    row = graded["rows"][assignment]["memory_hog"]
    assert "memory" in {f["kind"] for f in row["flags"]}, row["flags"]
    assert scores(row) == scores(graded["rows"][assignment]["zz_blank"])


def test_without_isolation_the_attacks_work(tmp_path):
    """The control: the same colluders and the same stub attack on ps1, graded with
    ``--unsafe-no-isolation`` (no sandbox): the receiver scores what the giver does and
    the real bnlib is imported."""
    a = "ps1-forward"
    course = make_course(tmp_path / "course", [a], ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    make_class(course, a)
    done = autograde(sys.executable, course, a, "--workers", "2", "--unsafe-no-isolation")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = results(course, [a])[a]
    assert "got answers" in printed(course, "a_collude_receiver", a)
    assert scores(rows["a_collude_receiver"]) == scores(rows["zz_correct"])
    assert "PAST THE STUB: bnlib" in printed(course, "course_past_the_stub", a)
