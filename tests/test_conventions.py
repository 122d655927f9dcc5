"""Momentum conventions, the averaging window and the inference cost."""

import math

import numpy as np
import pytest

import bnlib


def test_keras_099_is_pytorch_001_not_01():
    assert math.isclose(bnlib.keras_to_pytorch_momentum(0.99), 0.01)
    assert math.isclose(bnlib.pytorch_to_keras_momentum(0.1), 0.9)
    for m in (0.0, 0.3, 1.0):
        assert math.isclose(bnlib.pytorch_to_keras_momentum(bnlib.keras_to_pytorch_momentum(m)), m)


def test_conversion_matches_the_layer_update():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(8, 2)) for _ in range(5)]
    alpha = 0.7  # the course's (and Keras's) convention: weight of the old value
    bn = bnlib.BatchNorm1d(2, momentum=bnlib.keras_to_pytorch_momentum(alpha))
    running = np.zeros(2)
    for x in xs:
        bn(x)
        running = alpha * running + (1 - alpha) * x.mean(axis=0)
    np.testing.assert_allclose(bn.running_mean, running, rtol=1e-14)


def test_averaging_window():
    assert math.isclose(bnlib.averaging_window(0.99), 100.0)
    assert math.isclose(bnlib.averaging_window(bnlib.pytorch_to_keras_momentum(0.1)), 10.0)
    assert bnlib.averaging_window(1.0) == math.inf
    # After one window the old value keeps about 1/e of its weight.
    alpha = 0.99
    assert abs(alpha ** bnlib.averaging_window(alpha) - math.exp(-1)) < 0.01


def test_inference_ops_for_256_features():
    bn_ops, linear_ops = bnlib.inference_ops(256)
    assert (bn_ops, linear_ops) == (1024, 131072)
    assert bn_ops / linear_ops < 0.01


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.9", None, True])
def test_momentum_conversions_reject_bad_values(bad):
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
        bnlib.keras_to_pytorch_momentum(bad)
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
        bnlib.averaging_window(bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "256"])
def test_inference_ops_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        bnlib.inference_ops(bad)


def _channels_last_inference(x, gamma, beta, mean, var, eps):
    """Keras's and Flax's inference formula, written for channels-last data (N, H, W, C)."""
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def test_porting_copies_the_statistics_and_eps_unchanged():
    """The framework bridge of chapters/07-in-the-wild.md: PyTorch, Keras and Flax all
    normalise at inference with the stored variance as it is, so a port copies gamma,
    beta, the running mean, the running variance and eps unchanged; rescaling the stored
    variance by (m - 1) / m would change every output of a channel."""
    rng = np.random.default_rng(1)
    bn = bnlib.BatchNorm2d(3)
    for _ in range(5):
        bn(rng.normal(1.0, 2.0, size=(4, 3, 2, 2)))
    bn.gamma, bn.beta = rng.normal(size=3), rng.normal(size=3)
    x = rng.normal(1.0, 2.0, size=(6, 3, 2, 2))
    torch_style = bn.eval()(x)
    copied = _channels_last_inference(x.transpose(0, 2, 3, 1), bn.gamma, bn.beta,
                                      bn.running_mean, bn.running_var, bn.eps)
    np.testing.assert_allclose(copied.transpose(0, 3, 1, 2), torch_style, rtol=1e-12)
    m = 4 * 2 * 2
    rescaled = _channels_last_inference(x.transpose(0, 2, 3, 1), bn.gamma, bn.beta,
                                        bn.running_mean, bn.running_var * (m - 1) / m, bn.eps)
    assert np.abs(rescaled.transpose(0, 3, 1, 2) - torch_style).max() > 1e-2
    # a default eps instead of the copied one changes the outputs too
    keras_eps = _channels_last_inference(x.transpose(0, 2, 3, 1), bn.gamma, bn.beta,
                                         bn.running_mean, bn.running_var, 1e-3)
    assert np.abs(keras_eps.transpose(0, 3, 1, 2) - torch_style).max() > 1e-6


def test_training_on_after_a_port_converts_the_momentum():
    """Only when training continues does a convention differ: with PyTorch momentum
    1 - 0.99, bnlib's running averages follow Keras's (old-value momentum 0.99) for the
    mean; the variance's batch terms differ by m / (m - 1) (PyTorch accumulates the
    unbiased batch variance, Keras the biased one), a difference in what is accumulated
    from then on, not in what is copied."""
    bn = bnlib.BatchNorm2d(3)
    assert (bn.momentum, bn.eps) == (0.1, 1e-5)
    rng = np.random.default_rng(1)
    keras_momentum = 0.99
    bn = bnlib.BatchNorm2d(3, momentum=bnlib.keras_to_pytorch_momentum(keras_momentum))
    mean, var = np.zeros(3), np.ones(3)                  # Keras starts at 0 and 1 too
    for _ in range(6):
        x = rng.normal(1.0, 2.0, size=(4, 3, 2, 2))
        bn(x)
        mean = keras_momentum * mean + (1 - keras_momentum) * x.mean(axis=(0, 2, 3))
        var = keras_momentum * var + (1 - keras_momentum) * x.var(axis=(0, 2, 3))
    m = 4 * 2 * 2
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
    # only the batch terms carry the m / (m - 1) factor; the start (1) does not
    start = keras_momentum ** 6
    np.testing.assert_allclose((bn.running_var - start) * (m - 1) / m, var - start, rtol=1e-12)
