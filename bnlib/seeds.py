"""Experiments over several seeds: run, aggregate, describe the spread.

One seed is not evidence. Every experiment in the book runs over
:data:`SEEDS` (at least five), plots the spread, and writes its sentences
from the aggregate: "k of n seeds", the median and the range (first used in
chapters/01-motivation.md).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

SEED_SHIFT: int = int(os.environ.get("BN_SEED_SHIFT", "0"))
"""Added to every seed of the book (environment variable ``BN_SEED_SHIFT``; default 0).

The book is written with seeds 0 to 4. ``tests/test_seed_shift.py`` executes
every chapter with the seeds shifted (by 100) so that a chapter's asserts are
checked on seeds it was not written with: an assert must hold for any seeds.
The data sets' seeds (:func:`bnlib.data.spirals`, :func:`bnlib.data.digits`)
shift with them.
"""

SEEDS: tuple[int, ...] = tuple(SEED_SHIFT + s for s in range(5))
"""The seeds every experiment of the book runs over (0 to 4 unless shifted)."""


def over_seeds(fn: Callable[..., object], seeds: Iterable[int] = SEEDS, **kwargs) -> np.ndarray:
    """Run ``fn(seed=s, **kwargs)`` for every seed and stack the results.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_seeds, *result_shape)``: one row per seed, in seed order.
    """
    return np.stack([np.asarray(fn(seed=seed, **kwargs), dtype=float) for seed in seeds])


WORKERS = int(os.environ.get("BN_WORKERS", min(2, os.cpu_count() or 1)))
"""Processes :func:`parallel_map` uses (environment variable ``BN_WORKERS``; 1: none)."""


def parallel_map(fn: Callable, items: Iterable, workers: int | None = None) -> list:
    """``[fn(item) for item in items]``, computed by ``workers`` forked processes.

    The results come back in the order of ``items`` and each call is computed
    exactly as it would be in the calling process, so a seeded experiment gives
    the same numbers with any number of workers. The processes are forked and
    inherit ``fn`` and ``items``, so ``fn`` may be any function (a closure, one
    defined in a notebook); only the results are pickled. With one worker (or where
    fork is unavailable) everything runs in the calling process.

    Parameters
    ----------
    fn : callable
        Takes one item; its result must be picklable.
    items : iterable
    workers : int, optional
        Defaults to :data:`WORKERS`.
    """
    items = list(items)
    workers = WORKERS if workers is None else workers
    if workers <= 1 or len(items) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(item) for item in items]
    global _TASK
    _TASK = (fn, items)        # inherited by the forked workers: fn need not be picklable
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(items)), mp_context=context) as pool:
            return list(pool.map(_run_task, range(len(items))))
    finally:
        _TASK = None


_TASK = None


def _run_task(i):
    fn, items = _TASK
    return fn(items[i])


@dataclass(frozen=True)
class Spread:
    """The median and range of one quantity over ``n`` seeds (or other ``unit``s, e.g. runs)."""

    median: float
    low: float
    high: float
    n: int
    unit: str = "seeds"

    def text(self, fmt: str = ".3g") -> str:
        """``"0.93 (0.91 to 0.95 over 5 seeds)"``."""
        if self.low == self.high:
            return f"{self.median:{fmt}} (in all {self.n} {self.unit})"
        return (f"{self.median:{fmt}} ({self.low:{fmt}} to {self.high:{fmt}} "
                f"over {self.n} {self.unit})")

    def __format__(self, fmt: str) -> str:
        return self.text(fmt or ".3g")


def spread(values, unit: str = "seeds") -> Spread:
    """Median, minimum and maximum of ``values`` (one per seed), NaN ignored.

    Parameters
    ----------
    values : array_like, shape (n_seeds,)
    unit : str
        What one value stands for, in the plural ("seeds", or "runs" when
        each seed ran at several settings).
    """
    values = np.asarray(values, dtype=float).ravel()
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return Spread(float("nan"), float("nan"), float("nan"), values.size, unit)
    return Spread(float(np.median(finite)), float(finite.min()), float(finite.max()),
                  values.size, unit)


def k_of_n(mask, unit: str = "seeds") -> str:
    """``"4 of 5 seeds"`` for a boolean array with one entry per seed (or ``unit``)."""
    mask = np.asarray(mask, dtype=bool).ravel()
    n = mask.size
    k = int(mask.sum())
    return f"{'all ' if k == n and n > 1 else ''}{k} of {n} {unit}"


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
