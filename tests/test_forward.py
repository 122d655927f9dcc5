"""Training and inference forward passes: statistics, shapes, identities."""

import numpy as np
import pytest
from conftest import TINY_EPS

import bnlib

SHAPES = [(2, 3), (16, 5), (4, 3, 7), (3, 2, 4, 5)]


def axes_of(shape):
    return (0,) + tuple(range(2, len(shape)))


@pytest.mark.parametrize("shape", SHAPES)
def test_statistics_are_per_channel_and_biased(shape, rng):
    x = rng.normal(3.0, 2.0, size=shape)
    c = shape[1]
    _, cache = bnlib.batchnorm_forward(x, np.ones(c), np.zeros(c))
    axes = axes_of(shape)
    np.testing.assert_allclose(cache["mu"].ravel(), x.mean(axis=axes), rtol=1e-13)
    np.testing.assert_allclose(cache["var"].ravel(), x.var(axis=axes, ddof=0), rtol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
def test_x_hat_has_zero_mean_and_unit_mean_square(shape, rng):
    x = rng.normal(-1.0, 3.0, size=shape)
    c = shape[1]
    _, cache = bnlib.batchnorm_forward(x, np.ones(c), np.zeros(c), eps=TINY_EPS)
    axes = axes_of(shape)
    np.testing.assert_allclose(cache["x_hat"].sum(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose((cache["x_hat"] ** 2).mean(axis=axes), 1.0, rtol=1e-13)


def test_output_has_mean_beta_and_std_abs_gamma(rng):
    x = rng.normal(size=(64, 3))
    gamma, beta = np.array([2.0, -3.0, 0.5]), np.array([1.0, -2.0, 0.0])
    y, _ = bnlib.batchnorm_forward(x, gamma, beta, eps=TINY_EPS)
    np.testing.assert_allclose(y.mean(axis=0), beta, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=0), gamma**2, rtol=1e-13)
    np.testing.assert_allclose(y.std(axis=0), np.abs(gamma), rtol=1e-13)


def test_gamma_and_beta_can_undo_the_normalisation(rng):
    x = rng.normal(4.0, 3.0, size=(32, 6))
    eps = 1e-5
    gamma = np.sqrt(x.var(axis=0) + eps)
    y, _ = bnlib.batchnorm_forward(x, gamma, x.mean(axis=0), eps=eps)
    np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12)


def test_spatial_bn_equals_bn_on_flattened_positions(rng):
    x = rng.normal(size=(3, 4, 5, 6))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    y, _ = bnlib.batchnorm_forward(x, gamma, beta)
    flat = x.transpose(0, 2, 3, 1).reshape(-1, 4)  # (N*H*W, C)
    y_flat, _ = bnlib.batchnorm_forward(flat, gamma, beta)
    np.testing.assert_allclose(y, y_flat.reshape(3, 5, 6, 4).transpose(0, 3, 1, 2), atol=1e-14)


def test_features_batch_layout_converts_by_transposing(rng):
    x_db = rng.normal(size=(5, 16))  # some texts use (features, batch)
    y, _ = bnlib.batchnorm_forward(x_db.T, np.ones(5), np.zeros(5))
    assert np.allclose(y.T.mean(axis=1), 0.0)


def test_forward_does_not_mutate_its_inputs(rng):
    x, gamma, beta = rng.normal(size=(8, 3)), rng.normal(size=3), rng.normal(size=3)
    before = [a.copy() for a in (x, gamma, beta)]
    bnlib.batchnorm_forward(x, gamma, beta)
    for a, b in zip((x, gamma, beta), before):
        np.testing.assert_array_equal(a, b)


def test_float32_in_float32_out(rng):
    x = rng.normal(size=(8, 3)).astype(np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    y, _ = bnlib.batchnorm_forward(x, g, b)
    assert y.dtype == np.float32


def test_integer_input_is_converted_to_float(rng):
    y, _ = bnlib.batchnorm_forward([[1, 2], [3, 5]], [1, 1], [0, 0])
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, [[-1, -1], [1, 1]], atol=1e-4)


def test_inference_uses_given_statistics_and_accepts_a_batch_of_one():
    x = np.array([[3.0, -1.0]])
    y, cache = bnlib.batchnorm_inference(x, [2.0, 1.0], [0.5, 0.0], [1.0, -1.0], [4.0, 1.0],
                                         eps=1e-5)
    expected = np.array([[2.0 * 2.0 / np.sqrt(4.0 + 1e-5) + 0.5, 0.0]])
    np.testing.assert_allclose(y, expected, rtol=1e-15)
    assert cache["x_hat"].shape == x.shape


def test_inference_output_of_an_example_ignores_the_rest_of_the_batch(rng):
    x = rng.normal(size=(10, 4))
    stats = (np.ones(4), np.zeros(4), rng.normal(size=4), rng.uniform(0.5, 2.0, size=4))
    y_all, _ = bnlib.batchnorm_inference(x, *stats)
    y_one, _ = bnlib.batchnorm_inference(x[3:4], *stats)
    np.testing.assert_array_equal(y_all[3:4], y_one)
