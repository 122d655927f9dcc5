"""Generic diagnoses for a wrong answer no named mistake explains.

Each one isolates one ingredient of the computation and says which one the student
mishandles, so a slip nobody listed still gets a sentence saying what to check:

* :func:`ingredients` -- the reference re-run with one argument changed (eps = 0,
  the default eps, gamma = 1, beta = 0, gamma and beta swapped, the running mean and
  variance swapped, bias = None): if that explains the answer on every case, the
  student's code ignores or misuses that argument;
* :func:`dx_terms` -- a gradient dx split per channel into its three terms (direct,
  through the mean, through the variance): which of them is off;
* :func:`channel_relation` -- the first wrong output against the right one, per channel:
  a factor sqrt(m / (m - 1)) or m / (m - 1) (a variance with the other divisor), one
  factor per channel, one shift per channel, or the right values in another layout.

Each returns an :class:`~bnlib.checks.core.Outcome` or None; none fires on a right
answer (they run only on a mismatch), and each fires only when its relation holds
exactly on every case it can test.
"""

import inspect

import numpy as np

from .compare import leaves, same
from .plain import to_plain

DEFAULT_EPS = 1e-5


def _params(part):
    if part.arg_names:
        return list(part.arg_names)
    try:
        return list(inspect.signature(part.reference).parameters)
    except (TypeError, ValueError):
        return []


def _cache_without_eps(cache, eps):
    """A batch-norm forward cache recomputed with ``eps``."""
    out = dict(cache)
    out["eps"] = eps
    inv = 1.0 / np.sqrt(cache["var"] + eps)
    out["x_hat"] = (cache["x"] - cache["mu"]) * inv
    if "inv_std" in cache:
        out["inv_std"] = inv
    return out


def _substitutions(names, case):
    """(id, message, substituted case) for each ingredient one can change in ``case``."""
    args = dict(zip(names, case))
    found = []

    def sub(**changes):
        return tuple(changes.get(n, args[n]) for n in names) + tuple(case[len(names):])

    eps = args.get("eps")
    if isinstance(eps, float) and eps > 0:
        found.append(("eps_ignored", "Your answer is what eps = 0 gives: eps has no effect in "
                      "it (left out, squared, or added outside the square root of a large "
                      "number). Add eps to the variance inside the square root: "
                      "sqrt(var + eps).", sub(eps=1e-300)))
        found.append(("eps_squared", "Your answer is what eps**2 gives in place of eps: "
                          "add eps itself to the variance, inside the square root: "
                          "sqrt(var + eps).", sub(eps=eps ** 2)))
        if eps != DEFAULT_EPS:
            found.append(("eps_default", "Your answer is what eps = 1e-5 gives, not the eps "
                          "passed in: use the eps argument, not the number 1e-5.",
                          sub(eps=DEFAULT_EPS)))
    cache = args.get("cache")
    if isinstance(cache, dict) and {"x", "mu", "var", "eps"} <= cache.keys() \
            and cache["eps"] > 0:
        found.append(("eps_ignored", "Your gradient is what eps = 0 gives: eps has no effect "
                      "in it (left out, or squared). The forward pass divides by "
                      "sqrt(var + eps); its gradient must use the same sqrt(var + eps).",
                      sub(cache=_cache_without_eps(cache, 1e-300))))
        found.append(("eps_squared", "Your gradient is what eps**2 in place of eps gives: the "
                      "forward pass divides by sqrt(var + eps); its gradient must use the "
                      "same sqrt(var + eps).",
                      sub(cache=_cache_without_eps(cache, cache["eps"] ** 2))))
    gamma, beta = args.get("gamma"), args.get("beta")
    if isinstance(gamma, np.ndarray):
        found.append(("gamma_ignored", "Your answer is what gamma = 1 gives: gamma has no "
                      "effect in it. gamma multiplies the normalised value, one per channel: "
                      "y = gamma * x_hat + beta (and its gradients carry gamma too).",
                      sub(gamma=np.ones_like(gamma))))
    if isinstance(beta, np.ndarray):
        found.append(("beta_ignored", "Your answer is what beta = 0 gives: beta has no effect "
                      "in it. Add beta, one per channel, after scaling by gamma: "
                      "y = gamma * x_hat + beta.", sub(beta=np.zeros_like(beta))))
    if isinstance(gamma, np.ndarray) and isinstance(beta, np.ndarray) \
            and gamma.shape == beta.shape:
        found.append(("gamma_beta_swapped", "gamma and beta are swapped: gamma scales the "
                      "normalised value and beta shifts it, y = gamma * x_hat + beta.",
                      sub(gamma=beta, beta=gamma)))
    rm, rv = args.get("running_mean"), args.get("running_var")
    if isinstance(rm, np.ndarray) and isinstance(rv, np.ndarray):
        found.append(("running_stats_swapped", "The running mean and the running variance "
                      "are swapped: subtract running_mean and divide by "
                      "sqrt(running_var + eps).", sub(running_mean=rv, running_var=rm)))
    bias = args.get("bias", 0)
    if isinstance(bias, np.ndarray):
        found.append(("bias_ignored", "Your answer is what bias = None (no bias) gives: the "
                      "bias of the layer before batch norm has no effect in it. It shifts "
                      "every output of its channel, so it enters the folded bias: "
                      "(bias - running_mean) * s + beta.", sub(bias=None)))
    return found


