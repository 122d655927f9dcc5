"""The engine's pieces without kernels: the sandbox, the poison, the answer finder, the codec."""

import copy

import nbformat
import pytest
from engine_tools import FIXTURE, cell

from bngrade import sandbox, scoring, spec
from bngrade.store import transaction
from bnlib.checks import REGISTRY
from bnlib.checks.plain import decode, encode

PART = REGISTRY["ps1_train_forward"]
CASES = PART.cases() + PART.cases(hidden=True, seed=5)
RIGHT = """
import numpy as np
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(0), x.var(0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, None
"""
JOB = {"parts": ["ps1_train_forward"], "allowed": [], "uid_base": 0,
       "limits": {"memory_bytes": 256 << 20, "cpu_seconds": 30, "file_bytes": 1 << 20}}


def run(answer, setup="import numpy as np", seconds=2.0):
    steps = [{"kind": "setup", "label": "<setup>", "source": setup},
             {"kind": "answer", "label": "<answer a>", "source": answer},
             {"kind": "part", "label": "p", "grade_id": "ps1_train_forward",
              "cases": encode(CASES)}]
    results = sandbox.run_steps(steps, JOB, seconds)
    outcome = scoring._outcome(PART, CASES, results.get(2), seconds, 256)
    return results, outcome


def test_a_right_answer_passes_through_the_sandbox():
    results, outcome = run(RIGHT)
    assert [results[i]["status"] for i in range(3)] == ["ok", "ok", "ok"]
    assert outcome.passed


@pytest.mark.parametrize("answer, words", [
    ("import bnlib\nbatchnorm_forward = bnlib.batchnorm_forward", "calls bnlib's reference"),
    ("from bnlib.checks import REGISTRY\n"
     "def batchnorm_forward(*a):\n    return REGISTRY['ps1_train_forward'].reference(*a)",
     "calls bnlib's reference"),
    ("import bnlib.batchnorm as b\ndef batchnorm_forward(*a):\n    return b.batchnorm_forward(*a)",
     "calls bnlib's reference"),
    (RIGHT.replace("mu, var =", "while True: pass\n    mu, var ="), "did not finish within 2 s"),
    (RIGHT.replace("mu, var =", "import os; os._exit(3)\n    mu, var ="), "status 3"),
    (RIGHT.replace("mu, var =", "import ctypes; ctypes.string_at(0)\n    mu, var ="), "SIGSEGV"),
    (RIGHT.replace("mu, var =", "h = [np.ones(10**7) for _ in range(100)]\n    mu, var ="),
     "ran out of memory (the limit is 256 MB)"),
])
def test_what_goes_wrong_in_an_answer_is_said_in_words(answer, words):
    _results, outcome = run(answer)
    assert not outcome.passed and words in outcome.message


def test_an_answer_cell_that_never_ends_costs_only_that_cell():
    results, outcome = run("x = 1\nwhile True:\n    pass", seconds=1.0)
    assert results[1]["status"] == "timeout"
    assert results[0]["status"] == "ok" and "define `batchnorm_forward`" in outcome.message


def test_an_answer_that_survives_interrupts_is_killed():
    loop = "while True:\n    try:\n        pass\n    except BaseException:\n        pass"
    results, _ = run(loop, seconds=0.5)
    assert results[1] == {"status": "timeout", "error": "no result within 0.5 s"}


def test_monkeypatching_in_the_sandbox_does_not_reach_the_grader():
    import numpy as np

    wrong = RIGHT.replace("x.var(0)", "x.var(0, ddof=1)") + \
        "\nnp.allclose = lambda *a, **k: True\nimport builtins\nbuiltins.AssertionError = Exception"
    _results, outcome = run(wrong)
    assert outcome.mistake == "unbiased_variance"
    assert np.allclose(1.0, 1.0) and not np.allclose(1.0, 2.0)


def test_setup_cells_may_use_the_reference_but_answers_may_not():
    setup = "import numpy as np\nimport bnlib\nPROBE = bnlib.batchnorm_forward(np.ones((2, 1)) * " \
            "[[1.0], [3.0]], np.ones(1), np.zeros(1))[0]"
    results, outcome = run(RIGHT + "\nassert PROBE.shape == (2, 1)", setup=setup)
    assert results[0]["status"] == "ok" and results[1]["status"] == "ok" and outcome.passed


