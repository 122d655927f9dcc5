"""The feedback page, whichever command renders it: one exporter, one list of preprocessors.

``nbgrader generate_feedback`` (through ``nbgrader_config.py``: ``exporter_class``
and ``preprocessors``) and ``bngrade`` (:mod:`bngrade.worker.feedback`) both render a
feedback page with :class:`FeedbackExporter` and :data:`PREPROCESSORS`, so no
page of this course, whoever made it, shows what the grader keeps secret:

* **hidden tests** (:class:`Redact`): a test cell whose source (as the gradebook
  records it) has a hidden region loses its outputs: they are replaced by a
  neutral note, keeping only the checker's verdict line (``OK - ...`` or
  ``MistakeFound: ...``), since a timeout's or a crash's traceback quotes the
  cell (the hidden lines, their seeds) and the checker's source;
* **the hidden material anywhere else**: every output of every cell is searched
  for each line of every hidden region (as written, JSON-escaped or
  ``repr``-escaped: what ``print(_ih)``, ``inspect`` or reading a notebook file
  print), the markers, ``hidden=True`` and the hidden seeds (``seed=11``,
  ``'seed': 11``), and bngrade's salt (read from the gradebook); each is replaced by
  ``[hidden]``. (A student whose code runs next to the hidden tests, as in
  nbgrader's own autograde, can still re-encode them: only ``bngrade`` keeps the
  hidden tests out of the student's kernel.)
* **the grader's code and paths**: a traceback keeps the student's own frames
  (``Cell In[...]``) and, for a library frame, only its shortened location,
  never its source lines; every absolute path in an output is shortened
  (``…/site-packages/x/y.py`` becomes ``x/y.py``, others their last part).

The page itself: LaTeX in Markdown cells is rendered to MathML when the page is
made (no script, no CDN: it renders offline under the page's strict CSP), and the
HTML is sanitised with :func:`bngrade.sanitize.html_document` (no script, frame or
handler; a Content-Security-Policy). When ``bngrade`` has recorded a grade for the
notebook and nbgrader's gradebook still holds it, the engine's verdict notes are
added under each test cell (:class:`EngineVerdicts`), so ``nbgrader
generate_feedback`` rebuilds the same page as ``bngrade``.
"""

import functools
import html
import json
import os
import re

from jinja2 import pass_context
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.preprocessors import GetGrades
from traitlets import Bool, Unicode

from bnlib.checks import REGISTRY

from ..sanitize import SafeClearHiddenTests, html_document, markdown

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
HIDDEN = "[hidden]"
NOTE = ("The output of this test cell is not shown: the cell also runs hidden tests, and "
        "its output could quote them. Its score is above; what the checker said:")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SEED = re.compile(r"""\bseed\b["']?\s*[:=]\s*(-?\d+)""")
# An absolute path (or one from the home folder, ~/): starts a token (line start, space,
# quote, bracket, '=' or ','), two parts or more. A URL's "//host/..." does not match (its
# first slash follows a colon).
_PATH = re.compile(r"""(?:(?<=^)|(?<=[\s"'(\[=,]))~?/"""
                   r"""(?:[^\s/"'()\[\],:<>]+/)+[^\s/"'()\[\],:<>]*""", re.M)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")
# What a cell printed wraps at the page's edge, as in Jupyter, instead of running past
# its box: the verdict notes are sentences (tests/test_visual.py).
_WRAP_OUTPUT = ("<style>div.output_text pre { white-space: pre-wrap; word-break: normal; "
                "overflow-wrap: anywhere; }</style>")
_FRAME = re.compile(r"^\s*File\s+(\S.*?)(?::\d+)?(,\s+in\s+.*)?$")


def meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell):
    m = meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def hidden_regions(source, begin=BEGIN, end=END):
    """The lines of ``source``'s hidden regions (markers excluded)."""
    inside, out = False, []
    for text in source.split("\n"):  # as sanitize.clear_hidden_tests reads the markers
        if not inside and begin in text:
            inside = True
        elif inside and end in text and begin not in text:
            inside = False
        elif inside:
            out.append(text)
    return out


