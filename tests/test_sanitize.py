"""bngrade.sanitize: student text stays on its line, feedback HTML carries no script."""

import csv
import io
from html.parser import HTMLParser

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from bngrade import sanitize

FORGED_ROW = "oops |\n| mallory | 10 / 10 | - |\n"
ANSI = "\x1b[2K\r\x1b[1A\x1b[32mall 10 tests passed\x1b[0m"


@pytest.mark.parametrize("text", [FORGED_ROW, ANSI, "a\rb", "a\u2028b", "x\u202eevil", "\x9b31m",
                                  "tab\there", "zero\u200bwidth", "nul\x00", "del\x7f"])
def test_line_has_no_control_character(text):
    out = sanitize.line(text)
    assert all(c.isprintable() for c in out), repr(out)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out


def test_line_shows_what_was_escaped_and_cuts_long_text():
    assert sanitize.line("a\nb\x1b[0m") == "a\\x0ab\\x1b[0m"
    assert sanitize.line("é ü ß 日本") == "é ü ß 日本"
    long = sanitize.line("x" * 1000, limit=50)
    assert len(long) == 50 and long.endswith("…")
    assert sanitize.line(None) == ""


def test_markdown_cell_cannot_forge_a_table_row_or_html():
    out = sanitize.markdown(FORGED_ROW + "<img src=x onerror=alert(1)> [link](javascript:x)")
    assert "\n" not in out
    assert "|" not in out.replace("\\|", "")
    assert "<" not in out.replace("\\<", "")
    # Rendered in a one-row table, it stays one row of three cells.
    row = f"| {out} | 1 | - |"
    cells = [c for c in row.replace("\\|", "") .split("|")]
    assert len(cells) == 5


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)",
                                  "=1\n=2"])
def test_csv_cell_is_never_a_formula(text):
    buf = io.StringIO()
    csv.writer(buf).writerow([sanitize.csv_cell(text), "ok"])
    [row] = list(csv.reader(io.StringIO(buf.getvalue())))
    assert row[0][0] not in "=+-@" and row[1] == "ok"
    assert buf.getvalue().count("\n") == 1


PAGE = """<!DOCTYPE html><html><head><title>fb</title>
<script src="https://cdn.example/require.js"></script>
<style>.x > p { color: red }</style>
<meta http-equiv="refresh" content="0;url=javascript:alert(1)">
</head><body>
<div class="output_html"><script>alert(document.cookie)</script>
<img src="x" onerror="alert(1)"><a href="javascript:alert(1)">click</a>
<a href=" JaVa&#x53;cript:alert(1)">entity</a>
<iframe src="https://evil.example"></iframe><object data="x.swf"></object>
<embed src="x"><form action="https://evil.example"><input name=a></form>
<svg><script>alert(2)</script><a xlink:href="javascript:alert(3)">s</a></svg>
<p style="background:url(javascript:alert(4))" title="</noscript><img src=x onerror=alert(5)>">t</p>
<noscript><p title="</noscript><img src=x onerror=alert(6)>"></noscript>
<img src="data:image/png;base64,iVBORw0KGgo=" alt="plot">
<a href="#section">ok</a><a href="https://example.org/doc">doc</a>
<!-- <script>alert(7)</script> -->
<details open ontoggle="alert(8)"><summary>s</summary></details>
</div></body></html>"""


class _Elements(HTMLParser):
    """Every element a browser-like tokenizer finds, with its attributes."""

    def __init__(self, text):
        super().__init__()
        self.found, self.comments = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def handle_comment(self, data):
        self.comments.append(data)


def test_html_document_removes_every_script_vector():
    out = sanitize.html_document(PAGE)
    parsed = _Elements(out)
    tags = {t for t, _ in parsed.found}
    assert not tags & {"script", "iframe", "object", "embed", "form", "noscript"}, tags
    for tag, attrs in parsed.found:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name, value in attrs.items():
            assert "javascript" not in (value or "").lower().replace(" ", ""), (tag, name)
        assert not (tag == "meta" and "refresh" in attrs.get("http-equiv", "").lower())
    assert not parsed.comments
    assert "alert(document" not in out and "alert(2)" not in out
    out = out.lower()
    # What is harmless survives.
    assert 'src="data:image/png;base64,ivborw0kggo="' in out
    assert 'href="#section"' in out and 'href="https://example.org/doc"' in out
    assert ".x > p { color: red }" in out and "<details open" in out


def test_html_document_puts_a_csp_first_in_head():
    out = sanitize.html_document(PAGE)
    head = out.split("<head>", 1)[1]
    assert head.startswith('<meta http-equiv="Content-Security-Policy"')
    assert "script-src &#x27;none&#x27;" in head.split(">", 1)[0]
    frag = sanitize.html_document("<p>hi</p><script>x()</script>")
    assert frag.startswith("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\"")
    assert "<script" not in frag


def test_html_text_is_escaped_not_reinterpreted():
    out = sanitize.html_document("<pre>a &lt;script&gt;alert(1)&lt;/script&gt; b</pre>")
    assert "&lt;script&gt;" in out and "<script" not in out


def test_hidden_tests_without_end_marker_do_not_raise_and_hide_to_the_end():
    src = "x = 1\n### BEGIN HIDDEN TESTS\nassert secret == 3\n"
    assert sanitize.clear_hidden_tests(src) == ("x = 1", True)
    nested = "a\n# BEGIN HIDDEN TESTS\nb\n# BEGIN HIDDEN TESTS\nc\n# END HIDDEN TESTS\nd"
    assert sanitize.clear_hidden_tests(nested) == ("a\nd", True)


def test_the_preprocessor_never_raises_and_leaves_student_cells_as_written():
    student = new_code_cell("def f():\n    pass  # BEGIN HIDDEN TESTS", metadata={
        "nbgrader": {"grade": False, "solution": True, "grade_id": "answer"}})
    test = new_code_cell("assert f() is None\n### BEGIN HIDDEN TESTS\nassert hidden()",
                         metadata={"nbgrader": {"grade": True, "solution": False,
                                                "grade_id": "t", "points": 1}})
    loose = new_code_cell("print('BEGIN HIDDEN TESTS')")
    nb = new_notebook(cells=[student, test, loose])
    nb, _ = sanitize.SafeClearHiddenTests().preprocess(nbformat.from_dict(nb), {})
    assert nb.cells[0].source.endswith("# BEGIN HIDDEN TESTS")
    assert nb.cells[1].source == "assert f() is None"
    assert nb.cells[2].source == "print('BEGIN HIDDEN TESTS')"
