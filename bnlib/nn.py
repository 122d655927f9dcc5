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


def softmax_cross_entropy(scores, labels):
    """Mean cross-entropy of ``scores`` (N, K) for ``labels`` (N,); returns (loss, dscores)."""
    shifted = scores - scores.max(axis=1, keepdims=True)  # for stability
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_p[np.arange(n), labels].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(n), labels] -= 1.0
    return float(loss), dscores / n


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


class MLP:
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

    def train(self, mode=True):
        for n in self.norms:
            if n is not None:
                n.train(mode)
        return self

    def eval(self):
        return self.train(False)

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
