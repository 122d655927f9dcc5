"""The catalogue: submissions with expected outcomes, graded through the engine.

One module fixture builds a course with the six real assignments and grades,
with ``bngrade``'s engine (2 local workers): for ps1-forward, every case of
:data:`CATALOGUE` (correct, blank, endless loops, memory blow-up, ``os._exit``,
a segfault, monkeypatched numpy/builtins/bnlib, edited or deleted test cells,
edited metadata, duplicated cells, corrupt, missing and renamed notebooks, huge
output); for every assignment, the correct and blank notebooks and every named
mistake of ``tests/injections.py`` (packed one per part per submission).
"""

import copy
import csv
import html
import json
import subprocess

import nbformat
import pytest
from engine_tools import (
    ROOT,
    by_student,
    cell,
    correct_submission,
    edited,
    environ_with_venv,
    grade,
    make_course,
    release,
    submit,
    with_answers,
)
from exercise_tools import (
    ASSIGNMENTS,
    first_failure,
    hidden_seed,
    manual_points,
    namespace_of,
    notebook,
    pack,
)
from injections import ALL

from bngrade.driver.store import Store
from bnlib.checks import parts_for

pytestmark = pytest.mark.slow

PS1 = "ps1-forward"
POINTS = {"ps1_train_forward": 3.0, "ps1_worked_examples": 2.0, "ps1_inference_forward": 3.0}
UNBIASED = ("var = x.var(axis=0)  #", "var = x.var(axis=0, ddof=1)  #")
TAMPER = {
    "patch_allclose": "np.allclose = lambda *a, **k: True",
    "patch_numpy_testing": ("np.testing.assert_allclose = lambda *a, **k: None\n"
                            "np.testing.assert_array_equal = lambda *a, **k: None"),
    "patch_assertionerror": ("import builtins\n"
                             "builtins.AssertionError = type('Quiet', (Exception,), {})"),
    "patch_import": ("import builtins, types\n_real = builtins.__import__\n"
                     "def _fake(name, *args, **kwargs):\n"
                     "    if name == 'bnlib.checks':\n"
                     "        return types.SimpleNamespace(check=lambda *a, **k: None)\n"
                     "    return _real(name, *args, **kwargs)\n"
                     "builtins.__import__ = _fake"),
    "patch_bnlib": ("import bnlib, bnlib.checks.core\n"
                    "bnlib.checks.core.same = lambda *a, **k: True\n"
                    "bnlib.batchnorm_forward = batchnorm_forward"),
}
MEMORY_HOG = "    hog = []\n    while True:\n        hog.append(np.empty(100_000_000))\n"


def _drop(nb, grade_id):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _meta(nb, which, **changes):
    nb = copy.deepcopy(nb)
    cell(nb, which).metadata["nbgrader"].update(changes)
    return nb


def _duplicate_answer(nb):
    nb = copy.deepcopy(nb)
    right = cell(nb, "answer_forward")
    wrong = copy.deepcopy(right)
    wrong.source = wrong.source.replace(*UNBIASED)
    nb.cells.insert(nb.cells.index(right), wrong)  # the earlier copy is wrong, the last right
    return nb


