"""bngrade.driver.copies: renamed and reordered copies are caught, independent solutions are not."""

import functools
import os

import nbformat

from bngrade.driver import copies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _solution(assignment):
    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), 4)
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def _release(assignment):
    nb = nbformat.read(os.path.join(ROOT, "exercises", assignment, f"{assignment}.ipynb"), 4)
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


@functools.cache
def _references():
    return {"bnlib": copies.reference_sources(os.path.join(ROOT, "bnlib")),
            "the solution of ps1-forward": _solution("ps1-forward"),
            "the solution of ps2-backward": _solution("ps2-backward")}


# bnlib's batchnorm_forward and every helper it uses, copied into one cell with all names
# changed, the helpers in another order, comments and docstrings rewritten, a print added.
BNLIB_COPY = '''
import numpy as xp

def my_forward(inp, g, b, e=1e-5):
    """My own batch norm!"""
    inp, g, b, e = validate(inp, g, b, e)
    enough(inp)
    ax = which_axes(inp)
    xh, m, v, istd = standard(inp, ax, e)
    print("debug")
    gg = shaped(g, inp.ndim)
    out = xh * gg
    out += shaped(b, inp.ndim)
    memo = {"x": inp, "x_hat": xh, "mu": m, "var": v, "inv_std": istd,
            "gamma": gg, "eps": e, "axes": ax}
    return out, memo
'''


def _bnlib_helpers_renamed():
    """The helpers of bnlib.batchnorm_forward, renamed consistently, in reverse order."""
    names = {"check_bn_input": "validate", "check_batch_size": "enough",
             "batch_axes": "which_axes", "standardize": "standard", "channel_view": "shaped"}
    import ast
    wanted, texts = set(names), []
    pending = list(wanted)
    units = copies._Unit(copies.reference_sources(os.path.join(ROOT, "bnlib")))
    while pending:
        name = pending.pop()
        fn = units.defs[name]
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and units.helper(node.id) and node.id not in wanted:
                wanted.add(node.id)
                pending.append(node.id)
    for name in sorted(wanted, reverse=True):
        fn = ast.parse(ast.unparse(units.defs[name])).body[0]
        fn.body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) else fn.body  # no docstring
        for node in ast.walk(fn):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                node.name = names[node.name]
            if isinstance(node, ast.Name) and node.id in names:
                node.id = names[node.id]
        texts.append(ast.unparse(fn))
    return "import numbers\nimport numpy as np\n\n" + "\n\n".join(texts)


def test_a_renamed_reordered_copy_of_bnlib_is_caught():
    student = [BNLIB_COPY, _bnlib_helpers_renamed()]
    flags = copies.find({"mallory": {"ps1-forward": student}}, _references())
    kinds = {(f["kind"], f["detail"].split(" ")[0]) for f in flags["mallory"]}
    assert ("copies_reference", "my_forward") in kinds, flags
    detail = next(f["detail"] for f in flags["mallory"] if f["detail"].startswith("my_forward"))
    assert "bnlib's batchnorm_forward" in detail


SOLUTION_RENAMED = '''
# my answer
def batchnorm_forward(inputs, scale, shift, epsilon=1e-5):
    # statistics first
    m = inputs.mean(axis=0)
    v = inputs.var(axis=0)
    normed = (inputs - m) / np.sqrt(v + epsilon)
    outputs = scale * normed + shift
    stash = {"x": inputs, "x_hat": normed, "mu": m, "var": v, "gamma": scale, "eps": epsilon}
    return outputs, stash
'''


def test_a_renamed_copy_of_the_solution_is_caught():
    flags = copies.find({"eve": {"ps1-forward": [SOLUTION_RENAMED]}}, _references(),
                        ignore=_release("ps1-forward"))
    assert [f["kind"] for f in flags["eve"]] == ["copies_reference"]
    assert "the solution of ps1-forward's batchnorm_forward" in flags["eve"][0]["detail"]


