"""Convolution, pooling and the small conv nets of chapter 6: gradients, folding, parity."""

import numpy as np
import pytest

import bnlib
from bnlib.conv import (
    avgpool_backward,
    avgpool_forward,
    col2im,
    conv_backward,
    conv_forward,
    conv_forward_naive,
    im2col,
    maxpool_backward,
    maxpool_forward,
)
from bnlib.convnet import ConvNet, conv_net, res_net
from bnlib.data import digits, train
from bnlib.nn import softmax_cross_entropy

# (N, C, H, W, F, K, stride, pad): odd and even sizes, stride 2, no padding.
CONV_CASES = [(2, 3, 5, 5, 4, 3, 1, 1), (2, 2, 7, 7, 3, 3, 2, 1), (1, 2, 6, 4, 2, 2, 2, 0),
              (3, 1, 4, 4, 2, 1, 1, 0)]


@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_convolution_equals_the_formula(case):
    n, c, h, w, f, k, stride, pad = case
    rng = np.random.default_rng(0)
    x, wt, b = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, k, k)), rng.normal(size=f)
    out, _ = conv_forward(x, wt, b, stride, pad)
    np.testing.assert_allclose(out, conv_forward_naive(x, wt, b, stride, pad), atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_backward_matches_numerical_gradients(case, bias):
    n, c, h, w, f, k, stride, pad = case
    rng = np.random.default_rng(1)
    x, wt = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, k, k))
    b = rng.normal(size=f) if bias else None
    out, cache = conv_forward(x, wt, b, stride, pad)
    dout = rng.normal(size=out.shape)
    dx, dw, db = conv_backward(dout, cache)
    num_dx = bnlib.numerical_gradient(lambda z: conv_forward(z, wt, b, stride, pad)[0],
                                      x.copy(), dout)
    num_dw = bnlib.numerical_gradient(lambda z: conv_forward(x, z, b, stride, pad)[0],
                                      wt.copy(), dout)
    assert bnlib.rel_error(dx, num_dx) < 1e-8
    assert bnlib.rel_error(dw, num_dw) < 1e-8
    if bias:
        num_db = bnlib.numerical_gradient(lambda z: conv_forward(x, wt, z, stride, pad)[0],
                                          b.copy(), dout)
        assert bnlib.rel_error(db, num_db) < 1e-8
    else:
        assert db is None


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> = <x, col2im(c)> for every x and c.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6, 5))
    cols = im2col(x, 3, 3, stride=1, pad=1)
    c = rng.normal(size=cols.shape)
    assert np.isclose((cols * c).sum(), (x * col2im(c, x.shape, 3, 3, 1, 1)).sum())


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_backward_matches_numerical_gradient(kind, size):
    fwd, bwd = {"max": (maxpool_forward, maxpool_backward),
                "avg": (avgpool_forward, avgpool_backward)}[kind]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 6, 6))
    out, cache = fwd(x, size)
    assert out.shape == (2, 3, 6 // size, 6 // size)
    dout = rng.normal(size=out.shape)
    num = bnlib.numerical_gradient(lambda z: fwd(z, size)[0], x.copy(), dout)
    assert bnlib.rel_error(bwd(dout, cache), num) < 1e-8


def test_max_pooling_sends_a_tie_to_one_input_only():
    out, cache = maxpool_forward(np.zeros((1, 1, 2, 2)), 2)
    dx = maxpool_backward(np.ones((1, 1, 1, 1)), cache)
    assert out.item() == 0.0 and dx.sum() == 1.0 and np.count_nonzero(dx) == 1


def test_bad_shapes_get_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        conv_forward(np.ones((3, 8, 8)), np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="input channels"):
        conv_forward(np.ones((1, 2, 5, 5)), np.ones((4, 3, 3, 3)))
    with pytest.raises(ValueError, match="one per filter"):
        conv_forward(np.ones((1, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="does not tile"):
        conv_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2)
    with pytest.raises(ValueError, match="multiples of 2"):
        maxpool_forward(np.ones((1, 1, 5, 4)), 2)
    out, cache = conv_forward(np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3)), pad=1)
    with pytest.raises(ValueError, match="forward output's shape"):
        conv_backward(np.ones((1, 2, 3, 3)), cache)


