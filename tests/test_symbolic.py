"""SymPy checks of every step of the backward derivation, for m = 2, 3, 4."""

import pytest
import sympy as sp

from bnlib import symbolic


@pytest.mark.parametrize("m", [2, 3, 4])
def test_every_hand_derived_step_matches_sympy(m):
    result = symbolic.check_derivation(m)
    assert set(result) == {"dgamma", "dbeta", "dvar", "dmu", "dx_paths", "dx"}
    assert all(result.values()), result


def broken(G, step):
    """The hand-derived expressions with one plausible slip in ``step``."""
    h = symbolic.hand_derived(G)
    s = sp.sqrt(G.var + G.eps)
    if step == "dgamma":  # x instead of x_hat
        h["dgamma"] = sp.Add(*[gi * xi for gi, xi in zip(G.g, G.x)])
    elif step == "dbeta":
        h["dbeta"] = sp.Add(*[gi * G.gamma for gi in G.g])
    elif step == "dvar":  # sign of the exponent's factor lost
        h["dvar"] = -h["dvar"]
    elif step == "dmu":  # forgot gamma on the path through x_hat
        h["dmu"] = -sp.Add(*G.g) / s
    elif step == "dx_paths":  # dropped the path through the variance
        h["dx_paths"] = [G.gamma * gi / s + h["dmu"] / G.m for gi in G.g]
    elif step == "dx":  # compact form without the x_hat term
        h["dx"] = [G.gamma / (G.m * s) * (G.m * gi - sp.Add(*G.g)) for gi in G.g]
    return h


@pytest.mark.parametrize("step", ["dgamma", "dbeta", "dvar", "dmu", "dx_paths", "dx"])
def test_a_wrong_step_is_caught(step):
    G = symbolic.bn_graph(3)
    result = symbolic.check_derivation(3, hand=broken(G, step))
    assert result[step] is False
    assert all(ok for name, ok in result.items() if name != step)


def test_batch_of_one_is_refused():
    with pytest.raises(ValueError, match="m must be an integer >= 2"):
        symbolic.bn_graph(1)
