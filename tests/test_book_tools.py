"""The chapters' shared helpers: glue without myst-nb, described figures, seeds."""

import numpy as np
import pytest

from bnlib import book, seeds


def test_figure_html_carries_the_description_escaped():
    html = book.figure_html(b"\x89PNG", 'The loss falls <fast> & "early".', caption="A caption")
    assert 'alt="The loss falls &lt;fast&gt; &amp; &quot;early&quot;."' in html
    assert "<figcaption>A caption</figcaption>" in html
    assert html.startswith('<figure class="bn-figure"><img src="data:image/png;base64,')


def test_a_figure_without_a_description_is_refused():
    with pytest.raises(ValueError, match="description"):
        book.figure_html(b"", "   ")


def test_show_figure_displays_html_png_and_text(monkeypatch):
    import IPython.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    book.show_figure(fig, "A line that falls from one to zero.")
    assert set(shown[0]) == {"text/html", "image/png", "text/plain"}
    assert shown[0]["text/plain"] == "A line that falls from one to zero."
    assert not plt.fignum_exists(fig.number)


def test_glue_without_myst_nb_is_silent(monkeypatch):
    monkeypatch.setattr(book, "_myst_glue", None)
    assert book.glue("x", 1.0) is None


def test_the_style_file_loads_and_cycles_line_styles():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    book.use_style()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()
    assert len(set(cycle["linestyle"])) >= 3
    assert cycle["color"][0].lower().lstrip("#") == book.PALETTE["blue"].lower().lstrip("#")


def test_over_seeds_stacks_one_row_per_seed():
    runs = seeds.over_seeds(lambda seed, scale: np.arange(3) * scale + seed, scale=2)
    assert runs.shape == (len(seeds.SEEDS), 3)
    assert len(seeds.SEEDS) >= 5


def test_spread_and_k_of_n_describe_the_seeds():
    s = seeds.spread([0.9, np.nan, 0.8, 1.0])
    assert (s.median, s.low, s.high, s.n) == (0.9, 0.8, 1.0, 4)
    assert f"{s:.2f}" == "0.90 (0.80 to 1.00 over 4 seeds)"
    assert seeds.k_of_n([True, False, True]) == "2 of 3 seeds"
    assert seeds.k_of_n([True] * 5) == "all 5 of 5 seeds"
    assert seeds.holds_for_all([True, True]) and not seeds.holds_for_all([True, False])


def test_band_plots_median_and_range():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    line = seeds.band(ax, [0, 1], [[0, 1], [2, 3], [np.nan, 5]], label="x")
    np.testing.assert_allclose(line.get_ydata(), [1, 3])
    plt.close(fig)


def test_parallel_map_keeps_order_and_equals_the_serial_result():
    def work(seed):
        return float(np.random.default_rng(seed).normal(size=1000).sum())

    serial = seeds.parallel_map(work, range(5), workers=1)
    assert seeds.parallel_map(work, range(5), workers=2) == serial
    assert serial == [work(s) for s in range(5)]
