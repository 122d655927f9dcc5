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


def broken_general(step):
    """The displayed general steps with one plausible typo in ``step``."""
    S = symbolic.general_symbols()
    h = dict(symbolic.general_steps(S))
    j = S.j
    if step == "dbeta":  # gamma slipped in
        h["dbeta"] = sp.Sum(S.gamma * S.g[j], (j, 1, S.m))
    elif step == "dgamma":  # x instead of x_hat
        h["dgamma"] = sp.Sum(S.g[j] * S.x[j], (j, 1, S.m))
    elif step == "dx_hat":
        h["dx_hat"] = S.g[S.i]
    elif step in ("dvar", "dmu", "dx", "dx_projected"):  # a sign typo
        h[step] = -h[step]
    elif step == "dmu_paths":  # the vanishing term typed with the wrong sign is still 0;
        h["dmu_paths"] = -h["dmu_paths"]   # so flip the whole line
    elif step == "dx_paths":  # path 3 with the wrong sign
        one, three, two = h["dx_paths"]
        h["dx_paths"] = (one, -three, two)
    elif step == "projection":  # + instead of - before the projection
        identity, rest = h["projection"]
        h["projection"] = (identity, -rest)
    return h


GENERAL = ["dbeta", "dgamma", "dx_hat", "dvar", "dmu_paths", "dmu", "dx_paths", "dx",
           "dx_projected", "projection"]


@pytest.mark.parametrize("m", [2, 3, 4])
def test_every_displayed_step_matches_sympy(m):
    result = symbolic.check_general(m)
    assert set(result) == set(GENERAL) - {"projection"}
    assert all(result.values()), result


@pytest.mark.parametrize("step", GENERAL)
def test_a_typo_in_a_displayed_step_is_caught(step):
    result = symbolic.check_general(3, steps=broken_general(step))
    caught = {"projection": "dx_projected"}.get(step, step)
    assert result[caught] is False, result
    # dL/dvar and dL/dmu are reused by step 5, so a typo there shows in step 5 too
    allowed = {caught, "dx_paths"} if step in ("dvar", "dmu") else {caught}
    assert all(ok for name, ok in result.items() if name not in allowed), result


def test_displayed_latex_is_the_sympy_expression_and_keeps_its_signs():
    steps = symbolic.general_steps()
    dx = symbolic.display_latex(steps["dx"])
    assert dx.startswith(r"\frac{\gamma}{m \sqrt{")
    assert r"m {g}_{i} - \sum_{j=1}^{m} {g}_{j} - {\hat{x}}_{i} \sum_{j=1}^{m}" in dx
    assert symbolic.display_latex(steps["projection"]).startswith(r"\mathbb{I} - \frac{1}{m}")
    flipped = broken_general("dx")["dx"]
    assert symbolic.display_latex(flipped) != dx


def test_no_hand_typed_display_math_in_chapter_3_or_the_ps2_spec():
    """Every displayed formula there is typeset from bnlib.symbolic (glue or the builder)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in (root / "chapters" / "03-backward.md", root / "solutions" / "spec" /
                 "ps2-backward.md"):
        assert "$$" not in path.read_text(), f"{path.name} has hand-typed display math"
