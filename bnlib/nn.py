"""A tiny numpy network for the course's experiments: Linear -> [norm] -> ReLU.

Enough to train small classifiers with and without batch norm on the CPU
(``chapters/01-motivation.md`` and ``chapters/05-placement-and-family.md``).
Layers follow the ``(out, cache)`` / ``backward(dout, cache)`` pattern of the
rest of bnlib.
"""

import numpy as np

from .layers import BatchNorm1d
from .norms import groupnorm_backward, groupnorm_forward, layernorm_backward, layernorm_forward


def linear_forward(x, w, b):
    """``x @ w + b`` for ``x`` (N, D_in), ``w`` (D_in, D_out), ``b`` (D_out,)."""
    return x @ w + b, (x, w)


def linear_backward(dout, cache):
    """Return ``(dx, dw, db)`` for :func:`linear_forward`."""
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def _nll_and_dscores(scores, labels):
    """Per-example cross-entropy and ``dL/dscores`` (not yet divided by N); K on the last axis."""
    shifted = scores - scores.max(axis=-1, keepdims=True)  # for stability
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    dscores = np.exp(log_p)
    np.put_along_axis(dscores, labels[..., None], np.take_along_axis(dscores, labels[..., None],
                                                                     axis=-1) - 1.0, axis=-1)
    return -picked, dscores


def softmax_cross_entropy(scores, labels):
    """Mean cross-entropy of ``scores`` (N, K) for ``labels`` (N,); returns (loss, dscores)."""
    nll, dscores = _nll_and_dscores(scores, labels)
    return float(nll.mean()), dscores / len(labels)


def stacked_cross_entropy(scores, labels):
    """:func:`softmax_cross_entropy` for each network of an :class:`MLPStack`.

    Parameters
    ----------
    scores : ndarray, shape (N, S, K)
        Class scores of ``S`` networks for their own batches of ``N`` examples.
    labels : ndarray of int, shape (N, S)

    Returns
    -------
    loss : ndarray, shape (S,)
        The mean loss of each network over its batch.
    dscores : ndarray, shape (N, S, K)
        The gradient of each network's own loss.
    """
    nll, dscores = _nll_and_dscores(scores, labels)
    return nll.mean(axis=0), dscores / len(labels)


class _PerExampleNorm:
    """Layer norm or group norm as a layer (no running statistics, no modes)."""

    def __init__(self, width, kind, num_groups):
        self.kind, self.num_groups = kind, num_groups
        self.gamma, self.beta = np.ones(width), np.zeros(width)

    def __call__(self, x):
        if self.kind == "layer":
            y, self._cache = layernorm_forward(x, self.gamma, self.beta)
        else:
            y, self._cache = groupnorm_forward(x, self.gamma, self.beta, self.num_groups)
        return y

    def backward(self, dy):
        bwd = layernorm_backward if self.kind == "layer" else groupnorm_backward
        dx, self.grad_gamma, self.grad_beta = bwd(dy, self._cache)
        return dx

    def train(self, mode=True):
        return self

    def eval(self):
        return self


class _Modes:
    """``train()``/``eval()`` for a network whose ``norms`` list has modes (None: no norm)."""

    def train(self, mode=True):
        for n in self.norms:
            if n is not None:
                n.train(mode)
        return self

    def eval(self):
        return self.train(False)


