"""Explorable figures: precomputed settings a reader switches between, offline.

A chapter computes its experiment over a small grid of settings when the book
is built (no kernel runs when the page is read) and hands every setting's
numbers to :func:`show_explorable`. The page gets

* a Bokeh figure with one ``<select>`` per setting (labelled, keyboard
  operable), whose only script is a ``CustomJS`` callback that swaps in the
  precomputed data of the chosen setting and its description;
* BokehJS itself embedded in the page (inline resources: no third-party host);
* a text description per setting, computed from the numbers, in a live region
  a screen reader announces when a control changes;
* the chapter's static Matplotlib figure, shown when the page is printed (the
  course PDF) and wherever BokehJS is absent: the downloaded notebooks keep
  only it (``_ext/plain_notebooks.py`` drops the interactive HTML) and, without
  Bokeh installed (the students' package does not need it), it is all that
  :func:`show_explorable` shows.

The (N, C, H, W) cube of ``chapters/05-placement-and-family.md`` is drawn here
too: :func:`shared_statistics` finds which values share one statistic by
running bnlib's own normalisers (:data:`FAMILY`), never a second copy of their
axes, and :func:`cube_faces` turns that set into the polygons both the static
and the explorable figure draw.
"""

from __future__ import annotations

import base64
import html
import itertools
from dataclasses import dataclass

import numpy as np

from .book import description_problems, figure_html, figure_png

# Marks the explorable's output, so that a downloaded notebook can keep its
# static figure and drop the interactive HTML (_ext/plain_notebooks.py).
OUTPUT_MARK = "bn_explorable"


@dataclass
class Control:
    """One setting the reader chooses: a labelled ``<select>``.

    ``values`` are what the chapter's frames are keyed by, ``labels`` what the
    reader sees (default: ``str(value)``), ``start`` the index shown first.
    """

    label: str
    values: list
    labels: list | None = None
    start: int = 0

    def texts(self):
        return [str(v) for v in self.values] if self.labels is None else list(self.labels)


def _key(indices):
    return "|".join(str(i) for i in indices)


def _numbers(values):
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float).ravel()]


def _columns(data):
    """A source's columns as JSON-able lists (NaN becomes null: a gap in a line).

    A column is numbers, strings, or a list of number sequences (``patches``).
    """
    out = {}
    for name, column in data.items():
        column = list(column)
        if column and isinstance(column[0], str):
            out[name] = column
        elif column and np.ndim(column[0]) == 1:
            out[name] = [_numbers(c) for c in column]
        else:
            out[name] = _numbers(column)
    return out


# The only script: take the chosen options, swap in that setting's data and text.
SWAP = """
const key = selects.map((s) => s.value).join("|");
for (const name of Object.keys(sources)) {
  sources[name].data = frames[key][name];
}
note.text = notes[key];
"""


def explorable_html(name, controls, frames, notes, build):
    """The HTML of an explorable figure (BokehJS inline), or None without Bokeh.

    Parameters
    ----------
    name : str
        A short identifier, unique in the page (``[a-z0-9-]``); the data
        sources are named ``explore:NAME:SOURCE`` (the browser tests read them).
    controls : list of Control
    frames : dict
        ``{tuple of values (one per control): {source name: {column: array}}}``
        for every combination of the controls' values.
    notes : dict
        ``{tuple of values: sentence}``: what that setting's figure shows,
        computed from its numbers (see :func:`bnlib.book.description_problems`).
    build : callable
        ``build(sources) -> list of Bokeh plots``, given ``{source name:
        ColumnDataSource}`` holding the first setting's data.
    """
    try:
        from bokeh.embed import components
        from bokeh.layouts import column
        from bokeh.models import ColumnDataSource, CustomJS, Div, Select
        from bokeh.resources import Resources
    except ImportError:
        return None
    combos = list(itertools.product(*[range(len(c.values)) for c in controls]))
    js_frames, js_notes = {}, {}
    for combo in combos:
        values = tuple(c.values[i] for c, i in zip(controls, combo))
        note = " ".join(str(notes[values]).split())
        if problems := description_problems(note):
            raise ValueError(f"the description of {values} is not a sentence: {note!r} "
                             + ", ".join(problems))
        js_frames[_key(combo)] = {src: _columns(cols) for src, cols in frames[values].items()}
        js_notes[_key(combo)] = html.escape(note)
    start = tuple(c.start for c in controls)
    sources = {src: ColumnDataSource(data=cols, name=f"explore:{name}:{src}")
               for src, cols in js_frames[_key(start)].items()}
    selects = [Select(title=c.label, value=str(c.start),
                      options=[(str(i), t) for i, t in enumerate(c.texts())],
                      name=f"explore:{name}:control:{k}", sizing_mode="stretch_width",
                      max_width=360)
               for k, c in enumerate(controls)]
    note = Div(text=js_notes[_key(start)], name=f"explore:{name}:note",
               html_attributes={"aria-live": "polite"}, sizing_mode="stretch_width")
    callback = CustomJS(args=dict(selects=selects, sources=sources, frames=js_frames,
                                  notes=js_notes, note=note), code=SWAP)
    for select in selects:
        select.js_on_change("value", callback)
    plots = build(sources)
    for plot in plots:
        plot.toolbar_location = None
        if plot.sizing_mode is None:
            plot.sizing_mode = "stretch_width"
    layout = column(*selects, *plots, note, sizing_mode="stretch_width")
    script, div = components(layout)
    bokeh_js = Resources(mode="inline", components=["bokeh", "bokeh-widgets"]).render_js()
    return f"{bokeh_js}{script}{div}"


