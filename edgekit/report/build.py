"""Build a :class:`~edgekit.report.core.Report` from Results.

Rules (also in docs/report-gate.md):

* Axes, limits and the objective are metrics of the registry (:mod:`edgekit.metrics`); a limit key
  is ``max_<metric>`` when lower is better, ``min_<metric>`` when higher is better.
* Variants whose status is ``incompatible`` or ``failed`` (manifest compatibility, host eval, or —
  when a device metric is an axis — the selected device measurement) are listed apart with the reason.
* Variants whose status is ``suspect`` (a numerical-fault check tripped, :mod:`edgekit.checks`) are
  listed apart first, with the checks that tripped: never on the front, never recommended.
* Variants missing a metric on a chosen axis (no eval.json, not measured on the chosen device and
  thread count, a statistic the runner does not report ...) are not ranked: they are listed apart as
  ``missing`` with what is missing. Choose axes they have (``--axes size,accuracy``) to rank them.
* The front, ties and dominator naming follow :mod:`edgekit.report.pareto`; the recommendation
  :mod:`edgekit.report.recommend`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.metrics import LIMIT_KEYS, METRICS, Selection, needs_device, parse_limit, resolve_selection
from edgekit.report.core import Report
from edgekit.report.instructions import derived_columns
from edgekit.report.pareto import pareto
from edgekit.report.readers import device_failure
from edgekit.results import Results

_REST_ORDER = {"suspect": 0, "incompatible": 1, "failed": 2, "missing": 3}
_UNRANKED = ("incompatible", "failed", "suspect")


def _axis(name: str, what: str) -> str:
    from edgekit.metrics import metric

    try:
        return metric(name).name
    except EdgekitError:
        raise EdgekitError(f"unknown {what} {name!r}", f"choose from {', '.join(METRICS)}") from None


def parse_axes(text: str | list[str] | None) -> list[str] | None:
    """``"size,accuracy"`` or a list (aliases such as ``mem`` allowed) -> metric names; None stays None."""
    if text is None:
        return None
    items = list(text) if not isinstance(text, str) else [t for t in text.replace(" ", "").split(",") if t]
    axes: list[str] = []
    for t in items:
        a = _axis(str(t), "axis")
        if a not in axes:
            axes.append(a)
    if not axes:
        raise EdgekitError("--axes is empty", f"choose from {', '.join(METRICS)}")
    return axes


def parse_limits(max_size: Any = None, min_accuracy: Any = None, max_latency: Any = None, max_memory: Any = None,
                 **more: Any) -> dict[str, float]:
    """Limits in base units from unit strings (``"300kB"``) or numbers already in base units.

    Any limit of the registry may be given by name (``max_instructions="150M"``); None is no limit.
    Bad units or unknown keys raise EdgekitError."""
    given = {"max_size": max_size, "min_accuracy": min_accuracy, "max_latency": max_latency, "max_memory": max_memory, **more}
    return {k: parse_limit(k, v)[1] for k, v in given.items() if v is not None}


def metric_columns(results: Results, metrics: list[str], sel: Selection) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Per metric an array of values in base units (NaN = missing), and per variant {metric: why missing}."""
    n = len(results.variants)
    cols = {m: np.full(n, np.nan) for m in metrics}
    why: list[dict[str, str]] = [{} for _ in range(n)]
    base = results.get(results.baseline)
    readers = [(m, METRICS[m].read) for m in metrics]
    for i, rec in enumerate(results.variants):
        for m, read in readers:
            v, reason = read(rec, sel, base)
            if v is None:
                why[i][m] = reason or "missing"
            else:
                cols[m][i] = v
    return cols, why


def _default_axes(results: Results, sel: Selection) -> list[str]:
    """size, accuracy when any variant has it, latency when anything was measured."""
    axes = ["size"]
    if not results.variants or any(METRICS["accuracy"].read(r, sel, None)[0] is not None for r in results.variants):
        axes.append("accuracy")
    if results.has_device:
        axes.append("latency")
    return axes