def ingredients(part, cases, answers, raised_marker):
    """The first ingredient whose change explains the answer on every case, in words."""
    from .core import Outcome

    names = _params(part)
    if not names or not cases:
        return None
    per_case = [_substitutions(names, case) for case in cases]
    messages = {}
    for subs in per_case:  # every ingredient some case can change, in order
        for id_, message, _ in subs:
            messages.setdefault(id_, message)
    for id_, message in messages.items():
        explained, differs = True, False
        for case, subs, got in zip(cases, per_case, answers):
            if got is raised_marker:
                continue
            # a case where the ingredient cannot change (eps already 1e-5, say) is itself
            changed = next((s[2] for s in subs if s[0] == id_), case)
            try:
                with np.errstate(all="ignore"):
                    wrong = to_plain(part.reference(*changed))
                    right = to_plain(part.reference(*case))
            except Exception:  # the changed case cannot even run: no explanation
                explained = False
                break
            if not same(got, wrong, part.rtol, part.atol):
                explained = False
                break
            differs = differs or not same(wrong, right, part.rtol, part.atol)
        if explained and differs:
            return Outcome(False, f"`{part.target}`: {message}", id_)
    return None


def _per_channel_fit(r, basis, axis):
    """Per slice of ``axis``: least-squares coefficients of r on ``basis`` (exact) or None."""
    basis = [np.moveaxis(np.broadcast_to(b, r.shape), axis, 0).reshape(r.shape[axis], -1)
             for b in basis]
    r = np.moveaxis(r, axis, 0).reshape(r.shape[axis], -1)
    coefs = []
    for c in range(r.shape[0]):
        a = np.stack([b[c] for b in basis], axis=1)
        if np.linalg.matrix_rank(a) < a.shape[1]:  # the terms cannot be told apart here
            return None
        coef, *_ = np.linalg.lstsq(a, r[c], rcond=None)
        if np.linalg.norm(a @ coef - r[c]) > 1e-6 * max(np.linalg.norm(r[c]), 1e-12) + 1e-10:
            return None
        coefs.append(coef)
    return np.array(coefs)


