"""Attacks on how a notebook is executed, and on what its outputs and verdicts say (issue 17).

Each test is an attack a student who read the grader's source could try, with the
defence that stops it; where the attack's success is not obvious, a control shows
that it works without the defence.

* one execution: the student's code runs in one sandbox per notebook, the scoring
  sandbox with the stub bnlib; no second sandbox (nbgrader's in-kernel run, which held
  the public bnlib and ran beside it) exists to pass data to;
* the outputs a kernel would show (stdout, stderr, results, ``display()``, matplotlib
  figures, errors with the student's own lines) come from that one run;
* hidden cases cannot be replayed: an answer that raises with the case in its message
  learns nothing, and the cases change with the submission's content;
* every output is inert in the autograded notebook (and so in nbgrader's formgrader,
  configured to sanitise) and in the feedback, including SVG animations;
* a "raised" verdict quotes the student's line, never the grader's.
"""

import html
import json
import re

import nbformat
import pytest
from engine_tools import cell, edited, make_course, release, submit
from live_html import HTML_ATTACKS, JS, Live, inert

from bngrade import sanitize
from bngrade.results import Submission
from bngrade.sandbox import isolation
from bngrade.sandbox.box.limits import Limits
from bngrade.worker import scoring
from bnlib.checks import REGISTRY
from bnlib.checks.kinds import ValuePart

SANDBOXED = pytest.mark.slow

RIGHT = """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, mu, var, eps)"""

# Right on the visible cases (the release shows them: (4, 3) and (8, 5) inputs); on any
# other input it raises with the input packed into its message, to read in the feedback.
# Right on the visible cases' shapes, raising with the case packed into its message on any
# other (a hidden case).
VISIBLE_SHAPES = tuple(sorted({tuple(case[0].shape) for case in
                               REGISTRY["ps1_train_forward"].cases(hidden=False)}))
REPLAY = """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    if x.shape not in """ + repr(VISIBLE_SHAPES) + """:
        raise ValueError("LEAK" + repr((x.shape, x.ravel()[:4].tolist(), eps)))
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, mu, var, eps)"""


def grade_one(tmp_path, nb, student="ann", seconds=5.0):
    """Grade one bn-mini submission as a worker does; the result's first notebook."""
    from bngrade.driver import engine
    from bngrade.driver.course import Course
    from bngrade.driver.store import Store
    from bngrade.worker import task

    path = tmp_path / "course"
    if not path.exists():
        make_course(path)
    submit(path, student, "bn-mini", nb)
    course = Course(str(path))
    store = Store(course.db_url)
    payload, _ = engine.plan(course, store, "bn-mini", [student], True,
                             Limits(seconds=seconds, memory_mb=1024))[student]
    store.close()
    return Submission.from_json(task.grade_submission(payload)).notebooks[0], payload


def answered(tmp_path, answer, extra=None):
    """The release with ``answer`` as the forward answer (and ``extra`` cells appended)."""
    make_course(tmp_path / "course")
    nb = release(tmp_path / "course", "bn-mini")
    nb = edited(nb, "answer_forward", old=cell(nb, "answer_forward").source, new=answer)
    nb = edited(nb, "answer_scale", old=cell(nb, "answer_scale").source,
                new="def scale(x):\n    return 2 * x")
    for text in extra or ():
        nb.cells.append(nbformat.v4.new_code_cell(text))
    return nb


def question(nb, grade_id):
    return next(q for q in nb.questions if q.grade_id == grade_id)


# ------------------------------------------------------------------ one execution


@SANDBOXED
def test_student_code_runs_once_in_one_scoring_sandbox(tmp_path, monkeypatch):
    """The lock-channel attack needs two sandboxes of one notebook alive at once, one of
    them holding the public bnlib (nbgrader's in-kernel run). Every sandbox a grade starts
    is recorded: one per notebook, the scoring view; without the defence the in-kernel
    run's sandbox (view "public", module "kernel") was started beside it."""
    started = []
    real = isolation.prepare

    def spy(module, rlimits, args=(), view="scoring", *rest, **kwargs):
        started.append((module, view))
        return real(module, rlimits, args, view, *rest, **kwargs)

    monkeypatch.setattr(isolation, "prepare", spy)
    nb = answered(tmp_path, RIGHT, ["marker = 41 + 1\nprint('ran', marker)"])
    result, _ = grade_one(tmp_path, nb)
    assert question(result, "ps1_train_forward").score == 3.0
    assert started == [("inside", "scoring")]
    for gone in ("worker.inkernel", "worker.kernels", "sandbox.box.kernel", "inkernel"):
        with pytest.raises(ImportError):
            __import__(f"bngrade.{gone}")


