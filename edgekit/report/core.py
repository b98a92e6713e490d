"""The :class:`Report`: the Pareto front over the chosen axes plus a recommendation.

Built by :func:`edgekit.report.build.build_report` (rules there and in docs/report-gate.md). A
Report reads its :class:`~edgekit.results.Results` and never writes into them: every number it
derives (metric columns, statuses, the display columns of counted runs) is held by the Report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from edgekit.clock import utc_now
from edgekit.metrics import METRICS, Selection
from edgekit.results import Results

REPORT_SCHEMA = "edgekit.report/1"
RANKED = ("front", "dominated")


@dataclass
class Report:
    """A Pareto front over ``axes`` of some :class:`~edgekit.results.Results` (indices follow ``results.variants``).

    Fields:
        results         Results   what the report was built from (not modified)
        axes            list      [metric] the front is computed over, e.g. ["size", "accuracy"]
        selection       Selection size raw|gzip, accuracy host|device, device, threads, percentile (as resolved)
        metrics         list      [metric] every metric computed (axes first)
        columns         dict      {metric: float array}, NaN = missing, base units (edgekit.metrics.UNITS)
        status          list      [str] per variant: front | dominated | suspect | incompatible | failed | missing
        reason          list      [str|null] per variant: why it is not ranked
        dominated_by    list      [str|null] per variant: a front member that dominates it
        ties_with       list      [[str]] per variant: front members with identical values on every axis
        front_order     list      [int] indices of front members, in front order
        order           list      [int] display order: front, dominated, then the rest
        limits          dict      {limit key: value in base units}, e.g. {"max_size": 300000.0}
        objective       str|null  what "best" means within the limits
        recommendation  dict|null see docs/report-gate.md (edgekit.report/1)
        derived         list      [{column header: text}] per variant: display columns derived from counted runs
        created         str       ISO-8601 UTC
    """

    results: Results
    axes: list[str]
    selection: Selection
    metrics: list[str]
    columns: dict[str, np.ndarray]
    status: list[str]
    reason: list[str | None]
    dominated_by: list[str | None]
    ties_with: list[list[str]]
    front_order: list[int]
    order: list[int]
    limits: dict[str, float] = field(default_factory=dict)
    objective: str | None = None
    recommendation: dict[str, Any] | None = None
    derived: list[dict[str, str]] = field(default_factory=list)
    created: str = field(default_factory=utc_now)

    @cached_property
    def names(self) -> list[str]:
        return self.results.names

    @property
    def front(self) -> list[str]:
        names = self.names
        return [names[i] for i in self.front_order]

    def index(self, name: str) -> int:
        return self.names.index(name)

    @cached_property
    def _lists(self) -> dict[str, list[float]]:
        return {m: col.tolist() for m, col in self.columns.items()}

    def value(self, i: int, metric: str) -> float | None:
        col = self._lists.get(metric)
        if col is None:
            return None
        v = col[i]
        return None if v != v else v  # NaN = missing

    def text(self, i: int, metric: str) -> str:
        """The value formatted by the metric registry (``—`` when missing)."""
        return METRICS[metric].format(self.value(i, metric))

    def is_baseline(self, i: int) -> bool:
        return self.results.variants[i].is_baseline

    def derived_headers(self) -> list[str]:
        """Headers of the derived columns, in first-seen order."""
        seen: dict[str, None] = {}
        for d in self.derived:
            seen.update(dict.fromkeys(d))
        return list(seen)

    def excluded(self) -> list[dict[str, Any]]:
        names = self.names
        return [{"name": names[i], "status": self.status[i], "reason": self.reason[i]}
                for i in self.order if self.status[i] not in RANKED]

    def row(self, i: int) -> dict[str, Any]:
        rec = self.results.variants[i]
        return {
            "name": rec.name,
            "status": self.status[i],
            "reason": self.reason[i],
            "is_baseline": rec.is_baseline,
            "metrics": {m: self.value(i, m) for m in self.metrics},
            "dominated_by": self.dominated_by[i],
            "ties_with": self.ties_with[i],
            "extra": dict(rec.extra),
            "derived": dict(self.derived[i]) if self.derived else {},
        }

    def to_dict(self, include_results: bool = True) -> dict[str, Any]:
        """JSON-ready dict (schema ``edgekit.report/1``, documented in docs/report-gate.md)."""
        from edgekit._version import __version__

        sel = self.selection
        out = {
            "schema": REPORT_SCHEMA,
            "created": self.created,
            "edgekit_version": __version__,
            "source": self.results.source,
            "axes": [{"metric": a, "label": sel.label(a), "better": METRICS[a].better} for a in self.axes],
            "units": {m: METRICS[m].unit for m in self.metrics},
            "selection": sel.to_dict(),
            "baseline": self.results.baseline,
            "counts": {
                "variants": len(self.status),
                "front": len(self.front_order),
                "dominated": sum(s == "dominated" for s in self.status),
                "excluded": sum(s not in RANKED for s in self.status),
                "suspect": sum(s == "suspect" for s in self.status),
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
