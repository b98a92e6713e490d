"""Latency statistics for one measurement: summary numbers plus noise and drift warnings.

Pure Python (no numpy/scipy), so it can be used anywhere.

Summary (:func:`summarize`, a :class:`~edgekit.measurement.LatencyStats`: the one key set of every
Measurement), every value in the unit of the input (edgekit uses ms)::

    n, mean, std (sample, ddof=1), min, max, p50, p90, p99 (linear interpolation between
    closest ranks, numpy's default), ci95_low/ci95_high (95% confidence interval of the mean:
    mean +- t(0.975, n-1) * std / sqrt(n), Student t from the table below), cv (std / mean)

Warnings (:func:`warnings_for`):

- **noisy**: ``cv > noisy_cv`` (default 0.10). The mean of such a run is not a number to quote;
  the median is still usable, the CI says how far.
- **drift**: a monotonic trend across the timed runs, as thermal throttling (slower and slower)
  or a CPU governor ramping up (faster and faster) gives. Test: Spearman rank correlation rho
  between run index and latency; under "no trend" z = rho * sqrt(n - 1) is ~N(0, 1), two-sided
  p = erfc(|z| / sqrt(2)). Flagged when p < ``drift_alpha`` (default 0.01) **and** the
  least-squares line changes by at least ``drift_min_change`` (default 5%) of the median from
  the first to the last run -- so a statistically significant but negligible trend in a long run
  is not flagged. Needs n >= 10.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

from edgekit.measurement import LatencyStats

NOISY_CV = 0.10
DRIFT_ALPHA = 0.01
DRIFT_MIN_CHANGE = 0.05
DRIFT_MIN_N = 10

# Two-sided 95% critical values of Student's t (t_{0.975, df}), df = 1..30, then 40, 60, 120, inf.
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}
_Z975 = 1.959964


def t975(df: int) -> float:
    """t_{0.975, df}: exact table value for df <= 30 and 40/60/120, else interpolated in 1/df."""
    if df < 1:
        raise ValueError("degrees of freedom must be >= 1")
    if df in _T975:
        return _T975[df]
    knots = [(30, _T975[30]), (40, _T975[40]), (60, _T975[60]), (120, _T975[120]), (math.inf, _Z975)]
    for (d0, t0), (d1, t1) in zip(knots, knots[1:]):
        if d0 < df < d1:
            x0, x1, x = 1 / d0, (0.0 if d1 == math.inf else 1 / d1), 1 / df
            return t1 + (t0 - t1) * (x - x1) / (x0 - x1)
    return _Z975  # pragma: no cover


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """q in [0, 100]; linear interpolation between closest ranks (numpy 'linear')."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no values")
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize(values: Sequence[float]) -> LatencyStats:
    """Summary statistics of ``values`` (empty input -> no values: ``n`` is None)."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return LatencyStats()
    s = sorted(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    half = t975(n - 1) * std / math.sqrt(n) if n > 1 else 0.0
    return LatencyStats(
        n=float(n),
        mean=mean,
        std=std,
        min=s[0],
        max=s[-1],
        p50=percentile(s, 50),
        p90=percentile(s, 90),
        p99=percentile(s, 99),
        ci95_low=mean - half,
        ci95_high=mean + half,
        cv=std / mean if mean else 0.0,
    )


def _ranks(xs: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties share the mean of their ranks."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    n = len(a)
    ma, mb = math.fsum(a) / n, math.fsum(b) / n
    cov = math.fsum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = math.fsum((x - ma) ** 2 for x in a)
    vb = math.fsum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return 0.0
    return cov / math.sqrt(va * vb)


def drift(values: Sequence[float]) -> dict[str, float] | None:
    """Trend test across the run: Spearman rho, its p-value, slope and relative change.

    ``rel_change`` = OLS slope * (n - 1) / median: how much the fitted line moves from the first
    to the last run, as a fraction of the median. None when n < DRIFT_MIN_N.
    """
    xs = [float(v) for v in values]
    n = len(xs)
    if n < DRIFT_MIN_N:
        return None
    idx = list(range(n))
    rho = _pearson(_ranks(idx), _ranks(xs))
    z = rho * math.sqrt(n - 1)
    p = math.erfc(abs(z) / math.sqrt(2))
    mi = (n - 1) / 2
    mx = math.fsum(xs) / n
    slope = math.fsum((i - mi) * (x - mx) for i, x in zip(idx, xs)) / math.fsum((i - mi) ** 2 for i in idx)
    med = percentile(sorted(xs), 50)
    rel = slope * (n - 1) / med if med else 0.0
    return {"rho": rho, "p": p, "slope": slope, "rel_change": rel}


def warnings_for(
    values: Sequence[float],
    stats: LatencyStats | None = None,
    noisy_cv: float = NOISY_CV,
    drift_alpha: float = DRIFT_ALPHA,
    drift_min_change: float = DRIFT_MIN_CHANGE,
) -> list[str]:
    """Human-readable warnings (``noisy: ...``, ``drift: ...``) for one run's latencies."""
    out: list[str] = []
    stats = stats if stats is not None else summarize(values)
    if not stats.n:
        return out
    cv = stats.cv or 0.0
    if stats.n > 1 and cv > noisy_cv:
        out.append(f"noisy: CV {cv:.1%} > {noisy_cv:.0%} over {stats.runs} runs (trust p50 and the CI, not the mean)")
    d = drift(values)
    if d and d["p"] < drift_alpha and abs(d["rel_change"]) >= drift_min_change:
        way = "slower" if d["rel_change"] > 0 else "faster"
        out.append(
            f"drift: latency got {abs(d['rel_change']):.0%} {way} across the run "
            f"(Spearman rho {d['rho']:+.2f}, p={d['p']:.1g}; thermal throttling or frequency scaling?)"
        )
    return out


def analyse(values: Sequence[float], **kw: float) -> tuple[LatencyStats, list[str]]:
    """``summarize`` plus ``warnings_for``; the drift numbers go to the stats' drift_* fields."""
    stats = summarize(values)
    d = drift(values)
    if d:
        stats = replace(stats, drift_rho=d["rho"], drift_p=d["p"], drift_rel_change=d["rel_change"])
    return stats, warnings_for(values, stats, **kw)