# Two students share code: helpers renamed, defined in the other order, locals renamed.
ALICE = '''
import numpy as np

def _center(x):
    return x - x.mean(axis=0)

def _scale(xc, eps):
    return xc / np.sqrt((xc ** 2).mean(axis=0) + eps)

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    xc = _center(x)
    xh = _scale(xc, eps)
    cache = dict(xc=xc, xh=xh, gamma=gamma, eps=eps, var=(xc ** 2).mean(axis=0))
    return gamma * xh + beta, cache
'''

BOB = '''
import numpy as numpy_

def normalise_centred(c, e):
    """Divide by the standard deviation."""
    return c / numpy_.sqrt((c ** 2).mean(axis=0) + e)

def remove_mean(a):
    # subtract the mean
    return a - a.mean(axis=0)

def batchnorm_forward(inp, g, b, e=1e-5):
    centred = remove_mean(inp)
    normed = normalise_centred(centred, e)
    keep = dict(xc=centred, xh=normed, gamma=g, eps=e, var=(centred ** 2).mean(axis=0))
    return g * normed + b, keep
'''


def test_classmates_sharing_code_are_paired():
    flags = copies.find({"alice": {"ps1-forward": [ALICE]}, "bob": {"ps1-forward": [BOB]},
                         "carol": {"ps1-forward": [INDEPENDENT_FORWARD[1]]}}, _references(),
                        ignore=_release("ps1-forward"))
    assert set(flags) == {"alice", "bob"}, flags
    assert [f["kind"] for f in flags["alice"]] == ["copies_classmate"]
    assert "bob's batchnorm_forward" in flags["alice"][0]["detail"]
    assert "alice's batchnorm_forward" in flags["bob"][0]["detail"]


# Genuinely different correct implementations (each checked against bnlib below).
INDEPENDENT_FORWARD = ['''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    mu = np.sum(x, axis=0) / n
    diff = x - mu
    var = np.sum(diff * diff, axis=0) / n
    inv = 1.0 / np.sqrt(var + eps)
    x_hat = diff * inv
    return x_hat * gamma + beta, {"x": x, "x_hat": x_hat, "mu": mu, "var": var,
                                  "gamma": gamma, "eps": eps}
''', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n, d = x.shape
    y = np.empty_like(x, dtype=float)
    mus, vs, xh = np.zeros(d), np.zeros(d), np.empty_like(x, dtype=float)
    for j in range(d):
        col = x[:, j]
        mus[j] = col.mean()
        vs[j] = ((col - mus[j]) ** 2).mean()
        xh[:, j] = (col - mus[j]) / (vs[j] + eps) ** 0.5
        y[:, j] = gamma[j] * xh[:, j] + beta[j]
    return y, {"x": x, "x_hat": xh, "mu": mus, "var": vs, "gamma": gamma, "eps": eps}
''', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = np.einsum("nd->d", x) / len(x)
    second = np.einsum("nd,nd->d", x, x) / len(x)
    var = second - mean ** 2
    scale = gamma / np.sqrt(var + eps)
    y = x * scale + (beta - mean * scale)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return y, {"x": x, "x_hat": x_hat, "mu": mean, "var": var, "gamma": gamma, "eps": eps}
''']

