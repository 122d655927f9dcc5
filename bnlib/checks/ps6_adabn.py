"""Checks for ps6-in-practice: re-estimating batch-norm statistics on new data (AdaBN,
``chapters/07-in-the-wild.md``). The reference is :func:`bnlib.wild.reestimate_bn` on
the network the case describes; the wrong answers replay the same pass with one slip."""

import numpy as np

from ..convnet import Conv2d, ConvNet, ReLU, he_std
from ..layers import BatchNorm2d
from ..wild import batches, reestimate_bn
from .core import Mistake, Part, register
from .ps6 import ASSIGNMENT

KERNEL = 3  # every block's convolution: 3 x 3, zero padding 1, stride 1


def _block(rng, c_in, c_out, eps):
    """One conv -> BN -> ReLU block as plain arrays, with statistics of some old data."""
    return {"weight": rng.normal(0.0, he_std(c_in * KERNEL * KERNEL),
                                 (c_out, c_in, KERNEL, KERNEL)),
            "bias": rng.normal(0.0, 0.1, c_out), "gamma": rng.normal(1.0, 0.3, c_out),
            "beta": rng.normal(0.0, 0.5, c_out), "running_mean": rng.normal(size=c_out),
            "running_var": rng.uniform(0.5, 2.0, c_out), "eps": eps}


def _cases(rng, hidden):
    """(x, blocks, batch_size, seed): new data shifted and scaled away from the old."""
    # Visible and hidden both hold an incomplete last batch, a single batch, three blocks
    # and a non-default eps before the last block.
    settings = [((10, 2, 4, 5), (3, 2, 4), 3), ((8, 1, 3, 3), (2, 2), 8)] if hidden else \
        [((14, 1, 5, 6), (3, 3, 2), 4), ((6, 2, 3, 3), (2, 2), 6)]
    cases = []
    for shape, widths, batch_size in settings:
        x = rng.normal(rng.uniform(0.5, 1.5), rng.uniform(1.5, 3.0), shape)
        chans = (shape[1],) + widths
        blocks = [_block(rng, c_in, c_out, 1e-3 if i else 1e-5)
                  for i, (c_in, c_out) in enumerate(zip(chans, chans[1:]))]
        cases.append((x, blocks, batch_size, int(rng.integers(1000))))
    return cases


