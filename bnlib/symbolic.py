"""SymPy builders for the batch-norm graph of one feature over a batch of m.

``chapters/03-backward.md`` derives the backward pass by hand; this module
holds those hand-derived steps for a batch of any size m (in
:func:`general_steps`, the one place they are written; the chapter typesets
every displayed step from them), expands them for a concrete m
(:func:`hand_derived`) and lets SymPy differentiate the graph itself
(:func:`sympy_derived`). :func:`check_derivation` and :func:`check_general`
assert the two agree.

The graph keeps ``mu`` and ``var`` as nodes (symbols), as in the chapter::

    x -> (mu, var) -> x_hat -> y -> L = sum_i g_i * y_i

where ``g_i = dL/dy_i`` is the upstream gradient.
"""

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement


@dataclass(frozen=True)
class BNGraph:
    """Symbols and node expressions of batch norm for a batch of ``m``."""

    m: int
    x: tuple        # inputs x_1 .. x_m
    g: tuple        # upstream gradients g_i = dL/dy_i
    gamma: sp.Symbol
    beta: sp.Symbol
    eps: sp.Symbol
    mu: sp.Symbol   # node symbol for the batch mean
    var: sp.Symbol  # node symbol for the biased batch variance

    @property
    def mean_of_x(self):
        """The mean as a function of the inputs."""
        return sp.Add(*self.x) / self.m

    def var_of(self, mu):
        """The biased variance of the inputs about ``mu``."""
        return sp.Add(*[(xi - mu) ** 2 for xi in self.x]) / self.m

    @property
    def x_hat(self):
        """x_hat_i in terms of the node symbols mu and var."""
        return [(xi - self.mu) / sp.sqrt(self.var + self.eps) for xi in self.x]

    @property
    def loss(self):
        """L = sum_i g_i * (gamma * x_hat_i + beta), in terms of x, mu and var."""
        return sp.Add(*[gi * (self.gamma * xh + self.beta) for gi, xh in zip(self.g, self.x_hat)])

    def eliminate_nodes(self, expr):
        """Replace the node symbols mu and var by their definitions in x."""
        return expr.subs(self.var, self.var_of(self.mu)).subs(self.mu, self.mean_of_x)


def bn_graph(m):
    """Build the graph for a batch of ``m >= 2`` values of one feature."""
    if not isinstance(m, int) or m < 2:
        raise ValueError(f"m must be an integer >= 2 (a batch of one has no variance), got {m!r}")
    return BNGraph(
        m=m,
        x=sp.symbols(f"x_1:{m + 1}", real=True),
        g=sp.symbols(f"g_1:{m + 1}", real=True),
        gamma=sp.Symbol("gamma", real=True),
        beta=sp.Symbol("beta", real=True),
        eps=sp.Symbol("epsilon", positive=True),
        mu=sp.Symbol("mu", real=True),
        var=sp.Symbol("sigma^2", positive=True),
    )


def hand_derived(G):
    """The chapter's hand-derived gradients for the batch of ``G``, in terms of the node symbols.

    They are the displayed general steps (:func:`general_steps`, the one place
    the formulas are written) expanded for ``m = G.m``. Returns a dict:
    ``dgamma``, ``dbeta``, ``dvar``, ``dmu`` (expressions) and ``dx_paths``
    (the three-path sum), ``dx`` (the compact form): lists of m.
    """
    S = general_symbols()
    steps = general_steps(S)

    def one(name):
        return expand_general(G, steps[name], None, S, steps)

    def each(name):
        return [expand_general(G, steps[name], k + 1, S, steps) for k in range(G.m)]

    return {"dgamma": one("dgamma"), "dbeta": one("dbeta"), "dvar": one("dvar"),
            "dmu": one("dmu"), "dx_paths": each("dx_paths"), "dx": each("dx")}


def sympy_derived(G):
    """The same gradients, differentiated by SymPy, in terms of the inputs x.

    ``dvar`` is the partial derivative with mu held fixed (var is a node);
    ``dmu`` is the total derivative through x_hat and through var(mu).
    """
    L = G.loss
    L_of_mu = L.subs(G.var, G.var_of(G.mu))
    L_of_x = G.eliminate_nodes(L)
    dx = [sp.diff(L_of_x, xi) for xi in G.x]
    return {
        "dgamma": G.eliminate_nodes(sp.diff(L, G.gamma)),
        "dbeta": G.eliminate_nodes(sp.diff(L, G.beta)),
        "dvar": G.eliminate_nodes(sp.diff(L, G.var)),
        "dmu": sp.diff(L_of_mu, G.mu).subs(G.mu, G.mean_of_x),
        "dx_paths": dx,
        "dx": dx,
    }


def same(G, a, b):
    """True when expressions ``a`` and ``b`` (node symbols allowed) are identical.

    Writing eps as ``s**2 - var(x)`` for a positive symbol ``s`` turns
    ``sqrt(var + eps)`` into ``s``, so both sides become rational functions and
    ``cancel`` decides equality exactly.
    """
    s = sp.Symbol("s", positive=True)
    to_s = {G.eps: s**2 - G.var_of(G.mean_of_x)}
    diff = G.eliminate_nodes(a - b).subs(to_s)
    return sp.cancel(sp.powsimp(diff, force=True)) == 0


