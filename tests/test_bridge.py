"""Chapter 7's framework bridge as code: chapter 6's network in PyTorch and in Keras 3
(``chapters/code/bridge_*.py``, shown on the page) agrees with bnlib's.

The same weights go into all three; the outputs must agree in training and eval
mode, after one training step, and through the real tools the chapter names
(``update_bn``, ``fuse_conv_bn_eval``, ``convert_sync_batchnorm``,
``track_running_stats=False``, Keras's frozen layers). Each framework is optional:
its tests are skipped where it is not installed (``.ci/run`` installs both when it can).
"""

import copy
import importlib.util
import os
import sys

import numpy as np
import pytest

from bnlib import BatchNorm2d
from bnlib.convnet import conv_net
from bnlib.nn import softmax_cross_entropy
from bnlib.wild import batches, reestimate_bn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = os.path.join(ROOT, "chapters", "code")


def load(name):
    """A file of chapters/code as a module (the course never imports them)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(CODE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_like(seed=0):
    """Chapter 6's network with non-trivial gamma, beta and running statistics."""
    rng = np.random.default_rng(seed)
    net = conv_net(channels=(8, 16), norm="batch", seed=seed)
    for bn in net.norms():
        bn.gamma = rng.normal(1.0, 0.3, bn.gamma.shape)
        bn.beta = rng.normal(0.0, 0.3, bn.beta.shape)
    for _ in range(3):  # running statistics that are neither 0 nor 1
        net.train()(rng.normal(0.5, 2.0, size=(16, 1, 8, 8)))
    return net


def images(seed, n=12):
    return np.random.default_rng(seed).normal(0.3, 1.5, size=(n, 1, 8, 8))


# ---- PyTorch ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bt():
    pytest.importorskip("torch", reason="torch not installed")
    return load("bridge_torch")


def torch_twin(bt, net):
    return bt.load_from_bnlib(bt.conv_net_torch(), net)


def test_torch_network_agrees_with_bnlib_in_eval_and_training_mode(bt):
    import torch

    net, x = trained_like(), images(1)
    model = torch_twin(bt, net)
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(torch.from_numpy(x)).numpy(), net.eval()(x),
                                   rtol=0, atol=1e-10)
        got = model.train()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, net.train()(x), rtol=0, atol=1e-10)
    for bn, m in zip(net.norms(), [m for m in model if isinstance(m, torch.nn.BatchNorm2d)]):
        np.testing.assert_allclose(m.running_mean.numpy(), bn.running_mean, atol=1e-12)
        np.testing.assert_allclose(m.running_var.numpy(), bn.running_var, atol=1e-12)  # unbiased


def test_torch_network_takes_the_same_sgd_step_as_bnlib(bt):
    import torch

    net, x = trained_like(), images(2)
    y = np.random.default_rng(3).integers(0, 10, len(x))
    model = torch_twin(bt, net).train()
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    ours, dscores = softmax_cross_entropy(net.train()(x), y)
    net.backward(dscores)
    net.sgd_step(0.1)
    assert loss.item() == pytest.approx(ours, abs=1e-12)
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(torch.from_numpy(x)).numpy(), net.eval()(x),
                                   rtol=0, atol=1e-10)


def test_update_bn_is_bnlibs_reestimation(bt):
    import torch

    net, x = trained_like(), images(4, n=40)
    model = torch_twin(bt, net)
    loader = [torch.from_numpy(x[idx]) for idx in batches(len(x), 8, 5)]
    bt.recompute_statistics(model, loader)
    ours = reestimate_bn(net, x, batch_size=8, seed=5)
    for bn, m in zip(ours.norms(), [m for m in model if isinstance(m, torch.nn.BatchNorm2d)]):
        np.testing.assert_allclose(m.running_var.numpy(), bn.running_var, rtol=1e-12)
        assert m.momentum == bn.momentum == 0.1  # restored after the pass
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), ours(x), atol=1e-10)


