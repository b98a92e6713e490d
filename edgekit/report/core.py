"""Build a :class:`Report`: the Pareto front over the chosen axes plus a recommendation.

Rules (also in docs/report-gate.md):

* Variants whose status is ``incompatible`` or ``failed`` (manifest compatibility, host eval, or —
  when a device metric is used — the selected device measurement) are listed apart with the reason.
* Variants missing a metric on a chosen axis (no eval.json, not measured on the chosen device and
  thread count, ...) are not ranked: they are listed apart as ``missing`` with what is missing.
  Choose axes they have (``--axes size,accuracy``) to rank them.
* The front, ties and dominator naming follow :mod:`edgekit.report.pareto`.
* Recommendation: among ranked variants (on the front or dominated) that have every metric the
  limits and the objective need, those within every limit ``fit``; the best on the objective wins (ties broken by
  size, accuracy, latency, memory, then name). If nothing fits, the ``closest`` variant is the one
  with the smallest sum of relative misses (miss / limit, over the limits it breaks); each miss is
  given as value, limit, and by how much (absolute and %).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.report.instructions import extra_columns as instruction_columns
from edgekit.report.metrics import DIRECTION, METRICS, Selection, device_failure, metric_columns, metric_value, needs_device, resolve_selection
from edgekit.report import units
from edgekit.results import Results

REPORT_SCHEMA = "edgekit.report/1"

# limit name -> (metric, "max"|"min")
LIMITS = {
    "max_size": ("size", "max"),
    "min_accuracy": ("accuracy", "min"),
    "max_latency": ("latency", "max"),
    "max_memory": ("memory", "max"),
}


@dataclass
class Report:
    results: Results
    axes: list[str]
    selection: Selection
    metrics: list[str]                       # every metric computed (axes first)
    columns: dict[str, np.ndarray]           # metric -> values (NaN = missing)
    status: list[str]                        # front | dominated | incompatible | failed | missing
    reason: list[str | None]
    dominated_by: list[str | None]
    ties_with: list[list[str]]
    front_order: list[int]                   # indices of front members, in front order
    order: list[int]                         # display order: front, dominated, then the rest
    recommendation: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"))
    _names: list[str] | None = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = self.results.names
        return self._names

    @property
    def front(self) -> list[str]:
        names = self.names
        return [names[i] for i in self.front_order]

    def value(self, i: int, metric: str) -> float | None:
        col = self.columns.get(metric)
        if col is None or np.isnan(col[i]):
            return None
        return float(col[i])

    def excluded(self) -> list[dict[str, Any]]:
        names = self.names
        return [
            {"name": names[i], "status": self.status[i], "reason": self.reason[i]}
            for i in self.order
            if self.status[i] not in ("front", "dominated")
        ]

    def row(self, i: int) -> dict[str, Any]:
        rec = self.results.variants[i]
        return {
            "name": rec["name"],
            "status": self.status[i],
            "reason": self.reason[i],
            "is_baseline": bool(rec.get("is_baseline")),
            "metrics": {m: self.value(i, m) for m in self.metrics},
            "dominated_by": self.dominated_by[i],
            "ties_with": self.ties_with[i],
            "extra": rec.get("extra") or {},
        }

    def to_dict(self, include_results: bool = True) -> dict[str, Any]:
        """JSON-ready dict (schema ``edgekit.report/1``, documented in docs/report-gate.md)."""
        from edgekit._version import __version__

        out = {
            "schema": REPORT_SCHEMA,
            "created": self.created,
            "edgekit_version": __version__,
            "source": self.results.source,
            "axes": [{"metric": a, "label": self.selection.label(a), "better": "lower" if DIRECTION[a] > 0 else "higher"} for a in self.axes],
            "units": {"size": "bytes", "accuracy": "fraction", "latency": "ms", "memory": "MiB"},
            "selection": self.selection.to_dict(),
            "baseline": self.results.baseline,
            "counts": {
                "variants": len(self.names),
                "front": len(self.front_order),
                "dominated": sum(s == "dominated" for s in self.status),
                "excluded": sum(s not in ("front", "dominated") for s in self.status),
            },
            "front": self.front,
            "variants": [self.row(i) for i in self.order],
            "excluded": self.excluded(),
            "recommendation": self.recommendation,
            "warnings": list(self.results.warnings),
        }
        if include_results:
            out["results"] = self.results.to_dict()
        return out


def parse_axes(text: str | list[str] | None) -> list[str] | None:
    if text is None:
        return None
    items = text if isinstance(text, list) else [t for t in text.replace(" ", "").split(",") if t]
    alias = {"mem": "memory", "acc": "accuracy", "peak_memory": "memory", "time": "latency"}
    axes: list[str] = []
    for t in items:
        t = alias.get(t.lower(), t.lower())
        if t not in METRICS:
            raise EdgekitError(f"unknown axis {t!r}", f"choose from {', '.join(METRICS)}")
        if t not in axes:
            axes.append(t)
    if not axes:
        raise EdgekitError("--axes is empty", f"choose from {', '.join(METRICS)}")
    return axes


def parse_limits(max_size: Any = None, min_accuracy: Any = None, max_latency: Any = None, max_memory: Any = None) -> dict[str, float]:
    """Limits from CLI strings (units as in :mod:`edgekit.report.units`); bad units -> EdgekitError."""
    out: dict[str, float] = {}
    try:
        if max_size is not None:
            out["max_size"] = float(units.parse_size(max_size))
        if min_accuracy is not None:
            out["min_accuracy"] = units.parse_accuracy(min_accuracy)
        if max_latency is not None:
            out["max_latency"] = units.parse_latency_ms(max_latency)
        if max_memory is not None:
            out["max_memory"] = units.parse_memory_mib(max_memory)
    except units.UnitError as exc:
        raise EdgekitError(str(exc)) from None
    return out


def build_report(
    results: Results,
    axes: list[str] | None = None,
    selection: Selection | None = None,
    limits: dict[str, float] | None = None,
    objective: str | None = None,
) -> Report:
    sel = selection or Selection()
    limits = dict(limits or {})
    for k in limits:
        if k not in LIMITS:
            raise EdgekitError(f"unknown limit {k!r}", f"use {', '.join(LIMITS)}")
    if axes is None:
        # default: size, accuracy when any variant has it, latency when anything was measured
        axes = ["size"]
        if any(metric_value(r, "accuracy", sel)[0] is not None for r in results.variants) or not results.variants:
            axes.append("accuracy")
        if results.has_device:
            axes.append("latency")
    if objective is not None and objective not in METRICS:
        raise EdgekitError(f"unknown objective {objective!r}", f"choose from {', '.join(METRICS)}")
    wanted = list(axes)
    for k in limits:
        if LIMITS[k][0] not in wanted:
            wanted.append(LIMITS[k][0])
    if objective and objective not in wanted:
        wanted.append(objective)
    sel = resolve_selection(results, sel, wanted)
    for rec in results.variants:  # counted runs: instructions/invoke, class mix, estimate, emulated latency
        cols = instruction_columns(rec, sel.device, sel.threads)
        if cols:
            rec["extra"] = {**(rec.get("extra") or {}), **cols}
    metrics = list(wanted)
    for m in ("size", "accuracy"):
        if m not in metrics:
            metrics.append(m)
    if sel.device is not None and results.has_device:
        for m in ("latency", "memory"):
            if m not in metrics:
                metrics.append(m)
    if sel.accuracy == "device" and not results.has_device:
        pass  # accuracy will be missing for all; reported per variant

    n = len(results.variants)
    cols, why = metric_columns(results, metrics, sel)
    use_device = needs_device(axes, sel)
    status: list[str] = []
    reason: list[str | None] = []
    for i, rec in enumerate(results.variants):
        st = rec.get("status", "ok")
        if st != "ok":
            status.append(st if st in ("incompatible", "failed") else "failed")
            reason.append(rec.get("reason") or st)
            continue
        if use_device:
            fail = device_failure(rec, sel)
            if fail:
                status.append("incompatible" if fail.startswith("incompatible") else "failed")
                reason.append(fail)
                continue
        missing = [a for a in axes if a in why[i]]
        if missing:
            status.append("missing")
            reason.append("; ".join(f"{sel.label(a)}: {why[i][a]}" for a in missing))
            continue
        status.append("ranked")
        reason.append(None)

    ranked = np.array([s == "ranked" for s in status], dtype=bool)
    idx = np.flatnonzero(ranked)
    costs = np.column_stack([cols[a][idx] * DIRECTION[a] for a in axes]) if idx.size else np.zeros((0, len(axes)))
    from edgekit.report.pareto import pareto

    on_front, dom, tie_groups = pareto(costs)
    names = results.names
    dominated_by: list[str | None] = [None] * n
    ties_with: list[list[str]] = [[] for _ in range(n)]
    for k, i in enumerate(idx.tolist()):
        if on_front[k]:
            status[i] = "front"
        else:
            status[i] = "dominated"
            dominated_by[i] = names[idx[dom[k]]]
    for g in tie_groups:
        members = [names[idx[k]] for k in g]
        for k in g:
            ties_with[idx[k]] = [m for m in members if m != names[idx[k]]]

    # display order: front (lexicographic on axes), dominated (same), then the rest by name
    if idx.size:
        keys = [idx] + [costs[:, j] for j in range(costs.shape[1] - 1, -1, -1)]
        lex = np.lexsort(keys)
        fr = [int(idx[k]) for k in lex if on_front[k]]
        dm = [int(idx[k]) for k in lex if not on_front[k]]
    else:
        fr, dm = [], []
    rest = [i for i in range(n) if not ranked[i]]
    rest.sort(key=lambda i: ({"incompatible": 0, "failed": 1, "missing": 2}.get(status[i], 3), names[i]))
    report = Report(results, list(axes), sel, metrics, cols, status, reason, dominated_by, ties_with, fr, fr + dm + rest)
    if limits or objective:
        report.recommendation = recommend(report, limits, objective or "accuracy")
    return report


def recommend(report: Report, limits: dict[str, float], objective: str) -> dict[str, Any]:
    """Best variant within ``limits`` on ``objective``; or the closest one and its misses."""
    names = report.names
    n = len(names)
    sel = report.selection
    need = sorted({LIMITS[k][0] for k in limits} | {objective}, key=METRICS.index)
    ok = np.array([st in ("front", "dominated") for st in report.status], dtype=bool)
    have = ok.copy()
    for m in need:
        have &= ~np.isnan(report.columns[m])
    fits = have.copy()
    rel_miss = np.zeros(n)
    for k, lim in limits.items():
        m, kind = LIMITS[k]
        v = report.columns[m]
        with np.errstate(invalid="ignore"):
            bad = v > lim if kind == "max" else v < lim
            miss = (v - lim) if kind == "max" else (lim - v)
        fits &= ~bad
        denom = abs(lim) if lim else 1.0
        rel_miss += np.where(have & bad, miss / denom, 0.0)
    out: dict[str, Any] = {
        "objective": objective,
        "limits": {k: v for k, v in limits.items()},
        "limits_text": {k: _fmt_metric(LIMITS[k][0], v) for k, v in limits.items()},
        "selection": sel.to_dict(),
        "fits": bool(fits.any()),
        "variant": None,
        "closest": None,
        "misses": [],
        "candidates": int(fits.sum()),
    }

    def tiebreak_keys(mask: np.ndarray, primary: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(mask)
        keys: list[np.ndarray] = [cand]  # last resort: input order (names are sorted)
        for m in reversed(METRICS):
            if m in report.columns and m != objective:
                c = report.columns[m][cand] * DIRECTION[m]
                keys.append(np.where(np.isnan(c), np.inf, c))
        keys.append(primary[cand])
        return cand[np.lexsort(keys)]

    if fits.any():
        best = tiebreak_keys(fits, report.columns[objective] * DIRECTION[objective])[0]
        out["variant"] = names[best]
        out["values"] = {m: report.value(best, m) for m in report.metrics}
        out["message"] = f"{names[best]} is the best {objective} within the limits ({out['candidates']} fit)"
        return out
    if not have.any():
        missing = [m for m in need if np.isnan(report.columns[m][ok]).all()] if ok.any() else need
        out["message"] = "nothing fits: no variant has " + (", ".join(sel.label(m) for m in missing) or "the needed metrics") + (
            " (run edgekit bench)" if any(m in ("latency", "memory") for m in missing) else "")
        return out
    closest = tiebreak_keys(have, rel_miss)[0]
    out["closest"] = names[closest]
    out["values"] = {m: report.value(closest, m) for m in report.metrics}
    misses = []
    for k, lim in limits.items():
        m, kind = LIMITS[k]
        v = float(report.columns[m][closest])
        broken = v > lim if kind == "max" else v < lim
        if not broken:
            continue
        by = v - lim if kind == "max" else lim - v
        misses.append({
            "limit": k, "metric": m, "value": v, "limit_value": lim, "by": by,
            "by_pct": (by / abs(lim) * 100) if lim else None,
            "text": f"{sel.label(m)} {_fmt_metric(m, v)} {'over' if kind == 'max' else 'under'} {_fmt_metric(m, lim)} by {_fmt_metric(m, by, delta=True)}"
                    + (f" ({by / abs(lim) * 100:.1f}%)" if lim else ""),
        })
    out["misses"] = misses
    out["message"] = f"nothing fits; closest is {names[closest]}: " + "; ".join(x["text"] for x in misses)
    return out


def _fmt_metric(metric: str, v: float | None, delta: bool = False) -> str:
    if v is None:
        return "—"
    if metric == "size":
        return units.fmt_size(v)
    if metric == "accuracy":
        return f"{v * 100:.2f} pp" if delta else units.fmt_acc(v)
    if metric == "latency":
        return units.fmt_ms(v)
    return units.fmt_mib(v)


fmt_metric = _fmt_metric