def show_explorable(fig, alt, caption, name, controls, frames, notes, build, prompt=""):
    """Display an explorable figure with ``fig`` (Matplotlib) as its static version.

    ``fig``, ``alt`` and ``caption`` are what :func:`bnlib.book.show_figure`
    takes: the static figure (printed, and shown where Bokeh is absent) and
    its description. ``prompt`` ("Choose the batch size.") ends the caption of
    the interactive figure only. The other arguments are those of
    :func:`explorable_html`.
    The output carries ``text/html`` (both versions: the static one only in
    print), ``image/png`` and ``text/plain`` (the description), and the
    metadata ``{"bn_explorable": true}``.
    """
    from IPython.display import display

    png = figure_png(fig)
    static = figure_html(png, alt, caption)
    live = explorable_html(name, controls, frames, notes, build)
    if live is None:
        page = static
    else:
        # On screen the live figure is the numbered one (figure-numbers.css), in print
        # the static one: the hidden one is display: none, so it takes no number.
        live_caption = " ".join(filter(None, [caption, prompt]))
        cap = f"<figcaption>{html.escape(live_caption)}</figcaption>" if live_caption else ""
        page = (f'<div class="bn-explorable"><figure class="bn-figure bn-explorable-live" '
                f'aria-label="Explorable figure: {html.escape(caption or name, quote=True)}">'
                f'{live}{cap}</figure><div class="bn-print-only">{static}</div></div>')
    display({"text/html": page, "image/png": base64.b64encode(png).decode("ascii"),
             "text/plain": " ".join(str(alt).split())},
            metadata={OUTPUT_MARK: True}, raw=True)


# ---- the (N, C, H, W) cube ------------------------------------------------------------------


def _family():
    import bnlib

    def bn(x):
        c = x.shape[1]
        return bnlib.batchnorm_forward(x, np.ones(c), np.zeros(c))[0]

    def gn(groups):
        def f(x):
            c = x.shape[1]
            return bnlib.groupnorm_forward(x, np.ones(c), np.zeros(c),
                                           c if groups == "C" else groups)[0]
        return f

    return {"batch norm": lambda g: bn, "layer norm": lambda g: gn(1),
            "instance norm": lambda g: gn("C"), "group norm": gn}


def normaliser(kind, groups=None):
    """bnlib's forward pass for ``kind`` (a key of :data:`FAMILY`), as ``f(x) -> y``.

    Batch norm is :func:`bnlib.batchnorm_forward` (training mode); layer norm,
    instance norm and group norm are :func:`bnlib.groupnorm_forward` with 1,
    C and ``groups`` groups, as ``bnlib/norms.py`` defines them (gamma 1, beta 0).
    """
    return _family()[kind](groups)


FAMILY = ("batch norm", "layer norm", "instance norm", "group norm")


def shared_statistics(f, shape, index=(0, 0, 0, 0), seed=0):
    """Which values of an ``(N, C, H, W)`` batch share their statistics with ``x[index]``.

    Found by running the normaliser ``f``: nudge ``x[index]`` and see which
    outputs move. A statistic (mean, variance) that includes ``x[index]``
    changes, and with it every output normalised by it; outputs normalised by
    other statistics do not change. So the answer is the set ``f`` averages
    over, whatever axes ``f`` uses.

    Returns
    -------
    mask : ndarray of bool, shape ``shape``
    """
    x = np.random.default_rng(seed).normal(size=shape)
    nudged = x.copy()
    nudged[index] += 1.0
    return np.abs(f(nudged) - f(x)) > 1e-9


