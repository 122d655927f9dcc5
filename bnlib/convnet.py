"""A small convolutional network built from bnlib's pieces (``chapters/06-conv-on-digits.md``).

Layers are objects around the functions of :mod:`bnlib.conv` and
:mod:`bnlib.nn`: ``layer(x)`` runs the forward pass and keeps its cache,
``layer.backward(dout)`` returns ``dx`` and stores the gradient of each
parameter ``p`` (named in ``layer.params``) as ``layer.grad_p``. Spatial batch
norm is :class:`bnlib.BatchNorm2d`, which follows the same convention (its
parameters are ``gamma`` and ``beta``).

:class:`ConvNet` chains layers and trains with :func:`bnlib.data.train`;
:func:`conv_net` and :func:`res_net` build the two families the chapter uses.
"""

import copy

import numpy as np

from .conv import (
    avgpool_backward,
    avgpool_forward,
    conv_backward,
    conv_forward,
    maxpool_backward,
    maxpool_forward,
    relu_backward,
    relu_forward,
)
from .folding import fold_batchnorm_conv
from .layers import BatchNorm1d, BatchNorm2d
from .nn import linear_backward, linear_forward


def he_std(fan_in):
    """Kaiming (He) initialisation for ReLU networks: standard deviation ``sqrt(2 / fan_in)``."""
    return float(np.sqrt(2.0 / fan_in))


class Conv2d:
    """A 3 x 3 (or ``kernel``) convolution with zero padding; weights ``(F, C, K, K)``.

    ``scale`` is the standard deviation of the initial weights (None: Kaiming,
    ``sqrt(2 / (C * K * K))``). ``bias=False`` for a convolution followed by
    batch norm, which removes any constant per channel.
    """

    params = ("w", "b")

    def __init__(self, c_in, c_out, kernel=3, pad=1, bias=True, scale=None, rng=None):
        rng = np.random.default_rng(rng)
        std = he_std(c_in * kernel * kernel) if scale is None else scale
        self.w = rng.normal(0.0, std, size=(c_out, c_in, kernel, kernel))
        self.b = np.zeros(c_out) if bias else None
        self.pad = pad
        self.grad_w = self.grad_b = None

    def __call__(self, x):
        out, self._cache = conv_forward(x, self.w, self.b, stride=1, pad=self.pad)
        return out

    def backward(self, dout):
        dx, self.grad_w, self.grad_b = conv_backward(dout, self._cache)
        return dx


class Linear:
    """``x @ w + b`` with ``w`` of shape ``(D_in, D_out)`` (as :func:`bnlib.nn.linear_forward`)."""

    params = ("w", "b")

    def __init__(self, d_in, d_out, scale=None, rng=None):
        rng = np.random.default_rng(rng)
        std = he_std(d_in) if scale is None else scale
        self.w = rng.normal(0.0, std, size=(d_in, d_out))
        self.b = np.zeros(d_out)
        self.grad_w = self.grad_b = None

    def __call__(self, x):
        out, self._cache = linear_forward(x, self.w, self.b)
        return out

    def backward(self, dout):
        dx, self.grad_w, self.grad_b = linear_backward(dout, self._cache)
        return dx


class ReLU:
    """ReLU; keeps its output ``out`` and the gradient ``grad_out`` it received (diagnostics)."""

    params = ()

    def __call__(self, x):
        self.out, self._mask = relu_forward(x)
        return self.out

    def backward(self, dout):
        self.grad_out = dout
        return relu_backward(dout, self._mask)


class MaxPool2d:
    """Max pooling over non-overlapping ``size x size`` windows."""

    params = ()

    def __init__(self, size=2):
        self.size = size

    def __call__(self, x):
        out, self._cache = maxpool_forward(x, self.size)
        return out

    def backward(self, dout):
        return maxpool_backward(dout, self._cache)