def short_path(path):
    """An absolute path without the server's part: what follows ``site-packages/``, else
    its last component."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return "…/" + path.rstrip("/").rsplit("/", 1)[-1]


class Material:
    """What a page must not show, and how to blank it out of a text."""

    def __init__(self, regions, secrets=()):
        self.seeds = sorted({m.group(1) for line in regions for m in _SEED.finditer(line)})
        strings = {BEGIN, END, "hidden=True", *(s for s in secrets if s)}
        for line in regions:
            text = line.strip()
            if len(text) >= 6:
                strings |= {text, json.dumps(text)[1:-1], repr(text)[1:-1]}
        self.strings = sorted(strings, key=len, reverse=True)  # longest first
        alternatives = "|".join(map(re.escape, self.seeds))
        self.seed_re = (re.compile(r"""\bseed\b["']?\s*[:=]\s*(?:""" + alternatives + r")\b")
                        if self.seeds else None)

    def scrub(self, text):
        if not isinstance(text, str):
            return text
        for s in self.strings:
            text = text.replace(s, HIDDEN)
        if self.seed_re is not None:
            text = self.seed_re.sub("seed=" + HIDDEN, text)
        return _PATH.sub(lambda m: short_path(m.group(0)), text)

    def traceback(self, entries):
        """A traceback without library source lines or ANSI codes, scrubbed."""
        out = []
        for entry in entries:
            plain = _ANSI.sub("", entry)
            first = plain.lstrip().split("\n", 1)[0]
            if _FRAME.match(first) and not first.lstrip().startswith("Cell In"):
                plain = first  # a library frame: where, never its code
            out.append(self.scrub(plain))
        return out


def _from_gradebook(resources):
    """What the gradebook records: the sources of the notebook's cells (``{cell name:
    source}``) and bngrade's salt (the hidden cases' seeds derive from it), or ({}, ())."""
    info = resources.get("nbgrader") or {}
    if not info.get("db_url"):
        return {}, ()
    from nbgrader.api import Gradebook
    from sqlalchemy import select

    from ..tables import SETTING

    sources, salts = {}, ()
    try:
        with Gradebook(info["db_url"]) as gb:
            try:
                nb = gb.find_notebook(info["notebook"], info["assignment"])
                sources = {c.name: c.source or "" for c in nb.source_cells}
            except Exception:  # it does not know this notebook: the cells say what is hidden
                pass
            try:
                salts = tuple(v for (v,) in gb.db.execute(select(SETTING.c.value)))
            except Exception:  # bngrade never ran on this gradebook
                gb.db.rollback()
    except Exception:  # no gradebook
        pass
    return sources, salts


class Redact(Preprocessor):
    """Hidden material, checker source and server paths out of every output (module doc)."""

    enabled = Bool(True)
    begin_test_delimeter = Unicode(BEGIN).tag(config=True)
    end_test_delimeter = Unicode(END).tag(config=True)

    def preprocess(self, nb, resources):
        recorded, salts = _from_gradebook(resources)
        sources = list(recorded.values()) + [c.source for c in nb.cells if is_test(c)]
        regions = [line for s in sources
                   for line in hidden_regions(s, self.begin_test_delimeter,
                                              self.end_test_delimeter)]
        secrets = (*salts, *(resources.get("bngrade") or {}).get("secrets", ()))
        material = Material(regions, secrets)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            name = meta(cell).get("grade_id")
            own = recorded.get(name, "") if is_test(cell) else ""
            if is_test(cell) and (hidden_regions(own, self.begin_test_delimeter,
                                                 self.end_test_delimeter)
                                  or self.begin_test_delimeter in cell.source):
                cell.outputs = self.verdict_only(cell.get("outputs", []), material)
            else:
                cell.outputs = [self.output(o, material) for o in cell.get("outputs", [])]
        return nb, resources

    @staticmethod
    def output(out, material):
        if out.get("output_type") == "error":
            out["ename"] = material.scrub(out.get("ename", ""))
            out["evalue"] = material.scrub(out.get("evalue", ""))
            out["traceback"] = material.traceback(out.get("traceback", []))
        elif out.get("output_type") == "stream":
            out["text"] = material.scrub(out.get("text", ""))
        else:
            data = out.get("data", {})
            for mime in list(data):
                if mime.startswith("text/") or mime.endswith(("json", "latex", "javascript")):
                    value = data[mime]
                    value = "".join(value) if isinstance(value, list) else value
                    data[mime] = (material.scrub(value) if isinstance(value, str)
                                  else material.scrub(json.dumps(value)))
        return out

    @staticmethod
    def verdict_only(outputs, material):
        """A hidden-test cell's outputs: the note, then the checker's verdict lines only."""
        said = []
        for out in outputs:
            kind = out.get("output_type")
            if kind == "stream":
                said += [t for t in out.get("text", "").splitlines() if t.startswith("OK - ")]
            elif kind == "error" and out.get("ename") == "MistakeFound":
                said.append(f"MistakeFound: {out.get('evalue', '')}")
            elif kind == "error":
                ename = re.sub(r"\W", "", _ANSI.sub("", str(out.get("ename", ""))))[:60]
                said.append(f"The cell stopped with {ename or 'an error'} (no traceback: it "
                            "would quote the hidden tests).")
        text = "\n".join([NOTE] + [material.scrub(t) for t in said] or ["(nothing)"]) + "\n"
        return [new_output("stream", name="stdout", text=text)]


