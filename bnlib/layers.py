"""BatchNorm1d and BatchNorm2d layers with PyTorch's conventions.

Forward, backward, running statistics and eval mode agree with
``torch.nn.BatchNorm1d``/``BatchNorm2d`` to 1e-10 in float64
(``tests/test_torch_parity.py``). Input PyTorch accepts but these layers
refuse with a ``ValueError``: ``eps <= 0``, ``momentum`` outside [0, 1] (other
than None), NaN or infinite values.

The functions in ``bnlib/batchnorm.py`` do the arithmetic; a layer adds the
state that training and inference share: learned ``gamma``/``beta`` and the
running statistics. ``chapters/04-train-vs-inference.md`` explains the rules:

* training: normalise with batch statistics, then update
  ``running = (1 - momentum) * running + momentum * batch``;
* ``running_var`` stores the *unbiased* batch variance (times m / (m - 1));
* ``momentum=None``: a cumulative average, momentum = 1 / num_batches_tracked;
* eval: normalise with the running statistics and update nothing;
* ``track_running_stats=False``: batch statistics in eval mode too.
"""

import numbers

import numpy as np

from ._validate import as_float_array, check_eps, check_momentum, check_ndim
from .batchnorm import batchnorm_backward, batchnorm_forward, batchnorm_inference, check_dy


class _BatchNorm:
    ndims = ()  # allowed input ndim, set by subclasses
    layout = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral) \
                or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = check_eps(eps)
        self.momentum = check_momentum(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.gamma = np.ones(num_features) if affine else None  # learned scale
        self.beta = np.zeros(num_features) if affine else None  # learned shift
        self.grad_gamma = self.grad_beta = None
        self.running_mean = self.running_var = self.num_batches_tracked = None
        self.reset_running_stats()
        self.training = True
        self._cache = None

    def __repr__(self):
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats})")

    def reset_running_stats(self):
        """Start the running statistics again at mean 0, variance 1, 0 batches.

        The first step of re-estimating them after training ("precise BN",
        ``chapters/04-train-vs-inference.md``). Does nothing without
        ``track_running_stats``.
        """
        if self.track_running_stats:  # the statistics of a standard normal
            self.running_mean = np.zeros(self.num_features)
            self.running_var = np.ones(self.num_features)
            self.num_batches_tracked = 0

    def train(self, mode=True):
        """Switch to training mode (or to eval mode with ``mode=False``); return self."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Switch to eval mode: use the running statistics, update nothing."""
        return self.train(False)

    def _params(self):
        if self.affine:
            return self.gamma, self.beta
        return np.ones(self.num_features), np.zeros(self.num_features)

    def forward(self, x):
        """Normalise ``x`` (shape in ``layout``); return ``y`` of the same shape."""
        x = as_float_array(x, "x")
        check_ndim(x, self.ndims, self.layout)
        if x.shape[1] != self.num_features:
            raise ValueError(f"x has {x.shape[1]} features/channels on axis 1, "
                             f"but this layer has num_features={self.num_features}")
        gamma, beta = self._params()
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            y, cache = batchnorm_forward(x, gamma, beta, self.eps)
            if self.training and self.track_running_stats:
                self._update_running_stats(cache)
        else:
            y, cache = batchnorm_inference(x, gamma, beta, self.running_mean,
                                           self.running_var, self.eps)
        self._cache = (cache, use_batch_stats)
        return y

    __call__ = forward

    def _update_running_stats(self, cache):
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative moving average
            factor = 1.0 / self.num_batches_tracked
        else:
            factor = self.momentum
        m = cache["x"].size // self.num_features  # values per channel
        batch_mean = cache["mu"].reshape(-1)
        unbiased_var = cache["var"].reshape(-1) * m / (m - 1)
        self.running_mean = (1 - factor) * self.running_mean + factor * batch_mean
        self.running_var = (1 - factor) * self.running_var + factor * unbiased_var

    def backward(self, dy):
        """Return ``dL/dx`` for the last forward; set ``grad_gamma`` and ``grad_beta``."""
        if self._cache is None:
            raise ValueError("backward called before forward: run forward(x) first")
        cache, used_batch_stats = self._cache
        if used_batch_stats:
            dx, dgamma, dbeta = batchnorm_backward(dy, cache)
        else:  # eval mode: an affine map, the statistics are constants
            dy = check_dy(dy, cache)
            dx = cache["gamma"] * cache["inv_std"] * dy
            dgamma = (dy * cache["x_hat"]).sum(axis=cache["axes"])
            dbeta = dy.sum(axis=cache["axes"])
        if self.affine:
            self.grad_gamma, self.grad_beta = dgamma, dbeta
        return dx


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, D)`` or ``(N, C, L)`` input, like ``torch.nn.BatchNorm1d``."""

    ndims = (2, 3)
    layout = "(N, D) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Spatial batch norm over ``(N, C, H, W)``, per channel over N, H and W."""

    ndims = (4,)
    layout = "(N, C, H, W)"
