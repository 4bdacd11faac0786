"""The point forecast for the RMSSE: the Bayes act of the metric under the model's own
predictive distribution (Gneiting 2011, "Making and evaluating point forecasts"; Kolassa
2016 for intermittent counts).

Which single number is "the" forecast depends on how it is scored: the mean minimises the
expected squared error, the median the absolute error. The RMSSE of a series is the *root*
of the mean squared error over the horizon, and its average over series does not reward the
mean: for a series that sees a lot in one week of fifty, the likeliest horizon window holds
no supply at all, and any positive constant is an error in every one of its weeks. The point
that minimises the expected RMSSE lies between 0 and the mean, and where it lies follows
from the predictive distribution.

``rmsse_point`` takes the model's mean forecast and the series' history and returns, per
series, ``g * mean`` with the factor ``g`` on a grid over [0, 1] that minimises the expected
RMSSE over the horizon when the supply of each period is drawn from the intermittent-demand
model of the series itself (Croston's decomposition): supply occurs with the probability
seen in the last ``window`` periods, and its size is drawn from the series' own non-zero
sizes, scaled so that the expected supply of each period equals the model's mean. The scale
of the RMSSE is a constant per series and drops out. A fixed seed makes it deterministic.

The mean stays what it is (the expected supply, for volume planning); ``point`` is the
number to compare with outcomes under the RMSSE. Nothing here looks past the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecasting.dataset import FloatArray

GRID: FloatArray = np.linspace(0.0, 1.0, 21)
WINDOW = 52
SAMPLES = 400
SEED = 0
_CHUNK = 256


def rmsse_point(history: FloatArray, mean: FloatArray, **options: Any) -> FloatArray:
    """Per series ``g * mean[i]`` (shape of ``mean``: series x horizon) with ``g`` in the
    grid minimising the expected RMSSE (see the module doc; ``options`` as for
    ``rmsse_factors``). Series without any supply in their history, or with a zero mean,
    keep their mean."""
    history = np.asarray(history, dtype=np.float64)
    mean = np.maximum(np.asarray(mean, dtype=np.float64), 0.0)
    if history.shape[0] != mean.shape[0]:
        raise ValueError("history and mean must have one row per series")
    factors = rmsse_factors(history, mean, **options)
    return np.asarray(factors[:, None] * mean, dtype=np.float64)


def rmsse_factors(
    history: FloatArray,
    mean: FloatArray,
    *,
    window: int = WINDOW,
    samples: int = SAMPLES,
    seed: int = SEED,
    grid: FloatArray = GRID,
) -> FloatArray:
    """The factor ``g`` per series (1.0 where there is nothing to decide)."""
    n, h = mean.shape
    out = np.ones(n)
    if n == 0 or h == 0 or history.shape[1] == 0:
        return out
    rng = np.random.default_rng(seed)
    recent = history[:, -window:]
    periods = recent.shape[1]
    p = np.clip((recent > 0).sum(axis=1) / periods, 1.0 / periods, 1.0)
    has_recent = np.asarray((recent > 0).any(axis=1), dtype=bool)
    g = np.asarray(grid, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        rows = np.arange(start, min(n, start + _CHUNK))
        mu = mean[rows]
        # sizes from the recent window, or from the whole history when the window has none
        sizes = [recent[i] if has_recent[i] else history[i] for i in rows]
        nonzero = [s[s > 0] for s in sizes]
        count = np.array([len(s) for s in nonzero])
        decide = (count > 0) & (mu.sum(axis=1) > 0)
        if not decide.any():
            continue
        width = int(count.max())
        table = np.zeros((rows.size, width))
        for j, s in enumerate(nonzero):
            if s.size:
                table[j, : s.size] = s / s.mean()  # sizes relative to their mean
        # draws: (series, samples, horizon)
        u = rng.random((rows.size, samples, h))
        pick = np.minimum((u * np.maximum(count, 1)[:, None, None]).astype(np.intp), width - 1)
        z = np.take_along_axis(table[:, None, :], pick.reshape(rows.size, 1, -1), axis=2)
        z = z.reshape(rows.size, samples, h)
        occurs = rng.random((rows.size, samples, h)) < p[rows][:, None, None]
        y = occurs * z * (mu / p[rows][:, None])[:, None, :]
        # mean over the horizon of (y - g mu)^2 = A - 2 g B + g^2 C, per series and draw
        a = (y * y).mean(axis=2)
        b = (y * mu[:, None, :]).mean(axis=2)
        c = (mu * mu).mean(axis=1)[:, None]
        sq = a[:, :, None] - 2.0 * g * b[:, :, None] + (g * g) * c[:, :, None]
        loss = np.sqrt(np.maximum(sq, 0.0)).mean(axis=1)  # (series, grid)
        best = g[np.argmin(loss, axis=1)]
        out[rows] = np.where(decide, best, 1.0)
    return out