def dx_terms(part, case, got, expected):
    """dx off in one of its three terms, per channel: direct, through mean, through var."""
    from .core import Outcome

    if part.paths is None or not (isinstance(got, tuple) and len(got) == len(expected)
                                  and isinstance(got[0], np.ndarray)
                                  and got[0].shape == expected[0].shape
                                  and same(got[1:], expected[1:], part.rtol, part.atol)):
        return None
    mean, var = (np.broadcast_to(t, expected[0].shape) for t in part.paths(*case))
    direct = expected[0] - mean - var
    coef = _per_channel_fit(got[0] - expected[0], (direct, mean, var), 1)
    if coef is None:
        return None
    small = np.abs(coef) < 1e-6
    off = [not small[:, k].all() for k in range(3)]
    where = "direct term (gamma * dL/dy / sqrt(var + eps), without the statistics)"
    if off == [True, False, False]:
        return Outcome(False, f"dx is wrong in its {where} only; its two paths through the "
                       "mean and the variance are right: check the factors gamma and "
                       "1 / sqrt(var + eps) of dL/dx_hat / sqrt(var + eps) (in the compact "
                       "form, the m of m * dy).", "direct_term")
    if off == [False, True, False]:
        return Outcome(False, "dx is wrong in its path through the mean only (by a different "
                       "amount per channel): dL/dmu = -sum of dL/dx_hat / sqrt(var + eps) "
                       "(the path through the variance adds nothing to it, since the "
                       "x - mu sum to 0), and it reaches every dx_i as dL/dmu / m.",
                       "mean_path_term")
    if off == [False, False, True]:
        return Outcome(False, "dx is wrong in its path through the variance only (by a "
                       "different amount per channel): dL/dvar = -1/2 (var + eps)**(-3/2) "
                       "sum of dL/dx_hat * (x - mu), built from x - mu, and it reaches dx_i "
                       "as dL/dvar * 2 (x_i - mu) / m.", "var_path_term")
    ratio = coef[:, 0][:, None]
    if all(off) and np.allclose(coef, np.repeat(ratio, 3, axis=1), rtol=1e-5, atol=1e-8):
        return None  # one factor per channel on all of dx: channel_relation says it
    if off == [True, True, False]:
        return Outcome(False, "dx's direct term and its path through the mean are both off, "
                       "the path through the variance is right: look at what the two share, "
                       "dL/d(x - mu) = dL/dx_hat / sqrt(var + eps), before the mean's path "
                       "sums it (dL/dmu = -sum of dL/d(x - mu)).", "direct_and_mean_terms")
    if not off[0]:
        return Outcome(False, "dx's direct term is right but its paths through the mean and "
                       "the variance are both off: check dL/dmu, dL/dvar and the 1/m and "
                       "2 (x_i - mu) / m by which they reach dx_i.", "path_terms")
    return None


def _count(case):
    """m, the number of values per channel of the case's largest array input."""
    arrays = [a for a in case if isinstance(a, np.ndarray) and a.ndim >= 2]
    if not arrays:
        cache = next((a for a in case if isinstance(a, dict) and "x" in a), None)
        arrays = [cache["x"]] if cache is not None else []
    if not arrays:
        return None
    x = max(arrays, key=lambda a: a.size)
    return x.size // x.shape[1]


def _name(part, name):
    return f"`{part.target}`: {name}" if name != "the output" else f"`{part.target}`"


def channel_relation(part, case, got, expected):
    """The first wrong output against the right one, per channel, in words."""
    from .core import Outcome

    for name, g, e in leaves(got, expected, part.outputs):
        if same(g, e, part.rtol, part.atol):
            continue
        if not (isinstance(g, np.ndarray) and isinstance(e, np.ndarray)):
            return None
        who = _name(part, name)
        if g.shape != e.shape:
            if g.size == e.size and g.ndim == 2 and same(g.T, e, part.rtol, part.atol):
                return Outcome(False, f"{who} holds the right values transposed: return "
                               f"shape {e.shape}.", "transposed")
            return None
        if g.ndim < 2 or not np.isfinite(g).all() or np.abs(e).max() < 1e-12:
            return None
        m = _count(case)
        beta = dict(zip(_params(part), case)).get("beta")
        if isinstance(beta, np.ndarray) and g.ndim >= 2 and part.channel_axis == 1 \
                and beta.shape == (g.shape[1],):
            b = beta.reshape((1, -1) + (1,) * (g.ndim - 2))
            factor = _per_channel_fit(g - b, (e - b,), 1)
            if factor is not None and not np.allclose(factor[:, 0], factor[0, 0], rtol=1e-6):
                f = factor[:, 0]
                k = int(np.argmax(np.abs(f - 1)))
                return Outcome(False, f"{who} minus beta is the right value's times a factor "
                               f"that differs from channel to channel (channel {k}: "
                               f"{f[k]:.4g}): x - mu is centred right but scaled wrongly. "
                               "Check gamma and the division by sqrt(var + eps): eps inside "
                               "the root, the biased variance of each channel's values "
                               "(centred on their mean), divided by, not multiplied.",
                               "scale_per_channel")
        for axis in (part.channel_axis,):
            factor = _per_channel_fit(g, (e,), axis)
            if factor is not None:
                f = factor[:, 0]
                if m and m > 1:
                    for k, words in [
                            (np.sqrt(m / (m - 1)), "sqrt(m / (m - 1))"),
                            (np.sqrt((m - 1) / m), "sqrt((m - 1) / m)"),
                            (m / (m - 1), "m / (m - 1)"), ((m - 1) / m, "(m - 1) / m")]:
                        if np.allclose(f, k, rtol=1e-6):
                            return Outcome(False, f"{who} is the right value times {words} "
                                           f"(m = {m} values per channel): a variance divides "
                                           "by m - 1 where it should divide by m, or the "
                                           "reverse. Normalising uses the biased variance "
                                           "(divide by m); only the running variance is "
                                           "unbiased (times m / (m - 1)), once.", "count_ratio")
                if np.allclose(f, f[0], rtol=1e-6):
                    return None  # one constant: constant_factor says it
                k = int(np.argmax(np.abs(f - 1)))
                return Outcome(False, f"{who} is the right value times a factor that differs "
                               f"from channel to channel (channel {k}: {f[k]:.4g}): a "
                               "per-channel scale is off. Check gamma and the division by "
                               "sqrt(var + eps): eps inside the root, a variance (not a "
                               "standard deviation or its square) of the right values, "
                               "divided by, not multiplied.", "channel_factor")
            shift = _per_channel_fit(g - e, (np.ones_like(e),), axis)
            if shift is not None:
                return Outcome(False, f"{who} is the right value plus a constant per channel: "
                               "the scaling is right, what you add or "
                               "subtract is not. Check beta (added once, after gamma) and "
                               "the mean you subtract.", "channel_shift")
        return None
    return None


