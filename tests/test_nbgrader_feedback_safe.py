"""nbgrader's own commands, exactly as the README prints them, leak nothing into feedback.

A temporary course (the repository's ``solutions/`` and ``nbgrader_config.py``, with a
5 s cell timeout so that a loop costs seconds) gets ps1-forward from students who
attack the hidden tests the ways a notebook can: an answer that loops only when the
hidden test calls it (the timeout's traceback shows the hidden line and its seed), one
that crashes there (a ``BaseException``, which the checker does not catch: a
traceback through the checker's code), and one that prints what it can reach from
the kernel (the calling frames with ``inspect``, ``_ih``/``In``, the source notebook
read from disk, the gradebook with bngrade's salt). Then ``nbgrader autograde
ps1-forward`` and ``nbgrader generate_feedback ps1-forward``. The autograded
notebooks hold the leaks (checked, so the attack is real); the feedback pages must
hold none: no hidden test, no seed, no salt, no checker source, no absolute path of
the server. Without the course's feedback configuration (``bngrade.worker.feedback_page``)
every test here fails but those checks that the attack is real.
"""

import html
import json
import re
import shutil
import site
import sys
from pathlib import Path

import pytest
from exercise_tools import ROOT, inject, notebook, source
from test_nbgrader import nbgrader, submit, visible_text

import bnlib.checks.core
from bngrade.driver.store import Store

pytestmark = pytest.mark.slow
PS1 = "ps1-forward"
HIDDEN_CALL = "any(f.frame.f_locals.get('hidden') for f in __import__('inspect').stack())"
ANSWER = "def batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
STUDENTS = {
    # the hidden run's timeout: its traceback shows `check(..., hidden=True, seed=11)`
    "loops": [(ANSWER, ANSWER + f"    while {HIDDEN_CALL}:\n        pass\n")],
    # not an Exception: the checker does not catch it; a traceback through bnlib.checks
    "crashes": [(ANSWER, ANSWER + "    class Crash(BaseException):\n        pass\n"
                 f"    if {HIDDEN_CALL}:\n        raise Crash('out')\n")],
    # prints what the kernel can reach
    "peeks": [(ANSWER, ANSWER + "    import inspect\n"
               "    for f in inspect.stack():\n"
               "        print(f.filename, f.lineno, f.code_context, f.frame.f_locals.get('seed'),"
               " 'seed=%s' % f.frame.f_locals.get('seed'))\n"),
              ("x_A = np.array([2.0, 4.0, 6.0, 8.0])\n",
               "x_A = np.array([2.0, 4.0, 6.0, 8.0])\nprint(_ih)\nprint(In[-3:])\n"
               "import json, os, sqlite3\n"
               "root = os.path.abspath('../../..')  # the course, from autograded/<s>/<id>/\n"
               "path = os.path.join(root, 'solutions', 'ps1-forward', 'ps1-forward.ipynb')\n"
               "print(path, [c['source'] for c in json.load(open(path))['cells']])\n"
               "book = sqlite3.connect(os.path.join(root, 'gradebook.db'))\n"
               "print(book.execute('select source from source_cell').fetchall())\n"
               "print(book.execute('select value from bngrade_setting').fetchall())\n"
               "print(os.getcwd(), __import__('bnlib').__file__)\n")],
}


def hidden_lines():
    """Every line of ps1's hidden regions, as the source notebook has them."""
    lines, inside = [], False
    for cell in notebook("solutions", PS1)["cells"]:
        for line in source(cell).splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and line.strip():
                lines.append(line.strip())
    assert lines and all("seed=" in line for line in lines)
    return lines


def checker_lines():
    """Code lines of the checker (long enough to be telling, not in the notebook)."""
    text = Path(bnlib.checks.core.__file__).read_text()
    ours = "\n".join(source(c) for c in notebook("solutions", PS1)["cells"])
    return [t.strip() for t in text.splitlines() if len(t.strip()) >= 25
            and not t.strip().startswith(("#", '"', "'")) and t.strip() not in ours]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("leakcourse")
    shutil.copytree(ROOT / "solutions", course / "solutions")
    config = (ROOT / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + "\nc.Execute.timeout = 5\n")
    nbgrader(course, "generate_assignment", PS1)
    # the course was graded by bngrade before: its gradebook holds the hidden cases' salt
    store = Store(f"sqlite:///{course / 'gradebook.db'}")
    (course / "salt").write_text(store.salt())
    store.close()
    solution = notebook("solutions", PS1)
    submit(course, "solution", PS1, solution)
    for student, edits in STUDENTS.items():
        submit(course, student, PS1, inject(solution, edits))
    # exactly as the README prints them
    nbgrader(course, "autograde", PS1)
    nbgrader(course, "generate_feedback", PS1)
    return course


