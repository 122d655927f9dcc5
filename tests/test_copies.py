"""bngrade.driver.copies: renamed, reordered and commuted copies are caught and ranked first;
independent answers, and answers written the common short way, are not flagged."""

import functools
import os

import nbformat
import pytest

from bngrade.driver import copies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cells(folder, assignment):
    nb = nbformat.read(os.path.join(ROOT, folder, assignment, f"{assignment}.ipynb"), 4)
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


@functools.cache
def _references():
    return {"bnlib": copies.reference_sources(os.path.join(ROOT, "bnlib")),
            "the solution of ps1-forward": _cells("solutions", "ps1-forward"),
            "the solution of ps2-backward": _cells("solutions", "ps2-backward")}


def _release(assignment):
    return _cells("exercises", assignment)


def _ignore():
    return _release("ps1-forward") + _release("ps2-backward")


def _find(answers):
    return copies.compare(answers, _references(), ignore=_ignore())


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


# One classmate's backward pass (INDEPENDENT_BACKWARD[1]) disguised: every name changed,
# two independent statements swapped, the operands of two sums and a product commuted.
DISGUISED_CLASSMATE = '''
def batchnorm_backward(grad_out, saved):
    inp, mean, variance, e, scale = (saved["x"], saved["mu"], saved["var"], saved["eps"],
                                     saved["gamma"])
    batch = inp.shape[0]
    sd = np.sqrt(e + variance)
    normed = (inp - mean) / sd
    g_gamma = np.sum(normed * grad_out, axis=0)
    g_beta = np.sum(grad_out, axis=0)
    g_norm = scale * grad_out
    g_var = np.sum(g_norm * (inp - mean), axis=0) * -0.5 * sd ** -3
    g_mean = g_var * np.mean(-2.0 * (inp - mean), axis=0) + np.sum(-g_norm / sd, axis=0)
    g_in = g_norm / sd + g_mean / batch + g_var * 2.0 * (inp - mean) / batch
    return g_in, g_gamma, g_beta
'''

# The solution's staged backward pass, disguised the same way.
DISGUISED_SOLUTION = '''
def batchnorm_backward_staged(g, c):
    """My staged version."""
    inp, avg, v, e, sc = c["x"], c["mu"], c["var"], c["eps"], c["gamma"]
    n = inp.shape[0]
    centred = inp - avg
    s = np.sqrt(e + v)
    r = 1.0 / s
    normed = r * centred
    dg = (normed * g).sum(axis=0)
    db = g.sum(axis=0)
    dn = sc * g
    dc = dn * r
    dr = (centred * dn).sum(axis=0)
    ds = -dr / s**2
    dv = ds * 0.5 / s
    dc = dc + dv * 2.0 * centred / n
    dm = -dc.sum(axis=0)
    return dm / n + dc, dg, db
'''

# The way most of a class writes the two short ps2 answers: only names differ.
SHORT = '''
def param_grads({dy}, {c}):
    return ({dy} * {c}["x_hat"]).sum(axis=0), {dy}.sum(axis=0)


def rel_error({a}, {b}):
    {s} = np.linalg.norm({a}) + np.linalg.norm({b})
    if {s} == 0:
        return 0.0
    return float(np.linalg.norm({a} - {b}) / {s})
'''


def _short(i):
    return SHORT.format(dy=f"g{i}", c=f"cache{i}", a=f"u{i}", b=f"w{i}", s=f"t{i}")


def _class():
    """Three independent students, six who wrote only the short answers, two copiers."""
    answers = {}
    for i, (fwd, bwd) in enumerate(zip(INDEPENDENT_FORWARD, INDEPENDENT_BACKWARD, strict=True)):
        answers[f"s{i}"] = {"ps1-forward": [fwd], "ps2-backward": [bwd, _short(i)]}
    for i in range(6):
        answers[f"t{i}"] = {"ps2-backward": [*_release("ps2-backward"), _short(10 + i)]}
    answers["copier"] = {"Copy of ps2-backward": [DISGUISED_CLASSMATE, _short(20)]}
    answers["soloist"] = {"ps2-backward": [DISGUISED_SOLUTION, _short(21)]}
    return answers


def test_disguised_copies_of_a_classmate_and_of_the_solution_are_flagged_and_ranked_first():
    result = _find(_class())
    top = [(p["a"], p["b"], p["kind"]) for p in result.pairs[:2]]
    assert sorted(top) == [("copier", "s1", "copies_classmate"),
                           ("soloist", "the solution of ps2-backward", "copies_reference")], \
        result.pairs
    assert set(result.flags) == {"copier", "s1", "soloist"}, result.flags
    assert [p["similarity"] for p in result.pairs] == sorted(
        (p["similarity"] for p in result.pairs), reverse=True)
    copier = result.flags["copier"][0]
    assert copier["notebook"] == "Copy of ps2-backward"  # compared whatever its file name
    assert "s1's" in copier["detail"]
    pair = result.pairs[0] if result.pairs[0]["a"] == "copier" else result.pairs[1]
    frag = pair["fragments"][0]  # the shared code, each side as its author wrote it
    assert frag["a_name"] == frag["b_name"] == "batchnorm_backward"
    assert "g_gamma" in frag["a_code"] and "dgamma" in frag["b_code"]


