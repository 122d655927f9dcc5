"""Bad input: a ValueError that names the problem, one test per case."""

import numpy as np
import pytest

import bnlib

X = np.random.default_rng(0).normal(size=(4, 3))
ONES, ZEROS = np.ones(3), np.zeros(3)


def test_wrong_ndim_for_the_function():
    with pytest.raises(ValueError, match=r"x must be \(N, D\).*got a 1-D array of shape \(4,\)"):
        bnlib.batchnorm_forward(np.ones(4), ONES, ZEROS)


@pytest.mark.parametrize("layer, shape, layout", [
    (bnlib.BatchNorm1d, (2, 3, 4, 5), r"\(N, D\) or \(N, C, L\)"),
    (bnlib.BatchNorm2d, (4, 3), r"\(N, C, H, W\)"),
])
def test_wrong_ndim_for_a_layer(layer, shape, layout):
    with pytest.raises(ValueError, match=layout):
        layer(3)(np.ones(shape))


@pytest.mark.parametrize("which", ["gamma", "beta"])
def test_parameter_shape_must_match_features(which):
    args = {"gamma": ONES, "beta": ZEROS, which: np.ones(4)}
    with pytest.raises(ValueError, match=rf"{which} must have shape \(3,\).*got shape \(4,\)"):
        bnlib.batchnorm_forward(X, args["gamma"], args["beta"])


def test_layer_num_features_must_match_input():
    with pytest.raises(ValueError, match="3 features/channels on axis 1.*num_features=5"):
        bnlib.BatchNorm1d(5)(X)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None])
def test_num_features_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        bnlib.BatchNorm1d(bad)


def test_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel.*\(1, 3\)"):
        bnlib.batchnorm_forward(X[:1], ONES, ZEROS)


@pytest.mark.parametrize("eps", [0, 0.0, -1e-5, float("nan"), float("inf")])
def test_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match="eps must be > 0"):
        bnlib.batchnorm_forward(X, ONES, ZEROS, eps=eps)
    with pytest.raises(ValueError, match="eps must be > 0"):
        bnlib.BatchNorm1d(3, eps=eps)


def test_eps_must_be_a_number():
    with pytest.raises(ValueError, match="eps must be a positive number"):
        bnlib.batchnorm_forward(X, ONES, ZEROS, eps="1e-5")


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan"), "0.1"])
def test_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match="momentum must be"):
        bnlib.BatchNorm2d(3, momentum=momentum)


@pytest.mark.parametrize("x, what", [
    ([["a", "b", "c"], ["d", "e", "f"]], "could not convert"),
    (np.array([[{}, {}, {}], [{}, {}, {}]], dtype=object), "could not convert"),
    (X.astype(complex), "complex"),
    ([[1.0, 2.0, 3.0], [1.0, 2.0]], "could not be converted"),
])
def test_non_float_input_that_cannot_be_converted(x, what):
    with pytest.raises(ValueError, match=what):
        bnlib.batchnorm_forward(x, ONES, ZEROS)


def test_backward_before_forward():
    with pytest.raises(ValueError, match="backward called before forward"):
        bnlib.BatchNorm1d(3).backward(X)


def test_backward_with_wrong_cache_or_shape():
    _, cache = bnlib.batchnorm_forward(X, ONES, ZEROS)
    with pytest.raises(ValueError, match=r"dy must have the shape .*\(4, 3\)"):
        bnlib.batchnorm_backward(np.ones((3, 4)), cache)
    with pytest.raises(ValueError, match="cache must be the dict"):
        bnlib.batchnorm_backward(X, None)


@pytest.mark.parametrize("where", ["x", "gamma", "beta"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_reported(where, value):
    args = {"x": X.copy(), "gamma": ONES.copy(), "beta": ZEROS.copy()}
    args[where].flat[1] = value
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinity"):
        bnlib.batchnorm_forward(args["x"], args["gamma"], args["beta"])


def test_non_finite_gradient_is_reported():
    _, cache = bnlib.batchnorm_forward(X, ONES, ZEROS)
    dy = np.ones_like(X)
    dy[2, 1] = np.nan
    where = r"dy contains NaN or infinity \(first at index \(2, 1\)\)"
    with pytest.raises(ValueError, match=where):
        bnlib.batchnorm_backward_staged(dy, cache)


def test_inference_rejects_negative_running_var():
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        bnlib.batchnorm_inference(X, ONES, ZEROS, ZEROS, -ONES)


def test_groupnorm_groups_must_divide_channels():
    with pytest.raises(ValueError, match="num_groups must be a positive integer dividing C=3"):
        bnlib.groupnorm_forward(X, ONES, ZEROS, num_groups=2)


def test_failed_call_leaves_the_layer_untouched():
    bn = bnlib.BatchNorm1d(3)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        bn(bad)
    assert bn.num_batches_tracked == 0
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
