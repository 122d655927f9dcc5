"""Explorable figures (bnlib/explore.py): the cube's sets come from bnlib's own
normalisers, every setting's description is a sentence, and the page needs no
other host (BokehJS inline)."""

import re

import numpy as np
import pytest

from bnlib import explore

SHAPE = (4, 6, 2, 3)


@pytest.mark.parametrize("kind,groups,expected", [
    ("batch norm", None, (4, 1, 6)),        # every example, one channel, every position
    ("layer norm", None, (1, 6, 6)),        # one example, every channel and position
    ("instance norm", None, (1, 1, 6)),     # one example and channel
    ("group norm", 2, (1, 3, 6)),           # one example, its group of 3 channels
    ("group norm", 3, (1, 2, 6)),
])
def test_shared_statistics_follow_bnlib(kind, groups, expected):
    mask = explore.shared_statistics(explore.normaliser(kind, groups), SHAPE)
    n, c, h, w = np.nonzero(mask)
    assert (len(set(n)), len(set(c)), len(set(zip(h, w)))) == expected
    assert mask[0, 0, 0, 0]


def test_group_norm_extremes_are_layer_and_instance_norm():
    def mask(kind, g=None):
        return explore.shared_statistics(explore.normaliser(kind, g), SHAPE)

    assert np.array_equal(mask("group norm", 1), mask("layer norm"))
    assert np.array_equal(mask("group norm", SHAPE[1]), mask("instance norm"))


def test_cube_has_one_face_per_visible_value():
    mask = explore.shared_statistics(explore.normaliser("batch norm"), SHAPE)
    faces = explore.cube_faces(mask)
    n, c, s = SHAPE[0], SHAPE[1], SHAPE[2] * SHAPE[3]
    assert len(faces) == n * s + n * c + c * s
    # batch norm of channel 1: the whole front side (channel 1) is coloured
    assert all(f["shared"] for f in faces if f["side"] == "front")


def _page(notes=None):
    def build(sources):
        from bokeh.plotting import figure

        plot = figure(height=200)
        plot.line("x", "y", source=sources["line"])
        return [plot]

    controls = [explore.Control("slope", [1, 2])]
    frames = {(a,): {"line": {"x": [0, 1], "y": [0, a]}} for a in (1, 2)}
    notes = notes or {(a,): f"The line rises to {a} at x equal to one." for a in (1, 2)}
    return explore.explorable_html("test", controls, frames, notes, build)


def test_explorable_embeds_bokehjs_and_names_no_other_host():
    pytest.importorskip("bokeh")
    page = _page()
    assert "explore:test:line" in page and "The line rises to 1" in page
    assert not re.search(r"<script[^>]+src=", page), "a script loaded from elsewhere"
    assert "Bokeh" in page and len(page) > 500_000          # BokehJS itself is in the page


def test_a_setting_without_a_sentence_is_refused():
    pytest.importorskip("bokeh")
    with pytest.raises(ValueError, match="not a sentence"):
        _page(notes={(1,): "fig1.png", (2,): "The line rises to 2 at x equal to one."})