def catalogue(ok, blank):
    """name -> (submission, expected points lost per part, flags required, message bits)."""
    wrong = edited(ok, "answer_forward", *UNBIASED)
    fwd = "ps1_train_forward"
    cases = {
        "correct": (ok, {}, set(), {}),
        "blank_release": (blank, dict(POINTS), set(), {fwd: "NotImplementedError"}),
        "loop_in_function": (edited(ok, "answer_forward", '"""\n', '"""\n    while True:\n'
                                    '        pass\n'), {fwd: 3}, {"timeout"},
                             {fwd: "did not finish within"}),
        "loop_in_cell": (edited(ok, "answer_examples", append="while True:\n    pass"),
                         {}, {"timeout"}, {}),  # interrupted: what ran before the loop stays
        "memory_blowup": (edited(ok, "answer_forward", '"""\n', '"""\n' + MEMORY_HOG),
                          {fwd: 3}, {"memory"}, {fwd: "ran out of memory"}),
        "os_exit_in_answer": (edited(ok, "answer_examples", append="import os\nos._exit(0)"),
                              {"ps1_worked_examples": 2}, {"crashed"}, {}),
        "segfault": (edited(ok, "answer_examples", append="import ctypes\nctypes.string_at(0)"),
                     {"ps1_worked_examples": 2}, {"crashed"}, {}),
        "calls_reference": (edited(ok, "answer_forward", append=(
            "import bnlib\n\ndef batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
            "    return bnlib.batchnorm_forward(x, gamma, beta, eps)")),
            {fwd: 3}, set(), {fwd: "is bnlib's reference: it is not available"}),
        "test_cell_edited": (edited(wrong, fwd, "check(", "print('OK') or ("),
                             {fwd: 3}, {"tests_edited"}, {fwd: "biased variance"}),
        "test_cell_deleted": (_drop(wrong, fwd), {fwd: 3}, {"cells_missing"},
                              {fwd: "biased variance"}),
        "test_cell_deleted_right_answer": (_drop(ok, fwd), {}, {"cells_missing"}, {}),
        "points_edited": (_meta(_meta(ok, fwd, points=100), "ps1_inference_forward",
                                locked=False), {}, {"metadata_edited"}, {}),
        "grade_id_edited": (_meta(ok, "answer_forward", grade_id="mine"), {},
                            {"metadata_edited"}, {}),
        "cells_duplicated": (_duplicate_answer(ok), {}, {"cells_duplicated"}, {}),
        "corrupt_notebook": (nbformat.writes(ok)[:500], dict(POINTS), {"corrupt"}, {}),
        "missing_notebook": (None, dict(POINTS), {"missing"}, {}),
        "renamed_notebook": (ok, {}, {"renamed"}, {}),
        "huge_output": (edited(ok, "answer_forward", append="print('x' * 50_000_000)"), {},
                        set(), {}),
    }
    for name, code in TAMPER.items():  # patches in the student's process reach no checker
        cases[name] = (edited(wrong, "answer_forward", append=code), {fwd: 3}, set(),
                       {fwd: "biased variance"})
    return cases


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("catalogue"), ASSIGNMENTS, ROOT)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    ok, blank = correct_submission(course, PS1), release(course, PS1)
    cases = catalogue(ok, blank)
    assert sorted(cases) == sorted(CASES)
    for name, (nb, *_rest) in cases.items():
        filename = f"{PS1} (1).ipynb" if name == "renamed_notebook" else None
        submit(course, name, PS1, nb, filename)
    packs = {}
    for a in ASSIGNMENTS:
        good = correct_submission(course, a)
        submit(course, "zz_correct", a, good)
        submit(course, "zz_blank", a, release(course, a))
        injections = [i for i in ALL if i.assignment == a]
        solution = notebook("solutions", a)
        for k, (nb, verdicts) in enumerate(pack(solution, injections)):
            submit(course, f"mistakes_{k:02d}", a, with_answers(course, a, nb))
            ns = namespace_of(nb)  # what the checkers say in-process, for the other parts
            fails = {p.grade_id: first_failure(p.grade_id, ns, hidden_seed(solution, p.grade_id))
                     for p in parts_for(a)}
            packs[(a, f"mistakes_{k:02d}")] = (verdicts, fails)
    summaries = {a: grade(course, a, time_limit=10 if a == PS1 else 30) for a in ASSIGNMENTS}
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    rows = {a: {r["student"]: r for r in store.rows(a)} for a in ASSIGNMENTS}
    nbgrader_scores = {a: store.gradebook_scores(a) for a in ASSIGNMENTS}
    store.close()
    return {"course": course, "cases": cases, "packs": packs, "summaries": summaries,
            "rows": rows, "nbgrader": nbgrader_scores}


def questions(row):
    return {q["grade_id"]: q for nb in row["detail"] for q in nb["questions"]}


CASES = ["correct", "blank_release", "loop_in_function", "loop_in_cell", "memory_blowup",
         "os_exit_in_answer", "segfault", "calls_reference", "test_cell_edited",
         "test_cell_deleted", "test_cell_deleted_right_answer", "points_edited",
         "grade_id_edited", "cells_duplicated", "corrupt_notebook", "missing_notebook",
         "renamed_notebook", "huge_output", *TAMPER]


