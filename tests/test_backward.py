"""Backward passes: numerical gradient checks, staged vs compact, invariants."""

import numpy as np
import pytest
from conftest import TINY_EPS
from hypothesis import given
from hypothesis import strategies as st

import bnlib
from bnlib import numerical_gradient, rel_error

# m >= 3 values per channel: with m = 2, x_hat = +-1 whatever x is, so dx is of
# the order of eps and a relative error would compare round-off with round-off
# (see test_two_values_per_channel_have_almost_no_gradient).
SHAPES = [(3, 1), (3, 4), (8, 5), (4, 3, 6), (3, 2, 4, 5)]
SEEDS = [0, 1, 2]


def bn_case(shape, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return (rng.normal(1.0, 2.0, size=shape), rng.normal(1.0, 0.5, size=c),
            rng.normal(size=c), rng.normal(size=shape))


@pytest.mark.parametrize("backward", [bnlib.batchnorm_backward, bnlib.batchnorm_backward_staged],
                         ids=["compact", "staged"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_backward_matches_numerical_gradient(backward, shape, seed):
    x, gamma, beta, dy = bn_case(shape, seed)
    _, cache = bnlib.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = backward(dy, cache)

    def out(x_=x, gamma_=gamma, beta_=beta):
        return bnlib.batchnorm_forward(x_, gamma_, beta_)[0]

    assert rel_error(dx, numerical_gradient(lambda v: out(x_=v), x.copy(), dy)) < 1e-8
    assert rel_error(dgamma, numerical_gradient(lambda v: out(gamma_=v), gamma.copy(), dy)) < 1e-8
    assert rel_error(dbeta, numerical_gradient(lambda v: out(beta_=v), beta.copy(), dy)) < 1e-8


def test_two_values_per_channel_have_almost_no_gradient():
    _, gamma, beta, dy = bn_case((2, 3), 0)
    x = np.array([[1.0, -2.0, 5.0], [3.0, 4.0, -1.0]])  # variances 1, 9, 9 >> eps
    _, cache = bnlib.batchnorm_forward(x, gamma, beta)
    dx, _, _ = bnlib.batchnorm_backward(dy, cache)
    np.testing.assert_allclose(np.abs(cache["x_hat"]), 1.0, rtol=1e-5)
    assert np.abs(dx).max() < 1e-4 * np.abs(dy).max()
    assert np.abs(numerical_gradient(
        lambda v: bnlib.batchnorm_forward(v, gamma, beta)[0], x.copy(), dy)).max() < 1e-4


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_staged_and_compact_agree(shape, seed):
    x, gamma, beta, dy = bn_case(shape, seed)
    _, cache = bnlib.batchnorm_forward(x, gamma, beta)
    staged = bnlib.batchnorm_backward_staged(dy, cache)
    for a, b in zip(bnlib.batchnorm_backward(dy, cache), staged):
        assert a.shape == b.shape
        assert rel_error(a, b) < 1e-13


@pytest.mark.parametrize("seed", SEEDS)
def test_eval_mode_layer_backward_matches_numerical_gradient(seed):
    x, gamma, beta, dy = bn_case((6, 4), seed)
    bn = bnlib.BatchNorm1d(4)
    bn.gamma, bn.beta = gamma, beta
    for _ in range(3):
        bn(x + np.random.default_rng(seed).normal(size=x.shape))
    bn.eval()
    bn(x)
    dx = bn.backward(dy)
    assert rel_error(dx, numerical_gradient(bn.forward, x.copy(), dy)) < 1e-8
    assert rel_error(bn.grad_beta, dy.sum(axis=0)) < 1e-15


NORMS = {
    "layernorm": (lambda x, p: bnlib.layernorm_forward(x, *p), bnlib.layernorm_backward, 2),
    "groupnorm": (lambda x, p: bnlib.groupnorm_forward(x, *p, num_groups=2),
                  bnlib.groupnorm_backward, 2),
    "rmsnorm": (lambda x, p: bnlib.rmsnorm_forward(x, *p), bnlib.rmsnorm_backward, 1),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(3, 6), (5, 8), (2, 4, 3, 3)])  # groups of >= 3 values
@pytest.mark.parametrize("name", sorted(NORMS))
def test_other_norms_match_numerical_gradient(name, shape, seed):
    forward, backward, n_params = NORMS[name]
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 2.0, size=shape)
    width = shape[1] if name == "groupnorm" else shape[-1]
    params = [rng.normal(size=width) for _ in range(n_params)]
    dy = rng.normal(size=shape)
    y, cache = forward(x, params)
    grads = backward(dy, cache)
    assert rel_error(grads[0], numerical_gradient(lambda v: forward(v, params)[0], x.copy(), dy)) \
        < 1e-8
    for k in range(n_params):
        def f(v, k=k):
            ps = list(params)
            ps[k] = v
            return forward(x, ps)[0]
        assert rel_error(grads[k + 1], numerical_gradient(f, params[k].copy(), dy)) < 1e-8


# --- Invariants, as property tests over shapes, scales and shifts ------------

cases = st.tuples(
    st.integers(2, 12), st.integers(1, 5), st.integers(0, 2**31 - 1),
    st.floats(-1e3, 1e3), st.floats(1e-2, 1e2),
)


def draw(n, d, seed, shift, scale):
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, scale, size=(n, d))
    return x, rng.normal(1.0, 0.5, size=d), rng.normal(size=d), rng.normal(size=(n, d))


