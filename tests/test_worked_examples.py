"""The worked examples A, B and C of the curriculum, reproduced exactly."""

import numpy as np
from conftest import TINY_EPS

import bnlib


def test_tiny_eps_is_exactly_zero_next_to_these_variances():
    assert 5.0 + TINY_EPS == 5.0 and 1.0 + TINY_EPS == 1.0


def test_example_a_normalises_2_4_6_8():
    x = np.array([[2.0], [4.0], [6.0], [8.0]])
    y, cache = bnlib.batchnorm_forward(x, [1.0], [0.0], eps=TINY_EPS)
    assert cache["mu"].item() == 5.0
    assert cache["var"].item() == 5.0  # biased: 20 / 4
    np.testing.assert_array_equal(cache["x_hat"], (x - 5.0) / np.sqrt(5.0))
    np.testing.assert_array_equal(np.round(y.ravel(), 3), [-1.342, -0.447, 0.447, 1.342])


def test_example_b_scales_and_shifts():
    x = np.array([[2.0], [4.0], [6.0], [8.0]])
    y, _ = bnlib.batchnorm_forward(x, [2.0], [1.0], eps=TINY_EPS)
    np.testing.assert_array_equal(np.round(y.ravel(), 3), [-1.683, 0.106, 1.894, 3.683])
    assert abs(y.mean() - 1.0) < 1e-15  # mean beta
    assert abs(y.var() - 4.0) < 1e-14  # variance gamma**2, not gamma


def test_example_c_gradient_vanishes():
    x = np.array([[1.0], [3.0]])
    dy = np.array([[0.5], [-0.5]])
    _, cache = bnlib.batchnorm_forward(x, [1.0], [0.0], eps=TINY_EPS)
    steps = {}
    dx, dgamma, dbeta = bnlib.batchnorm_backward_staged(dy, cache, steps=steps)
    assert steps["dvar"].item() == 0.5
    assert steps["dmu"].item() == 0.0
    np.testing.assert_array_equal(dx, [[0.0], [0.0]])
    # The compact form agrees; the upstream gradient is a multiple of x_hat,
    # the one direction the normalisation removes (dx is orthogonal to x_hat).
    dx2, dgamma2, dbeta2 = bnlib.batchnorm_backward(dy, cache)
    np.testing.assert_array_equal(dx2, [[0.0], [0.0]])
    assert dgamma.item() == dgamma2.item() == -1.0 and dbeta.item() == dbeta2.item() == 0.0
    np.testing.assert_array_equal(dy, 0.5 * -cache["x_hat"])