@pytest.mark.parametrize("name", CASES)
def test_catalogue_case_gets_its_expected_outcome(graded, name):
    _nb, lost, flags, words = graded["cases"][name]
    row = graded["rows"][PS1][name]
    got = questions(row)
    assert {g: q["score"] for g, q in got.items()} == \
        {g: p - lost.get(g, 0) for g, p in POINTS.items()}
    assert row["score"] == sum(POINTS.values()) - sum(lost.values())
    assert row["max_score"] == sum(POINTS.values())  # edited points never count
    kinds = {f["kind"] for f in row["flags"]}
    assert flags <= kinds, row["flags"]
    if not flags:
        assert not kinds & {"tampered", "timeout", "crashed", "memory", "corrupt", "missing",
                            "calls_reference", "grader_error", "worker_died"}, row["flags"]
    for gid, text in words.items():
        assert text in got[gid]["message"], got[gid]["message"]
    # the gradebook nbgrader reads holds the engine's scores, for every case
    assert graded["nbgrader"][PS1][name] == {g: q["score"] for g, q in got.items()}


def test_every_named_mistake_loses_its_part_and_is_named(graded):
    assert len(graded["packs"]) >= 5
    for (assignment, student), (verdicts, fails) in graded["packs"].items():
        got = questions(graded["rows"][assignment][student])
        hit = {i.grade_id: i for i in verdicts}
        for part in parts_for(assignment):
            q = got[part.grade_id]
            if part.grade_id in hit:
                assert q["score"] == 0 and q["mistake"] == hit[part.grade_id].mistake, \
                    (assignment, student, q)
            else:  # a part that shares code with a broken one may fail too, as in-process
                assert q["score"] == (0 if fails[part.grade_id] else q["points"]), \
                    (assignment, student, q, fails[part.grade_id])
        row = graded["rows"][assignment][student]
        assert row["score"] < row["max_score"]
        assert not {f["kind"] for f in row["flags"]} & {"tampered", "inconsistent"}


def test_correct_and_blank_get_full_marks_and_zero_in_every_assignment(graded):
    for a in ASSIGNMENTS:
        students = by_student(graded["summaries"][a])
        pending = sum(manual_points(a).values())  # graded by hand, later
        assert students["zz_correct"]["score"] == students["zz_correct"]["max_score"] - pending > 0
        assert students["zz_blank"]["score"] == 0
        # The correct notebook IS the source: flagged as a copy of it (and of every case
        # built on it), nothing else.
        assert set(students["zz_correct"]["flags"]) <= {"copies_reference", "copies_classmate"}
        assert students["zz_blank"]["flags"] == []


def test_feedback_has_the_engine_verdict_and_no_hidden_test(graded):
    course = graded["course"]
    for student in ("correct", "test_cell_edited", "patch_allclose"):
        page = (course / "feedback" / student / PS1 / f"{PS1}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in page and "hidden=True" not in page
        assert "Grader" in page
    page = html.unescape((course / "feedback" / "patch_allclose" / PS1 / f"{PS1}.html")
                         .read_text())
    assert "biased variance" in page


def test_outputs_are_bounded_and_every_row_is_there(graded):
    course = graded["course"]
    huge = course / "autograded" / "huge_output" / PS1 / f"{PS1}.ipynb"
    assert huge.stat().st_size < 2_000_000
    assert json.loads(huge.read_text())["cells"]
    summary = graded["summaries"][PS1]
    assert summary["students"] == len(graded["cases"]) + 2 + \
        sum(1 for a, _s in graded["packs"] if a == PS1)
    csv = (course / "reports" / PS1 / "grades.csv").read_text().splitlines()
    assert len(csv) == summary["students"] + 1
    assert not (course / "autograded" / "corrupt_notebook" / PS1 / f"{PS1}.ipynb").exists()


def test_nbgraders_own_commands_and_the_bngrade_command_work_on_the_course(graded):
    course, env = graded["course"], environ_with_venv()

    def run(*cmd):
        done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    run("nbgrader", "export")
    exported = {row["student_id"]: float(row["score"]) for row in
                csv.DictReader(open(course / "grades.csv")) if row["assignment"] == PS1}
    engine = {s: p["score"] for s, p in by_student(graded["summaries"][PS1]).items()}
    assert {s: exported[s] for s in engine} == engine
    assert {exported[s] for s in exported.keys() - engine.keys()} <= {0.0}  # no submission
    run("nbgrader", "generate_feedback", PS1, "--student", "correct", "--force")
    assert (course / "feedback" / "correct" / PS1 / f"{PS1}.html").exists()
    out = run("bngrade", "summary", PS1, "--course-dir", str(course))
    assert f"# {PS1}: {len(engine)} submissions" in out and "## Flagged submissions" in out
