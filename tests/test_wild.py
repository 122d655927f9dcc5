"""Debiased running statistics, precise BN / AdaBN re-estimation, ghost batch norm."""

import numpy as np
import pytest

import bnlib
from bnlib.convnet import conv_net
from bnlib.gradcheck import numerical_gradient, rel_error
from bnlib.wild import (
    GhostBatchNorm2d,
    batch_norms,
    debiased_running_stats,
    ghost_batchnorm_backward,
    ghost_batchnorm_forward,
    reestimate_bn,
)


def test_debiasing_gives_the_weighted_average_of_the_batches():
    rng = np.random.default_rng(0)
    bn = bnlib.BatchNorm1d(3, momentum=0.01)
    xs = [rng.normal(2.0, 3.0, size=(16, 3)) for _ in range(7)]
    for x in xs:
        bn(x)
    alpha = 0.99
    weights = np.array([(1 - alpha) * alpha ** (len(xs) - 1 - k) for k in range(len(xs))])
    weights /= weights.sum()
    means = np.array([x.mean(axis=0) for x in xs])
    variances = np.array([x.var(axis=0, ddof=1) for x in xs])
    mean, var = debiased_running_stats(bn)
    np.testing.assert_allclose(mean, weights @ means, rtol=1e-12)
    np.testing.assert_allclose(var, weights @ variances, rtol=1e-12)
    # the raw running mean is still mostly its starting value 0
    assert np.all(np.abs(bn.running_mean) < 0.1 * np.abs(mean))


def test_debiasing_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="never updated"):
        debiased_running_stats(bnlib.BatchNorm1d(2))
    bn = bnlib.BatchNorm1d(2, momentum=None)
    bn(np.random.default_rng(0).normal(size=(4, 2)))
    with pytest.raises(ValueError, match="cumulative"):
        debiased_running_stats(bn)


def test_reestimate_gives_the_statistics_of_the_data_and_keeps_the_weights():
    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 2.0, size=(64, 1, 8, 8))
    net = conv_net(seed=0)
    before = [layer.w.copy() for layer in net.weight_layers()]
    new = reestimate_bn(net, x, batch_size=16, seed=0)
    first = new.norms()[0]
    # the first BN sees the first convolution's output: its statistics over x,
    # averaged over 4 batches of 16 (means average exactly to the full mean)
    z = new.layers[0](x)
    np.testing.assert_allclose(first.running_mean, z.mean(axis=(0, 2, 3)), rtol=1e-10)
    assert first.num_batches_tracked == 4 and first.momentum == 0.1
    assert not first.training
    for w, layer in zip(before, new.weight_layers()):
        np.testing.assert_array_equal(w, layer.w)
    assert net.norms()[0].num_batches_tracked == 0          # the original is untouched
    with pytest.raises(ValueError, match="batch_size"):
        reestimate_bn(net, x, batch_size=1)


def test_reestimate_works_on_the_mlps_of_chapters_4_and_5():
    from bnlib.nn import MLP, MLPStack

    x = np.random.default_rng(3).normal(size=(60, 2))
    mlp = MLP([2, 8, 8, 3], norm="batch", seed=0)
    assert len(batch_norms(mlp)) == 2
    assert batch_norms(MLP([2, 8, 3], norm="layer", seed=0)) == []
    first = batch_norms(reestimate_bn(mlp, x, batch_size=len(x)))[0]
    z = x @ mlp.w[0] + (mlp.b[0] if mlp.use_bias[0] else 0)
    np.testing.assert_allclose(first.running_mean, z.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(first.running_var, z.var(axis=0, ddof=1), rtol=1e-10)
    stack = MLPStack([2, 8, 3], norm="batch", seeds=[0, 1])
    new = reestimate_bn(stack, x, batch_size=20)
    assert batch_norms(new)[0].num_batches_tracked == 3
    assert not batch_norms(new)[0].training


def test_ghost_bn_is_bn_per_virtual_batch_and_its_gradient_checks():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 3, 2, 2))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    y, caches = ghost_batchnorm_forward(x, gamma, beta, virtual_batch=4)
    np.testing.assert_allclose(y[4:], bnlib.batchnorm_forward(x[4:], gamma, beta)[0])
    whole, _ = ghost_batchnorm_forward(x, gamma, beta, virtual_batch=8)
    np.testing.assert_allclose(whole, bnlib.batchnorm_forward(x, gamma, beta)[0])
    dy = rng.normal(size=x.shape)
    dx, dgamma, dbeta = ghost_batchnorm_backward(dy, caches)
    num = numerical_gradient(lambda v: (ghost_batchnorm_forward(v, gamma, beta, 4)[0] * dy).sum(),
                             x.copy())
    assert rel_error(dx, num) < 1e-7
    num_g = numerical_gradient(lambda g: (ghost_batchnorm_forward(x, g, beta, 4)[0] * dy).sum(),
                               gamma.copy())
    assert rel_error(dgamma, num_g) < 1e-7
    np.testing.assert_allclose(dbeta, dy.sum(axis=(0, 2, 3)))
    with pytest.raises(ValueError, match="virtual_batch"):
        ghost_batchnorm_forward(x, gamma, beta, virtual_batch=3)


def test_ghost_layer_updates_once_per_virtual_batch_and_evals_like_bn():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 2, 3, 3))
    ghost, plain = GhostBatchNorm2d(2, virtual_batch=4), bnlib.BatchNorm2d(2)
    ghost(x)
    plain(x[:4])
    plain(x[4:])
    np.testing.assert_allclose(ghost.running_mean, plain.running_mean, rtol=1e-12)
    np.testing.assert_allclose(ghost.running_var, plain.running_var, rtol=1e-12)
    ghost.backward(np.ones_like(x))
    assert ghost.grad_gamma.shape == (2,)
    ghost.eval(), plain.eval()
    np.testing.assert_allclose(ghost(x), plain(x))
    with pytest.raises(ValueError, match="virtual_batch"):
        GhostBatchNorm2d(2, virtual_batch=1)