def test_each_disguise_alone_is_caught():
    base = INDEPENDENT_BACKWARD[1]
    disguises = {
        "renamed": base.replace("dgamma", "gg").replace("dxh", "q").replace("std", "sd"),
        "reordered": base.replace(
            "    dbeta = np.sum(dy, axis=0)\n    dgamma = np.sum(dy * x_hat, axis=0)\n",
            "    dgamma = np.sum(dy * x_hat, axis=0)\n    dbeta = np.sum(dy, axis=0)\n"),
        "commuted": base.replace("dxh / std + dvar * 2.0 * (x - mu) / n + dmu / n",
                                 "dmu / n + (dxh / std + 2.0 * dvar * (x - mu) / n)")
                        .replace("dy * gamma", "gamma * dy"),
    }
    for how, text in disguises.items():
        assert text != base, how
        answers = {"a": {"ps2-backward": [base]}, "b": {"ps2-backward": [text]},
                   "c": {"ps2-backward": [INDEPENDENT_BACKWARD[0]]},
                   "d": {"ps2-backward": [INDEPENDENT_BACKWARD[2]]}}
        result = _find(answers)
        assert [(p["a"], p["b"]) for p in result.pairs] == [("a", "b")], (how, result.pairs)


def test_a_class_writing_the_short_answers_the_common_way_raises_no_flag():
    answers = {f"s{i}": {"ps2-backward": [_short(i)]} for i in range(12)}
    assert _find(answers).flags == {}
    # nor two students who share only the short answers, in a class that wrote them otherwise
    other = SHORT.replace('({dy} * {c}["x_hat"]).sum(axis=0)',
                          'np.einsum("nd,nd->d", {dy}, {c}["x_hat"])')
    answers = {f"o{i}": {"ps2-backward": [other.format(dy=f"d{i}", c="k", a="p", b="q", s="r")]}
               for i in range(6)}
    answers.update({"x": {"ps2-backward": [_short(1)]}, "y": {"ps2-backward": [_short(2)]}})
    assert _find(answers).flags == {}


def test_independent_correct_solutions_and_blank_notebooks_are_not_flagged():
    answers = {k: v for k, v in _class().items() if k in ("s0", "s1", "s2")}
    answers["blank1"] = {"ps1-forward": _release("ps1-forward"),
                         "ps2-backward": _release("ps2-backward")}
    answers["blank2"] = {"ps1-forward": _release("ps1-forward"),
                         "ps2-backward": _release("ps2-backward")}
    answers["honest"] = {"ps1-forward": [ALICE]}
    assert _find(answers).flags == {}


def test_a_renamed_copy_of_the_solution_is_caught():
    flags = _find({"eve": {"ps1-forward": [SOLUTION_RENAMED]},
                   "carol": {"ps1-forward": [INDEPENDENT_FORWARD[1]]}}).flags
    assert [f["kind"] for f in flags["eve"]] == ["copies_reference"], flags
    assert "the solution of ps1-forward's" in flags["eve"][0]["detail"]
    assert "carol" not in flags


def test_classmates_sharing_code_are_paired():
    flags = _find({"alice": {"ps1-forward": [ALICE]}, "bob": {"ps1-forward": [BOB]},
                   "carol": {"ps1-forward": [INDEPENDENT_FORWARD[1]]}}).flags
    assert set(flags) == {"alice", "bob"}, flags
    assert [f["kind"] for f in flags["alice"]] == ["copies_classmate"]
    assert "bob's" in flags["alice"][0]["detail"] and "alice's" in flags["bob"][0]["detail"]


def test_a_deeply_nested_answer_or_a_bad_cell_is_skipped_never_an_error():
    for n in (300, 1000, 2500, 20000):
        src = "def f(x):\n    return " + "+".join(["x"] * n) + "\n"
        u = copies.unit("a", {"nb": [src, "def f(:\n", "%timeit 1\n" + BOB]})
        assert "batchnorm_forward" in {f.name for f in u.functions}


def test_a_notebook_that_does_not_read_gives_no_code():
    assert copies.code_cells("{not json") == []
    assert copies.code_cells('{"cells": [{"cell_type": "code", "source": ["a", "b"]}]}') == ["ab"]


def test_a_reference_unit_is_kept_in_the_user_cache_and_remade_when_unreadable(
        tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(copies, "_REFERENCES", {})
    sources, unit = _references()["bnlib"], copies.unit
    made = copies._reference("bnlib", sources)
    [kept] = (tmp_path / "bngrade").glob("reference-*.json")
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setattr(copies, "_REFERENCES", {})
    monkeypatch.setattr(copies, "unit", lambda *a: pytest.fail("made again, not read"))
    read = copies._reference("bnlib", sources)
    assert read.functions == made.functions and read.hashes() == made.hashes()
    kept.write_text("[[1, 2")  # a cut file: made again, and the cache mended
    monkeypatch.setattr(copies, "_REFERENCES", {})
    monkeypatch.setattr(copies, "unit", unit)
    assert copies._reference("bnlib", sources).hashes() == made.hashes()
    assert copies._read_unit(str(kept), "bnlib").hashes() == made.hashes()