def verdict_cells(nb, verdicts):
    """After each test cell the engine scored, a note with its verdict."""
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        v = verdicts.get(meta(cell).get("grade_id"))
        if v is not None and cell.cell_type == "code":
            text = (f"**Grader** (your functions, run outside this notebook on new inputs): "
                    f"{v['score']:g} / {v['points']:g}. {markdown(v['message'], limit=2000)}")
            cells.append(new_markdown_cell(text, metadata={"bngrade": True}))
    nb.cells = cells
    return nb


def in_words(verdicts):
    """The verdicts with a part that lost points saying so first, in words: the
    feedback must not tell a failure only by the red of an error output."""
    return {gid: v if v["score"] >= v["points"]
            else {**v, "message": f"Not passed. {v['message']}"}
            for gid, v in verdicts.items()}


def recorded_verdicts(db_url, assignment, notebook, student, course_id="default_course"):
    """bngrade's verdicts for one notebook as the gradebook holds them, or None when it has
    none or nbgrader's grades no longer agree with them (graded again by another command)."""
    from nbgrader.api import Gradebook
    from sqlalchemy import inspect, select

    from ..tables import RESULT

    try:
        with Gradebook(db_url, course_id) as gb:
            if not inspect(gb.engine).has_table(RESULT.name):
                return None
            row = gb.db.execute(select(RESULT.c.detail).where(
                RESULT.c.assignment == assignment, RESULT.c.student == student)).first()
            if row is None:
                return None
            questions = next((nb["questions"] for nb in json.loads(row[0])
                              if nb["name"] == notebook), None)
            if questions is None:
                return None
            verdicts = {q["grade_id"]: q for q in questions if q.get("verified")}
            sub = gb.find_submission_notebook(notebook, assignment, student)
            current = {g.name: g.auto_score for g in sub.grades}
    except Exception:  # no gradebook, no submission: nothing recorded by bngrade
        return None
    if any(current.get(gid) != v["score"] for gid, v in verdicts.items()):
        return None
    return verdicts


class EngineVerdicts(Preprocessor):
    """The engine's verdict notes under the test cells (given in ``resources['bngrade']``,
    else as recorded in the gradebook by ``bngrade``)."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        verdicts = (resources.get("bngrade") or {}).get("verdicts")
        info = resources.get("nbgrader") or {}
        if verdicts is None and info.get("db_url"):
            verdicts = recorded_verdicts(info["db_url"], info["assignment"], info["notebook"],
                                         info["student"], info.get("course_id")
                                         or "default_course")
        return (verdict_cells(nb, in_words(verdicts)) if verdicts else nb), resources


# The order matters: grades are read, outputs redacted (knowing the hidden lines), then the
# hidden lines cleared from the sources, the engine's notes added, the CSS inlined.
PREPROCESSORS = [GetGrades, Redact, SafeClearHiddenTests, EngineVerdicts,
                 CSSHTMLHeaderPreprocessor]


class MathMLRenderer(IPythonRenderer):
    """Markdown to HTML with LaTeX rendered to MathML (no script needed to show it)."""

    @staticmethod
    def _math(body, display):
        try:
            return latex_to_mathml(body.strip(), display=display)
        except Exception:  # TeX it cannot read is shown as TeX
            return f"<code>{html.escape(body)}</code>"

    def block_math(self, body):
        return self._math(body, "block")

    def inline_math(self, body):
        return self._math(body, "inline")

    def latex_environment(self, name, body):
        return self._math(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback template, math as MathML, the page sanitised (module doc)."""

    @pass_context
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}),
                                  embed_images=self.embed_images,
                                  anchor_link_text=self.anchor_link_text,
                                  exclude_anchor_links=self.exclude_anchor_links)
        return MarkdownWithMath(renderer=renderer).render(source)

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter's own, without its last step: a BeautifulSoup pass over the whole
        # page to add the alt text images lack (html_document below adds it, in the pass
        # it makes anyway) and tab stops on JupyterLab's cells (this template has none)
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", _highlighter(lexer)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        output, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        output = name_parts(output, nb)
        # Bootstrap's icon font is a file the page does not have (and its CSP would refuse)
        output = _FONT_FACE.sub("", output).replace("</head>", _WRAP_OUTPUT + "</head>", 1)
        return html_document(output), resources


