"""The engine's pieces without nbgrader: the scoring sandbox, the protocol, the answer finder.

Each test that runs student code starts real sandboxes (bubblewrap), a fraction of a
second each.
"""

import copy
import json
import os
import subprocess
import sys

import nbformat
import numpy as np
import pytest
from engine_tools import FIXTURE, ROOT, cell

from bngrade import spec
from bngrade.driver.store import transaction
from bngrade.results import Notebook, Question, Submission
from bngrade.sandbox import isolation
from bngrade.sandbox.box import protocol
from bngrade.sandbox.box.limits import Limits
from bngrade.worker import scoring
from bngrade.worker.calls import RemoteNamespace, Session
from bnlib.checks import REGISTRY

PART = REGISTRY["ps1_train_forward"]
CASES = PART.cases() + PART.cases(hidden=True, seed=5)
RIGHT = """
import numpy as np
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(0), x.var(0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, None
"""
LIMITS = Limits(seconds=2.0, memory_mb=256)
SANDBOXED = pytest.mark.slow  # starts real sandboxes (a fraction of a second each)


def bn_spec(answer, setup="import numpy as np"):
    """A two-cell notebook (set-up, answer) and its ps1_train_forward test cell."""
    cells = [nbformat.v4.new_code_cell(setup, metadata={"nbgrader": {"locked": True,
                                                                     "grade_id": "setup"}}),
             nbformat.v4.new_code_cell(answer, metadata={"nbgrader": {
                 "solution": True, "grade_id": "answer_forward"}}),
             nbformat.v4.new_code_cell("check('ps1_train_forward', globals())", metadata={
                 "nbgrader": {"grade": True, "locked": True, "grade_id": "ps1_train_forward",
                              "points": 3}})]
    nb = nbformat.v4.new_notebook(cells=cells)
    return spec.build("nb", nb, nb), nb.cells


def run(answer, setup="import numpy as np", limits=LIMITS):
    sp, cells = bn_spec(answer, setup)
    nb = nbformat.v4.new_notebook(cells=cells)
    verdicts, problems = scoring.score_notebook(sp, scoring.notebook_cells(nb), "salt", "ann",
                                                limits)
    return verdicts["ps1_train_forward"], problems


@SANDBOXED
def test_a_right_answer_passes_through_the_sandbox():
    verdict, problems = run(RIGHT)
    assert verdict["score"] == 3 and problems == []


REFERENCE = "is bnlib's reference: it is not available"


@SANDBOXED
@pytest.mark.parametrize("answer, mistake, words", [
    ("import bnlib\nbatchnorm_forward = bnlib.batchnorm_forward", "raised", REFERENCE),
    ("import bnlib.batchnorm as b\ndef batchnorm_forward(*a):\n    return b.batchnorm_forward(*a)",
     "raised", REFERENCE),
    ("from bnlib.checks import REGISTRY\n"
     "def batchnorm_forward(*a):\n    return REGISTRY['ps1_train_forward'].reference(*a)",
     "raised", "KeyError"),
    (RIGHT.replace("mu, var =", "while True: pass\n    mu, var ="), "timeout",
     "did not finish within 2 s"),
    (RIGHT.replace("mu, var =", "import os; os._exit(3)\n    mu, var ="), "crashed", "stopped"),
    (RIGHT.replace("mu, var =", "import ctypes; ctypes.string_at(0)\n    mu, var ="), "crashed",
     "stopped"),
    (RIGHT.replace("mu, var =", "h = np.ones((100, 10**7))\n    mu, var ="),
     "memory", "ran out of memory (the limit is 256 MB)"),
    (RIGHT.replace("mu, var =", "raise ValueError('MemoryError timeout tampered')\n    mu, var ="),
     "raised", "MemoryError timeout"),  # words in the student's text decide nothing
])
def test_what_goes_wrong_in_an_answer_is_said_in_words(answer, mistake, words):
    verdict, _problems = run(answer)
    assert verdict["score"] == 0 and verdict["mistake"] == mistake, verdict
    assert words in verdict["message"]


@SANDBOXED
def test_an_answer_cell_that_never_ends_costs_only_that_cell():
    verdict, problems = run("x = 1\nwhile True:\n    pass", limits=Limits(seconds=1.0))
    assert problems == [("timeout", "answer cell answer_forward did not finish within 1 s")]
    assert "define `batchnorm_forward`" in verdict["message"]


