"""SymPy builders for the batch-norm graph of one feature over a batch of m.

``chapters/03-backward.md`` derives the backward pass by hand; this module
holds those hand-derived expressions (in :func:`hand_derived`, the one place
they are written) and lets SymPy differentiate the graph itself
(:func:`sympy_derived`). :func:`check_derivation` asserts the two agree.

The graph keeps ``mu`` and ``var`` as nodes (symbols), as in the chapter::

    x -> (mu, var) -> x_hat -> y -> L = sum_i g_i * y_i

where ``g_i = dL/dy_i`` is the upstream gradient.
"""

from dataclasses import dataclass

import sympy as sp


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
    """The chapter's hand-derived gradients, in terms of the node symbols.

    Returns a dict: ``dgamma``, ``dbeta``, ``dvar``, ``dmu`` (expressions) and
    ``dx_paths`` (the three-path sum), ``dx`` (the compact form): lists of m.
    """
    s = sp.sqrt(G.var + G.eps)
    xh, g, m = G.x_hat, G.g, G.m
    dxh = [G.gamma * gi for gi in g]                       # dL/dx_hat_i
    dvar = sp.Add(*[d * (xi - G.mu) for d, xi in zip(dxh, G.x)]) * (-sp.Rational(1, 2)) * s**-3
    dmu = -sp.Add(*dxh) / s          # the path through var vanishes: sum(x_i - mu) = 0
    sum_g = sp.Add(*g)
    sum_gxh = sp.Add(*[gi * h for gi, h in zip(g, xh)])
    return {
        "dgamma": sum_gxh,
        "dbeta": sum_g,
        "dvar": dvar,
        "dmu": dmu,
        "dx_paths": [d / s + dvar * 2 * (xi - G.mu) / m + dmu / m
                     for d, xi in zip(dxh, G.x)],
        "dx": [G.gamma / (m * s) * (m * gi - sum_g - h * sum_gxh) for gi, h in zip(g, xh)],
    }


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