@SANDBOXED
def test_the_one_run_gives_the_outputs_a_kernel_would(tmp_path):
    extra = [
        "print('to stdout')\nimport sys\nprint('to stderr', file=sys.stderr)\n6 * 7",
        "class Table:\n    def _repr_html_(self):\n        return '<b>bold</b>'\n"
        "display(Table())\nx = 1;",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
        "def inner():\n    return 1 / 0\ninner()",
    ]
    nb = answered(tmp_path, RIGHT, extra)
    result, _ = grade_one(tmp_path, nb, seconds=60)  # a first matplotlib import is slow
    cells = nbformat.reads(result.autograded, as_version=4).cells[-4:]
    streams = {o["name"]: o["text"] for o in cells[0].outputs if o["output_type"] == "stream"}
    assert streams == {"stdout": "to stdout\n", "stderr": "to stderr\n"}
    assert cells[0].outputs[-1]["output_type"] == "execute_result"
    assert cells[0].outputs[-1]["data"]["text/plain"] == "42"
    assert [o["data"].get("text/html") for o in cells[1].outputs] == ["<b>bold</b>"]
    png = [o for o in cells[2].outputs if "image/png" in o.get("data", {})]
    assert len(png) == 1 and png[0]["data"]["image/png"].startswith("iVBOR")
    error = cells[3].outputs[-1]
    assert error["output_type"] == "error" and error["ename"] == "ZeroDivisionError"
    trace = "\n".join(error["traceback"])
    assert "return 1 / 0" in trace and "inner" in trace
    assert "bnbox" not in trace and "inside.py" not in trace  # the grader's frames: never
    test = cell(nbformat.reads(result.autograded, as_version=4), "ps1_train_forward")
    assert test.outputs[0]["text"].startswith("OK - ")
    assert "HIDDEN" not in test.source  # hidden tests are the grader's


# ------------------------------------------------------------------ hidden cases


@SANDBOXED
def test_an_answer_that_raises_with_the_hidden_case_learns_nothing(tmp_path):
    nb = answered(tmp_path, REPLAY)
    result, payload = grade_one(tmp_path, nb)
    verdict = question(result, "ps1_train_forward")
    assert verdict.score == 0.0 and verdict.mistake == "raised"
    assert "raised ValueError on a hidden case" in verdict.message
    # what the sandbox's answer put in its message reaches no page (its code shows "LEAK"
    # + repr(...); the message it made would show "LEAK((")
    seen = json.dumps([verdict.message, result.autograded, result.feedback])
    assert "LEAK((" not in seen and "LEAK((" not in html.unescape(seen)
    part = REGISTRY["ps1_train_forward"]
    cells = scoring.notebook_cells(nbformat.reads(result.autograded, as_version=4))
    seed = scoring.seed_for(json.loads(payload)["salt"], "ann", part.grade_id,
                            scoring.content_digest(cells))
    for case in part.cases(hidden=True, seed=seed):
        shape = repr(tuple(case[0].shape))
        assert shape not in verdict.message and shape not in (result.feedback or "")
    # control: the checker's own words on those records quote the student's message
    records = [{"error": "ValueError: LEAK((8, 5), ...)"}]
    assert "LEAK" in part.evaluate([()], records).message


