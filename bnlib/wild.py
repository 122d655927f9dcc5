"""Batch norm after training and away from home (``chapters/07-in-the-wild.md``;
bias correction and precise BN are introduced in ``chapters/04-train-vs-inference.md``).

* :func:`batch_norms`: the batch-norm layers of a bnlib network, in forward order;
* :func:`debiased_running_stats`: the running statistics without their
  warm-up bias (they start at mean 0, variance 1);
* :func:`reestimate_bn`: recompute every batch norm's statistics over a data
  set with equal weights, the weights of the network fixed. On the training
  set this is "precise BN" (Wu & Johnson 2021); on unlabelled data of a new
  distribution it is AdaBN (Li et al. 2016). One function: only the data differ;
* :func:`ghost_batchnorm_forward` / :func:`ghost_batchnorm_backward` and the
  layer :class:`GhostBatchNorm2d`: batch norm over virtual sub-batches
  (Hoffer et al. 2017).
"""

import copy

import numpy as np

from .batchnorm import batchnorm_backward, batchnorm_forward
from .layers import BatchNorm1d, BatchNorm2d


def batch_norms(net):
    """The batch-norm layers of ``net``, in forward order.

    Parameters
    ----------
    net : bnlib.convnet.ConvNet, bnlib.nn.MLP or bnlib.nn.MLPStack
        A ConvNet lists them with ``norms()``; an MLP keeps a ``norms`` list
        (one entry per hidden layer, None or a per-example norm where there is
        no batch norm).

    Returns
    -------
    list of BatchNorm1d or BatchNorm2d
    """
    norms = net.norms() if callable(net.norms) else net.norms
    return [n for n in norms if isinstance(n, (BatchNorm1d, BatchNorm2d))]


def debiased_running_stats(bn):
    """The running mean and variance of ``bn`` with the warm-up bias removed.

    A moving average with weight ``alpha = 1 - momentum`` on the old value,
    started at ``m_0`` (0 for the mean, 1 for the variance), is after ``t``
    updates ``alpha**t * m_0 + (1 - alpha) * sum_k alpha**(t-k) * batch_k``: the
    batch terms carry a total weight of only ``1 - alpha**t``. Removing the
    start and dividing by that weight (as Adam does) gives a proper weighted
    average of the batches seen; the lag behind the current network remains.

    Parameters
    ----------
    bn : bnlib.BatchNorm1d or bnlib.BatchNorm2d
        With a float ``momentum`` (PyTorch's convention) and at least one update.

    Returns
    -------
    mean, var : ndarray, shape (C,)
    """
    if bn.momentum is None:
        raise ValueError("momentum=None is a cumulative average: it has no warm-up bias")
    if not bn.num_batches_tracked:
        raise ValueError("the running statistics were never updated: nothing to debias")
    kept = (1.0 - bn.momentum) ** bn.num_batches_tracked   # weight left on the start
    mean = bn.running_mean / (1.0 - kept)
    var = (bn.running_var - kept * 1.0) / (1.0 - kept)
    return mean, var


def batches(n, batch_size, seed=0, drop_last=True):
    """The example indices of one shuffled pass over ``n`` examples, batch by batch.

    The order :func:`reestimate_bn` feeds a network (``chapters/07-in-the-wild.md``).

    Parameters
    ----------
    n : int
        Number of examples.
    batch_size : int
    seed : int
        ``np.random.default_rng(seed).permutation(n)`` is the order.
    drop_last : bool, default True
        Leave out a last batch of fewer than ``batch_size`` examples.

    Returns
    -------
    list of ndarray
        Index arrays of shape (batch_size,) (the last one shorter if not ``drop_last``).
    """
    order = np.random.default_rng(seed).permutation(n)
    stop = n - n % batch_size if drop_last else n
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