def check_derivation(m, hand=None):
    """Compare each hand-derived step with SymPy for a batch of ``m``.

    Returns a dict step name -> bool (True when the step is right). ``hand``
    overrides the expressions (the tests pass a broken one to see it caught).
    """
    G = bn_graph(m)
    hand = hand_derived(G) if hand is None else hand
    auto = sympy_derived(G)
    result = {}
    for name, expected in auto.items():
        mine = hand[name]
        if isinstance(expected, list):
            result[name] = all(same(G, a, b) for a, b in zip(mine, expected))
        else:
            result[name] = same(G, mine, expected)
    return result


# ---------------------------------------------------------------------------
# The displayed steps: the chapter's general formulas (any m), as SymPy objects
# ---------------------------------------------------------------------------

class _Partial(sp.Function):
    """``dL/dx_hat_j`` as an unevaluated factor, typeset as a fraction."""

    nargs = 1

    def _latex(self, printer):
        index = printer._print(self.args[0])
        return rf"\frac{{\partial L}}{{\partial \hat{{x}}_{{{index}}}}}"


@dataclass(frozen=True)
class GeneralSymbols:
    """Symbols of the chapter's general derivation: a batch of symbolic size ``m``."""

    m: sp.Symbol
    i: sp.Symbol
    j: sp.Symbol
    x: sp.IndexedBase
    g: sp.IndexedBase
    x_hat: sp.IndexedBase
    gamma: sp.Symbol
    eps: sp.Symbol
    mu: sp.Symbol
    var: sp.Symbol
    dvar: sp.Symbol   # the symbol dL/dvar, where step 4 and 5 reuse step 3
    dmu: sp.Symbol    # the symbol dL/dmu, where step 5 reuses step 4
    ones: sp.MatrixSymbol       # the column of m ones
    x_hat_vec: sp.MatrixSymbol  # x_hat and g as columns, for the matrix form
    g_vec: sp.MatrixSymbol
    P: sp.MatrixSymbol          # the projection of the matrix form


def general_symbols():
    """The symbols the chapter's displayed formulas are written in."""
    m = sp.Symbol("m", integer=True, positive=True)
    return GeneralSymbols(
        m=m,
        i=sp.Symbol("i", integer=True, positive=True),
        j=sp.Symbol("j", integer=True, positive=True),
        x=sp.IndexedBase("x"),
        g=sp.IndexedBase("g"),
        x_hat=sp.IndexedBase(r"\hat{x}"),
        gamma=sp.Symbol("gamma", real=True),
        eps=sp.Symbol("epsilon", positive=True),
        mu=sp.Symbol(r"\mu_B", real=True),
        var=sp.Symbol(r"\sigma_B^2", positive=True),
        dvar=sp.Symbol(r"\frac{\partial L}{\partial \sigma_B^2}"),
        dmu=sp.Symbol(r"\frac{\partial L}{\partial \mu_B}"),
        ones=sp.MatrixSymbol(r"\mathbf{1}", m, 1),
        x_hat_vec=sp.MatrixSymbol(r"\hat{x}", m, 1),
        g_vec=sp.MatrixSymbol("g", m, 1),
        P=sp.MatrixSymbol("P", m, m),
    )


def _total(S, term):
    """sum_{j=1}^{m} term, unevaluated."""
    return sp.Sum(term, (S.j, 1, S.m))


def general_steps(S=None):
    """The displayed steps of chapters/03-backward.md, for a batch of symbolic size m.

    Every displayed formula of the derivation is one of these expressions
    (the chapter renders them with :func:`display_latex`); :func:`check_general`
    expands them for a concrete m and compares them with SymPy's own
    differentiation. Keys: ``dbeta``, ``dgamma`` (step 1), ``dx_hat`` (step 2,
    for index i), ``dvar`` (step 3), ``dmu_paths`` (step 4, both paths),
    ``dmu`` (step 4, what is left), ``dx_paths`` (step 5: the three path terms,
    a tuple, each in terms of the symbols dL/dvar and dL/dmu), ``dx``
    (step 6, the compact form), and step 6 as a matrix acting on the column g:
    ``dx_projected`` (in terms of the symbol P) and ``projection`` (P, a tuple
    of two terms). Indices: i for one input, j summed.
    """
    S = general_symbols() if S is None else S
    half = sp.Rational(1, 2)
    s = sp.sqrt(S.var + S.eps)
    d = _Partial
    j, i = S.j, S.i

    def centred(k):  # x_k - mu_B, in that order
        return sp.Add(S.x[k], -S.mu, evaluate=False)

    def times(*factors):  # a product in the order written
        return sp.Mul(*factors, evaluate=False)

    return {
        "dbeta": _total(S, S.g[j]),
        "dgamma": _total(S, times(S.g[j], S.x_hat[j])),
        "dx_hat": times(S.gamma, S.g[i]),
        "dvar": times(_total(S, times(d(j), centred(j))),
                      -half * sp.Pow(S.var + S.eps, -3 * half, evaluate=False)),
        "dmu_paths": sp.Add(_total(S, times(d(j), -1 / s)),
                            times(S.dvar, -2 / S.m, _total(S, centred(j))),
                            evaluate=False),
        "dmu": times(-1 / s, _total(S, d(j))),
        "dx_paths": (times(d(i), 1 / s),
                     times(S.dvar, times(2, centred(i)) / S.m),
                     times(S.dmu, 1 / S.m)),
        "dx": times(S.gamma / (S.m * s),
                    sp.Add(S.m * S.g[i], -_total(S, S.g[j]),
                           -times(S.x_hat[i], _total(S, times(S.g[j], S.x_hat[j]))),
                           evaluate=False)),
        # Step 6 as a matrix acting on g (worked example C): dx = (gamma / s) P g.
        "projection": (sp.Identity(S.m),
                       sp.MatMul(-1 / S.m, sp.MatAdd(S.ones * S.ones.T, S.x_hat_vec * S.x_hat_vec.T,
                                                     evaluate=False), evaluate=False)),
        "dx_projected": sp.MatMul(S.gamma / s, S.P, S.g_vec, evaluate=False),
    }