def test_a_hidden_failure_says_the_mistake_or_the_kind_never_the_case():
    part = REGISTRY["ps1_train_forward"]
    visible, hidden = part.cases(), part.cases(hidden=True, seed=7)
    rng_x = hidden[0][0]
    from bnlib.checks.plain import to_plain

    right = [{"out": to_plain(part.reference(*c)), "args_after": to_plain(list(c)),
              "error": None, "used_reference": []} for c in visible]
    wrong = [{"out": to_plain((c[0] * 0 + 1.5, None)), "args_after": to_plain(list(c)),
              "error": None, "used_reference": []} for c in hidden]
    outcome = scoring.judge(part, visible, hidden, right + wrong)
    assert outcome.mistake == "wrong_value" and "hidden case" in outcome.message
    assert not re.search(r"\d\.\d", outcome.message)  # no value, expected or got
    assert repr(rng_x.shape) not in outcome.message
    # a student's own exception class, named to carry data, is not named back
    named = [{"error": "Case_8_5: x", "used_reference": []} for _ in hidden]
    said = scoring.judge(part, visible, hidden, right + named)
    assert "Case_8_5" not in said.message and "raised an exception" in said.message
    typed = [{"error": "TypeError: (8, 5) secret", "used_reference": []} for _ in hidden]
    said = scoring.judge(part, visible, hidden, right + typed)
    assert "raised TypeError" in said.message and "secret" not in said.message


def test_hidden_seeds_follow_the_submission_content():
    a = scoring.content_digest([("<answer cell q>", "def f(x): return x", 3)])
    b = scoring.content_digest([("<answer cell q>", "def f(x): return x  # again", 3)])
    assert scoring.seed_for("salt", "ann", "q", a) == scoring.seed_for("salt", "ann", "q", a)
    assert scoring.seed_for("salt", "ann", "q", a) != scoring.seed_for("salt", "ann", "q", b)
    assert scoring.seed_for("salt", "ann", "q", a) != scoring.seed_for("salt", "bob", "q", a)
    assert scoring.seed_for("salt", "ann", "q", a) != scoring.seed_for("other", "ann", "q", a)


def test_no_hidden_case_is_written_in_the_package_students_install():
    """Every function part's hidden cases come from the seed (the grader's, per submission):
    five seeds give at least two different sets. (Without the defence, two ps5 parts
    returned the same literal cases for every seed.)"""
    for gid, part in REGISTRY.items():
        if isinstance(part, ValuePart):  # values and choices: no inputs to hide
            continue
        drawn = {repr([tuple(repr(v) for v in c) for c in part.cases(hidden=True, seed=s)])
                 for s in range(5)}
        assert len(drawn) > 1, gid


# ------------------------------------------------------------------ inert outputs

ATTACKS = HTML_ATTACKS


@pytest.mark.parametrize("attack", ATTACKS)
def test_each_html_and_svg_attack_is_madeinert(attack):
    assert not inert(attack)  # control: the attack as written is live
    assert inert(sanitize.html_fragment(attack))
    page = sanitize.html_document(f"<html><body>{attack}</body></html>")
    if "url(" not in attack:  # a page's own styles may load: its CSP refuses remote loads
        assert inert(page.replace(html.escape(sanitize.CSP), ""))


def test_outputs_keep_no_javascript_and_clean_html_and_svg():
    raw = [{"output_type": "display_data", "data": {
        "application/javascript": JS, "text/html": ATTACKS[1],
        "image/svg+xml": ATTACKS[4], "text/markdown": f"[x](javascript:{JS})",
        "text/plain": "ok", "image/png": "not base64 <script>"}, "metadata": {"x": 1}},
        {"output_type": "update_display_data", "data": {"text/html": ATTACKS[0]}},
        {"output_type": "stream", "name": "stdout", "text": ["a", "b"]},
        {"output_type": "error", "ename": "E\x1b[31m", "evalue": "v", "traceback": [1, "t"]}]
    out = sanitize.outputs(raw)
    assert [o["output_type"] for o in out] == ["display_data", "stream", "error"]
    assert set(out[0]["data"]) == {"text/html", "image/svg+xml", "text/plain"}
    assert inert(json.dumps(out)) and out[0]["metadata"] == {}
    assert out[1]["text"] == "ab" and out[2]["traceback"] == ["", "t"]


