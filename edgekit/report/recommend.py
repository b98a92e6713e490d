"""The recommendation of a :class:`~edgekit.report.core.Report`.

Among ranked variants (on the front or dominated) that have every metric the limits and the
objective need, those within every limit ``fit``; the best on the objective wins (ties broken by
the other metrics in registry order — size, accuracy, latency, memory ... — then by name). If
nothing fits, the ``closest`` variant is the one with the smallest sum of relative misses
(miss / limit, over the limits it breaks); each miss is given as value, limit, and by how much
(absolute and %). Limit checks use the registry's ``Metric.within`` (exact for instruction counts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.metrics import LIMIT_KEYS, METRICS
from edgekit.report.core import RANKED, Report


def _order(report: Report, mask: np.ndarray, primary: np.ndarray, objective: str) -> np.ndarray:
    """Indices where ``mask``, sorted by ``primary`` then the other metrics (NaN last), then input order."""
    cand = np.flatnonzero(mask)
    keys: list[np.ndarray] = [cand]  # last resort: input order (names are sorted)
    for m in reversed(list(METRICS)):
        if m in report.columns and m != objective:
            c = report.columns[m][cand] * METRICS[m].direction
            keys.append(np.where(np.isnan(c), np.inf, c))
    keys.append(primary[cand])
    return cand[np.lexsort(keys)]


def _miss_text(report: Report, key: str, v: float, lim: float) -> dict[str, Any]:
    m = LIMIT_KEYS[key]
    by = m.miss(v, lim)
    pct = by / abs(lim) * 100 if lim else None
    text = (f"{report.selection.label(m.name)} {m.format(v)} {'over' if m.better == 'lower' else 'under'} "
            f"{m.format(lim)} by {m.format_delta(by)}" + (f" ({pct:.1f}%)" if pct is not None else ""))
    return {"limit": key, "metric": m.name, "value": v, "limit_value": lim, "by": by, "by_pct": pct, "text": text}


def recommend(report: Report, limits: dict[str, float], objective: str) -> dict[str, Any]:
    """Best variant within ``limits`` (base units) on ``objective``; or the closest one and its misses."""
    names = report.names
    n = len(names)
    sel = report.selection
    need = [m for m in METRICS if m == objective or any(LIMIT_KEYS[k].name == m for k in limits)]
    ok = np.array([st in RANKED for st in report.status], dtype=bool)
    have = ok.copy()
    for m in need:
        have &= ~np.isnan(report.columns[m])
    fits = have.copy()
    rel_miss = np.zeros(n)
    for k, lim in limits.items():
        m = LIMIT_KEYS[k]
        with np.errstate(invalid="ignore"):
            miss = (report.columns[m.name] - lim) * m.direction
            bad = miss > m.tolerance(lim)
        fits &= ~bad
        rel_miss += np.where(have & bad, miss / (abs(lim) or 1.0), 0.0)
    out: dict[str, Any] = {
        "objective": objective,
        "limits": dict(limits),
        "limits_text": {k: LIMIT_KEYS[k].format(v) for k, v in limits.items()},
        "selection": sel.to_dict(),
        "fits": bool(fits.any()),
        "variant": None,
        "closest": None,
        "misses": [],
        "candidates": int(fits.sum()),
    }
    obj = METRICS[objective]
    if fits.any():
        best = int(_order(report, fits, report.columns[objective] * obj.direction, objective)[0])
        out["variant"] = names[best]
        out["values"] = {m: report.value(best, m) for m in report.metrics}
        out["message"] = f"{names[best]} is the best {objective} within the limits ({out['candidates']} fit)"
        return out
    if not have.any():
        missing = [m for m in need if np.isnan(report.columns[m][ok]).all()] if ok.any() else need
        device = any(METRICS[m].needs_device(sel) for m in missing)
        out["message"] = ("nothing fits: no variant has " + (", ".join(sel.label(m) for m in missing) or "the needed metrics")
                          + (" (run edgekit bench)" if device else ""))
        return out
    closest = int(_order(report, have, rel_miss, objective)[0])
    out["closest"] = names[closest]
    out["values"] = {m: report.value(closest, m) for m in report.metrics}
    misses = []
    for k, lim in limits.items():
        v = float(report.columns[LIMIT_KEYS[k].name][closest])
        if not LIMIT_KEYS[k].within(v, lim):
            misses.append(_miss_text(report, k, v, lim))
    out["misses"] = misses
    out["message"] = f"nothing fits; closest is {names[closest]}: " + "; ".join(x["text"] for x in misses)
    return out
