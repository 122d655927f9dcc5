"""Batch-norm layers with one classic mistake each, built on bnlib's layers.

Each function takes a bnlib layer class (``BatchNorm1d`` or ``BatchNorm2d``)
and returns a subclass that makes the mistake, so the arithmetic stays bnlib's
and only the mistake is written here. Scenario parts replay scripts on these
to recognise a student's layer.
"""

import numpy as np

from ..core import channel_view


def _update_with(base, factor=None, counted=1):
    """``base`` whose running update uses ``factor(f)`` in place of the factor ``f``
    (momentum, or 1 / num_batches_tracked) and adds ``counted`` to the count."""
    class Slip(base):
        def _update_running_stats(self, cache):
            self.num_batches_tracked += counted
            f = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            f = factor(f) if factor else f
            m = np.int64(cache["x"].size // self.num_features)  # 1 value: nan, as numpy gives
            var = cache["var"].reshape(-1) * m / (m - 1)
            self.running_mean = (1 - f) * self.running_mean + f * cache["mu"].reshape(-1)
            self.running_var = (1 - f) * self.running_var + f * var
    return Slip


def keras_momentum(base):
    """running = momentum * running + (1 - momentum) * batch: Keras's convention (the factor
    1 / num_batches_tracked of momentum=None reversed the same way)."""
    return _update_with(base, factor=lambda f: 1 - f)


def count_not_incremented(base):
    """num_batches_tracked never incremented (momentum=None then divides by zero)."""
    return _update_with(base, counted=0)


def batch_mean_in_eval(base):
    """Eval mode subtracts the batch's own mean (and divides by the running variance)."""
    class BatchMeanInEval(base):
        def forward(self, x):
            if self.training:
                return super().forward(x)
            saved = self.running_mean
            axes = (0,) + tuple(range(2, np.ndim(x)))
            self.running_mean = np.mean(x, axis=axes)
            try:
                return super().forward(x)
            finally:
                self.running_mean = saved
        __call__ = forward
    return BatchMeanInEval


def biased_running_var(base):
    """running_var tracks the biased batch variance (PyTorch stores the unbiased one)."""
    class BiasedRunningVar(base):
        def _update_running_stats(self, cache):
            m = cache["x"].size // self.num_features
            super()._update_running_stats(dict(cache, var=cache["var"] * (m - 1) / m))
    return BiasedRunningVar


def batch_count_only(base):
    """The m/(m-1) correction with m = N (the batch size) instead of the values per channel."""
    class BatchCountOnly(base):
        def _update_running_stats(self, cache):
            m, n = cache["x"].size // self.num_features, cache["x"].shape[0]
            super()._update_running_stats(
                dict(cache, var=cache["var"] * (m - 1) / m * n / (n - 1)))
    return BatchCountOnly


def updates_in_eval(base):
    """Eval mode normalises with the running statistics but still updates them."""
    class UpdatesInEval(_update_with(base)):
        def forward(self, x):
            y = super().forward(x)
            if not self.training:
                axes = (0,) + tuple(range(2, np.ndim(x)))  # as numpy gives it, one value too
                self._update_running_stats({"x": x, "mu": np.mean(x, axis=axes),
                                            "var": np.var(x, axis=axes)})
            return y
        __call__ = forward
    return UpdatesInEval


def batch_stats_in_eval(base):
    """Eval mode normalises with the batch's own statistics."""
    class BatchStatsInEval(base):
        def forward(self, x):
            if self.training:
                return super().forward(x)
            axes = (0,) + tuple(range(2, np.ndim(x)))  # numpy's, for a batch of one too
            keep = dict(axis=axes, keepdims=True)
            gamma, beta = (channel_view(p, np.ndim(x)) for p in self._params())
            return gamma * (x - np.mean(x, **keep)) / np.sqrt(np.var(x, **keep) + self.eps) \
                + beta
        __call__ = forward
    return BatchStatsInEval


def var_starts_at_zero(base):
    """running_var initialised to 0 instead of 1."""
    class VarStartsAtZero(base):
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            super().__init__(num_features, eps, momentum)
            self.running_var = np.zeros(num_features)
    return VarStartsAtZero


def ignores_momentum_none(base):
    """momentum=None treated as the default 0.1 instead of a cumulative average."""
    class IgnoresMomentumNone(base):
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            super().__init__(num_features, eps, 0.1 if momentum is None else momentum)
    return IgnoresMomentumNone


def unbiased_in_forward(base):
    """Training mode normalises with the unbiased batch variance (the update is right)."""
    class UnbiasedInForward(base):
        def forward(self, x):
            y = super().forward(x)
            if not self.training:
                return y
            axes = (0,) + tuple(range(2, np.ndim(x)))
            keep = dict(axis=axes, keepdims=True)
            m = np.size(x) // self.num_features
            gamma, beta = (channel_view(p, np.ndim(x)) for p in self._params())
            var = np.var(x, **keep) * m / (m - 1)
            return gamma * (x - np.mean(x, **keep)) / np.sqrt(var + self.eps) + beta
        __call__ = forward
    return UnbiasedInForward


def eps_missing_in_eval(base):
    """Eval mode divides by sqrt(running_var), eps left out."""
    class EpsMissingInEval(base):
        def forward(self, x):
            if self.training:
                return super().forward(x)
            gamma, beta = (channel_view(p, np.ndim(x)) for p in self._params())
            return gamma * (x - channel_view(self.running_mean, np.ndim(x))) / np.sqrt(
                channel_view(self.running_var, np.ndim(x))) + beta
        __call__ = forward
    return EpsMissingInEval


def _stats(layer, x):
    """The mean and variance a right layer normalises ``x`` with, in its current mode."""
    axes = (0,) + tuple(range(2, np.ndim(x)))
    if layer.training:
        return np.mean(x, axis=axes), np.var(x, axis=axes)
    return layer.running_mean, layer.running_var


def _output_with(base, out, in_training=True, in_eval=True):
    """``base`` whose output is ``out(x, mean, var, gamma, beta, eps)`` (channel views) in the
    modes named, the running statistics updated as ``base`` does."""
    class Slip(base):
        def forward(self, x):
            stats = _stats(self, x)  # before the update: the batch's, or the running ones
            y = super().forward(x)
            if not (in_training if self.training else in_eval):
                return y
            nd = np.ndim(x)
            mean, var = (channel_view(s, nd) for s in stats)
            gamma, beta = (channel_view(p, nd) for p in self._params())
            with np.errstate(all="ignore"):
                return out(x, mean, var, gamma, beta, self.eps)
        __call__ = forward
    return Slip


def eps_outside_sqrt(base):
    """(x - mean) / (sqrt(var) + eps) in both modes."""
    return _output_with(base, lambda x, mu, var, g, b, eps: g * (x - mu) / (np.sqrt(var) + eps)
                        + b)


def eps_outside_sqrt_in_eval(base):
    """(x - running_mean) / (sqrt(running_var) + eps) in eval mode only."""
    return _output_with(base, lambda x, mu, var, g, b, eps: g * (x - mu) / (np.sqrt(var) + eps)
                        + b, in_training=False)


def beta_scaled(base):
    """gamma * x_hat + gamma * beta: beta scaled by gamma, in both modes."""
    return _output_with(base, lambda x, mu, var, g, b, eps: g * ((x - mu) / np.sqrt(var + eps)
                                                                 + b))


def beta_missing_in_eval(base):
    """Eval mode leaves beta out."""
    return _output_with(base, lambda x, mu, var, g, b, eps: g * (x - mu) / np.sqrt(var + eps),
                        in_training=False)


def running_stats_in_training(base):
    """Training mode normalises with the running statistics just updated, not the batch's."""
    class RunningInTraining(base):
        def forward(self, x):
            y = super().forward(x)
            if not self.training:
                return y
            nd = np.ndim(x)
            gamma, beta = (channel_view(p, nd) for p in self._params())
            return gamma * (x - channel_view(self.running_mean, nd)) / np.sqrt(
                channel_view(self.running_var, nd) + self.eps) + beta
        __call__ = forward
    return RunningInTraining


def eps_default(base):
    """The eps given to the constructor is ignored: 1e-5 always."""
    class EpsDefault(base):
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            super().__init__(num_features, 1e-5, momentum)
    return EpsDefault


def mean_starts_at_one(base):
    """running_mean initialised to 1 instead of 0."""
    class MeanStartsAtOne(base):
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            super().__init__(num_features, eps, momentum)
            self.running_mean = np.ones(num_features)
    return MeanStartsAtOne


def params_start_swapped(base):
    """gamma initialised to 0 and beta to 1 (swapped)."""
    class ParamsSwapped(base):
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            super().__init__(num_features, eps, momentum)
            self.gamma, self.beta = np.zeros(num_features), np.ones(num_features)
    return ParamsSwapped


def mode_ignored(base):
    """train(mode) always sets training mode, so eval() never takes effect."""
    class ModeIgnored(base):
        def train(self, mode=True):
            self.training = True
            return self
    return ModeIgnored


def _var_update(base, var_of):
    """``base`` whose running variance takes ``var_of(cache, m)`` as the batch's unbiased one."""
    class Slip(base):
        def _update_running_stats(self, cache):
            m = cache["x"].size // self.num_features
            unbiased = np.asarray(var_of(cache, m), dtype=float).reshape(-1)
            super()._update_running_stats(dict(cache, var=unbiased * (m - 1) / m))
    return Slip


def correction_inverted(base):
    """The batch variance times (m - 1) / m instead of m / (m - 1)."""
    return _var_update(base, lambda cache, m: cache["var"] * (m - 1) / m)


def all_values_count(base):
    """The m / (m - 1) correction with m = every value of the batch, N*C*H*W."""
    return _var_update(base, lambda cache, m: cache["var"] * cache["x"].size
                       / (cache["x"].size - 1))


def var_from_mean(base):
    """running_var updated with the batch mean (a copy-paste slip)."""
    return _var_update(base, lambda cache, m: cache["mu"] * m / (m - 1))
