"""Chapter notebooks read right outside the site: MyST becomes plain Markdown.

The unit tests rewrite small MyST texts with a made-up context; the ``site``
tests open every chapter notebook the built site offers for download (the same
files Colab and Binder open) and look for MyST residue and the chapter's
computed numbers in its text.
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import plain_notebooks as pn  # noqa: E402

# MyST that must never reach a student's notebook.
RESIDUE = [
    (re.compile(r"\{glue"), "a {glue} role or directive"),
    (re.compile(r"^\s*(```+|:::+)\{", re.M), "a directive fence"),
    (re.compile(r"^\s*:(class|label|nonumber|tags|pyobject|header-rows|widths):", re.M),
     "a directive option"),
    (re.compile(r"\{(doc|notebook|ref|cite:[tp]|wheel|numref|eq)\}`"), "a role"),
    (re.compile(r"^\([\w-]+\)=\s*$", re.M), "a target"),
]


def residue(text):
    return [what for pattern, what in RESIDUE if pattern.search(text)]


def context(tmp_path, **glue):
    (tmp_path / "lib.py").write_text("import os\n\n\ndef f(x):\n    '''Double.'''\n"
                                     "    return 2 * x\n\n\nclass C:\n    def g(self):\n"
                                     "        return 1\n")
    return pn.Context(
        glue={k: {"text/plain": v} for k, v in glue.items()},
        doc=lambda t: ({"02-forward": "2. The forward pass"}[t], f"https://site/{t}.html"),
        ref=lambda t: ("A section", f"https://site/x.html#{t}"),
        cite=lambda keys, textual: "Ioffe and Szegedy (2015)" if textual
        else "(Ioffe and Szegedy 2015)",
        notebook=lambda i: f"Exercise notebook [{i}.ipynb](https://site/{i}.ipynb)",
        wheel="https://site/wheels/w.whl", source_dir=tmp_path)


def test_glued_values_are_formatted_as_the_site_formats_them(tmp_path):
    ctx = context(tmp_path, ratio="0.123456", word="'steady'", n="5")
    text = pn.plain_markdown("r = {glue:text}`ratio:.2f`, {glue:text}`word`, "
                             "{glue:text}`n` seeds, {glue:text}`ratio:.0%`", ctx)
    assert text == "r = 0.12, steady, 5 seeds, 12%"


def test_an_unknown_glue_key_fails_the_build(tmp_path):
    with pytest.raises(pn.PlainError, match="no glued text value 'gone'"):
        pn.plain_markdown("{glue:text}`gone:.2f`", context(tmp_path))


def test_glued_math_becomes_display_math(tmp_path):
    ctx = context(tmp_path)
    ctx.glue["eq"] = {"text/latex": "$\\displaystyle x = 1$", "text/plain": "<Math>"}
    assert pn.plain_markdown("```{glue:math} eq\n:label: e1\n```", ctx) == \
        "$$\n\\displaystyle x = 1\n$$"


def test_admonitions_become_quotes_with_their_title(tmp_path):
    text = pn.plain_markdown("```{admonition} Learning objectives\n:class: tip\n"
                             "After this chapter you can\n\n* derive $x$.\n```", context(tmp_path))
    assert text == "> **Learning objectives**\n>\n> After this chapter you can\n>\n> * derive $x$."


def test_exercises_become_headings_and_solutions_fold(tmp_path):
    text = pn.plain_markdown(
        "````{exercise} Self-check: why?\n:label: cq-why\n:nonumber:\n\nWhy $x$?\n````\n\n"
        "````{solution} cq-why\n:class: dropdown\n\nBecause $\\mu$.\n\n```python\nx = 1\n```\n"
        "````", context(tmp_path))
    assert text.startswith("#### Self-check: why?\n\nWhy $x$?\n\n<details>\n"
                           "<summary>Solution: Self-check: why? (click to show)</summary>\n\n"
                           "Because $\\mu$.")
    assert text.endswith("```python\nx = 1\n```\n\n</details>")
    assert residue(text) == []


def test_roles_become_links_and_text(tmp_path):
    text = pn.plain_markdown(
        "See {doc}`02-forward`, {doc}`the forward pass <02-forward>`, {ref}`sec-a`, "
        "{cite:t}`ioffe2015batch`, {cite:p}`ioffe2015batch`; {notebook}`ps1-forward`; "
        "install with {wheel}`pip`.", context(tmp_path))
    assert text == ("See [2. The forward pass](https://site/02-forward.html), "
                    "[the forward pass](https://site/02-forward.html), "
                    "[A section](https://site/x.html#sec-a), Ioffe and Szegedy (2015), "
                    "(Ioffe and Szegedy 2015); Exercise notebook "
                    "[ps1-forward.ipynb](https://site/ps1-forward.ipynb); install with "
                    "`pip install https://site/wheels/w.whl`.")


def test_literalinclude_links_to_the_code_it_names(tmp_path):
    ctx = context(tmp_path)
    ctx.source = lambda path: (f"pkg/{path.name}", f"https://repo/blob/main/pkg/{path.name}")
    (tmp_path / "__init__.py").write_text("")  # a package: the inspect line can import it
    text = pn.plain_markdown("```{literalinclude} lib.py\n:pyobject: C.g\n```", ctx)
    assert text == ("*The site shows the code of `pkg.lib.C.g` here: read it in "
                    "[pkg/lib.py](https://repo/blob/main/pkg/lib.py), or run `import inspect, "
                    "pkg.lib; print(inspect.getsource(pkg.lib.C.g))`.*")
    assert "return 1" not in text  # never the code itself (a graded answer may share it)
    with pytest.raises(pn.PlainError, match="has no nope"):
        pn.plain_markdown("```{literalinclude} lib.py\n:pyobject: nope\n```", ctx)
    (tmp_path / "__init__.py").unlink()  # a folder of shown files (chapters/code/): no import
    text = pn.plain_markdown("```{literalinclude} lib.py\n:pyobject: C.g\n```", ctx)
    assert text == ("*The site shows the code of `C.g` of `pkg/lib.py` here: read it in "
                    "[pkg/lib.py](https://repo/blob/main/pkg/lib.py).*")


def test_list_tables_become_markdown_tables(tmp_path):
    text = pn.plain_markdown("```{list-table}\n:header-rows: 1\n:widths: 50 50\n\n"
                             "* - Symptom\n  - Fix\n* - accuracy {glue:text}`a:.0%`\n"
                             "    at batch 1\n  - use eval mode\n```",
                             context(tmp_path, a="0.5"))
    assert text == ("| Symptom | Fix |\n|---|---|\n| accuracy 50% at batch 1 | use eval mode |")


def test_targets_and_comments_go_and_code_blocks_stay_as_they_are(tmp_path):
    text = pn.plain_markdown("(sec-a)=\n## A\n% a note to authors\n```python\n"
                             "print('{glue:text}`kept`')\n```", context(tmp_path))
    assert text == "## A\n```python\nprint('{glue:text}`kept`')\n```"


def test_an_unknown_directive_fails_the_build(tmp_path):
    with pytest.raises(pn.PlainError, match=r"no plain form for the directive \{figure\}"):
        pn.plain_markdown("```{figure} a.png\n```", context(tmp_path))


def test_hidden_code_is_kept_but_folded(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("n = {glue:text}`n`"),
        nbformat.v4.new_code_cell("glue('n', 5)", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("plot()", metadata={"tags": ["hide-input"]}),
        nbformat.v4.new_code_cell("x = 1")])
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "5"},
        metadata={"scrapbook": {"name": "n", "mime_prefix": ""}})]
    ctx = context(tmp_path)
    pn.plain_notebook(nb, ctx)
    assert nb.cells[0].source == "n = 5"
    assert nb.cells[1].metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
    assert nb.cells[2].metadata["jupyter"] == {"source_hidden": True}
    assert "jupyter" not in nb.cells[3].metadata
    before = json.dumps(nb)
    assert json.dumps(pn.plain_notebook(nb, ctx)) == before, "rewriting twice changes nothing"


def test_a_predict_prompt_becomes_its_quote_and_a_cell_to_fill(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(
            "Some text.\n\n```{admonition} Predict\n:class: predict\n\nBigger or smaller?\n"
            "```\n\nMore text."),
        nbformat.v4.new_code_cell("run()"),
        nbformat.v4.new_markdown_cell(
            "```{admonition} What happened\n:class: dropdown predict-answer\n\n"
            "Smaller, by {glue:text}`n`.\n```\n\n```{admonition} Read the plot\n"
            ":class: interpret\n\nWhy?\n```")])
    pn.plain_notebook(nb, context(tmp_path, n="5"))
    kinds = [c.metadata.get("tags", [None, None])[1] if c.cell_type == "markdown" else "code"
             for c in nb.cells]
    assert kinds == [None, "predict", None, "code", None, "interpret"]
    assert nb.cells[0].source == "Some text.\n\n> **Predict**\n>\n> Bigger or smaller?"
    assert nb.cells[1].source.startswith("**Your prediction:**")
    assert nb.cells[1].metadata["editable"] and pn.FILL_TAG in nb.cells[1].metadata["tags"]
    assert nb.cells[2].source == "More text."
    assert nb.cells[4].source.startswith("<details>\n<summary>What happened (click to show)"
                                         "</summary>\n\nSmaller, by 5.\n\n</details>")
    assert nb.cells[5].source.startswith("**Your answer:**")
    assert len({c.id for c in nb.cells}) == len(nb.cells), "every cell has its own id"
    before = json.dumps(nb)
    assert json.dumps(pn.plain_notebook(nb, context(tmp_path))) == before


def test_a_prompt_inside_another_block_fails_the_build(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "````{note}\n```{admonition} Predict\n:class: predict\n\nQ?\n```\n````")])
    with pytest.raises(pn.PlainError, match="must not sit inside another block"):
        pn.plain_notebook(nb, context(tmp_path))


# ---- the built site ---------------------------------------------------------------------

CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("0*.md"))


def downloaded(chapter):
    from builtsite import built_site

    return nbformat.read(built_site() / "_sources" / "chapters" / f"{chapter}.ipynb", 4)


@pytest.mark.site
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_chapters_hold_no_myst(chapter):
    nb = downloaded(chapter)
    found = {what for c in nb.cells if c.cell_type == "markdown" for what in residue(c.source)}
    assert found == set()


@pytest.mark.site
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_chapters_show_their_computed_numbers(chapter):
    nb = downloaded(chapter)
    source = (ROOT / "chapters" / f"{chapter}.md").read_text()
    from builtsite import built_site

    glued = pn.stored_glue(built_site().parent / "jupyter_execute" / "chapters"
                           / f"{chapter}.glue.json")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    keys = re.findall(r"\{glue:text\}`([^`]+)`", source)
    assert keys, "the chapter glues numbers into its text"
    for key in keys:
        name, spec = key.rsplit(":", 1) if ":" in key else (key, "")
        value = pn.format_plain_text(glued[name]["text/plain"], spec)
        assert value in text, f"{key} ({value}) missing from the notebook's text"


@pytest.mark.site
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_solutions_are_folded(chapter):
    nb = downloaded(chapter)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    source = (ROOT / "chapters" / f"{chapter}.md").read_text()
    folded = source.count("{solution}") + len(re.findall(
        r"\{admonition\}[^\n]*\n:class:[^\n]*\bdropdown\b", source))
    assert text.count("<details>") == folded
    assert text.count("<details>") == text.count("</details>")


@pytest.mark.site
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_chapters_have_a_cell_to_fill_after_each_prompt(chapter):
    nb = downloaded(chapter)
    source = (ROOT / "chapters" / f"{chapter}.md").read_text()
    fills = [c for c in nb.cells if pn.FILL_TAG in c.metadata.get("tags", [])]
    for kind in pn.FILL:
        expected = len(re.findall(rf"^:class:.*\b{kind}\b(?!-)", source, re.M))
        assert sum(kind in c.metadata["tags"] for c in fills) == expected, kind
    assert len(fills) >= 3 and all(c.cell_type == "markdown" for c in fills)
    assert all(c.metadata["editable"] and c.source == pn.FILL[c.metadata["tags"][1]]
               for c in fills)


@pytest.mark.site
def test_the_install_cell_is_introduced_and_folded():
    import student_package

    nb = downloaded(CHAPTERS[0])
    intro, install = nb.cells[:2]
    assert intro.cell_type == "markdown" and intro.source == student_package.INSTALL_INTRO
    assert install.metadata["jupyter"]["source_hidden"]


def test_explorable_output_keeps_only_its_static_figure():
    cell = nbformat.v4.new_code_cell("show_explorable(...)")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/html": "<script>Bokeh</script>", "image/png": "iVBO",
                              "text/plain": "A figure of a cube."},
        metadata={pn.EXPLORABLE_MARK: True}),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>kept</b>"})]
    pn.drop_explorable_html(cell)
    assert set(cell.outputs[0]["data"]) == {"image/png", "text/plain"}
    assert cell.outputs[1]["data"]["text/html"] == "<b>kept</b>"


@pytest.mark.site
def test_the_framework_bridge_is_a_link_in_the_downloaded_chapter():
    """Chapter 7 shows chapters/code/bridge_*.py on the site; its download links to them
    (no import line: the folder is no package) and holds none of their code."""
    nb = downloaded("07-in-the-wild")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for name in ("bridge_torch", "bridge_keras"):
        assert f"[chapters/code/{name}.py](" in text
        code = (ROOT / "chapters" / "code" / f"{name}.py").read_text().splitlines()
        assert [line for line in code if len(line.strip()) >= 25 and line.strip() in text] == []
    assert "import inspect, chapters" not in text