def round_off_scale(cache, dy):
    """Round-off bound for sums over dx: the size of the cancelling terms,
    |gamma| inv_std sum|dy|, times the condition number of centring,
    1 + |mu| / std (x - mu loses that many digits when mu >> std)."""
    kappa = 1.0 + np.abs(cache["mu"]).ravel() * cache["inv_std"].ravel()
    return kappa * np.abs(cache["gamma"] * cache["inv_std"]).ravel() * np.abs(dy).sum(axis=0)


@given(cases)
def test_dx_sums_to_zero_over_the_batch(case):
    x, gamma, beta, dy = draw(*case)
    _, cache = bnlib.batchnorm_forward(x, gamma, beta)  # holds for any eps
    dx, _, _ = bnlib.batchnorm_backward(dy, cache)
    assert np.all(np.abs(dx.sum(axis=0)) <= 1e-13 * round_off_scale(cache, dy))


@given(cases)
def test_dx_is_orthogonal_to_x_hat(case):
    # Exact for eps = 0 only: with eps > 0, sum(x_hat**2) = m var / (var + eps) < m.
    x, gamma, beta, dy = draw(*case)
    _, cache = bnlib.batchnorm_forward(x, gamma, beta, eps=TINY_EPS)
    dx, _, _ = bnlib.batchnorm_backward(dy, cache)
    dot = (dx * cache["x_hat"]).sum(axis=0)
    assert np.all(np.abs(dot) <= 1e-12 * round_off_scale(cache, dy))


@given(cases, st.floats(-1e3, 1e3))
def test_output_is_invariant_to_shifting_the_input(case, c):
    x, gamma, beta, _ = draw(*case)
    y, _ = bnlib.batchnorm_forward(x, gamma, beta)
    y_shifted, _ = bnlib.batchnorm_forward(x + c, gamma, beta)
    # Shifting costs digits: x + c is rounded at the scale of |x| + |c|.
    spread = np.abs(x).max() + abs(c)
    np.testing.assert_allclose(y_shifted, y, atol=1e-10 * spread / x.std(axis=0).min())


@given(cases, st.floats(0.1, 10.0))
def test_output_is_invariant_to_scaling_the_input_up_to_eps(case, a):
    x, gamma, beta, _ = draw(*case)
    y, _ = bnlib.batchnorm_forward(x, gamma, beta, eps=TINY_EPS)
    y_scaled, _ = bnlib.batchnorm_forward(a * x, gamma, beta, eps=TINY_EPS)
    np.testing.assert_allclose(y_scaled, y, rtol=1e-9, atol=1e-9)


def test_scaling_invariance_breaks_when_eps_matters():
    x = np.array([[0.0], [2e-3]])  # variance 1e-6, comparable to eps
    y, _ = bnlib.batchnorm_forward(x, [1.0], [0.0], eps=1e-5)
    y_big, _ = bnlib.batchnorm_forward(1000 * x, [1.0], [0.0], eps=1e-5)
    assert np.abs(y).max() < 0.31 and np.abs(y_big).max() > 0.99


def test_rel_error_uses_norms_and_handles_zeros():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error([1.0, 0.0], [1.0, 1e-20]) < 1e-19
    assert abs(rel_error([1.0], [-1.0]) - 1.0) < 1e-15
