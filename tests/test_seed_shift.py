"""Every chapter's asserts hold for seeds it was not written with.

The book is written with seeds 0 to 4 (``bnlib.seeds.SEEDS``). A chapter's
assert must check only what holds for any seeds ("k of n" in the prose,
``holds_for_all`` only where the claim holds with room to spare). This test
executes every chapter with ``BN_SEED_SHIFT=100``, which shifts every seed of
the book (the experiments' seeds and the data sets' splits), so an assert
written from the five seeds it happened to see fails here.

Slow: it executes every chapter once (minutes on two cores).
"""

import os

import jupytext
import pytest
from builtsite import ROOT
from nbclient import NotebookClient

SHIFT = "100"
CHAPTERS = sorted(p.name for p in (ROOT / "chapters").glob("[0-9][0-9]-*.md"))


def test_the_shift_reaches_the_seeds_and_the_data(monkeypatch):
    import subprocess
    import sys

    code = ("from bnlib.seeds import SEEDS; from bnlib.data import digits, spirals;"
            "print(SEEDS[0], digits()[1][:3].tolist(), round(float(spirals(5)[0][0, 0]), 6))")
    env = {**os.environ, "BN_SEED_SHIFT": SHIFT}

    def run(env):
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.split(" ", 1)

    plain = run({k: v for k, v in os.environ.items() if k != "BN_SEED_SHIFT"})
    shifted = run(env)
    assert plain[0] == "0" and shifted[0] == SHIFT
    assert plain[1] != shifted[1]          # other split, other spirals


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_asserts_hold_with_shifted_seeds(chapter, monkeypatch):
    monkeypatch.setenv("BN_SEED_SHIFT", SHIFT)
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = jupytext.read(ROOT / "chapters" / chapter)
    client = NotebookClient(nb, timeout=None, kernel_name="python3",   # no time limit
                            resources={"metadata": {"path": str(ROOT / "chapters")}})
    client.execute()          # raises CellExecutionError on the first failing assert