# An oblique projection: N to the right, H*W up, C into the page (up and right).
DEPTH = np.array([0.45, 0.32])


def cube_faces(mask):
    """The visible faces of the cube of ``mask`` (N, C, H, W), as polygons.

    The cube's axes are drawn as Wu & He (2018, Figure 2) draw them: N across,
    the H*W positions (flattened, row-major) up, C into the page. Only the three
    visible sides are drawn (front: the first channel; top: the last
    position; right: the last example), one cell per value.

    Returns
    -------
    list of dict with ``xs``, ``ys`` (corner coordinates), ``shared`` (bool: the
    value is in ``mask``) and ``side`` ("front", "top" or "right").
    """
    n_count, c_count = mask.shape[:2]
    flat = mask.reshape(n_count, c_count, -1)          # (N, C, H*W)
    s_count = flat.shape[2]

    def point(n, s, c):
        return n + DEPTH[0] * c, s + DEPTH[1] * c

    faces = []

    def add(corners, shared, side):
        xs, ys = zip(*(point(*p) for p in corners))
        faces.append({"xs": list(xs), "ys": list(ys), "shared": bool(shared), "side": side})

    for n in range(n_count):
        for s in range(s_count):
            add([(n, s, 0), (n + 1, s, 0), (n + 1, s + 1, 0), (n, s + 1, 0)],
                flat[n, 0, s], "front")
    for n in range(n_count):
        for c in range(c_count):
            add([(n, s_count, c), (n + 1, s_count, c), (n + 1, s_count, c + 1),
                 (n, s_count, c + 1)], flat[n, c, s_count - 1], "top")
    for c in range(c_count):
        for s in range(s_count):
            add([(n_count, s, c), (n_count, s, c + 1), (n_count, s + 1, c + 1),
                 (n_count, s + 1, c)], flat[n_count - 1, c, s], "right")
    return faces


# Fill colours: shared values in the course's blue, the others light; each side
# of the cube a little darker than the last, so the solid reads as a solid.
SHARED = {"front": "#0072B2", "top": "#3d95c9", "right": "#005a8c"}
OTHER = {"front": "#f2f2f2", "top": "#ffffff", "right": "#d9d9d9"}


def cube_columns(mask):
    """The faces of :func:`cube_faces` as Bokeh ``patches`` columns."""
    faces = cube_faces(mask)
    return {"xs": [f["xs"] for f in faces], "ys": [f["ys"] for f in faces],
            "fill": [(SHARED if f["shared"] else OTHER)[f["side"]] for f in faces]}


def axis_labels(shape):
    """Where the cube's axis names go: ``[(x, y, text), ...]``."""
    n_count, c_count = shape[:2]
    s_count = int(np.prod(shape[2:]))
    return [(n_count / 2, -0.9, "N (examples)"),
            (-0.4, s_count / 2, "H, W"),
            (n_count + DEPTH[0] * c_count / 2 + 0.35, DEPTH[1] * c_count / 2 - 0.35, "C")]


def draw_cube(ax, mask, title=None):
    """Draw the cube of ``mask`` on Matplotlib axes ``ax`` (the static figure)."""
    from matplotlib.patches import Polygon

    for face in cube_faces(mask):
        colour = (SHARED if face["shared"] else OTHER)[face["side"]]
        ax.add_patch(Polygon(np.column_stack([face["xs"], face["ys"]]), closed=True,
                             facecolor=colour, edgecolor="#555555", linewidth=0.5))
    for x, y, text in axis_labels(mask.shape):
        ax.text(x, y, text, ha="center", va="center", fontsize=8,
                rotation=90 if text == "H, W" else 0)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)


def describe_shared(mask, kind):
    """A sentence: how many values share the first value's statistics, along which axes."""
    n, c, *_ = np.nonzero(mask)
    where = np.nonzero(mask)
    positions = len({tuple(p) for p in zip(*where[2:])})
    return (f"With {kind}, the value of example 1, channel 1 shares its mean and variance "
            f"with {int(mask.sum())} values: {len(set(n))} of {mask.shape[0]} examples, "
            f"{len(set(c))} of {mask.shape[1]} channels and {positions} of "
            f"{int(np.prod(mask.shape[2:]))} positions.")