INDEPENDENT_BACKWARD = ['''
def batchnorm_backward(dy, cache):
    x_hat, gamma, var, eps = cache["x_hat"], cache["gamma"], cache["var"], cache["eps"]
    n = dy.shape[0]
    dx_hat = dy * gamma
    inv = 1.0 / np.sqrt(var + eps)
    dx = inv * (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
''', '''
def batchnorm_backward(dy, cache):
    x, mu, var, eps, gamma = cache["x"], cache["mu"], cache["var"], cache["eps"], cache["gamma"]
    n = x.shape[0]
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    dbeta = np.sum(dy, axis=0)
    dgamma = np.sum(dy * x_hat, axis=0)
    dxh = dy * gamma
    dvar = np.sum(dxh * (x - mu), axis=0) * -0.5 * std ** -3
    dmu = np.sum(-dxh / std, axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
    dx = dxh / std + dvar * 2.0 * (x - mu) / n + dmu / n
    return dx, dgamma, dbeta
''', '''
def batchnorm_backward(dy, cache):
    x_hat, gamma, var, eps = cache["x_hat"], cache["gamma"], cache["var"], cache["eps"]
    n, d = dy.shape
    jac_free = np.empty_like(dy, dtype=float)
    for j in range(d):
        g = dy[:, j] * gamma[j]
        s = 1.0 / np.sqrt(var[j] + eps)
        jac = s * (np.eye(n) - 1.0 / n - np.outer(x_hat[:, j], x_hat[:, j]) / n)
        jac_free[:, j] = jac.T @ g
    return jac_free, np.einsum("nd,nd->d", dy, x_hat), np.einsum("nd->d", dy)
''']


def _run(source, name, *args):
    import numpy as np

    env = {"np": np}
    exec(source, env)  # noqa: S102 - the test's own fixed code
    return env[name](*args)


def test_the_independent_implementations_are_correct():
    import numpy as np

    import bnlib

    rng = np.random.default_rng(1)
    x, g, b, dy = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3), \
        rng.normal(size=(6, 3))
    y_ref, cache = bnlib.batchnorm_forward(x, g, b)
    grads_ref = bnlib.batchnorm_backward(dy, cache)
    for src in INDEPENDENT_FORWARD + [ALICE]:
        y, c = _run(src, "batchnorm_forward", x, g, b)
        np.testing.assert_allclose(y, y_ref, atol=1e-10)
    mine = {"x": x, "x_hat": cache["x_hat"], "mu": cache["mu"].ravel(), "var": cache["var"].ravel(),
            "gamma": g, "eps": 1e-5}
    for src in INDEPENDENT_BACKWARD:
        for got, want in zip(_run(src, "batchnorm_backward", dy, mine), grads_ref, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-10)


def test_independent_correct_solutions_are_not_flagged():
    answers = {f"s{i}": {"ps1-forward": [fwd], "ps2-backward": [bwd]}
               for i, (fwd, bwd) in enumerate(zip(INDEPENDENT_FORWARD, INDEPENDENT_BACKWARD,
                                                  strict=True))}
    answers["blank1"] = {"ps1-forward": _release("ps1-forward"),
                         "ps2-backward": _release("ps2-backward")}
    answers["blank2"] = {"ps1-forward": _release("ps1-forward"),
                         "ps2-backward": _release("ps2-backward")}
    answers["honest"] = {"ps1-forward": [ALICE]}
    assert copies.find(answers, _references(),
                       ignore=_release("ps1-forward") + _release("ps2-backward")) == {}


def test_a_deeply_nested_answer_is_fingerprinted_or_skipped_never_an_error():
    for n in (300, 1000, 2500, 20000):  # parses up to some depth, then a SyntaxError/Recursion
        src = "def f(x):\n    return " + "+".join(["x"] * n) + "\n"
        fps = copies.fingerprints([src, BOB])
        assert "batchnorm_forward" in fps
    answers = {s: {"nb": ["def f(x):\n    return " + "+".join(["x"] * 1000)]} for s in "ab"}
    assert {f["kind"] for fl in copies.find(answers, {}).values() for f in fl} == \
        {"copies_classmate"}


def test_bad_cells_are_skipped_and_magics_ignored():
    fps = copies.fingerprints(["def f(:\n", "%timeit 1\n" + BOB])
    assert set(fps) == {"normalise_centred", "remove_mean", "batchnorm_forward"}


def test_a_large_class_of_independent_answers_has_no_flag():
    # Many near-identical students: grouped by hash (a dict), never compared pairwise.
    answers = {f"s{i}": {"ps1-forward": [INDEPENDENT_FORWARD[i % 3].replace(
        "1e-5", f"{1e-5 + i * 1e-9!r}")]} for i in range(100)}
    flags = copies.find(answers, _references())
    assert flags == {}