def net_gradients_match(net, x, y, tol=1e-6):
    """Every parameter's analytic gradient against a numerical one (train mode)."""
    net.train()
    net.backward(softmax_cross_entropy(net(x), y)[1])
    for layer, name in net.parameters():
        analytic = getattr(layer, f"grad_{name}")

        def loss(v, layer=layer, name=name):
            old = getattr(layer, name)
            setattr(layer, name, v)
            out = softmax_cross_entropy(net(x), y)[0]
            setattr(layer, name, old)
            return out

        numeric = bnlib.numerical_gradient(loss, getattr(layer, name).copy())
        assert bnlib.rel_error(analytic, numeric) < tol, (type(layer).__name__, name)


@pytest.mark.parametrize("norm", [None, "batch"])
def test_conv_net_gradients_match_numerical(norm):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 1, 8, 8)), rng.integers(0, 10, size=6)
    net = conv_net(channels=(3, 4), norm=norm, seed=5)
    net_gradients_match(net, x, y)


@pytest.mark.parametrize("residual,zero_init", [(True, False), (False, False)])
def test_res_net_gradients_match_numerical(residual, zero_init):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(5, 1, 8, 8)), rng.integers(0, 10, size=5)
    net = res_net(2, width=3, residual=residual, zero_init=zero_init, seed=7)
    for bn in net.norms():  # away from the initial gamma = 1, beta = 0
        bn.gamma, bn.beta = rng.normal(1.0, 0.3, bn.num_features), rng.normal(size=bn.num_features)
    net_gradients_match(net, x, y)


def test_a_zero_init_residual_block_starts_as_the_identity():
    rng = np.random.default_rng(8)
    x = np.abs(rng.normal(size=(4, 3, 4, 4)))  # after a ReLU: non-negative
    block = res_net(1, width=3, zero_init=True, seed=0).layers[4]
    np.testing.assert_array_equal(block(x), x)


def test_batch_norm_makes_the_loss_scale_invariant_and_the_gradient_orthogonal():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(16, 1, 8, 8)), rng.integers(0, 10, size=16)
    net = conv_net(channels=(4, 4), norm="batch", seed=1)
    conv = net.weight_layers()[1]
    net.norms()[1].eps = 1e-14  # eps is what breaks the invariance: make it negligible
    loss0 = softmax_cross_entropy(net(x), y)
    net.backward(loss0[1])
    g0, w0 = conv.grad_w.copy(), conv.w.copy()
    conv.w = 10.0 * w0
    loss1 = softmax_cross_entropy(net(x), y)
    net.backward(loss1[1])
    assert abs(loss1[0] - loss0[0]) < 1e-10                        # L(cW) = L(W)
    assert abs((g0 * w0).sum()) < 1e-8 * np.linalg.norm(g0) * np.linalg.norm(w0)  # g . W = 0
    np.testing.assert_allclose(conv.grad_w * 10.0, g0, rtol=1e-6, atol=1e-12)    # g(cW) = g(W)/c


def test_folded_net_equals_the_net_in_eval_mode_and_has_no_batch_norm():
    x_train, y_train, x_val, _ = digits()
    for net in (conv_net(norm="batch", seed=2), res_net(2, width=4, zero_init=False, seed=2)):
        train(net, x_train, y_train, lr=0.1, steps=20, batch_size=32, seed=2)
        folded = net.folded()
        assert folded.norms() == [] and net.norms() != []
        np.testing.assert_allclose(folded(x_val), net.eval()(x_val), rtol=0, atol=1e-10)


