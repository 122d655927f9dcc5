"""Folding an eval-mode BatchNorm1d into the linear layer before it."""

import numpy as np
import pytest

import bnlib


def trained_bn(d, seed=0):
    rng = np.random.default_rng(seed)
    bn = bnlib.BatchNorm1d(d)
    bn.gamma, bn.beta = rng.normal(1.0, 0.5, d), rng.normal(size=d)
    for _ in range(5):
        bn(rng.normal(2.0, 3.0, size=(16, d)))
    return bn.eval()


@pytest.mark.parametrize("with_bias", [True, False])
def test_folded_layer_equals_linear_then_bn(with_bias):
    rng = np.random.default_rng(1)
    w, b, x = rng.normal(size=(4, 6)), rng.normal(size=4), rng.normal(size=(10, 6))
    bias = b if with_bias else None
    bn = trained_bn(4)
    w2, b2 = bnlib.fold_batchnorm(w, bias, bn)
    z = x @ w.T + (b if with_bias else 0.0)
    np.testing.assert_allclose(x @ w2.T + b2, bn(z), rtol=1e-12, atol=1e-12)
    assert w2.shape == w.shape and b2.shape == (4,)


def test_folding_needs_eval_mode():
    bn = trained_bn(4).train()
    with pytest.raises(ValueError, match=r"call bn.eval\(\) first"):
        bnlib.fold_batchnorm(np.ones((4, 2)), None, bn)


def test_folding_needs_running_statistics():
    bn = bnlib.BatchNorm1d(4, track_running_stats=False).eval()
    with pytest.raises(ValueError, match="no running statistics"):
        bnlib.fold_batchnorm(np.ones((4, 2)), None, bn)


def test_folding_checks_shapes():
    with pytest.raises(ValueError, match=r"weight must have shape \(4, D_in\)"):
        bnlib.fold_batchnorm(np.ones((3, 2)), None, trained_bn(4))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        bnlib.fold_batchnorm(np.ones((4, 2)), np.ones(3), trained_bn(4))
    with pytest.raises(ValueError, match="bn must be a BatchNorm1d"):
        bnlib.fold_batchnorm(np.ones((4, 2)), None, bnlib.BatchNorm2d(4).eval())