def _numbers(answer, outputs):
    """{name: number} of the scalar leaves of one answer."""
    return {name: float(v) for name, v, _ in leaves(answer, answer, outputs)
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def scalar_ratio(part, cases, answers, raised_marker):
    """A number output that is the same multiple of the right one in every case, in words."""
    from .core import Outcome

    ratios = {}
    for case, got in zip(cases, answers):
        if got is raised_marker:
            return None
        right = _numbers(to_plain(part.reference(*case)), part.outputs)
        mine = _numbers(got, part.outputs)
        if mine.keys() != right.keys():
            return None
        for name, value in right.items():
            if value != 0:
                ratios.setdefault(name, []).append(mine[name] / value)
    for name, r in ratios.items():
        if len(r) >= 2 and abs(r[0] - 1) > 1e-3 and np.allclose(r, r[0], rtol=1e-9, atol=0):
            who = _name(part, name)
            return Outcome(False, f"{who} is {r[0]:.4g} times the right value in every case: "
                           "one constant factor is off (a 2, a 1/2, a count or a sign).",
                           "constant_factor")
    return None


def shape_words(part, got, expected):
    """The right values in another order, or the first output of another shape, in words."""
    from .compare import describe_mismatch
    from .core import Outcome

    message = describe_mismatch(part.target, got, expected, part.outputs)
    if "in the wrong order" in message:
        return Outcome(False, message, "wrong_order")
    for _, g, e in leaves(got, expected, part.outputs):
        if isinstance(e, np.ndarray) and isinstance(g, (np.ndarray, int, float)) \
                and np.shape(g) != e.shape:
            return Outcome(False, f"{message} Check the axes of your sums and means "
                           "(keepdims) and any reshape.", "wrong_shape")
        if not same(g, e, part.rtol, part.atol):
            break
    return None


def none_cases(part, cases, answers, raised_marker):
    """Only the cases where an argument is None are wrong: None is not read as "none"."""
    from .core import Outcome

    names = _params(part)
    wrong_none, wrong_other, nones = False, False, set()
    for case, got in zip(cases, answers):
        none_here = [n for n, a in zip(names, case) if a is None]
        ok = got is not raised_marker and same(got, to_plain(part.reference(*case)),
                                                part.rtol, part.atol)
        if none_here:
            nones.update(none_here)
            wrong_none = wrong_none or not ok
        elif not ok:
            wrong_other = True
    if wrong_none and not wrong_other and len(nones) == 1:
        arg = nones.pop()
        return Outcome(False, f"`{part.target}` is right except where `{arg}` is None: None "
                       f"means there is no {arg}, which adds nothing (zeros), e.g. "
                       f"`b = np.zeros(len(gamma)) if {arg} is None else {arg}`.", "none_argument")
    return None
