"""Accessibility: the built site, the exercise notebooks, the verdicts in words.

* The site in Chromium, audited with axe-core (bundled by axe-playwright-python,
  WCAG 2.0 and 2.1, A and AA): every page at desktop and phone width, in the
  theme's light and dark mode, has no serious or critical violation; the
  references page (once broken by docutils' bibliography roles, fixed in
  _ext/accessibility.py) has none at all.
* Every figure of the site has a description that is a sentence
  (:func:`bnlib.book.description_problems`), not its file name.
* The course style tells series apart by line style as well as colour, in
  colours that stand out from the white figure background.
* The exercise notebooks: headings in order, every image described, no colour
  styling in the prose; a failing check says so in words.

``python tests/list_figures.py`` prints every figure with its description.
"""

import html
import json

import matplotlib
import pytest
from builtsite import DESKTOP, PHONE, ROOT, Visit, all_pages, site_figures
from nbformat.v4 import new_code_cell, new_notebook
from readable import GRAVE, WCAG_AA, colour_styles, notebook_outline, skipped_levels

from bngrade.worker.feedback_page import in_words, verdict_cells
from bnlib import book
from bnlib.checks import REGISTRY, MistakeFound, check

# Every test here reads the built site in Chromium: `make test`, not `make check`.
pytestmark = pytest.mark.slow

PAGES = [p for p in all_pages() if p != "index.html"]  # index.html only redirects
MODES = {"desktop": (DESKTOP, False), "desktop-dark": (DESKTOP, True),
         "phone": (PHONE, False), "phone-dark": (PHONE, True)}
EXERCISES = sorted((ROOT / "exercises").glob("*/*.ipynb"))


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def audit(axe, browser, server, page, mode):
    """axe-core's WCAG A/AA violations of ``page`` seen in ``mode`` (see MODES)."""
    viewport, dark = MODES[mode]
    visit = Visit(browser, server, viewport=viewport, dark=dark)
    try:
        visit.open(server.url + page)
        theme = visit.page.evaluate("document.documentElement.dataset.theme")
        assert theme == ("dark" if dark else "light"), f"the page opened in {theme} mode"
        results = axe.run(visit.page, options={"runOnly": {"type": "tag", "values": WCAG_AA},
                                               "resultTypes": ["violations"]})
    finally:
        visit.close()
    return results.response["violations"]


def report(violations):
    return "\n".join(f"{v['impact']}: {v['id']} ({v['help']}) at "
                     + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
                     for v in violations)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page", PAGES)
def test_no_serious_or_critical_violation(page, mode, axe, browser, server):
    grave = [v for v in audit(axe, browser, server, page, mode) if v["impact"] in GRAVE]
    assert not grave, report(grave)


def test_the_references_page_has_no_violation_at_all(axe, browser, server):
    violations = audit(axe, browser, server, "chapters/references.html", "desktop")
    assert not violations, report(violations)


def test_the_bibliography_is_a_list_of_list_items():
    page = (ROOT / "_build" / "html" / "chapters" / "references.html").read_text()
    assert 'role="doc-biblioentry"' not in page
    assert page.count('role="listitem"') >= 10 and 'role="list"' in page


def test_every_figure_is_described_by_a_sentence():
    figures = site_figures()
    assert len(figures) >= 10, "the chapters have fewer figures than expected"
    bad = [f"{page}: {fig['alt']!r} {', '.join(problems)}" for page, fig in figures
           if (problems := book.description_problems(fig["alt"] or ""))]
    assert not bad, f"{len(bad)} of {len(figures)} figures lack a description:\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("alt", [
    "../_images/1954acfea5b3f7eb81fb02d3d7ff7aeaa8c89261cf08a3b7000f7bf06f9bb042.png",
    "learning rate sweep", "Loss curves", "The figure shows the loss of the run",
    "Plot of figure_3.png for the five seeds.", "See /home/me/plot for the curves.",
    "Run 9f86d081884c7d659a2feaa0c55ad015 of the sweep and its loss."])
def test_a_path_a_hash_or_a_fragment_is_not_a_description(alt):
    assert book.description_problems(alt)
    with pytest.raises(ValueError, match="sentence"):
        book.figure_html(b"", alt)


@pytest.mark.parametrize("alt", [
    "Validation accuracy against learning rate (1/64 to 64), median over 5 seeds.",
    "The loss falls from 2.3 to 0.12 in 200 steps with BN; without it, 0.85."])
def test_a_sentence_with_numbers_is_a_description(alt):
    assert book.description_problems(alt) == []