class AvgPool2d(MaxPool2d):
    """Average pooling; ``size`` equal to the image size is global average pooling."""

    def __call__(self, x):
        out, self._cache = avgpool_forward(x, self.size)
        return out

    def backward(self, dout):
        return avgpool_backward(dout, self._cache)


class Flatten:
    """``(N, C, H, W) -> (N, C * H * W)``."""

    params = ()

    def __call__(self, x):
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dout):
        return dout.reshape(self._shape)


class ResidualBlock:
    """conv -> BN -> ReLU -> conv -> BN -> (+ input) -> ReLU, at a constant width.

    ``residual=False`` drops the addition (a plain block of the same depth).
    ``zero_init=True`` starts the last ``gamma`` at 0, so the block starts as
    the identity (Goyal et al. 2017); otherwise at 1.
    """

    params = ()

    def __init__(self, width, residual=True, zero_init=False, rng=None):
        rng = np.random.default_rng(rng)
        self.residual = residual
        self.layers = [Conv2d(width, width, bias=False, rng=rng), BatchNorm2d(width), ReLU(),
                       Conv2d(width, width, bias=False, rng=rng), BatchNorm2d(width)]
        if zero_init:
            self.layers[-1].gamma = np.zeros(width)
        self.out_relu = ReLU()

    def __call__(self, x):
        out = x
        for layer in self.layers:
            out = layer(out)
        return self.out_relu(out + x if self.residual else out)

    def backward(self, dout):
        d = self.out_relu.backward(dout)
        dx = d
        for layer in reversed(self.layers):
            dx = layer.backward(dx)
        return dx + d if self.residual else dx  # the skip passes d straight through


def parameter_names(layer):
    """The names of ``layer``'s learned arrays (``gamma``, ``beta`` for batch norm)."""
    if isinstance(layer, (BatchNorm1d, BatchNorm2d)):
        return ("gamma", "beta") if layer.affine else ()
    return tuple(p for p in getattr(layer, "params", ()) if getattr(layer, p) is not None)


def leaves(layers):
    """Every layer in order, looking inside residual blocks (their output ReLU last)."""
    for layer in layers:
        if isinstance(layer, ResidualBlock):
            yield from leaves(layer.layers)
            yield layer.out_relu
        else:
            yield layer


class ConvNet:
    """A chain of layers; trains with :func:`bnlib.data.train`.

    Attributes
    ----------
    layers : list
    update_ratio : list of float
        After each :meth:`sgd_step`, ``|step| / |w|`` for every weight array
        (convolutions and the linear layer, in order): the update-to-weight
        ratio a practitioner watches (about 1e-3 per step is the usual rule of thumb).
    """

    def __init__(self, layers):
        self.layers = list(layers)
        self.update_ratio = []

    def leaves(self):
        """Every layer, in forward order (see :func:`leaves`)."""
        return list(leaves(self.layers))

    def weight_layers(self):
        """The convolutions and linear layers, in forward order."""
        return [layer for layer in self.leaves() if isinstance(layer, (Conv2d, Linear))]

    def norms(self):
        """The batch-norm layers (``BatchNorm1d`` or ``BatchNorm2d``), in forward order."""
        return [layer for layer in self.leaves() if isinstance(layer, (BatchNorm1d, BatchNorm2d))]

    def train(self, mode=True):
        """Training mode for every batch norm (``mode=False``: eval mode); returns self."""
        for bn in self.norms():
            bn.train(mode)
        return self

    def eval(self):
        """Eval mode: batch norm uses its running statistics."""
        return self.train(False)

    def forward(self, x):
        """Class scores ``(N, K)`` for images ``(N, C, H, W)``."""
        for layer in self.layers:
            x = layer(x)
        return x

    __call__ = forward

    def backward(self, dscores):
        """Backpropagate ``dL/dscores`` ``(N, K)``; every layer stores its parameter gradients."""
        d = dscores
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def parameters(self):
        """``(layer, name)`` for every learned array."""
        return [(layer, name) for layer in self.leaves() for name in parameter_names(layer)]

    def sgd_step(self, lr, weight_decay=0.0):
        """Plain SGD; ``weight_decay`` adds ``weight_decay * w`` to the gradient of each weight
        array ``w`` (convolutions and linear layer; not biases, not gamma or beta)."""
        self.update_ratio = []
        for layer, name in self.parameters():
            value = getattr(layer, name)
            grad = getattr(layer, f"grad_{name}")
            if name == "w" and weight_decay:
                grad = grad + weight_decay * value
            step = lr * grad
            if name == "w":
                self.update_ratio.append(float(np.linalg.norm(step) / np.linalg.norm(value)))
            setattr(layer, name, value - step)

    def folded(self):
        """An inference copy with every batch norm folded into the convolution before it.

        Uses :func:`bnlib.folding.fold_batchnorm_conv` on each ``Conv2d -> BatchNorm2d``
        pair (running statistics, so the result equals this network in eval mode).
        """
        net = copy.deepcopy(self).eval()
        net.layers = _fold_layers(net.layers)
        return net