class MLP(_Modes):
    """A ReLU network; ``norm`` ("batch", "layer", "group" or None) after each hidden Linear.

    Parameters
    ----------
    sizes : list of int
        ``[D_in, hidden..., K]``; the output layer has no norm and no ReLU.
    norm : str or None
    weight_scale : float or None
        Standard deviation of the initial weights; None means He (sqrt(2 / fan_in)).
    bias_before_norm : bool
        Keep the bias of Linear layers followed by batch norm (redundant: batch
        norm subtracts each feature's batch mean, which removes it, and beta
        takes over the shift). Layer and group norm average over features, not
        over the batch, so a per-feature bias is not removed: those layers
        always keep it.
    """

    def __init__(self, sizes, norm=None, weight_scale=None, seed=0, num_groups=4,
                 bias_before_norm=False, momentum=0.1):
        rng = np.random.default_rng(seed)
        self.w, self.b, self.norms = [], [], []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = np.sqrt(2.0 / d_in) if weight_scale is None else weight_scale
            self.w.append(rng.normal(0.0, scale, size=(d_in, d_out)))
            self.b.append(np.zeros(d_out))
            hidden = i < len(sizes) - 2
            if hidden and norm == "batch":
                self.norms.append(BatchNorm1d(d_out, momentum=momentum))
            elif hidden and norm in ("layer", "group"):
                self.norms.append(_PerExampleNorm(d_out, norm, num_groups))
            else:
                self.norms.append(None)
        self.use_bias = [bias_before_norm or not isinstance(n, BatchNorm1d) for n in self.norms]
        self.pre_norm = []     # output of each hidden Linear, before its norm
        self.activations = []  # input of each ReLU (after the norm, if any)


    def forward(self, x):
        """Class scores (N, K) for inputs (N, D_in); keeps caches for :meth:`backward`."""
        self._caches, self.pre_norm, self.activations = [], [], []
        for i, (w, b, norm) in enumerate(zip(self.w, self.b, self.norms)):
            x, lin = linear_forward(x, w, b if self.use_bias[i] else 0.0)
            if i == len(self.w) - 1:
                self._caches.append((lin, None))
                break
            self.pre_norm.append(x)
            if norm is not None:
                x = norm(x)
            self.activations.append(x)
            mask = x > 0
            self._caches.append((lin, mask))
            x = x * mask
        return x

    __call__ = forward

    def backward(self, dscores):
        """Backpropagate ``dL/dscores``; store ``grads`` as (dw, db) per layer."""
        self.grads = [None] * len(self.w)
        dout = dscores
        for i in reversed(range(len(self.w))):
            lin, mask = self._caches[i]
            if mask is not None:
                dout = dout * mask
                if self.norms[i] is not None:
                    dout = self.norms[i].backward(dout)
            dout, dw, db = linear_backward(dout, lin)
            self.grads[i] = (dw, db if self.use_bias[i] else np.zeros_like(db))

    def sgd_step(self, lr):
        """Plain SGD on weights, biases and the norms' gamma and beta."""
        for i, (dw, db) in enumerate(self.grads):
            self.w[i] -= lr * dw
            self.b[i] -= lr * db
            norm = self.norms[i]
            if norm is not None and norm.gamma is not None:
                norm.gamma = norm.gamma - lr * norm.grad_gamma
                norm.beta = norm.beta - lr * norm.grad_beta


