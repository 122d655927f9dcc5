"""The tiny network used by the experiments: gradients and training."""

import numpy as np
import pytest

import bnlib
from bnlib.data import spirals, train
from bnlib.nn import MLP, softmax_cross_entropy


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    loss, d = softmax_cross_entropy(scores, labels)
    num = bnlib.numerical_gradient(lambda s: softmax_cross_entropy(s, labels)[0], scores.copy())
    assert bnlib.rel_error(d, num) < 1e-8
    assert loss > 0


@pytest.mark.parametrize("norm", [None, "batch", "layer", "group"])
def test_mlp_gradients_match_numerical(norm):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    model = MLP([4, 8, 8, 3], norm=norm, seed=2, bias_before_norm=True, num_groups=2)
    model.backward(softmax_cross_entropy(model(x), y)[1])
    for i, w in enumerate(model.w):
        def loss(v, i=i):
            old = model.w[i]
            model.w[i] = v
            out = softmax_cross_entropy(model(x), y)[0]
            model.w[i] = old
            return out
        assert bnlib.rel_error(model.grads[i][0], bnlib.numerical_gradient(loss, w.copy())) < 1e-7


def test_bias_before_norm_gets_zero_gradient():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    model = MLP([4, 8, 3], norm="batch", bias_before_norm=True)
    model.backward(softmax_cross_entropy(model(x), y)[1])
    np.testing.assert_allclose(model.grads[0][1], 0.0, atol=1e-15)


def test_training_reduces_the_loss_and_eval_updates_nothing():
    x, y = spirals(100, 3, seed=0)
    model = MLP([2, 32, 32, 3], norm="batch", seed=0)
    hist = train(model, x, y, lr=0.5, steps=300, batch_size=32, x_val=x, y_val=y, every=100)
    assert not hist["diverged"]
    assert np.mean(hist["loss"][-20:]) < 0.5 * np.mean(hist["loss"][:20])
    assert hist["val_step"] == [0, 100, 200, 299]
    tracked = model.norms[0].num_batches_tracked
    model.eval()(x)
    assert model.norms[0].num_batches_tracked == tracked == 300


def test_divergence_is_reported_not_raised():
    x, y = spirals(50, 3, seed=0)
    hist = train(MLP([2, 16, 3], weight_scale=10.0), x, y, lr=1e6, steps=50, batch_size=16)
    assert hist["diverged"] and len(hist["loss"]) < 50


def test_spirals_shapes_and_labels():
    x, y = spirals(10, 4, extra_dims=3, seed=1)
    assert x.shape == (40, 5) and y.shape == (40,)
    assert sorted(np.unique(y)) == [0, 1, 2, 3]


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_bias_before_a_per_example_norm_is_kept_and_trained(norm):
    # Layer/group norm average over features: a per-feature bias survives them.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    model = MLP([4, 8, 3], norm=norm, num_groups=2)
    assert model.use_bias == [True, True]
    model.b[0] = rng.normal(size=8)
    scores = model(x)
    model.b[0] = np.zeros(8)
    assert not np.allclose(scores, model(x))
    model.backward(softmax_cross_entropy(model(x), y)[1])
    assert np.abs(model.grads[0][1]).max() > 1e-3


def test_pre_norm_and_activations_are_recorded_per_hidden_layer():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 4))
    model = MLP([4, 8, 8, 3], norm="batch", weight_scale=3.0)
    model(x)
    assert len(model.pre_norm) == len(model.activations) == 2
    for before, after in zip(model.pre_norm, model.activations):
        assert before.std() > 2.0  # large weights: large pre-activations
        np.testing.assert_allclose(after.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(after.var(axis=0), 1.0, rtol=1e-3)
    plain = MLP([4, 8, 3], weight_scale=3.0)
    plain(x)
    assert plain.pre_norm[0] is plain.activations[0]


def test_train_calls_back_at_the_validation_steps_after_the_update():
    x, y = spirals(30, 3, seed=2)
    model = MLP([2, 8, 3], norm="batch", seed=1)
    seen = []

    def record(step, m):
        assert m is model
        seen.append((step, m.norms[0].num_batches_tracked))

    hist = train(model, x, y, lr=0.1, steps=25, batch_size=16, every=10, callback=record)
    assert seen == [(0, 1), (10, 11), (20, 21), (24, 25)]
    assert hist["val_step"] == []  # no validation data: only the callback runs


@pytest.mark.parametrize("norm", [None, "batch", "layer", "group"])
def test_a_stack_trains_exactly_as_separate_networks(norm):
    from bnlib.nn import MLPStack

    x, y = spirals(30, 3, seed=0)
    xv, yv = spirals(20, 3, seed=1)
    seeds, lrs, scales = (0, 1, 2), np.array([0.05, 0.1, 0.2]), (None, None, None)
    stack = MLPStack([2, 16, 16, 3], norm=norm, seeds=seeds)
    hs = train(stack, x, y, lr=lrs, steps=40, batch_size=8, x_val=xv, y_val=yv, every=10)
    for r, seed in enumerate(seeds):
        one = MLP([2, 16, 16, 3], norm=norm, seed=seed, weight_scale=scales[r])
        h = train(one, x, y, lr=lrs[r], steps=40, batch_size=8, seed=seed, x_val=xv, y_val=yv,
                  every=10)
        np.testing.assert_allclose(np.array(hs["loss"])[:, r], h["loss"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(np.array(hs["val_loss"])[:, r], h["val_loss"], atol=1e-10)
        for i in range(len(one.w)):
            np.testing.assert_allclose(stack.w[i][r], one.w[i], rtol=0, atol=1e-10)


def test_a_diverging_network_of_a_stack_leaves_the_others_alone():
    from bnlib.nn import MLPStack

    x, y = spirals(30, 3, seed=0)
    stack = MLPStack([2, 16, 16, 3], norm="batch", seeds=(0, 0))
    hist = train(stack, x, y, lr=np.array([0.1, 1e6]), steps=30, batch_size=8,
                 x_val=x, y_val=y, every=10)
    assert hist["diverged"].tolist() == [False, True]
    assert np.isnan(hist["val_acc"][-1][1]) and not np.isnan(hist["val_acc"][-1][0])
    one = MLP([2, 16, 16, 3], norm="batch", seed=0)
    h = train(one, x, y, lr=0.1, steps=30, batch_size=8, seed=0, x_val=x, y_val=y, every=10)
    np.testing.assert_allclose(np.array(hist["loss"])[:, 0], h["loss"], atol=1e-10)


def test_callback_every_runs_the_callback_more_often_than_validation():
    x, y = spirals(30, 3, seed=0)
    steps = []
    train(MLP([2, 8, 3]), x, y, lr=0.1, steps=6, batch_size=8, x_val=x, y_val=y, every=3,
          callback=lambda step, model: steps.append(step), callback_every=1)
    assert steps == [0, 1, 2, 3, 4, 5]