def _fold_layers(layers):
    out = []
    for layer in layers:
        if isinstance(layer, ResidualBlock):
            layer.layers = _fold_layers(layer.layers)
        if isinstance(layer, BatchNorm2d) and out and isinstance(out[-1], Conv2d):
            conv = copy.copy(out[-1])
            conv.w, conv.b = fold_batchnorm_conv(conv.w, conv.b, layer)
            out[-1] = conv
            continue
        out.append(layer)
    return out


def conv_net(channels=(8, 16), norm="batch", init=None, per_stage=1, seed=0, image_size=8,
             in_channels=1, classes=10):
    """``[conv -> [BN] -> ReLU] x per_stage -> max pool`` per stage, then a linear layer.

    Parameters
    ----------
    channels : tuple of int
        Width of each stage; each stage halves the image size.
    norm : "batch" or None
        Spatial batch norm after every convolution (whose bias is then dropped).
    init : float or None
        Standard deviation of every initial weight; None means Kaiming (He).
    seed : int

    Returns
    -------
    ConvNet
        Input ``(N, in_channels, image_size, image_size)``, output ``(N, classes)``.
    """
    rng = np.random.default_rng(seed)
    layers, c_in, size = [], in_channels, image_size
    for width in channels:
        for _ in range(per_stage):
            layers.append(Conv2d(c_in, width, bias=norm is None, scale=init, rng=rng))
            if norm == "batch":
                layers.append(BatchNorm2d(width))
            layers.append(ReLU())
            c_in = width
        layers.append(MaxPool2d(2))
        size //= 2
    layers += [Flatten(), Linear(c_in * size * size, classes, scale=init, rng=rng)]
    return ConvNet(layers)


def res_net(blocks, width=8, residual=True, zero_init=True, seed=0, image_size=8,
            in_channels=1, classes=10):
    """A stem (conv -> BN -> ReLU -> 2 x 2 max pool), ``blocks`` blocks, then a linear layer.

    Parameters
    ----------
    blocks : int
        Number of :class:`ResidualBlock` (two convolutions each).
    residual : bool
        False gives the plain network of the same depth.
    zero_init : bool
        Start the last ``gamma`` of every block at 0 (else 1).

    Returns
    -------
    ConvNet
        ``2 * blocks + 1`` convolutions and a linear layer.
    """
    rng = np.random.default_rng(seed)
    layers = [Conv2d(in_channels, width, bias=False, rng=rng), BatchNorm2d(width), ReLU(),
              MaxPool2d(2)]
    layers += [ResidualBlock(width, residual, zero_init, rng) for _ in range(blocks)]
    size = image_size // 2
    layers += [Flatten(), Linear(width * size * size, classes, rng=rng)]
    return ConvNet(layers)