def _contrast_on_white(hex_colour):
    rgb = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 1.05 / (luminance + 0.05)


def test_the_course_style_separates_series_without_colour_and_in_contrast():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.style.context(book.STYLE):
        cycle = plt.rcParams["axes.prop_cycle"].by_key()
        face = plt.rcParams["savefig.facecolor"]
    colours = ["#" + c.lstrip("#").upper() for c in cycle["color"]]
    assert set(colours) <= {c.upper() for c in book.PALETTE.values()}
    assert len(set(colours)) == len(colours)
    # Every series of the cycle has a line style of its own as well as a colour.
    styles = [str(style) for style in cycle["linestyle"]]
    assert len(set(styles)) == len(styles) == len(colours)
    # The first series (most plots have at most five) stand out from the white plate.
    assert face == "white"
    assert all(_contrast_on_white(c) >= 3 for c in colours[:5]), colours


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.parent.name)
def test_exercise_notebook_headings_images_and_colours(path):
    nb = json.loads(path.read_text())
    levels, images = notebook_outline(nb)
    assert levels and levels[0] == 1, f"the notebook should open with one title: {levels}"
    assert levels.count(1) == 1, f"one level-1 heading only: {levels}"
    assert not skipped_levels(levels), f"heading levels skipped: {skipped_levels(levels)}"
    bad = [(alt, src) for alt, src in images if book.description_problems(alt or "")]
    assert not bad, f"images without a description: {bad}"
    prose = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert not colour_styles(prose), colour_styles(prose)


def test_the_outline_finds_what_it_looks_for():
    nb = {"cells": [
        {"cell_type": "markdown", "source": "# T\n```\n### not a heading\n```\n### Skip"},
        {"cell_type": "markdown", "source": ['![](fig.png) <img src="a.png"> ',
                                             '<span style="color: red">wrong</span>']},
        {"cell_type": "code", "source": "", "outputs": [
            {"output_type": "display_data", "data": {"image/png": "",
                                                     "text/plain": "<Figure size 640x480>"}}]},
    ]}
    levels, images = notebook_outline(nb)
    assert levels == [1, 3] and skipped_levels(levels) == [(1, 3)]
    assert [alt for alt, _ in images] == ["", None, "<Figure size 640x480>"]
    assert colour_styles("".join(nb["cells"][1]["source"]))


def test_a_failing_check_says_so_in_words():
    part = next(p for p in REGISTRY.values() if p.target == "batchnorm_forward")
    with pytest.raises(MistakeFound) as failure:
        check(part.grade_id, {})  # nothing defined
    words = str(failure.value)
    assert words.startswith(f"{part.description}: not passed. ")
    assert f"define `{part.target}`" in words


def test_the_feedback_verdict_says_not_passed_in_words():
    def graded_cell(gid):
        return new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": gid,
                                                        "solution": False, "points": 2}})

    nb = new_notebook(cells=[graded_cell("a"), graded_cell("b")])
    verdicts = {"a": {"score": 0.0, "points": 2.0, "message": "eps <inside> the root"},
                "b": {"score": 2.0, "points": 2.0, "message": "Forward pass: passed"}}
    notes = [c.source for c in verdict_cells(nb, in_words(verdicts)).cells
             if c.cell_type == "markdown"]
    assert "0 / 2. Not passed. eps" in html.unescape(notes[0])
    assert "2 / 2. Forward pass: passed" in notes[1] and "Not passed" not in notes[1]
    assert verdicts["a"]["message"] == "eps <inside> the root"  # the record is untouched


def test_series_told_apart_by_colour_alone_are_refused():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    left.plot([0, 1], [0, 1], "o-", label="no BN")
    left.plot([0, 1], [1, 0], "o-", label="BN")  # "o-" overrides the style's line cycle
    left.axhline(0.5, color="grey", ls="-")  # unlabelled guides do not count
    right.plot([0, 1], [0, 1], "o-", label="no BN")
    right.plot([0, 1], [1, 0], marker="s", label="BN")
    assert book.colour_only_series(fig) == [
        "axes 1: 'no BN' and 'BN' differ only in colour (give each its own line style "
        "or marker)"]
    with pytest.raises(ValueError, match="colour alone"):
        book.show_figure(fig, "Two lines that cross, one per arm of the experiment.")
    assert not plt.fignum_exists(fig.number)
    with plt.style.context(book.STYLE):
        fig, ax = plt.subplots()
        for k in range(5):
            ax.plot([0, 1], [k, k + 1], label=f"series {k}")  # the cycle: style and colour
        assert book.colour_only_series(fig) == []
        plt.close(fig)
