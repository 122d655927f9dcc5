"""Experiments over several seeds: run, aggregate, describe the spread.

One seed is not evidence. Every experiment in the book runs over
:data:`SEEDS` (at least five), plots the spread, and writes its sentences
from the aggregate: "k of n seeds", the median and the range (first used in
chapters/01-motivation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
"""The seeds every experiment of the book runs over."""


def over_seeds(fn: Callable[..., object], seeds: Iterable[int] = SEEDS, **kwargs) -> np.ndarray:
    """Run ``fn(seed=s, **kwargs)`` for every seed and stack the results.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_seeds, *result_shape)``: one row per seed, in seed order.
    """
    return np.stack([np.asarray(fn(seed=seed, **kwargs), dtype=float) for seed in seeds])


@dataclass(frozen=True)
class Spread:
    """The median and range of one quantity over ``n`` seeds."""

    median: float
    low: float
    high: float
    n: int

    def text(self, fmt: str = ".3g") -> str:
        """``"0.93 (0.91 to 0.95 over 5 seeds)"``."""
        if self.low == self.high:
            return f"{self.median:{fmt}} (in all {self.n} seeds)"
        return f"{self.median:{fmt}} ({self.low:{fmt}} to {self.high:{fmt}} over {self.n} seeds)"

    def __format__(self, fmt: str) -> str:
        return self.text(fmt or ".3g")


def spread(values) -> Spread:
    """Median, minimum and maximum of ``values`` (one per seed), NaN ignored.

    Parameters
    ----------
    values : array_like, shape (n_seeds,)
    """
    values = np.asarray(values, dtype=float).ravel()
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return Spread(float("nan"), float("nan"), float("nan"), values.size)
    return Spread(float(np.median(finite)), float(finite.min()), float(finite.max()), values.size)


def k_of_n(mask) -> str:
    """``"4 of 5 seeds"`` for a boolean array with one entry per seed."""
    mask = np.asarray(mask, dtype=bool).ravel()
    n = mask.size
    k = int(mask.sum())
    return f"{'all ' if k == n and n > 1 else ''}{k} of {n} seeds"


def holds_for_all(mask) -> bool:
    """True when a claim holds for every seed (what a chapter's assert may check)."""
    return bool(np.all(np.asarray(mask, dtype=bool)))


def band(ax, x, runs, label: str | None = None, **line_kwargs):
    """Plot the median over seeds as a line and the min-max range as a band.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x : array_like, shape (T,)
    runs : array_like, shape (n_seeds, T)
        One row per seed; NaN (a diverged run) is left out of the median.
    label : str, optional
        The legend entry; the band's is ``"<label>: range over n seeds"``.
    """
    runs = np.asarray(runs, dtype=float)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(runs, axis=0)
            low = np.nanmin(runs, axis=0)
            high = np.nanmax(runs, axis=0)
    (line,) = ax.plot(x, median, label=label, **line_kwargs)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line
