"""Checks for ps3-inference (``chapters/04-train-vs-inference.md``): running statistics
with PyTorch's conventions, a BatchNorm1d class, and the batch-of-one error."""

import numpy as np

from .. import BatchNorm1d
from . import wrong_layers as wrong
from .core import Mistake, Part, register
from .ps1 import features
from .scenario import ScenarioPart

ASSIGNMENT = "ps3-inference"

KERAS = ("keras_momentum",
         "The momentum convention is reversed (Keras/TF style). PyTorch's is "
         "running = (1 - momentum) * running + momentum * batch_statistic, so momentum=0.1 "
         "moves 10% of the way towards the batch (Keras's 0.99 is PyTorch's 0.01).")
BIASED = ("biased_running_var",
          "running_var must use the unbiased variance (times m/(m-1)), as PyTorch stores it; "
          "the normalisation itself uses the biased one.")
MOMENTUM_NONE = ("ignores_momentum_none",
                 "momentum=None means a cumulative average: use the factor "
                 "1 / num_batches_tracked (counting this batch) instead of momentum.")
UPDATES_IN_EVAL = ("updates_in_eval",
                   "In eval mode the running statistics must not change: only training-mode "
                   "forward passes update running_mean, running_var and num_batches_tracked.")
BATCH_STATS_IN_EVAL = ("batch_stats_in_eval",
                       "In eval mode, normalise with running_mean and running_var, not with "
                       "the statistics of the batch (the classic forgotten model.eval() bug).")
COUNT_NOT_INCREMENTED = ("count_not_incremented",
                         "num_batches_tracked never changes: add 1 to it on every training-mode "
                         "forward pass, before the update (momentum=None divides by it).")
BATCH_MEAN_IN_EVAL = ("batch_mean_in_eval",
                      "In eval mode both statistics are the running ones: subtract "
                      "running_mean, not the batch's mean (a prediction must not depend on the "
                      "other examples of its batch).")
UNBIASED_IN_FORWARD = ("unbiased_in_forward",
                       "Training mode normalises with the biased batch variance (divide by m, "
                       "np.var's default); only running_var stores the unbiased one.")
EPS_MISSING_IN_EVAL = ("eps_missing_in_eval",
                       "eps is missing in eval mode: divide by sqrt(running_var + eps).")
EPS_OUTSIDE_SQRT = ("eps_outside_sqrt", "eps belongs inside the square root: "
                    "(x - mean) / sqrt(var + eps), not (x - mean) / (sqrt(var) + eps).")
BETA_SCALED = ("beta_scaled", "beta is added after gamma scales: y = gamma * x_hat + beta, "
               "not gamma * (x_hat + beta).")
RUNNING_IN_TRAINING = ("running_stats_in_training",
                       "In training mode, normalise with the batch's own mean and biased "
                       "variance; the running statistics are for eval mode (they only follow "
                       "the batches).")
EPS_DEFAULT = ("eps_default", "Keep the eps given to the constructor (self.eps = eps) and use "
               "it: the layer here was made with another eps than 1e-5.")
MEAN_STARTS_AT_ONE = ("mean_starts_at_one", "The running statistics start at running_mean = 0 "
                      "and running_var = 1 (the statistics of a standard normal).")
PARAMS_START_SWAPPED = ("params_start_swapped", "gamma starts at 1 and beta at 0, so that a new "
                        "layer leaves x_hat unchanged: np.ones for gamma, np.zeros for beta.")
MODE_IGNORED = ("mode_ignored", "train(mode) must store the mode it is given, "
                "self.training = mode, so that eval() (train(False)) switches to eval mode.")
VAR_STARTS_AT_ZERO = ("var_starts_at_zero",
                      "The running statistics start at running_mean = 0 and running_var = 1 "
                      "(the statistics of a standard normal), not 0.")


def layer_mistakes(base, *table):
    """Mistakes whose ``make`` is bnlib's layer class with that mistake."""
    return [Mistake(id_, message, getattr(wrong, id_)(base)) for id_, message in table]


