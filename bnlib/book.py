"""Helpers the chapters share: glued numbers, described figures, one plot style.

The chapters of the book import from here, not from the build tools, so that a
chapter downloaded as ``.ipynb`` runs with only the course package installed:

* :func:`glue` hands a computed value to the prose when the book is built by
  Jupyter Book (myst-nb) and does nothing visible elsewhere;
* :func:`show_figure` displays a Matplotlib figure with a text description (the
  ``alt`` text a screen reader announces) and an optional caption, both computed
  by the chapter's code so they stay true when the numbers change;
* :func:`use_style` applies the course's Matplotlib style (``course.mplstyle``
  beside this file): one colour-blind-safe palette, series told apart by line
  style as well as colour.

Multi-seed aggregation lives in :mod:`bnlib.seeds`. Every chapter uses these
helpers, starting with chapters/01-motivation.md.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

STYLE = Path(__file__).with_name("course.mplstyle")

# The Okabe-Ito palette (distinguishable with the common colour-vision
# deficiencies), by role, so that a chapter names a colour by what it shows.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}

try:  # the book build: myst-nb stores the value for {glue:text} in the prose
    from myst_nb import glue as _myst_glue
except ImportError:  # a downloaded chapter, a student's environment
    _myst_glue = None


def glue(name: str, value, display: bool = False):
    """Store ``value`` under ``name`` for the chapter's prose.

    Under Jupyter Book this is myst-nb's ``glue``; elsewhere the value is only
    shown when ``display`` is true (the prose of a downloaded notebook keeps
    its ``{glue:text}`` markers, and the code cell keeps the computation).
    """
    if _myst_glue is not None:
        return _myst_glue(name, value, display=display)
    if display:
        from IPython.display import display as _display

        _display(value)
    return None


def use_style() -> None:
    """Apply the course's Matplotlib style (``bnlib/course.mplstyle``)."""
    import matplotlib.pyplot as plt

    plt.style.use(STYLE)


# What a figure's description must be: a sentence a screen reader can announce
# (a capital first, a full stop last, several words), never a file name, a path
# or a hash (what a bare ``plt.show()`` leaves as the book's alt text).
MIN_WORDS = 5
_NOT_A_SENTENCE = [
    (re.compile(r"\.(png|jpe?g|gif|svg|webp|pdf)\b", re.I), "names an image file"),
    (re.compile(r"(^|\s)(\.{1,2}/|/\w)|_images/|https?://"), "is a path or an address"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "contains a hash"),
]


def description_problems(alt: str) -> list[str]:
    """Why ``alt`` is not a usable figure description (an empty list if it is).

    The rule the build (:func:`figure_html`) and the site's tests
    (tests/test_accessibility.py) share: one or more sentences that start with a
    capital letter, end with a full stop, have at least :data:`MIN_WORDS`
    words, and contain no file name, path or hash.
    """
    alt = " ".join(str(alt).split())
    if not alt:
        return ["is empty"]
    problems = []
    if not alt[0].isupper():
        problems.append("does not start with a capital letter")
    if not alt.endswith("."):
        problems.append("does not end with a full stop")
    if len(alt.split()) < MIN_WORDS:
        problems.append(f"has fewer than {MIN_WORDS} words")
    problems += [why for pattern, why in _NOT_A_SENTENCE if pattern.search(alt)]
    return problems


def figure_html(png: bytes, alt: str, caption: str | None = None) -> str:
    """The HTML of a described figure: an ``<img>`` with ``alt`` and a caption.

    Parameters
    ----------
    png : bytes
        The rendered image (PNG).
    alt : str
        What the figure shows and what to take from it, as one or more
        sentences (see :func:`description_problems`; anything else is refused
        with a ``ValueError`` saying why).
    caption : str, optional
        A visible caption under the figure.
    """
    alt = " ".join(str(alt).split())
    if problems := description_problems(alt):
        raise ValueError(f"a figure needs a description (alt text) that is a sentence: "
                         f"{alt!r} {', '.join(problems)}")
    data = base64.b64encode(png).decode("ascii")
    parts = [
        '<figure class="bn-figure">',
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}"'
        ' style="max-width: 100%; height: auto;"/>',
    ]
    if caption:
        parts.append(f"<figcaption>{html.escape(caption)}</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def colour_only_series(fig) -> list[str]:
    """The pairs of labelled series, in one axes of ``fig``, told apart by colour alone.

    A reader who cannot tell the colours apart (or prints the page in grey) must
    still see which line is which: two labelled lines of one axes need a
    different line style or marker. Note that a format string such as ``"o-"``
    sets the line style, overriding the course style's line-style cycle.
    """
    problems = []
    for n, ax in enumerate(fig.axes, 1):
        seen = {}
        for line in ax.get_lines():
            label = line.get_label()
            if not line.get_visible() or label.startswith("_"):
                continue
            # get_linestyle() calls every custom dash pattern "--": compare the pattern
            dashes = getattr(line, "_unscaled_dash_pattern", None)
            style = (line.get_linestyle(), str(dashes), str(line.get_marker()))
            other = seen.setdefault(style, line)
            if other is not line and other.get_color() != line.get_color():
                problems.append(f"axes {n}: {other.get_label()!r} and {label!r} differ only "
                                "in colour (give each its own line style or marker)")
    return problems


def figure_png(fig) -> bytes:
    """``fig`` rendered as PNG, then closed; refused if its series differ only in colour.

    The one rendering of :func:`show_figure` and of the static version of an
    explorable figure (:func:`bnlib.explore.show_explorable`).
    """
    import matplotlib.pyplot as plt

    if problems := colour_only_series(fig):
        plt.close(fig)
        raise ValueError("series told apart by colour alone: " + "; ".join(problems))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def show_figure(fig, alt: str, caption: str | None = None) -> None:
    """Display ``fig`` with its description ``alt`` (and ``caption``), then close it.

    The output carries HTML (an ``<img>`` whose ``alt`` is the description), a
    PNG and a plain-text version (the description itself), so the book, Jupyter
    and Colab all show the picture and a screen reader reads the sentence. A
    figure whose series differ only in colour (:func:`colour_only_series`) or
    whose description is not a sentence (:func:`description_problems`) is
    refused with a ``ValueError`` that says why.
    """
    from IPython.display import display

    png = figure_png(fig)
    display(
        {
            "text/html": figure_html(png, alt, caption),
            "image/png": base64.b64encode(png).decode("ascii"),
            "text/plain": " ".join(str(alt).split()),
        },
        raw=True,
    )