def test_fold_batchnorm_conv_per_output_channel():
    rng = np.random.default_rng(10)
    bn = bnlib.BatchNorm2d(3)
    bn.gamma, bn.beta = rng.normal(1.0, 0.5, 3), rng.normal(size=3)
    for _ in range(4):
        bn(rng.normal(2.0, 3.0, size=(5, 3, 4, 4)))
    bn.eval()
    x, w, b = rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    w2, b2 = bnlib.fold_batchnorm_conv(w, b, bn)
    np.testing.assert_allclose(conv_forward(x, w2, b2, pad=1)[0],
                               bn(conv_forward(x, w, b, pad=1)[0]), atol=1e-12)
    s = bn.gamma / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(w2[1], w[1] * s[1])
    with pytest.raises(ValueError, match="BatchNorm2d"):
        bnlib.fold_batchnorm_conv(w, b, bnlib.BatchNorm1d(3).eval())
    with pytest.raises(ValueError, match=r"shape \(3, C_in, KH, KW\)"):
        bnlib.fold_batchnorm_conv(w[:2], b, bn)
    with pytest.raises(ValueError, match=r"call bn.eval\(\) first"):
        bnlib.fold_batchnorm_conv(w, b, bn.train())


def test_sgd_step_records_update_ratios_and_decays_weights_only():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(8, 1, 8, 8)), rng.integers(0, 10, size=8)
    net = conv_net(channels=(2, 2), norm="batch", seed=3)
    net.backward(softmax_cross_entropy(net(x), y)[1])
    for layer, name in net.parameters():
        setattr(layer, f"grad_{name}", np.zeros_like(getattr(layer, name)))
    before = {(id(layer), name): getattr(layer, name).copy() for layer, name in net.parameters()}
    net.sgd_step(0.1, weight_decay=0.5)
    for layer, name in net.parameters():
        expected = before[id(layer), name] * (0.95 if name == "w" else 1.0)
        np.testing.assert_allclose(getattr(layer, name), expected)
    np.testing.assert_allclose(net.update_ratio, 0.05)
    assert len(net.update_ratio) == len(net.weight_layers()) == 3


def test_trainer_hook_sees_every_step_and_the_training_batch():
    x_train, y_train, _, _ = digits()
    seen = []
    net = conv_net(channels=(2, 4), norm="batch", seed=0)
    train(net, x_train, y_train, lr=0.05, steps=7, batch_size=16, seed=0,
          on_step=lambda step, model: seen.append((step, len(model.leaves()[2].out))))
    assert seen == [(s, 16) for s in range(7)]


def test_digits_are_the_bundled_set_standardised():
    x_train, y_train, x_val, y_val = digits()
    assert len(y_train) + len(y_val) == 1797 and x_train.shape[1:] == (1, 8, 8)
    assert sorted(np.unique(y_train)) == list(range(10))
    assert abs(x_train.mean()) < 1e-12 and abs(x_train.std() - 1) < 1e-12


def test_conv_net_is_a_conv_net():
    net = conv_net(channels=(8, 16), norm="batch", seed=0)
    assert isinstance(net, ConvNet)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU",
        "MaxPool2d", "Flatten", "Linear"]
    assert all(conv.b is None for conv in net.weight_layers()[:2])  # redundant before BN
    assert net(np.zeros((3, 1, 8, 8))).shape == (3, 10)


def test_conv_and_pool_match_pytorch_in_float64():
    torch = pytest.importorskip("torch", reason="torch not installed")
    F = torch.nn.functional
    rng = np.random.default_rng(12)
    for n, c, h, w, f, k, stride, pad in CONV_CASES:
        x, wt, b = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, k, k)), rng.normal(size=f)
        out, cache = conv_forward(x, wt, b, stride, pad)
        dout = rng.normal(size=out.shape)
        tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, wt, b))
        tout = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
        tout.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=1e-10)
        for ours, theirs in zip(conv_backward(dout, cache), (tx, tw, tb)):
            np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=0, atol=1e-10)
    x = rng.normal(size=(2, 3, 6, 6))
    for fwd, bwd, tfn in ((maxpool_forward, maxpool_backward, F.max_pool2d),
                          (avgpool_forward, avgpool_backward, F.avg_pool2d)):
        for size in (2, 3):
            out, cache = fwd(x, size)
            dout = rng.normal(size=out.shape)
            tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            tout = tfn(tx, size)
            tout.backward(torch.tensor(dout))
            np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=1e-10)
            np.testing.assert_allclose(bwd(dout, cache), tx.grad.numpy(), rtol=0, atol=1e-10)