@SANDBOXED
def test_a_cell_out_of_time_is_interrupted_and_keeps_what_it_defined():
    # 3 s: the graded calls after the interrupt get the same limit, and another test may
    # share the machine's cores
    verdict, problems = run(RIGHT + "\nwhile True:\n    pass", limits=Limits(seconds=3.0))
    assert verdict["score"] == 3 and [code for code, _ in problems] == ["timeout"]
    stubborn = ("\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "while True:\n    pass")
    verdict, problems = run(RIGHT + stubborn, limits=Limits(seconds=3.0))
    assert verdict["score"] == 0 and [code for code, _ in problems] == ["timeout"]


@SANDBOXED
def test_monkeypatching_in_the_sandbox_does_not_reach_the_grader():
    wrong = RIGHT.replace("x.var(0)", "x.var(0, ddof=1)") + \
        "\nnp.allclose = lambda *a, **k: True\nimport builtins\nbuiltins.AssertionError = Exception"
    verdict, _ = run(wrong)
    assert verdict["mistake"] == "unbiased_variance"
    assert np.allclose(1.0, 1.0) and not np.allclose(1.0, 2.0)


@SANDBOXED
def test_the_sandbox_sees_no_reference_no_course_and_no_network():
    probe = """
import os, socket, sys
import bnlib
seen = []
for top in ("/", "/tmp", "/box", "/bn"):
    seen += os.listdir(top)
found = []
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc", "/sys", "/dev")):
        continue
    for f in files:
        path = os.path.join(root, f)
        if path == VENV + "/bin/bngrade":
            continue  # the command's launcher (the package it imports is not there)
        if "bngrade" in path or (path.startswith(REPO) and not path.startswith(VENV)):
            found.append(path)  # the grader's code or the course
        elif "bnlib" in path and f.endswith(".py"):
            text = open(path).read()
            if "np." in text or "numpy" in text or "you choose them" in text:
                found.append(path)  # code of the reference, or an answer key
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
    net = "open"
except OSError as exc:
    net = type(exc).__name__
pids = [p for p in os.listdir("/proc") if p.isdigit()]
result = {"uid": os.getuid(), "found": found, "net": net, "pids": pids,
          "cwd": os.getcwd(), "bnlib": bnlib.__file__, "home": os.path.exists("/root/.cache")}
"""
    session = Session(Limits(seconds=120))
    repo = str(FIXTURE.parents[1])
    probe = f"REPO, VENV = {repo!r}, {sys.prefix!r}\n" + probe
    try:
        assert session.run_cell(probe, "<probe>") is None
        got = RemoteNamespace(session)["result"]
    finally:
        session.close()
    assert got["uid"] >= isolation.UID_BASE if os.geteuid() == 0 else got["uid"] == 65534
    assert got["found"] == [] and got["net"] != "open"
    assert got["bnlib"] == "/bn/bnlib/__init__.py" and not got["home"]
    assert got["cwd"] == "/tmp/work" and len(got["pids"]) <= 3


@SANDBOXED
def test_a_fork_bomb_stops_at_the_process_limit_and_capabilities_are_gone():
    bomb = """
import os, time
pids, error = [], None
for i in range(500):
    try:
        pid = os.fork()
    except OSError as exc:
        error = exc.errno
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    pids.append(pid)
caps = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
result = [len(pids), error, caps]
"""
    session = Session(Limits(seconds=30, processes=32))
    try:
        assert session.run_cell(bomb, "<bomb>") is None
        forked, error, caps = RemoteNamespace(session)["result"]
    finally:
        session.close()
    assert forked < 32 and error == 11 and int(caps, 16) == 0


@SANDBOXED
def test_helpers_are_allowed_by_qualified_name_only():
    session = Session(LIMITS)
    try:
        session.run_cell("import numpy as np\nfrom bnlib.nn import MLP\nfrom bnlib.data import "
                         "train, spirals\n"
                         "def f():\n    m = MLP([2, 3, 2])\n    return m(np.ones((4, 2))).shape\n"
                         "def g():\n    return train(MLP([2, 3, 2]), np.ones((4, 2)), "
                         "np.zeros(4, int), 0.1, 2, 2)\n", "<cell>")
        ns = RemoteNamespace(session)
        session.allow(REGISTRY["ps4_train_with_without_bn"].allowed_reference)
        assert ns.get("f")() == (4, 2)
        with pytest.raises(Exception, match=REFERENCE):
            ns.get("g")()  # bnlib.data.train: the checker's own loop, never a helper
        session.allow([])
        with pytest.raises(Exception, match=REFERENCE):
            ns.get("f")()
    finally:
        session.close()


@SANDBOXED
def test_the_exercises_install_cell_finds_the_package_in_the_sandbox():
    """The read-only first cell of every exercise checks bnlib's version and would run pip
    otherwise (no network there): the stand-in bnlib carries the real version."""
    import bnlib

    src = nbformat.read(os.path.join(ROOT, "solutions", "ps1-forward",
                                     "ps1-forward.ipynb"), 4)
    install = next(c.source for c in src.cells if c.get("id") == "install")
    assert "BNLIB_VERSION" in install
    session = Session(LIMITS)
    try:
        assert session.run_cell(install, "<install cell>") is None
        ns = RemoteNamespace(session)
        assert ns["BNLIB_VERSION"] == bnlib.__version__
    finally:
        session.close()


@SANDBOXED
def test_a_method_that_returns_its_layer_returns_the_proxy():
    """``bn.eval()`` returns the layer, as PyTorch's does: the visible rule holds through the
    sandbox (the sandbox says "self"; it cannot send the object), and its absence is seen."""
    session = Session(LIMITS)
    try:
        session.run_cell("class Good:\n    def eval(self):\n        return self\n"
                         "class Bad:\n    def eval(self):\n        return None\n", "<cell>")
        ns = RemoteNamespace(session, classes=("Good", "Bad"))
        good, bad = ns.get("Good")(), ns.get("Bad")()
        assert good.eval() is good
        assert bad.eval() is None
    finally:
        session.close()


@SANDBOXED
@pytest.mark.parametrize("forgery", [
    # a second reply to the request being answered, written straight to the channel
    "os.write(CHANNEL, (json.dumps({'re': 2, 'ok': True, 'out': 1}) + '\\n').encode())",
    "os.write(CHANNEL, b'not json\\n')",
    "os.write(CHANNEL, (json.dumps({'re': 99, 'ok': True}) + '\\n').encode())",
])
def test_forged_duplicated_or_malformed_messages_are_tampering(forgery):
    answer = RIGHT.replace("mu, var =", "import os, json\n    CHANNEL = 4\n    " + forgery +
                           "\n    mu, var =")
    verdict, _ = run(answer)
    assert verdict["mistake"] == "tampered" and verdict["score"] == 0


def test_the_protocol_takes_plain_data_only():
    with pytest.raises(protocol.Tampered):
        protocol.decode_value({"__ndarray__": "object", "shape": [1], "data": ""})
    with pytest.raises(protocol.Tampered):
        protocol.decode_value({"__ndarray__": "float64", "shape": [10**9], "data": ""})
    with pytest.raises(protocol.Tampered):
        protocol.decode_value({"__callback__": 0})
    value = (1.5, [np.arange(3.0), {"a": None}])
    back = protocol.decode_value(json.loads(json.dumps(protocol.encode_value(value))))
    assert back[0] == 1.5 and np.array_equal(back[1][0], value[1][0])


@pytest.mark.parametrize("grade_id", sorted(REGISTRY))
def test_every_evaluate_fails_on_missing_or_extra_records(grade_id):
    part = REGISTRY[grade_id]
    cases = part.cases() + part.cases(hidden=True, seed=3)
    assert not part.evaluate(cases, []).passed  # a run that sent none
    fine = {"out": None, "args_after": None, "error": None, "used_reference": []}
    assert not part.evaluate(cases, [fine] * (len(cases) + 1)).passed


def test_the_installed_package_has_no_answer_key():
    code = ("import bnlib.checks as c, sys; "
            "print(repr(c.REGISTRY['ps5_q_output_stats'].answer), c.REGISTRY['ps1_worked_examples']"
            ".reference, c.REGISTRY['ps5_backward_by_hand'].reference)")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["''", "None", "None"]
    import bnlib

    root = os.path.dirname(bnlib.__file__)
    text = "".join(open(os.path.join(d, f), encoding="utf-8").read()
                   for d, _, fs in os.walk(root) for f in fs if f.endswith(".py"))
    assert "3 = |gamma| is the standard deviation" not in text and "-1.342" not in text


@pytest.fixture
def mini():
    src = nbformat.read(FIXTURE / "solutions" / "bn-mini" / "bn-mini.ipynb", 4)
    return spec.build("bn-mini", src, src), src


def test_answers_are_found_by_grade_id_or_else_by_position(mini):
    sp, src = mini
    found, notes = spec.locate_answers(sp, src.cells)
    assert found == {"answer_forward": 3, "answer_scale": 6} and notes == []
    moved = copy.deepcopy(src)
    cell(moved, "answer_forward").metadata["nbgrader"]["grade_id"] = "renamed"
    moved.cells.insert(0, nbformat.v4.new_code_cell("print('my scratch')"))
    found, notes = spec.locate_answers(sp, moved.cells)
    assert found["answer_forward"] == 4
    assert {k for k, _ in notes} == {"metadata_edited"}
    gone = copy.deepcopy(src)
    del gone.cells[3]
    del gone.cells[2]
    assert "answer_forward" not in spec.locate_answers(sp, gone.cells)[0]


def test_edited_locked_cells_and_metadata_are_noticed(mini):
    sp, src = mini
    nb = copy.deepcopy(src)
    cell(nb, "ps1_train_forward").source = "pass"
    cell(nb, "ps1_train_forward").metadata["nbgrader"]["points"] = 99
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") !=
                "test_scale"]
    kinds = sorted(k for k, _ in spec.check_locked(sp, nb.cells))
    assert kinds == ["cells_missing", "metadata_edited", "tests_edited"]
    nb.cells[0]["metadata"]["nbgrader"] = "garbage"
    assert spec.meta(nb.cells[0]) == {}


