"""Every chapter asks the learner to predict before running and to read their plots.

The conventions are in docs/writing-chapters.md ("Predict, then run"): a
prompt is an admonition of class ``predict`` (a question to commit to before
the experiment) or ``interpret`` (a question about a plot the learner just
produced); its answer is a folded admonition (``dropdown predict-answer`` or
``dropdown interpret-answer``) whose numbers are glued. These tests read the
MyST sources and rewrite each chapter as the site's download does
(``_ext/plain_notebooks.py``), so they need no build.
"""

import re
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import plain_notebooks as pn  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("0[1-7]-*.md"))
BLOCK = re.compile(r"^(?P<fence>`{3,})\{admonition\}[^\n]*\n:class: (?P<cls>[^\n]*)\n"
                   r"(?P<body>.*?)^(?P=fence)$", re.M | re.S)


def blocks(source):
    """``(position, classes, body)`` of every admonition at the top level of ``source``."""
    return [(m.start(), set(m["cls"].split()), m["body"]) for m in BLOCK.finditer(source)]


def prompts(source, kind):
    return [b for b in blocks(source) if kind in b[1]]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_two_predictions_and_an_interpretation(chapter):
    source = chapter.read_text()
    assert len(prompts(source, "predict")) >= 2, "at least two predict-then-run prompts"
    assert len(prompts(source, "interpret")) >= 1, "at least one question about a plot"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_each_prompt_is_answered_after_an_experiment_with_computed_numbers(chapter):
    source = chapter.read_text()
    all_blocks = blocks(source)
    for kind in ("predict", "interpret"):
        for start, _, body in prompts(source, kind):
            answer = next((b for b in all_blocks if b[0] > start and f"{kind}-answer" in b[1]),
                          None)
            assert answer is not None, f"{kind} prompt without an answer: {body[:60]!r}"
            later = [b for b in all_blocks if start < b[0] < answer[0] and kind in b[1]]
            assert not later, f"two {kind} prompts share one answer: {body[:60]!r}"
            between = source[start:answer[0]]
            if kind == "predict":
                assert "```{code-cell}" in between, f"no experiment to run: {body[:60]!r}"
            assert "dropdown" in answer[1], "the answer is folded"
            assert "{glue:text}`" in answer[2], f"the answer's numbers are glued: {body[:60]!r}"


def offline_context(source):
    """A context that stands in for the build: every glued key gets a placeholder."""
    keys = re.findall(r"\{glue:text\}`([^`:]+)", source)
    keys += re.findall(r"\{glue:math\}\s*(\S+)", source)
    return pn.Context(
        glue={k: {"text/plain": "0", "text/latex": "$0$"} for k in keys},
        doc=lambda t: (t, f"https://site/{t}.html"),
        ref=lambda t: (t, f"https://site/x.html#{t}"),
        cite=lambda keys, textual: "Author (2000)",
        notebook=lambda i: f"[{i}.ipynb](https://site/{i}.ipynb)",
        wheel="https://site/w.whl", source_dir=ROOT / "chapters")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_downloaded_notebook_has_a_cell_to_fill_after_each_prompt(chapter):
    source = chapter.read_text()
    nb = pn.plain_notebook(jupytext.reads(source, fmt="md:myst"), offline_context(source))
    cells = nb.cells
    for kind in pn.FILL:
        fills = [i for i, c in enumerate(cells) if kind in c.metadata.get("tags", [])
                 and pn.FILL_TAG in c.metadata["tags"]]
        assert len(fills) == len(prompts(source, kind))
        for i in fills:
            assert cells[i].cell_type == "markdown" and cells[i].metadata["editable"]
            assert cells[i].source == pn.FILL[kind]
            assert cells[i - 1].source.rstrip().startswith(">") or \
                "> " in cells[i - 1].source, "the prompt comes right before its cell"
    predict_fills = [i for i, c in enumerate(cells) if "predict" in c.metadata.get("tags", [])]
    for i in predict_fills:
        following = cells[i + 1:]
        first_code = next(j for j, c in enumerate(following) if c.cell_type == "code")
        folded = next(j for j, c in enumerate(following) if "<details>" in c.source)
        assert first_code < folded, "the experiment comes before the reveal"