def running_after(cls, running_mean, running_var, x, momentum, num_batches_tracked):
    """The running statistics of ``cls`` after one training batch (counted as number n)."""
    bn = cls(x.shape[1], momentum=momentum)
    bn.running_mean, bn.running_var = running_mean.copy(), running_var.copy()
    bn.num_batches_tracked = num_batches_tracked - 1
    bn(x)
    return bn.running_mean, bn.running_var


def _corrected_twice(running_mean, running_var, x, momentum, n):
    mean, var = running_after(BatchNorm1d, running_mean, running_var, x, momentum, n)
    m = len(x)
    f = 1.0 / n if momentum is None else momentum
    return mean, var + f * x.var(axis=0, ddof=1) * (m / (m - 1) - 1)


def _update_cases(rng, hidden):
    specs = [((2, 3), 0.01, 5), ((5, 2), None, 1), ((6, 4), 1.0, 2), ((3, 3), 0.0, 9)] \
        if hidden else [((8, 3), 0.1, 1), ((6, 2), None, 3)]
    return [(rng.normal(size=s[1]), rng.uniform(0.5, 2.0, s[1]), features(rng, s), mom, n)
            for s, mom, n in specs]


def _updated(rm, rv, x, mom, n, reverse_mean=False, reverse=False, decay=True, decay_mean=True,
             mean_from_var=False,
             var_of=lambda x, m: x.var(axis=0) * m / (m - 1), old_var=lambda rv: rv):
    """PyTorch's update written out, with one ingredient changed (for the mistakes)."""
    f = 1.0 / n if mom is None else (1 - mom if reverse else mom)
    rm = rv if mean_from_var else rm
    keep = (1 - f) if decay else 1.0
    mean = (f * rm + (1 - f) * x.mean(axis=0)) if reverse_mean else \
        (keep if decay_mean else 1.0) * rm + f * x.mean(axis=0)
    with np.errstate(all="ignore"):
        return mean, keep * old_var(rv) + f * var_of(x, len(x))


UPDATE_SLIPS = [
    ("keras_momentum", KERAS[1], dict(reverse=True)),
    ("keras_momentum", KERAS[1], dict(reverse_mean=True)),
    ("old_not_decayed", "The old running value keeps the weight 1 - momentum: running = "
     "(1 - momentum) * running + momentum * batch_statistic.", dict(decay=False)),
    ("old_not_decayed", "The old running value keeps the weight 1 - momentum: running = "
     "(1 - momentum) * running + momentum * batch_statistic.", dict(decay_mean=False)),
    ("correction_inverted", "The unbiased variance is the biased one times m / (m - 1), "
     "not (m - 1) / m.", dict(var_of=lambda x, m: x.var(axis=0) * (m - 1) / m)),
    ("std_not_var", "running_var tracks the variance of each feature, x.var, not its standard "
     "deviation.", dict(var_of=lambda x, m: x.std(axis=0) * m / (m - 1))),
    ("features_as_count", "m is the batch size, x.shape[0] (the number of values each "
     "feature's variance averages), not the number of features.",
     dict(var_of=lambda x, m: x.var(axis=0) * x.shape[1] / (x.shape[1] - 1))),
    ("var_about_running_mean", "The batch variance is taken about the batch's own mean, "
     "x.var(axis=0) * m / (m - 1), not about the (new) running mean.", None),
    ("mean_from_running_var", "The new running mean starts from the old running mean: "
     "(1 - momentum) * running_mean + momentum * batch mean, not from running_var.",
     dict(mean_from_var=True)),
    ("running_var_squared", "The old running variance enters as it is: "
     "(1 - momentum) * running_var + momentum * unbiased batch variance, not running_var**2.",
     dict(old_var=lambda rv: rv ** 2)),
]


def _about_new_mean(rm, rv, x, mom, n):
    mean, _ = _updated(rm, rv, x, mom, n)
    f = 1.0 / n if mom is None else mom
    return mean, (1 - f) * rv + f * ((x - mean) ** 2).sum(axis=0) / (len(x) - 1)


def _update_mistake(id_, message):
    cls = getattr(wrong, id_)(BatchNorm1d)
    return Mistake(id_, message, lambda *case: running_after(cls, *case))