def test_hidden_seeds_are_fixed_per_student_and_question_but_differ():
    a = scoring.seed_for("salt", "ann", "q1")
    assert a == scoring.seed_for("salt", "ann", "q1")
    assert len({a, scoring.seed_for("salt", "bob", "q1"), scoring.seed_for("other", "ann",
                                                                           "q1")}) == 3


@SANDBOXED
def test_magics_become_calls_that_do_nothing():
    verdict, problems = run(RIGHT + "\n%timeit f(x)\n!ls\ny = 2")
    assert problems == [] and verdict["score"] == 3


def test_a_failed_record_leaves_nothing_behind(tmp_path):
    from bngrade.driver.store import RESULT, Store

    store = Store(f"sqlite:///{tmp_path / 'gb.db'}")
    with pytest.raises(RuntimeError):
        with transaction(store.gb):
            store.gb.update_or_create_student("ann")
            raise RuntimeError("the driver was interrupted")
    result = Submission("no-such-assignment", "bob")
    with pytest.raises(Exception, match="no-such-assignment"):
        store.record("no-such-assignment", [(result, "hash", None)])  # fails after the student
    assert store.gb.students == []
    assert store.gb.db.execute(RESULT.select()).all() == []
    store.close()


@SANDBOXED
def test_one_bad_result_does_not_cost_the_others_their_rows(tmp_path):
    from engine_tools import make_course, source

    from bngrade import nbg
    from bngrade.driver import engine
    from bngrade.driver.course import Course
    from bngrade.driver.store import Store

    course = Course(str(make_course(tmp_path)))
    nbg.register(course.db_url, course.course_id, "bn-mini",
                 {"bn-mini": source(tmp_path, "bn-mini")}, course.cfg)
    store = Store(course.db_url)

    def result(student, grade_id="ps1_train_forward"):
        return Submission("bn-mini", student, [Notebook("bn-mini", [
            Question(grade_id, 3.0, 3.0)])])

    messages = []
    batch = [(result("ann"), "h1"), (result("bob", "no_such_cell"), "h2"), (result("cy"), "h3")]
    engine._record(course, store, "bn-mini", batch, messages.append)
    assert store.done("bn-mini") == {"ann": "h1", "cy": "h3"}
    assert messages and messages[0].startswith("could not record bob")
    store.close()


@SANDBOXED
def test_feedback_that_fails_to_render_costs_no_points(tmp_path, monkeypatch):
    from engine_tools import make_course, source, submit

    from bngrade.driver import engine
    from bngrade.driver.course import Course
    from bngrade.driver.store import Store
    from bngrade.worker import feedback, task

    path = make_course(tmp_path)
    submit(path, "ann", "bn-mini", source(path, "bn-mini"))
    course = Course(str(path))
    store = Store(course.db_url)
    payload, _ = engine.plan(course, store, "bn-mini", ["ann"], True, Limits(seconds=3.0))["ann"]
    store.close()

    def broken(*args, **kwargs):
        raise ValueError("BEGIN HIDDEN TESTS without its end")

    monkeypatch.setattr(feedback, "render", broken)
    nb = Submission.from_json(task.grade_submission(payload)).notebooks[0]
    assert nb.questions[0].score == 3.0 and nb.feedback is None
    assert [f.kind for f in nb.flags] == ["feedback_failed"]
