"""BatchNorm1d/2d: PyTorch's defaults, running statistics and modes."""

import numpy as np
import pytest

import bnlib


def batches(n_batches, shape=(8, 3), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(2.0, 3.0, size=shape) for _ in range(n_batches)]


def test_defaults_follow_pytorch():
    bn = bnlib.BatchNorm1d(3)
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (1e-5, 0.1, True, True)
    np.testing.assert_array_equal(bn.gamma, np.ones(3))
    np.testing.assert_array_equal(bn.beta, np.zeros(3))
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))
    assert bn.num_batches_tracked == 0 and bn.training
    assert repr(bn) == ("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, "
                        "track_running_stats=True)")


def test_momentum_convention_and_unbiased_running_var():
    x = batches(1)[0]
    bn = bnlib.BatchNorm1d(3, momentum=0.1)
    bn(x)
    # PyTorch: running = (1 - momentum) * running + momentum * batch.
    np.testing.assert_allclose(bn.running_mean, 0.9 * 0.0 + 0.1 * x.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(bn.running_var, 0.9 * 1.0 + 0.1 * x.var(axis=0, ddof=1),
                               rtol=1e-15)
    assert bn.num_batches_tracked == 1


def test_running_var_of_2d_uses_n_h_w_values_per_channel():
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    bn = bnlib.BatchNorm2d(3, momentum=1.0)
    bn(x)
    flat = x.transpose(1, 0, 2, 3).reshape(3, -1)  # (C, N*H*W), m = 40
    np.testing.assert_allclose(bn.running_var, flat.var(axis=1, ddof=1), rtol=1e-14)


def test_momentum_none_is_a_cumulative_average():
    xs = batches(4)
    bn = bnlib.BatchNorm1d(3, momentum=None)
    for x in xs:
        bn(x)
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(axis=0) for x in xs], axis=0),
                               rtol=1e-14)
    np.testing.assert_allclose(bn.running_var,
                               np.mean([x.var(axis=0, ddof=1) for x in xs], axis=0), rtol=1e-14)
    assert bn.num_batches_tracked == 4


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_momentum_extremes(momentum):
    xs = batches(3)
    bn = bnlib.BatchNorm1d(3, momentum=momentum)
    for x in xs:
        bn(x)
    expected = np.zeros(3) if momentum == 0.0 else xs[-1].mean(axis=0)
    np.testing.assert_allclose(bn.running_mean, expected, rtol=1e-15)


def test_eval_uses_running_statistics_and_updates_nothing():
    xs = batches(3)
    bn = bnlib.BatchNorm1d(3)
    for x in xs:
        bn(x)
    state = (bn.running_mean.copy(), bn.running_var.copy(), bn.num_batches_tracked)
    assert bn.eval() is bn and not bn.training
    y = bn(xs[0])
    expected = (xs[0] - state[0]) / np.sqrt(state[1] + bn.eps)
    np.testing.assert_allclose(y, expected, rtol=1e-14)
    np.testing.assert_array_equal(bn.running_mean, state[0])
    np.testing.assert_array_equal(bn.running_var, state[1])
    assert bn.num_batches_tracked == state[2]
    assert bn.train() is bn and bn.training


def test_eval_accepts_a_batch_of_one_and_training_refuses_it():
    bn = bnlib.BatchNorm1d(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(np.ones((1, 3)))
    assert bn.eval()(np.ones((1, 3))).shape == (1, 3)


def test_spatial_training_needs_two_values_per_channel_not_two_examples():
    bn = bnlib.BatchNorm2d(2)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(np.ones((1, 2, 1, 1)))
    assert bn(np.arange(4.0).reshape(1, 2, 2, 1)).shape == (1, 2, 2, 1)  # 2 values each


def test_untracked_layer_uses_batch_statistics_in_eval_too():
    x = batches(1)[0]
    bn = bnlib.BatchNorm1d(3, track_running_stats=False).eval()
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    y = bn(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-14)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(x[:1])  # batch statistics of one value: refused, as in PyTorch


def test_affine_false_has_no_parameters():
    bn = bnlib.BatchNorm1d(3, affine=False)
    x = batches(1)[0]
    y = bn(x)
    assert bn.gamma is None and bn.beta is None
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-5)
    bn.backward(np.ones_like(x))
    assert bn.grad_gamma is None and bn.grad_beta is None


def test_backward_sets_parameter_gradients():
    x = batches(1)[0]
    dy = np.random.default_rng(3).normal(size=x.shape)
    bn = bnlib.BatchNorm1d(3)
    y = bn(x)
    dx = bn.backward(dy)
    _, cache = bnlib.batchnorm_forward(x, bn.gamma, bn.beta)
    expected = bnlib.batchnorm_backward(dy, cache)
    np.testing.assert_array_equal(dx, expected[0])
    np.testing.assert_array_equal(bn.grad_gamma, expected[1])
    np.testing.assert_array_equal(bn.grad_beta, expected[2])
    np.testing.assert_array_equal(bn.grad_gamma, (dy * (y - bn.beta) / bn.gamma).sum(axis=0))


def test_batchnorm1d_accepts_sequences():
    x = np.random.default_rng(4).normal(size=(4, 3, 6))
    bn = bnlib.BatchNorm1d(3)
    y = bn(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0.0, atol=1e-14)


def test_forward_does_not_mutate_input():
    x = batches(1)[0]
    before = x.copy()
    bnlib.BatchNorm1d(3)(x)
    np.testing.assert_array_equal(x, before)


def test_reset_running_stats_restarts_the_estimate():
    rng = np.random.default_rng(7)
    bn = bnlib.BatchNorm1d(3, momentum=None)
    for _ in range(3):
        bn(rng.normal(4.0, 2.0, size=(8, 3)))
    assert bn.num_batches_tracked == 3 and np.all(bn.running_mean > 1.0)
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))
    assert bn.num_batches_tracked == 0
    x = rng.normal(-1.0, 0.5, size=(8, 3))
    bn(x)  # cumulative average of one batch: exactly its statistics
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, x.var(axis=0, ddof=1))


def test_reset_without_running_stats_keeps_none():
    bn = bnlib.BatchNorm1d(2, track_running_stats=False)
    bn.reset_running_stats()
    assert bn.running_mean is None and bn.num_batches_tracked is None