def network(blocks, relu=True):
    """The :class:`bnlib.convnet.ConvNet` the blocks describe, in training mode
    (``relu=False``: without the ReLUs, a slip)."""
    layers = []
    for b in blocks:
        c_out, c_in = np.shape(b["weight"])[:2]
        conv = Conv2d(c_in, c_out, kernel=KERNEL, pad=KERNEL // 2)
        conv.w, conv.b = np.array(b["weight"], dtype=float), np.array(b["bias"], dtype=float)
        bn = BatchNorm2d(c_out, eps=b["eps"])
        for name in ("gamma", "beta", "running_mean", "running_var"):
            setattr(bn, name, np.array(b[name], dtype=float))
        layers += [conv, bn, ReLU()] if relu else [conv, bn]
    return ConvNet(layers)


def _statistics(net):
    return [(bn.running_mean, bn.running_var) for bn in net.norms()]


def adapted(x, blocks, batch_size, seed):
    """bnlib's AdaBN: every batch norm's statistics re-estimated on ``x``."""
    return _statistics(reestimate_bn(network(blocks), x, batch_size, seed))


def _one_pass(x, blocks, batch_size, seed, reset=True, momentum=None, drop_last=True):
    """A training-mode pass in reestimate_bn's order with a slip in the bookkeeping."""
    net = network(blocks)
    for bn in net.norms():
        if reset:
            bn.reset_running_stats()
        bn.momentum = momentum
    for idx in batches(len(x), batch_size, seed, drop_last):
        net(x[idx])
    return _statistics(net)


def _written_out(x, blocks, batch_size, seed, batches_used=0, outside=False):
    """AdaBN written out batch by batch (as the notebook does), with one slip: only the first
    ``n_batches + batches_used`` batches summed, or eps outside the square root."""
    from ..conv import conv_forward

    order = np.random.default_rng(seed).permutation(len(x))
    n_batches = len(x) // batch_size
    means, variances = [0.0] * len(blocks), [0.0] * len(blocks)
    for k in range(n_batches + batches_used):
        h = x[order[k * batch_size:(k + 1) * batch_size]]
        for i, block in enumerate(blocks):
            z = conv_forward(h, np.asarray(block["weight"], dtype=float),
                             np.asarray(block["bias"], dtype=float), pad=1)[0]
            m = z.size // z.shape[1]
            mu, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
            means[i] = means[i] + mu / n_batches
            variances[i] = variances[i] + var * m / (m - 1) / n_batches
            sd = np.sqrt(var) + block["eps"] if outside else np.sqrt(var + block["eps"])
            z_hat = (z - mu.reshape(1, -1, 1, 1)) / sd.reshape(1, -1, 1, 1)
            h = np.maximum(np.asarray(block["gamma"]).reshape(1, -1, 1, 1) * z_hat
                           + np.asarray(block["beta"]).reshape(1, -1, 1, 1), 0.0)
    return list(zip(means, variances))


def _old_upstream(x, blocks, batch_size, seed):
    """Each layer's statistics measured with every other layer in eval mode (old statistics)."""
    out = []
    for k in range(len(blocks)):
        net = network(blocks).eval()
        bn = net.norms()[k]
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
        for idx in batches(len(x), batch_size, seed):
            net(x[idx])
        out.append((bn.running_mean, bn.running_var))
    return out


def _edited(**change):
    """AdaBN on blocks with some entries changed (a slip that ignores them)."""
    def make(x, blocks, batch_size, seed):
        edited = [dict(b, **{k: f(b) for k, f in change.items()}) for b in blocks]
        return adapted(x, edited, batch_size, seed)
    return make


def _in_order(x, blocks, batch_size, seed):
    """AdaBN over the batches in their order, not shuffled."""
    net = network(blocks)
    for bn in net.norms():
        bn.reset_running_stats()
        bn.momentum = None
    for k in range(len(x) // batch_size):
        net(x[k * batch_size:(k + 1) * batch_size])
    return _statistics(net)


def _without_relu(x, blocks, batch_size, seed):
    return _statistics(reestimate_bn(network(blocks, relu=False), x, batch_size, seed))


def _batch_count(x, blocks, batch_size, seed):
    m = batch_size * x.shape[2] * x.shape[3]
    return [(mean, var * (m - 1) / m * batch_size / (batch_size - 1))
            for mean, var in adapted(x, blocks, batch_size, seed)]


def _biased(x, blocks, batch_size, seed):
    m = batch_size * x.shape[2] * x.shape[3]  # values per channel in one batch (padding 1)
    return [(mean, var * (m - 1) / m) for mean, var in adapted(x, blocks, batch_size, seed)]


register(Part(
    grade_id="ps6_adabn",
    assignment=ASSIGNMENT,
    target="adapt_statistics",
    description="batch-norm statistics re-estimated on new data (AdaBN)",
    points=3,
    make_cases=_cases,
    reference=adapted,
    outputs={"each": "block", "then": ("running_mean", "running_var")},
    allowed_reference=("bnlib.conv.conv_forward",),
    mistakes=[
        Mistake("ema_from_old",
                "The statistics are a moving average (momentum 0.1) that starts from the old "
                "ones: that is an ordinary training-mode pass. AdaBN forgets the old "
                "statistics and gives every batch of the new data the same weight: the "
                "average of the batch means and of the unbiased batch variances.",
                lambda *case: _one_pass(*case, reset=False, momentum=0.1)),
        Mistake("ema_from_reset",
                "The statistics are a moving average with momentum 0.1 started at mean 0 and "
                "variance 1: the first batches carry little weight and the start still "
                "shows. Average the batches with equal weights (momentum=None).",
                lambda *case: _one_pass(*case, momentum=0.1)),
        Mistake("last_batch_only",
                "These are the statistics of the last batch alone: average the batch means "
                "and the unbiased batch variances over every batch.",
                lambda *case: _one_pass(*case, momentum=1.0)),
        Mistake("biased_variance",
                "The variance is the biased one. bnlib and PyTorch store the unbiased batch "
                "variance (times m / (m - 1), m = batch_size * H * W) in running_var, and "
                "average those.", _biased),
        Mistake("old_statistics_upstream",
                "The first layer is right, the later ones are not: their inputs were computed "
                "with the earlier batch norms in eval mode, on the old statistics. Pass each "
                "batch through the whole network in training mode, as reestimate_bn does: "
                "every batch norm normalises with the batch's own statistics.",
                _old_upstream),
        Mistake("incomplete_batch",
                "The last, incomplete batch was used too. Drop it, as reestimate_bn does: "
                "with equal weights per batch, a batch of a few examples would count as much "
                "as a full one.",
                lambda *case: _one_pass(*case, drop_last=False)),
        Mistake("one_batch",
                "These are the statistics of the whole data in one batch. Pass the data in "
                "the prescribed shuffled batches of batch_size and average over the batches.",
                lambda x, blocks, batch_size, seed: adapted(x, blocks, len(x), seed)),
        Mistake("not_shuffled",
                "The batches are taken in order. Take them in the prescribed shuffled order: "
                "the permutation of len(x) drawn by np.random.default_rng(seed), as reestimate_bn "
                "does.",
                _in_order),
        Mistake("conv_bias_dropped",
                "The convolution's bias is left out. For the output of a training-mode batch "
                "norm that changes nothing (the batch mean removes it), but running_mean is "
                "the mean of the convolution's output, bias included: add block['bias'].",
                _edited(bias=lambda b: np.zeros_like(np.asarray(b["bias"], dtype=float)))),
        Mistake("batch_count_only",
                "The unbiased correction uses m = batch_size. Each channel's variance "
                "averages batch_size * H * W values: m = z.size // C.", _batch_count),
        Mistake("eps_ignored",
                "Each block has its own eps: normalise with block['eps'], not 1e-5. The "
                "statistics of the next block depend on it.",
                _edited(eps=lambda b: 1e-5)),
        Mistake("eps_outside_sqrt",
                "eps belongs inside the square root: z_hat = (z - mu) / sqrt(var + eps), not "
                "(z - mu) / (sqrt(var) + eps). The next block's statistics depend on it.",
                lambda *case: _written_out(*case, outside=True)),
        Mistake("last_batch_left_out",
                "One full batch is left out: average over all len(x) // batch_size full "
                "batches (range(n_batches)).",
                lambda *case: _written_out(*case, batches_used=-1)),
        Mistake("relu_missing",
                "Each block is conv, then batch norm, then ReLU: the next block's input is "
                "np.maximum(gamma * z_hat + beta, 0).", _without_relu),
        Mistake("affine_missing",
                "gamma and beta are left out: the next block's input is "
                "np.maximum(gamma * z_hat + beta, 0), with block['gamma'] and block['beta'].",
                _edited(gamma=lambda b: np.ones_like(np.asarray(b["gamma"], dtype=float)),
                        beta=lambda b: np.zeros_like(np.asarray(b["beta"], dtype=float)))),
    ],
))