@SANDBOXED
def test_live_outputs_forged_in_the_sandbox_land_inert(tmp_path):
    """The student's code shares its process with the capture: it can append any output
    dict it likes. The autograded notebook and the feedback still hold nothing live."""
    forge = (
        "import bnbox.inside as box\n"  # noqa: UP031
        "class Evil:\n    def _repr_html_(self):\n        return %r\n"
        "    def _repr_svg_(self):\n        return %r\n"
        "display(Evil())\n"
        "box._current[0].outputs.append({'output_type': 'display_data', 'metadata': {},"
        " 'data': {'application/javascript': %r, 'text/html': %r}})\n"
        "print(%r)" % (ATTACKS[0] + ATTACKS[1], ATTACKS[4] + ATTACKS[5], JS,
                       ATTACKS[2], ATTACKS[0]))
    nb = answered(tmp_path, RIGHT, [forge])
    result, _ = grade_one(tmp_path, nb)
    outputs = nbformat.reads(result.autograded, as_version=4).cells[-1].outputs
    assert outputs, "the forged cell's outputs are kept (inert), not lost"
    assert inert(json.dumps([o for o in outputs if o["output_type"] != "stream"]))
    assert all("application/javascript" not in o.get("data", {}) for o in outputs)
    assert Live(result.feedback).found == []
    # the formgrader renders the stored notebook with the course's nbgrader config
    from engine_tools import ROOT
    from nbconvert.exporters import HTMLExporter

    from bngrade import nbg

    stored = nbformat.reads(result.autograded, as_version=4)
    stored.cells = stored.cells[-1:]
    stored.cells[0].source = ""  # the cell's code (the attack as text) is not an output
    page, _ = HTMLExporter(config=nbg.load_config(str(ROOT))).from_notebook_node(stored)
    live = Live(page)  # (the page's own scripts are nbconvert's: none may hold the attack)
    assert not any(JS in text for text in live.scripts)
    assert [f for f in live.found if f != "script"] == []


def test_the_formgrader_runs_no_javascript_output():
    """A Javascript output that reached a stored notebook some other way (stock
    ``nbgrader autograde``) does not run in the formgrader: the course's config sanitises."""
    from engine_tools import ROOT
    from nbconvert.exporters import HTMLExporter

    from bngrade import nbg

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"application/javascript": JS,
                                                     "text/html": ATTACKS[1],
                                                     "text/plain": "x"})])])
    live, _ = HTMLExporter().from_notebook_node(nb)
    assert any(JS in text for text in Live(live).scripts)  # control: unsanitised, it runs
    safe, _ = HTMLExporter(config=nbg.load_config(str(ROOT))).from_notebook_node(nb)
    checked = Live(safe)
    assert not any(JS in text for text in checked.scripts)
    assert [f for f in checked.found if f != "script"] == []


# ------------------------------------------------------------------ the student's line


@SANDBOXED
def test_a_raised_verdict_quotes_the_students_line_never_the_graders(tmp_path):
    answer = RIGHT.replace("    mu = x.mean(axis=0)",
                           "    mu = x.mean(axis=0)\n    check_shapes = x.reshape(7, 7)")
    result, _ = grade_one(tmp_path, answered(tmp_path, answer))
    verdict = question(result, "ps1_train_forward")
    assert verdict.mistake == "raised"
    assert "check_shapes = x.reshape(7, 7)" in verdict.message, verdict.message
    assert "_reply" not in verdict.message and "calls.py" not in verdict.message
    assert "`batchnorm_forward`, line 3" in verdict.message


def test_the_sandbox_names_the_line_and_the_grader_keeps_its_own_frames_out():
    from bngrade.worker.calls import RemoteError, remote_error
    from bnlib.checks.core import raised_where

    exc = remote_error({"type": "ValueError", "text": "t", "where": {
        "cell": "<answer cell a>", "line": 4, "function": "f", "code": "y = x[9]"}})
    try:
        raise exc
    except RemoteError as caught:
        assert raised_where(caught) == " (in `f`, line 4: `y = x[9]`)"
    bare = remote_error({"type": "ValueError", "text": "t"})
    try:
        raise bare
    except RemoteError as caught:
        assert raised_where(caught) == ""  # nothing rather than a grader line