def page(course, student):
    return (course / "feedback" / student / PS1 / f"{PS1}.html").read_text()


def autograded_outputs(course, student):
    nb = json.loads((course / "autograded" / student / PS1 / f"{PS1}.ipynb").read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


SERVER_PATHS = [str(ROOT), sys.prefix, *site.getsitepackages(), "/site-packages/", "/tmp/",
                "/root/", "/usr/lib/", "/work/"]
ABSOLUTE = re.compile(r"(?<![\w:/.])/(?:[\w.+-]+/){2,}[\w.+-]+")


@pytest.mark.parametrize("student", list(STUDENTS))
def test_the_attack_reaches_the_autograded_notebook(course, student):
    # nbgrader's autograde runs the hidden tests in the student's kernel: the leak is real
    outputs = re.sub(r"\\u001b\[[0-9;]*m", "", autograded_outputs(course, student))
    assert "seed=11" in outputs
    if student == "peeks":  # it read the source notebook and the gradebook
        assert (course / "salt").read_text() in outputs
        assert "ps1-forward.ipynb" in outputs and '"output_type": "error"' not in outputs
        assert outputs.count("hidden=True, seed=11") >= 4


@pytest.mark.parametrize("student", ["solution", *STUDENTS])
def test_feedback_shows_no_hidden_test_seed_checker_source_or_path(course, student):
    raw = page(course, student)
    for text in (html.unescape(raw), visible_text(raw)):
        for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "hidden=True"):
            assert marker not in text, (student, marker)
        for line in hidden_lines():
            assert line not in text, (student, line)
        assert not re.search(r"seed\W{0,6}11\b", text), (student, re.search(
            r".{80}seed\W{0,6}11\b.{40}", text))
        for line in checker_lines():
            assert line not in text, (student, line)
        assert (course / "salt").read_text() not in text, student
        for path in SERVER_PATHS + [str(course)]:
            assert path not in text, (student, path)
        assert not ABSOLUTE.search(text), (student, ABSOLUTE.search(text).group(0))


def test_feedback_still_says_what_happened(course):
    loops, crashes = visible_text(page(course, "loops")), visible_text(page(course, "crashes"))
    assert "not shown: the cell also runs hidden tests" in loops
    assert "KeyboardInterrupt" in loops or "CellTimeoutError" in loops
    assert "stopped with Crash" in crashes
    # the parts that are right still say so
    assert visible_text(page(course, "solution")).count("OK - ") >= 3
    # the peeking student's own output is there, with the hidden parts blanked
    peeks = visible_text(page(course, "peeks"))
    assert "[hidden]" in peeks and "x_A" in peeks


def test_feedback_loads_nothing_from_another_host(course):
    raw = page(course, "solution")
    # nothing is loaded from elsewhere (a link to the course's chapter is not a load)
    assert not re.search(r"""(?:\ssrc\s*=|<link[^>]*href\s*=)\s*["']?(?:https?:)?//""", raw,
                         re.I)
    assert not re.search(r"url\(\s*[\"']?(?:https?:)?//|@import", raw, re.I)
    assert "cdn" not in raw.lower() and "<script" not in raw.lower()
    assert "Content-Security-Policy" in raw
    assert "<math" in raw and "$$" not in visible_text(raw)


MATH_FACTS = """() => {
  const maths = [...document.querySelectorAll('math')];
  const frac = document.querySelector('math[display="block"] mfrac');
  const [num, den] = frac ? [...frac.children].map(c => c.getBoundingClientRect()) : [null, null];
  return {maths: maths.length, tall: maths.filter(m => m.getBoundingClientRect().height > 0).length,
          stacked: !!frac && num.bottom <= den.top + 1 && num.height > 0 && den.height > 0,
          text: document.body.innerText};
}"""


def test_math_in_feedback_renders_as_math_offline(course, browser):
    # Chromium with every request off 127.0.0.1 aborted: the page needs nothing else
    from builtsite import LocalServer, Visit

    with LocalServer(course / "feedback") as server:
        visit = Visit(browser, server)
        try:
            visit.page.goto(f"{server.url}solution/{PS1}/{PS1}.html")
            visit.page.wait_for_load_state("load")
            facts = visit.page.evaluate(MATH_FACTS)
        finally:
            visit.close()
    assert visit.external == [] and visit.console_errors == [], (visit.external,
                                                                 visit.console_errors)
    assert facts["maths"] > 0 and facts["tall"] == facts["maths"], facts["maths"]
    assert facts["stacked"], "the display formula's fraction is not laid out as a fraction"
    assert "$$" not in facts["text"] and "\\frac" not in facts["text"]