def display_latex(expr):
    """LaTeX of a displayed step, keeping the order in which it is written.

    A tuple is a sum of terms, each typeset on its own (so a chapter can label
    them); a term with a leading minus sign is joined with ``-``.
    """
    if isinstance(expr, tuple):
        text = display_latex(expr[0])
        for term in expr[1:]:
            head, rest = (term.args[0], term.args[1:]) if term.is_Mul or term.is_MatMul \
                else (term, ())
            if head.could_extract_minus_sign():
                positive = type(term)(-head, *rest, evaluate=False) if rest else -head
                text += " - " + display_latex(positive)
            else:
                text += " + " + display_latex(term)
        return text
    return sp.latex(expr, order="none")


def expand_general(G, expr, i=None, S=None, steps=None):
    """A general step as an expression of the concrete graph ``G`` (m = G.m).

    Sums are expanded, ``x_j``, ``g_j`` become ``G.x``, ``G.g``, ``x_hat_j`` its
    definition, ``dL/dx_hat_j`` becomes ``gamma * g_j`` (step 2), and the symbols
    dL/dvar and dL/dmu become the general steps 3 and 4 (``steps``). ``i`` (1-based)
    fixes the free index of the per-input steps.
    """
    S = general_symbols() if S is None else S
    steps = general_steps(S) if steps is None else steps
    if isinstance(expr, tuple):
        expr = sp.Add(*expr)
    if isinstance(expr, sp.MatrixExpr):  # the matrix form: one row per input
        P = sp.Add(*steps["projection"])
        column = expr.subs(S.P, P).subs(S.m, G.m).as_explicit()
        values = {S.ones.name: [1] * G.m, S.x_hat_vec.name: G.x_hat,
                  S.g_vec.name: G.g}
        column = column.replace(lambda e: isinstance(e, MatrixElement),
                                lambda e: values[e.parent.name][int(e.i)])
        expr = column[i - 1, 0]
        return expr.subs({S.mu: G.mu, S.var: G.var, S.eps: G.eps, S.gamma: G.gamma})
    expr = expr.subs({S.dvar: steps["dvar"], S.dmu: steps["dmu"]})
    if i is not None:
        expr = expr.subs(S.i, i)
    expr = expr.subs(S.m, G.m).doit()
    concrete = {S.x: G.x, S.g: G.g, S.x_hat: G.x_hat}
    expr = expr.replace(_Partial, lambda k: S.gamma * S.g[k])
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed),
                        lambda e: concrete[e.base][int(e.indices[0]) - 1])
    return expr.subs({S.mu: G.mu, S.var: G.var, S.eps: G.eps, S.gamma: G.gamma})


def check_general(m, steps=None):
    """Compare every displayed (general) step, expanded for a batch of ``m``, with SymPy.

    Returns a dict step name -> bool. ``steps`` overrides the general
    expressions (the tests pass a broken one to see it caught).
    """
    G = bn_graph(m)
    S = general_symbols()
    steps = general_steps(S) if steps is None else steps
    auto = sympy_derived(G)
    per_input = {"dx_hat", "dx_paths", "dx", "dx_projected"}
    expected = {"dbeta": auto["dbeta"], "dgamma": auto["dgamma"], "dvar": auto["dvar"],
                "dmu_paths": auto["dmu"], "dmu": auto["dmu"],
                "dx_hat": [G.gamma * gi for gi in G.g],
                "dx_paths": auto["dx_paths"], "dx": auto["dx"], "dx_projected": auto["dx"]}
    result = {}
    for name, want in expected.items():
        if name in per_input:
            result[name] = all(same(G, expand_general(G, steps[name], k + 1, S, steps), w)
                               for k, w in enumerate(want))
        else:
            result[name] = same(G, expand_general(G, steps[name], None, S, steps), want)
    return result