def test_fused_convolutions_equal_bnlibs_folded_network(bt):
    import torch

    net, x = trained_like(), images(6)
    fused = bt.folded_for_inference(torch_twin(bt, net))
    assert not [m for m in fused if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        got = fused(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, net.folded()(x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(got, net.eval()(x), rtol=0, atol=1e-10)


def test_sync_batchnorm_conversion_keeps_the_state_and_eval_output(bt):
    import torch

    net, x = trained_like(), images(7)
    synced = bt.for_several_gpus(torch_twin(bt, net)).eval()
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == 2
    with torch.no_grad():  # one process, eval mode: the running statistics, as before
        np.testing.assert_allclose(synced(torch.from_numpy(x)).numpy(), net.eval()(x),
                                   atol=1e-10)


def test_untracked_statistics_use_the_batch_in_eval_mode_as_bnlib_does(bt):
    import torch

    x = images(8).repeat(3, axis=1) * np.array([1.0, 2.0, 0.5])[None, :, None, None]
    theirs = bt.batch_statistics_always(3).double().eval()
    assert theirs.running_mean is None
    ours = BatchNorm2d(3, track_running_stats=False).eval()
    with torch.no_grad():
        np.testing.assert_allclose(theirs(torch.from_numpy(x)).numpy(), ours(x), atol=1e-10)


# ---- Keras 3, torch backend ---------------------------------------------------------------

@pytest.fixture(scope="module")
def bk():
    pytest.importorskip("torch", reason="torch not installed (Keras's backend here)")
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "torch") != "torch":
        pytest.skip("keras was imported with another backend")
    os.environ["KERAS_BACKEND"] = "torch"
    pytest.importorskip("keras", reason="keras not installed")
    module = load("bridge_keras")
    import keras

    assert keras.backend.backend() == "torch"
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")  # to compare with bnlib within 1e-10
    yield module
    keras.config.set_floatx(floatx)


# Keras's BatchNormalization normalises in float32 even in a float64 model (it casts its
# input to result_type(dtype, "float32")), so Keras agrees with bnlib to float32's precision.
KERAS = {"rtol": 1e-5, "atol": 1e-5}


def channels_last(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def keras_twin(bk, net):
    return bk.load_from_bnlib(bk.conv_net_keras(), net)


def as_numpy(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def test_keras_network_agrees_with_bnlib_in_eval_and_training_mode(bk):
    net, x = trained_like(), images(9)
    model = keras_twin(bk, net)
    assert all(w.dtype == "float64" for w in model.weights)  # float64 weights all the same
    np.testing.assert_allclose(as_numpy(model(channels_last(x), training=False)),
                               net.eval()(x), **KERAS)
    np.testing.assert_allclose(as_numpy(model(channels_last(x), training=True)),
                               net.train()(x), **KERAS)


def test_keras_running_variance_after_a_step_is_the_biased_one(bk):
    """Same momentum (Keras 0.9 = PyTorch 0.1), same mean; Keras accumulates the biased
    variance where bnlib (as PyTorch) accumulates the unbiased one."""
    from keras import layers

    net, x = trained_like(), images(10)
    model = keras_twin(bk, net)
    before = [(bn.running_mean.copy(), bn.running_var.copy()) for bn in net.norms()]
    model(channels_last(x), training=True)
    net.train()(x)
    keras_bns = [m for m in model.layers if isinstance(m, layers.BatchNormalization)]
    for (_, var0), bn, m, size in zip(before, net.norms(), keras_bns, (8, 4)):
        moving_mean, moving_var = (as_numpy(v) for v in m.get_weights()[2:])
        np.testing.assert_allclose(moving_mean, bn.running_mean, **KERAS)
        count = len(x) * size * size
        biased = (bn.running_var - 0.9 * var0) / 0.1 * (count - 1) / count
        np.testing.assert_allclose(moving_var, 0.9 * var0 + 0.1 * biased, rtol=1e-6)
        assert not np.allclose(moving_var, bn.running_var, rtol=1e-6, atol=0)


def test_a_frozen_keras_batch_norm_runs_in_inference_mode(bk):
    """Keras's rule: trainable=False also switches BN to its moving statistics, so
    training=True changes neither the output nor the statistics (PyTorch's requires_grad
    does not: its BN would still use and update batch statistics)."""
    net, x = trained_like(), images(11)
    model = bk.fine_tune_last_layer(keras_twin(bk, net))
    before = [as_numpy(w) for w in model.get_weights()]
    np.testing.assert_allclose(as_numpy(model(channels_last(x), training=True)),
                               net.eval()(x), **KERAS)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, as_numpy(new))
    assert len(model.trainable_weights) == 2  # the dense layer's kernel and bias
    unfrozen = keras_twin(bk, copy.deepcopy(net))  # control: not frozen, batch statistics
    assert not np.allclose(as_numpy(unfrozen(channels_last(x), training=True)),
                           net.eval()(x), **KERAS)