def build_report(results: Results, axes: list[str] | None = None, selection: Selection | None = None,
                 limits: Mapping[str, Any] | None = None, objective: str | None = None) -> Report:
    """The Pareto front over ``axes`` and, with ``limits`` or an ``objective``, a recommendation.

    ``limits`` maps limit keys (``max_size``, ``min_accuracy`` ...) to numbers in base units or unit
    strings. ``results`` and ``selection`` are not modified (the resolved selection is the Report's)."""
    sel = (selection or Selection()).copy().validate()
    lim = {k: parse_limit(k, v)[1] for k, v in (limits or {}).items()}
    axes = parse_axes(axes) if axes is not None else _default_axes(results, sel)
    objective = _axis(objective, "objective") if objective is not None else None
    wanted = list(axes)
    for k in lim:
        if LIMIT_KEYS[k].name not in wanted:
            wanted.append(LIMIT_KEYS[k].name)
    if objective and objective not in wanted:
        wanted.append(objective)
    sel = resolve_selection(results, sel, wanted)
    metrics = wanted + [m for m in ("size", "accuracy") if m not in wanted]
    if sel.device is not None and results.has_device:
        metrics += [m for m in ("latency", "memory") if m not in metrics]

    n = len(results.variants)
    cols, why = metric_columns(results, metrics, sel)
    use_device = needs_device(axes, sel)
    status: list[str] = []
    reason: list[str | None] = []
    for i, rec in enumerate(results.variants):
        fail = device_failure(rec, sel) if use_device else None
        missing = [a for a in axes if a in why[i]]
        if rec.status != "ok":
            status.append(rec.status if rec.status in _UNRANKED else "failed")
            reason.append(rec.reason or rec.status)
        elif fail:
            status.append("incompatible" if fail.startswith("incompatible") else "failed")
            reason.append(fail)
        elif missing:
            status.append("missing")
            reason.append("; ".join(f"{sel.label(a)}: {why[i][a]}" for a in missing))
        else:
            status.append("ranked")
            reason.append(None)

    idx = np.flatnonzero(np.array([s == "ranked" for s in status], dtype=bool))
    costs = np.column_stack([cols[a][idx] * METRICS[a].direction for a in axes]) if idx.size else np.zeros((0, len(axes)))
    on_front, dom, tie_groups = pareto(costs)
    names = results.names
    dominated_by: list[str | None] = [None] * n
    ties_with: list[list[str]] = [[] for _ in range(n)]
    for k, i in enumerate(idx.tolist()):
        status[i] = "front" if on_front[k] else "dominated"
        if not on_front[k]:
            dominated_by[i] = names[idx[dom[k]]]
    for g in tie_groups:
        members = [names[idx[k]] for k in g]
        for k in g:
            ties_with[idx[k]] = [m for m in members if m != names[idx[k]]]

    # display order: front (lexicographic on axes), dominated (same), then the rest by name
    fr: list[int] = []
    dm: list[int] = []
    if idx.size:
        lex = np.lexsort([idx] + [costs[:, j] for j in range(costs.shape[1] - 1, -1, -1)])
        fr = [int(idx[k]) for k in lex if on_front[k]]
        dm = [int(idx[k]) for k in lex if not on_front[k]]
    rest = sorted((i for i in range(n) if status[i] not in ("front", "dominated")),
                  key=lambda i: (_REST_ORDER.get(status[i], 3), names[i]))
    counted = any(d.instructions for d in results.measured())
    derived = [derived_columns(rec, sel.device, sel.threads) if counted else {} for rec in results.variants]
    report = Report(results, list(axes), sel, metrics, cols, status, reason, dominated_by, ties_with, fr,
                    fr + dm + rest, limits=lim, objective=objective, derived=derived)
    if lim or objective:
        from edgekit.report.recommend import recommend

        report.recommendation = recommend(report, lim, objective or "accuracy")
    return report
