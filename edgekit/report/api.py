"""``ek.report``: the public Python entry point of the report stage (``edgekit report`` calls it).

    import edgekit as ek
    rep = ek.report("out", max_size="300kB", min_accuracy=0.85)
    rep.front                      # names on the Pareto front, in front order
    rep.recommendation["variant"]  # the best accuracy within the limits (None when nothing fits)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgekit.errors import EdgekitError
from edgekit.metrics import Selection
from edgekit.report.build import build_report, parse_axes, parse_limits
from edgekit.report.core import Report
from edgekit.results import Results, load_results


def report(
    results: str | Path | Results,
    *,
    axes: str | list[str] | None = None,
    max_size: Any = None,
    min_accuracy: Any = None,
    max_latency: Any = None,
    max_memory: Any = None,
    objective: str | None = None,
    size: str = "raw",
    accuracy: str = "host",
    device: str | None = None,
    threads: int | None = None,
    percentile: str = "p50",
    limits: Mapping[str, Any] | None = None,
) -> Report:
    """The Pareto front of ``results`` and, given limits or an objective, a recommendation.

    ``results``: an OUT dir (device measurements from ``OUT/bench.sqlite``), ``OUT/variants``, a
    results or report JSON file, or a :class:`~edgekit.results.Results`. Limits are numbers in base
    units (bytes, fraction, ms, MiB) or unit strings (``"300kB"``, ``"85%"``, ``"20ms"``, ``"64MiB"``);
    ``limits`` adds any other limit of the metric registry (``{"max_instructions": "150M"}``).
    ``axes``: metrics of :mod:`edgekit.metrics` (default size, accuracy, and latency when measured).
    Bad input raises :class:`~edgekit.errors.EdgekitError`.
    """
    sel = Selection(size=size, accuracy=accuracy, device=device, threads=threads, percentile=percentile).validate()
    merged = {str(k): v for k, v in (limits or {}).items()}
    for key, value in (("max_size", max_size), ("min_accuracy", min_accuracy), ("max_latency", max_latency),
                       ("max_memory", max_memory)):
        if value is not None:
            if merged.get(key) is not None:
                raise EdgekitError(f"{key} is given twice (as an argument and in limits)")
            merged[key] = value
    lim = parse_limits(**merged)
    if isinstance(results, Results):
        res = results
    elif isinstance(results, (str, Path)):
        res = load_results(results)
    else:
        raise EdgekitError(f"report() needs a path or Results, not {type(results).__name__}",
                           "pass an OUT dir, a results JSON or edgekit.load_results(...)")
    return build_report(res, axes=parse_axes(axes), selection=sel, limits=lim, objective=objective)