@functools.lru_cache(maxsize=8)
def _highlighter(lexer):
    """Code coloured as nbconvert colours it, kept per process: most cells (the tests, the
    given code) are the same in every student's notebook, and colouring is a third of a
    page's cost."""
    colour = Highlight2HTML(pygments_lexer=lexer)

    @functools.lru_cache(maxsize=4096)
    def highlight(source, language, magics):  # (all the colouring reads of a cell)
        return colour(source, language, {"magics_language": magics} if magics else None)

    return lambda source, language=None, metadata=None: highlight(
        source, language, (metadata or {}).get("magics_language"))


_HEADING = re.compile(r"^#{2,6}\s+(.*?)\s*(?:\(\d+(?:\.\d+)? points?\))?\s*$", re.M)
_TOC_TEST = re.compile(r'<a href="#([^"<>]*)">Test cell</a>')


def name_parts(page, nb):
    """The table of contents names each test cell by its part (the section heading above
    it, ``##`` or deeper, without its points; else the checker's description, else its
    grade id) instead of nbgrader's "Test cell"."""
    names, heading = {}, None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            found = _HEADING.findall(_text(cell.get("source", "")))
            heading = found[-1] if found else heading
        m = cell.get("metadata", {}).get("nbgrader", {})
        if m.get("grade") and not m.get("solution") and m.get("grade_id"):
            part = REGISTRY.get(m["grade_id"])
            names[m["grade_id"]] = heading or (part.description if part else m["grade_id"])
    return _TOC_TEST.sub(lambda t: f'<a href="#{t.group(1)}">'
                         f'{html.escape(names.get(html.unescape(t.group(1)), "Test cell"))}</a>',
                         page)


def _text(source):
    return "".join(source) if isinstance(source, list) else str(source)


def formgrader_dir():
    import nbgrader

    return os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")


def problem_page(notebook, kind, detail, points):
    """The page of a notebook that could not be graded at all (``kind`` "corrupt": the file
    was unreadable, ``detail`` as the flag records it, ``<file>: <reason>``; "missing": not
    sent): what was wrong and what to do, in plain words; no traceback, no path."""
    title = html.escape(notebook)
    m = re.match(r"(.+?\.ipynb): (.*)$", detail or "", re.S) if kind == "corrupt" else None
    if m:
        what = (f"Your file <code>{html.escape(m.group(1))}</code> could not be read as a "
                "Jupyter notebook, so none of its answers could be graded. A notebook file "
                "is text that Jupyter writes; this one is incomplete or in another format "
                "(for example, cut off while it was saved or uploaded, or saved as another "
                "kind of file).")
        todo = ("Open the file in Jupyter (or Colab) and check that your answers are there; "
                "save it (File &gt; Save), download it as a notebook (File &gt; Download, "
                "<code>.ipynb</code>) and send that file again.")
    else:
        what = f"No notebook named <code>{title}.ipynb</code> was found in your submission."
        todo = f"Send your notebook under its own name, <code>{title}.ipynb</code>."
    found = html.escape(short_reason(m.group(2))) if m else ""
    return html_document(
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}: not graded</title></head><body>"
        f"<h1>{title}: not graded (0 of {points:g} points)</h1><p>{what}</p>"
        f"<p>What to do: {todo}</p>"
        + (f"<p>What the grader found: {found}.</p>" if found else "")
        + "</body></html>")


def short_reason(reason):
    """The reader's reason without a file name or a path: ``Expecting value: line 1
    column 1`` of ``not a readable notebook (JSONDecodeError: Expecting value: ...)``."""
    m = re.search(r"\((?:\w+: )?(.*?)(?: \(char \d+\))?\)$", reason or "")
    text = m.group(1) if m else ""
    return _PATH.sub(lambda p: short_path(p.group(0)), text)[:200]
