"""A wrong step in the hand derivation must stop chapter 3 (and so the book build).

The chapter typesets every displayed step from ``bnlib.symbolic.general_steps``
(and the m = 3 boxes from ``hand_derived``, their expansion) and asserts
``check_general(m)`` for m = 2, 3, 4 and ``check_derivation(3)`` for the boxes. Here the
chapter runs in a fresh kernel (jupytext + nbclient, as the book build does):
as written, where it must succeed; with the *displayed* step 3 given the wrong
sign, and with the expanded dL/dvar given the wrong sign (a ``sitecustomize``
on the kernel's PYTHONPATH patches ``bnlib.symbolic`` before the chapter
starts), where it must fail at the SymPy check.
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


BREAK_DISPLAYED_DVAR = textwrap.dedent('''
    """Test shim: a sign typo in the displayed step 3 (the general formula)."""
    import bnlib.symbolic as _symbolic

    _original = _symbolic.general_steps


    def general_steps(S=None):
        steps = _original(S)
        steps["dvar"] = -steps["dvar"]
        return steps


    _symbolic.general_steps = general_steps
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
        assert (f"m = {m}, displayed: dbeta ok, dgamma ok, dvar ok, dmu_paths ok, dmu ok, "
                "dx_hat ok, dx_paths ok, dx ok, dx_projected ok") in outputs
    assert "m = 3, expanded: dgamma ok, dbeta ok, dvar ok, dmu ok, dx_paths ok, dx ok" in outputs


@pytest.mark.slow
@pytest.mark.parametrize("shim, complaint", [
    (BREAK_DVAR, "a hand-derived step is wrong"),             # the expanded m = 3 boxes
    (BREAK_DISPLAYED_DVAR, "a displayed step is wrong"),      # the typeset general step 3
], ids=["expanded", "displayed"])
def test_chapter_3_fails_when_a_step_has_a_sign_typo(monkeypatch, tmp_path, shim, complaint):
    (tmp_path / "sitecustomize.py").write_text(shim)
    with pytest.raises(CellExecutionError) as failure:
        execute_chapter(monkeypatch, shim_dir=tmp_path)
    message = str(failure.value)
    assert complaint in message
    assert "'dvar': False" in message and "'dgamma': True" in message