register(Part(
    grade_id="ps3_running_update",
    assignment=ASSIGNMENT,
    target="update_running_stats",
    description="running statistics, PyTorch convention",
    points=3,
    make_cases=_update_cases,
    reference=lambda *case: running_after(BatchNorm1d, *case),
    outputs=("running_mean", "running_var"),
    mistakes=[_update_mistake(*KERAS), _update_mistake(*BIASED),
              _update_mistake(*MOMENTUM_NONE),
              Mistake("corrected_twice",
                      "The unbiased variance is corrected twice: x.var(axis=0, ddof=1) is "
                      "already the unbiased one; use it or x.var(axis=0) * m / (m - 1), not "
                      "both.", _corrected_twice),
              *[Mistake("cumulative_count",
                        "With momentum=None the factor is 1 / num_batches_tracked, and "
                        "num_batches_tracked already counts this batch: not 1 / (n + 1) or "
                        "1 / (n - 1).", lambda rm, rv, x, mom, n, k=k: running_after(
                            BatchNorm1d, rm, rv, x, mom, n + k) if mom is None
                        else running_after(BatchNorm1d, rm, rv, x, mom, n))
                for k in (1, -1)],
              *[Mistake(id_, message, _about_new_mean if how is None else
                        (lambda *case, how=how: _updated(*case, **how)))
                for id_, message, how in UPDATE_SLIPS]],
))


def _layer_script(rng, d, kwargs, sizes, eval_sizes):
    ops = [("set", "gamma", rng.normal(1.0, 0.5, d)), ("set", "beta", rng.normal(size=d))]
    ops += [("forward", features(rng, (n, d))) for n in sizes]
    ops += [("eval",)] + [("forward", features(rng, (n, d))) for n in eval_sizes]
    ops += [("train",), ("forward", features(rng, (4, d)))]
    return (d, kwargs, ops)


def _layer_cases(rng, hidden):
    fresh = (3, {}, [("forward", features(rng, (4, 3))), ("eval",),
                     ("forward", features(rng, (3, 3)))])  # a new layer: its initial values
    if hidden:
        return [_layer_script(rng, 2, {"momentum": None}, [6, 3, 9, 2], [4, 1]),
                _layer_script(rng, 5, {"eps": 1e-3, "momentum": 0.3}, [2, 7], [3]), fresh]
    return [_layer_script(rng, 3, {"momentum": 0.1}, [8, 8], [5, 1]),
            _layer_script(rng, 2, {"momentum": None, "eps": 1e-3}, [5, 3, 2], [2]), fresh]


register(ScenarioPart(
    grade_id="ps3_batchnorm1d",
    assignment=ASSIGNMENT,
    target="BatchNorm1d",
    description="BatchNorm1d with train() and eval()",
    points=5,
    make_cases=_layer_cases,
    reference=BatchNorm1d,
    mistakes=layer_mistakes(BatchNorm1d, UPDATES_IN_EVAL, BATCH_STATS_IN_EVAL, KERAS, BIASED,
                            MOMENTUM_NONE, VAR_STARTS_AT_ZERO, COUNT_NOT_INCREMENTED,
                            BATCH_MEAN_IN_EVAL, UNBIASED_IN_FORWARD, EPS_MISSING_IN_EVAL,
                            EPS_OUTSIDE_SQRT, BETA_SCALED, RUNNING_IN_TRAINING, EPS_DEFAULT,
                            MEAN_STARTS_AT_ONE, PARAMS_START_SWAPPED, MODE_IGNORED),
))


def _one_cases(rng, hidden):
    if hidden:
        ops = [("forward", features(rng, (2, 2))), ("forward", features(rng, (1, 2))),
               ("eval",), ("forward", features(rng, (1, 2)))]
        return [(2, {"momentum": None}, ops)]
    ops = [("forward", features(rng, (1, 4))), ("forward", features(rng, (2, 4))),
           ("forward", features(rng, (3, 4))), ("eval",), ("forward", features(rng, (1, 4)))]
    return [(4, {"momentum": None}, ops)]


register(ScenarioPart(
    grade_id="ps3_batch_of_one",
    assignment=ASSIGNMENT,
    target="BatchNorm1d",
    description="a batch of one: an error in training, fine in eval",
    points=2,
    make_cases=_one_cases,
    reference=BatchNorm1d,  # a missing or wrong exception is named by the scenario itself
))
