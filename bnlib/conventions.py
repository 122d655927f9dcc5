"""Conventions and counts around inference (``chapters/04-train-vs-inference.md``).

Running statistics are exponential moving averages. Write ``alpha`` for the
weight kept on the old value::

    running = alpha * running + (1 - alpha) * batch

Keras, TensorFlow and Flax call ``alpha`` "momentum" (default 0.99); PyTorch
calls ``1 - alpha`` "momentum" (default 0.1). The same word, opposite terms.
"""

import numbers


def _fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def keras_to_pytorch_momentum(keras_momentum):
    """PyTorch's ``momentum`` for a Keras/TF/Flax ``momentum``: ``1 - keras_momentum``.

    Keras's 0.99 is PyTorch's 0.01, not 0.1.
    """
    return 1.0 - _fraction(keras_momentum, "keras_momentum")


def pytorch_to_keras_momentum(pytorch_momentum):
    """Keras/TF/Flax ``momentum`` for a PyTorch ``momentum``: ``1 - pytorch_momentum``."""
    return 1.0 - _fraction(pytorch_momentum, "pytorch_momentum")


def averaging_window(alpha):
    """About how many recent batches a moving average remembers: ``1 / (1 - alpha)``.

    ``alpha`` is the weight of the old value (Keras's momentum): 0.99 -> 100
    batches; PyTorch's default momentum 0.1 is alpha = 0.9 -> 10 batches.
    ``alpha = 1`` never forgets (an infinite window).
    """
    alpha = _fraction(alpha, "alpha")
    return float("inf") if alpha == 1.0 else 1.0 / (1.0 - alpha)


def inference_ops(num_features):
    """Operations per example at inference: ``(batch norm, a d -> d linear layer)``.

    Batch norm with fixed statistics costs 4 per value (subtract the mean,
    divide by the standard deviation, multiply by gamma, add beta): ``4 * d``.
    A ``d -> d`` linear layer costs a multiply and an add per weight: ``2 * d * d``.
    For d = 256: 1,024 against 131,072, under 1 %.
    """
    if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral) \
            or num_features < 1:
        raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
    d = int(num_features)
    return 4 * d, 2 * d * d
