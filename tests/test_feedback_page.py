"""The feedback page's redaction and math, in-process (``bngrade.worker.feedback_page``).

The end-to-end versions (nbgrader's own commands on attacking submissions, the page in
Chromium) are in ``tests/test_nbgrader_feedback_safe.py``.
"""

import nbformat
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbformat.v4 import new_code_cell, new_notebook, new_output

from bngrade.worker.feedback_page import (
    HIDDEN,
    Material,
    MathMLRenderer,
    Redact,
    problem_page,
    short_reason,
)

LINE = 'check("ps1_train_forward", globals(), hidden=True, seed=11)'
TEST_CELL = ('check("ps1_train_forward", globals())\n### BEGIN HIDDEN TESTS\n'
             f"{LINE}\n### END HIDDEN TESTS")
SITE = "/srv/course/.venv/lib/python3.11/site-packages"


def test_hidden_lines_and_seeds_are_blanked_in_every_form():
    m = Material([LINE])
    for text in (LINE, repr([LINE + "\n"]), '{"source": ' + f'"{LINE}"'.replace('"', '\\"')
                 + "}", "seed=11", "seed = 11", "{'seed': 11}", '"seed": 11'):
        out = m.scrub(text)
        assert "seed=11" not in out.replace(" ", "") and "'seed': 11" not in out, (text, out)
        assert "hidden=True" not in out
    assert m.scrub("seed=111 and 11 apples") == "seed=111 and 11 apples"
    assert HIDDEN in m.scrub(f"print({LINE})")


def test_paths_are_shortened_and_urls_left_alone():
    m = Material([])
    assert m.scrub(f"File {SITE}/numpy/core/x.py:3") == "File numpy/core/x.py:3"
    assert m.scrub("at ~/.pyenv/versions/3.11/lib/glob.py") == "at …/glob.py"
    assert m.scrub("open('/srv/course/solutions/ps1/ps1.ipynb')") == "open('…/ps1.ipynb')"
    url = "see https://example.org/a/b/c.html"
    assert m.scrub(url) == url


def test_library_frames_keep_where_but_not_their_code():
    tb = ["\x1b[31m----\x1b[39m", "\x1b[31mValueError\x1b[39m  Traceback (most recent call last)",
          "Cell In[3], line 2\n      1 x = 1\n----> 2 f(x)\n",
          f"File {SITE}/bnlib/checks/core.py:116, in Part.run(self)\n"
          "    115 try:\n--> 116     out = fn(*args)\n",
          "ValueError: bad"]
    out = Material([]).traceback(tb)
    assert out[2].startswith("Cell In[3]") and "f(x)" in out[2]
    assert out[3] == "File bnlib/checks/core.py:116, in Part.run(self)"
    assert "out = fn(*args)" not in "\n".join(out) and "\x1b" not in "\n".join(out)


def _notebook():
    answer = new_code_cell("def f(x):\n    print(_ih)", metadata={"nbgrader": {
        "solution": True, "grade": False, "grade_id": "answer", "locked": False}})
    answer.outputs = [new_output("stream", name="stdout", text=f"['', '{TEST_CELL!r}']\n")]
    test = new_code_cell(TEST_CELL, metadata={"nbgrader": {
        "solution": False, "grade": True, "grade_id": "ps1_train_forward", "points": 3,
        "locked": True}})
    test.outputs = [
        new_output("stream", name="stdout", text="printed by the answer\nOK - part: passed\n"),
        new_output("error", ename="KeyboardInterrupt", evalue="",
                   traceback=[f"----> 4 {LINE}", f"File {SITE}/bnlib/checks/core.py:1"]),
        new_output("error", ename="MistakeFound", evalue="part: not passed. Divide by N.",
                   traceback=["MistakeFound: part: not passed. Divide by N."])]
    return new_notebook(cells=[answer, test])


def test_a_hidden_test_cell_shows_a_note_and_the_verdict_only():
    nb, _ = Redact().preprocess(_notebook(), {})
    answer, test = nb.cells
    assert [o.output_type for o in test.outputs] == ["stream"]
    text = test.outputs[0].text
    assert "not shown" in text and "OK - part: passed" in text
    assert "MistakeFound: part: not passed. Divide by N." in text
    assert "stopped with KeyboardInterrupt" in text
    for secret in ("seed=11", "hidden=True", "printed by the answer", "core.py", SITE):
        assert secret not in text
    assert "hidden=True" not in answer.outputs[0].text and HIDDEN in answer.outputs[0].text


def test_math_becomes_mathml():
    html = MarkdownWithMath(renderer=MathMLRenderer(escape=False)).render(
        "Inline $\\mu$ and\n\n$$\\hat x = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}$$\n")
    assert "$" not in html and html.count("<math") == 2
    assert "<mfrac>" in html and 'display="block"' in html


def test_an_unreadable_notebook_page_is_plain_words():
    page = problem_page("ps1", "corrupt", "ps1 (2).ipynb: not a readable notebook "
                        "(JSONDecodeError: Expecting value: line 1 column 1 (char 0))", 8)
    assert "<code>ps1 (2).ipynb</code> could not be read" in page and "0 of 8 points" in page
    assert "JSONDecodeError" not in page and "Expecting value: line 1 column 1." in page
    page = problem_page("<b>", "corrupt", "<i>.ipynb: not a readable notebook (x)", 1)
    assert "<b>" not in page and "<i>" not in page
    assert short_reason("f: not a readable notebook (E: at /srv/a/b.py)") == "at …/b.py"
    assert "No notebook named" in problem_page("ps1", "missing", "", 8)


def test_the_notebook_format_round_trips():
    nb, _ = Redact().preprocess(_notebook(), {})
    nbformat.validate(nb)