def test_forged_records_are_only_data():
    forged = encode([{"out": "<not an array>", "args_after": CASES[0], "error": None,
                      "used_reference": []}] * len(CASES))
    outcome = scoring._outcome(PART, CASES, {"status": "ok", "records": forged}, 1, 1)
    assert not outcome.passed
    outcome = scoring._outcome(PART, CASES, {"status": "ok", "records": '{"__ndarray__": '
                                             '"object", "shape": [1], "data": ""}'}, 1, 1)
    assert outcome.mistake == "malformed"
    assert decode(encode([1.5, (2, None)])) == [1.5, (2, None)]


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


def test_magics_become_calls_that_do_nothing():
    text = scoring.python_source("%timeit f(x)\n!ls\ny = 2")
    results = sandbox.run_steps([{"kind": "answer", "label": "<a>", "source": text},
                                 {"kind": "part", "label": "p", "grade_id": "ps1_train_forward",
                                  "cases": encode(CASES)}], JOB, 2)
    assert results[0]["status"] == "ok"


def test_a_failed_record_leaves_nothing_behind(tmp_path):
    from bngrade.store import RESULT, Store

    store = Store(f"sqlite:///{tmp_path / 'gb.db'}")
    with pytest.raises(RuntimeError):
        with transaction(store.gb):
            store.gb.update_or_create_student("ann")
            raise RuntimeError("the driver was interrupted")
    result = {"student": "bob", "flags": [], "notebooks": []}
    with pytest.raises(Exception, match="no-such-assignment"):
        store.record("no-such-assignment", [(result, "hash", None)])  # fails after the student
    assert store.gb.students == []
    assert store.gb.db.execute(RESULT.select()).all() == []
    store.close()


def test_one_bad_result_does_not_cost_the_others_their_rows(tmp_path):
    from engine_tools import make_course, source

    from bngrade import engine, nbg
    from bngrade.course import Course
    from bngrade.store import Store

    course = Course(str(make_course(tmp_path)))
    nbg.register(course.db_url, course.course_id, "bn-mini",
                 {"bn-mini": source(tmp_path, "bn-mini")}, course.cfg)
    store = Store(course.db_url)

    def result(student, grade_id="ps1_train_forward"):
        q = {"grade_id": grade_id, "points": 3.0, "score": 3.0, "mistake": None}
        return {"student": student, "flags": [], "notebooks": [
            {"name": "bn-mini", "autograded": None, "feedback": None, "questions": [q]}]}

    messages = []
    batch = [(result("ann"), "h1"), (result("bob", "no_such_cell"), "h2"), (result("cy"), "h3")]
    engine._record(course, store, "bn-mini", batch, messages.append)
    assert store.done("bn-mini") == {"ann": "h1", "cy": "h3"}
    assert messages and messages[0].startswith("could not record bob")
    store.close()


def test_the_engine_score_stands_when_nbgraders_run_fails(tmp_path, monkeypatch):
    import json

    from engine_tools import make_course, source, submit

    from bngrade import engine, inkernel, task
    from bngrade.course import Course
    from bngrade.store import Store

    path = make_course(tmp_path)
    submit(path, "ann", "bn-mini", source(path, "bn-mini"))
    course = Course(str(path))
    store = Store(course.db_url)
    limits = {"time": 3.0, "memory_mb": 256, "uid_base": 0}
    payload, _ = engine.plan(course, store, "bn-mini", ["ann"], True, limits)["ann"]
    store.close()

    def broken(*args, **kwargs):
        raise OSError("no kernel today")

    monkeypatch.setattr(inkernel, "run", broken)
    result = json.loads(task.grade_submission(payload))
    nb = result["notebooks"][0]
    assert {q["grade_id"]: q["score"] for q in nb["questions"]} == \
        {"ps1_train_forward": 3.0, "test_scale": None}  # no checker: left to a human
    assert [f["kind"] for f in nb["flags"]] == ["kernel_failed"]
    assert nb["autograded"] is None and nb["feedback"] is None
