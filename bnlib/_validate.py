"""Input checks shared by every bnlib function.

Each check raises ``ValueError`` with a message that names the argument, what
was expected and what arrived, so a student reading the traceback knows what
to fix. Nothing here changes the caller's arrays.
"""

import numbers

import numpy as np


def as_float_array(x, name="x"):
    """Return ``x`` as a finite floating-point ndarray (never a view to write into).

    Integer and boolean input is converted to float64; float32 stays float32.
    Anything that cannot be read as real numbers raises ``ValueError``, and so
    does NaN or infinity (a NaN would otherwise spread silently through the
    batch statistics and hide the first bad value).
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "f":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be numeric: could not convert dtype {arr.dtype} to float"
            ) from None
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(f"{name} contains NaN or infinity (first at index {where})")
    return arr


def check_ndim(x, allowed, layout, name="x"):
    """Raise unless ``x.ndim`` is one of ``allowed``; ``layout`` describes the shape."""
    if x.ndim not in allowed:
        raise ValueError(
            f"{name} must be {layout}, got a {x.ndim}-D array of shape {x.shape}"
        )


def check_param(p, num_features, name):
    """Return parameter ``p`` as a float array of shape ``(num_features,)``."""
    arr = as_float_array(p, name)
    if arr.shape != (num_features,):
        raise ValueError(
            f"{name} must have shape ({num_features},) to match the {num_features} "
            f"features/channels on axis 1 of x, got shape {arr.shape}"
        )
    return arr


def check_eps(eps):
    """Raise unless ``eps`` is a finite number > 0 (it keeps the square root away from 0)."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be > 0, got {eps!r}")
    return float(eps)


def check_momentum(momentum):
    """Raise unless ``momentum`` is None or a number in [0, 1]."""
    if momentum is None:
        return None
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise ValueError(f"momentum must be a number in [0, 1] or None, got {momentum!r}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1] (PyTorch convention), got {momentum!r}")
    return float(momentum)


def check_batch_size(x):
    """Training needs at least two values per channel (PyTorch refuses one)."""
    per_channel = x.size // x.shape[1] if x.shape[1] else 0
    if per_channel <= 1:
        raise ValueError(
            "Expected more than 1 value per channel when training, got input of "
            f"shape {x.shape}; use eval mode for a batch of one"
        )