def reestimate_bn(net, x, batch_size=64, seed=0):
    """A copy of ``net`` whose batch-norm statistics are recomputed on ``x``.

    Every batch norm is reset and then averages, with equal weights
    (``momentum=None``), the statistics of one pass over ``x`` in shuffled
    batches of ``batch_size`` (a last incomplete batch is dropped). The weights
    do not change. On training data this is precise BN; on unlabelled data
    from a shifted distribution, AdaBN.

    Parameters
    ----------
    net : bnlib.convnet.ConvNet, bnlib.nn.MLP or bnlib.nn.MLPStack
        Any network :func:`batch_norms` reads, with ``train()``, ``eval()``
        and ``net(x)``.
    x : ndarray, shape (N, C, H, W) for a ConvNet, (N, D) for an MLP
        Inputs only: no labels are used.
    batch_size : int
    seed : int
        Order of the examples.

    Returns
    -------
    same type as ``net``
        In eval mode, each batch norm keeping its original ``momentum``.
    """
    x = np.asarray(x, dtype=float)
    if not 1 < batch_size <= len(x):
        raise ValueError(f"batch_size must be in 2..{len(x)} (the number of examples), "
                         f"got {batch_size}")
    net = copy.deepcopy(net)
    norms = batch_norms(net)
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None                     # a cumulative average: equal weights
    net.train()
    for idx in batches(len(x), batch_size, seed):
        net(x[idx])
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    return net.eval()


def _chunks(n, virtual_batch):
    if not 1 < virtual_batch <= n or n % virtual_batch:
        raise ValueError(f"virtual_batch must divide the batch size {n} and be at least 2, "
                         f"got {virtual_batch}")
    return [slice(s, s + virtual_batch) for s in range(0, n, virtual_batch)]


def ghost_batchnorm_forward(x, gamma, beta, virtual_batch, eps=1e-5):
    """Ghost batch norm: training-mode batch norm on each virtual sub-batch.

    The batch is cut into consecutive groups of ``virtual_batch`` examples and
    each group is normalised with its own statistics (Hoffer et al. 2017), as
    if it were a small batch; the gradient step still averages the whole batch.

    Parameters
    ----------
    x : ndarray, shape (N, D), (N, C, L) or (N, C, H, W)
        ``N`` a multiple of ``virtual_batch``.
    gamma, beta : ndarray, shape (C,)
    virtual_batch : int
    eps : float

    Returns
    -------
    y : ndarray, same shape as ``x``
    caches : list of dict
        One :func:`bnlib.batchnorm_forward` cache per virtual batch.
    """
    x = np.asarray(x, dtype=float)
    y = np.empty_like(x)
    caches = []
    for part in _chunks(len(x), virtual_batch):
        y[part], cache = batchnorm_forward(x[part], gamma, beta, eps)
        caches.append(cache)
    return y, caches


def ghost_batchnorm_backward(dy, caches):
    """Backward of :func:`ghost_batchnorm_forward`: ``(dx, dgamma, dbeta)``.

    Each virtual batch backpropagates through its own statistics; ``dgamma``
    and ``dbeta`` add up over the virtual batches.
    """
    dy = np.asarray(dy, dtype=float)
    dx = np.empty_like(dy)
    dgamma = dbeta = 0.0
    start = 0
    for cache in caches:
        n = len(cache["x"])
        dx[start:start + n], dg, db = batchnorm_backward(dy[start:start + n], cache)
        dgamma, dbeta = dgamma + dg, dbeta + db
        start += n
    return dx, dgamma, dbeta


class GhostBatchNorm2d(BatchNorm2d):
    """Spatial batch norm that normalises virtual batches of ``virtual_batch`` examples.

    In training mode each virtual batch uses its own statistics and updates
    the running statistics once (as one small batch would); eval mode is
    :class:`bnlib.BatchNorm2d`'s. Input ``(N, C, H, W)``, ``N`` a multiple of
    ``virtual_batch``.
    """

    def __init__(self, num_features, virtual_batch, **kwargs):
        super().__init__(num_features, **kwargs)
        _chunks(virtual_batch, virtual_batch)          # validates: an integer >= 2
        self.virtual_batch = int(virtual_batch)

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        y, caches = ghost_batchnorm_forward(x, *self._params(), self.virtual_batch, self.eps)
        if self.track_running_stats:
            for cache in caches:
                self._update_running_stats(cache)
        self._cache = caches
        return y

    __call__ = forward

    def backward(self, dy):
        if not self.training:
            return super().backward(dy)
        dx, dgamma, dbeta = ghost_batchnorm_backward(dy, self._cache)
        if self.affine:
            self.grad_gamma, self.grad_beta = dgamma, dbeta
        return dx
