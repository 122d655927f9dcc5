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