class MLPStack(_Modes):
    """``S`` independent :class:`MLP` networks trained side by side in one set of arrays.

    Network ``r`` starts exactly as ``MLP(sizes, norm, weight_scale[r], seeds[r])``
    would, and :func:`bnlib.data.train` gives it the batches ``train(..., seed=seeds[r])``
    would, so a stack computes what ``S`` separate runs compute (to round-off)
    at about the cost of one: the experiments of ``chapters/01-motivation.md``
    and ``chapters/05-placement-and-family.md`` run every seed, learning rate
    or initial scale as one network of a stack. :class:`MLP` stays the readable
    version the book shows; this class repeats its loop with batched matrix
    products, and ``tests/test_nn.py`` holds the two equal. Hidden values have shape
    ``(N, S, D)``; each norm layer sees them as ``(N, S * D)``, where batch norm
    averages over N per column (per network and feature) and group norm with
    ``S * num_groups`` groups averages per example within each network.

    Parameters
    ----------
    sizes : list of int
        ``[D_in, hidden..., K]`` as for :class:`MLP`.
    norm : str or None
        ``"batch"``, ``"layer"``, ``"group"`` or None.
    seeds : sequence of int, length S
    weight_scale : float, sequence of float (length S) or None
        Standard deviation of the initial weights per network; None means He.
    """

    def __init__(self, sizes, norm=None, seeds=(0,), weight_scale=None, num_groups=4,
                 momentum=0.1):
        self.seeds = tuple(int(s) for s in seeds)
        s_count = len(self.seeds)
        scales = np.broadcast_to(np.array(weight_scale if weight_scale is not None else np.nan,
                                           dtype=float), (s_count,))
        self.sizes, self.norm = list(sizes), norm
        self.w = [np.empty((s_count, d_in, d_out)) for d_in, d_out in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros((s_count, d_out)) for d_out in sizes[1:]]
        for r, (seed, scale) in enumerate(zip(self.seeds, scales)):
            rng = np.random.default_rng(seed)        # the same draws as MLP(seed=seed)
            for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                sd = np.sqrt(2.0 / d_in) if np.isnan(scale) else scale
                self.w[i][r] = rng.normal(0.0, sd, size=(d_in, d_out))
        self.norms = []
        for i, d_out in enumerate(sizes[1:]):
            hidden = i < len(sizes) - 2
            if hidden and norm == "batch":
                self.norms.append(BatchNorm1d(s_count * d_out, momentum=momentum))
            elif hidden and norm in ("layer", "group"):
                groups = s_count * (1 if norm == "layer" else num_groups)
                self.norms.append(_PerExampleNorm(s_count * d_out, "group", groups))
            else:
                self.norms.append(None)
        self.use_bias = [not isinstance(n, BatchNorm1d) for n in self.norms]
        self.pre_norm, self.activations = [], []

    @property
    def size(self):
        """The number of networks ``S``."""
        return len(self.seeds)


    def forward(self, x):
        """Scores (N, S, K) for inputs (N, S, D_in), or (N, D_in) given to every network."""
        if x.ndim == 2:
            x = np.broadcast_to(x[:, None, :], (len(x), self.size, x.shape[1]))
        n = len(x)
        self._caches, self.pre_norm, self.activations = [], [], []
        for i, (w, b, norm) in enumerate(zip(self.w, self.b, self.norms)):
            inp = x
            x = np.matmul(x.transpose(1, 0, 2), w).transpose(1, 0, 2)   # (N, S, D_out)
            if self.use_bias[i]:
                x = x + b
            if i == len(self.w) - 1:
                self._caches.append((inp, None))
                break
            self.pre_norm.append(x)
            if norm is not None:
                x = norm(x.reshape(n, -1)).reshape(x.shape)
            self.activations.append(x)
            mask = x > 0
            self._caches.append((inp, mask))
            x = x * mask
        return x

    __call__ = forward

    def backward(self, dscores):
        """Backpropagate ``dscores`` (N, S, K); store ``grads`` as (dw, db) per layer."""
        self.grads = [None] * len(self.w)
        dout = dscores
        for i in reversed(range(len(self.w))):
            inp, mask = self._caches[i]
            if mask is not None:
                dout = dout * mask
                if self.norms[i] is not None:
                    dout = self.norms[i].backward(dout.reshape(len(dout), -1)).reshape(dout.shape)
            dw = np.matmul(inp.transpose(1, 2, 0), dout.transpose(1, 0, 2))   # (S, D_in, D_out)
            db = dout.sum(axis=0) if self.use_bias[i] else np.zeros(dout.shape[1:])
            self.grads[i] = (dw, db)
            dout = np.matmul(dout.transpose(1, 0, 2),
                             self.w[i].transpose(0, 2, 1)).transpose(1, 0, 2)

    def sgd_step(self, lr):
        """Plain SGD with learning rate ``lr`` (a number, or one per network, shape (S,))."""
        lr = np.broadcast_to(np.asarray(lr, dtype=float), (self.size,))
        for i, (dw, db) in enumerate(self.grads):
            self.w[i] -= lr[:, None, None] * dw
            self.b[i] -= lr[:, None] * db
            norm = self.norms[i]
            if norm is not None and norm.gamma is not None:
                per_feature = np.repeat(lr, len(norm.gamma) // self.size)
                norm.gamma = norm.gamma - per_feature * norm.grad_gamma
                norm.beta = norm.beta - per_feature * norm.grad_beta

    def flat_grad(self):
        """The weight gradients of each network as one vector: shape (S, P)."""
        return np.concatenate([dw.reshape(self.size, -1) for dw, _ in self.grads], axis=1)

    def reset(self, mask):
        """Put the networks where ``mask`` (S,) is true back to finite, inert values.

        A diverged network's weights may be infinite; zero weights keep its
        values finite so that it cannot stop the others (batch norm refuses
        NaN input). Its results are discarded by :func:`bnlib.data.train`.
        """
        mask = np.asarray(mask, dtype=bool)
        for i, norm in enumerate(self.norms):
            self.w[i][mask] = 0.0
            self.b[i][mask] = 0.0
            if norm is not None and norm.gamma is not None:
                cols = np.repeat(mask, len(norm.gamma) // self.size)
                norm.gamma = np.where(cols, 1.0, norm.gamma)
                norm.beta = np.where(cols, 0.0, norm.beta)
                if isinstance(norm, BatchNorm1d):
                    norm.running_mean = np.where(cols, 0.0, norm.running_mean)
                    norm.running_var = np.where(cols, 1.0, norm.running_var)
