"""A wrong step in the hand derivation must stop chapter 3 (and so the book build).

The chapter renders its formulas from ``bnlib.symbolic.hand_derived`` and asserts
``check_derivation(m)`` for m = 2, 3, 4. Here the chapter runs in a fresh kernel
(jupytext + nbclient, as the book build does) twice: as written, where it must
succeed, and with ``hand_derived`` patched to flip the sign of dL/dvar before
the chapter starts (a ``sitecustomize`` on the kernel's PYTHONPATH), where it
must fail at the SymPy check.
"""

import os
import textwrap

import jupytext
import pytest
from builtsite import ROOT
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CHAPTER = ROOT / "chapters" / "03-backward.md"

BREAK_DVAR = textwrap.dedent('''
    """Test shim: flip the sign of the hand-derived dL/dvar (a plausible slip)."""
    import bnlib.symbolic as _symbolic

    _original = _symbolic.hand_derived


    def hand_derived(G):
        steps = _original(G)
        steps["dvar"] = -steps["dvar"]
        return steps


    _symbolic.hand_derived = hand_derived
''')


def execute_chapter(monkeypatch, shim_dir=None):
    if shim_dir is not None:
        path = os.environ.get("PYTHONPATH", "")
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(shim_dir), path) if p))
    nb = jupytext.read(CHAPTER)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(CHAPTER.parent)}})
    client.execute()
    return nb


@pytest.mark.slow
def test_chapter_3_executes_as_written(monkeypatch):
    nb = execute_chapter(monkeypatch)
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    for m in (2, 3, 4):
        assert f"m = {m}: dgamma ok, dbeta ok, dvar ok, dmu ok, dx_paths ok, dx ok" in outputs


@pytest.mark.slow
def test_chapter_3_fails_when_a_hand_derived_step_is_wrong(monkeypatch, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BREAK_DVAR)
    with pytest.raises(CellExecutionError) as failure:
        execute_chapter(monkeypatch, shim_dir=tmp_path)
    message = str(failure.value)
    assert "a hand-derived step is wrong" in message
    assert "'dvar': False" in message and "'dgamma': True" in message
