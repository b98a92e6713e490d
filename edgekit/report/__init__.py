"""Report: the Pareto front over size, accuracy, latency and memory (any metric of
:mod:`edgekit.metrics`), plus a recommendation.

    from edgekit.report.api import report
    rep = report("out", axes=["size", "accuracy"], max_size="300kB")

Renders: :func:`render_table`, :func:`render_markdown`, :func:`render_html`, :func:`render_json`.
Names are loaded on first use, so ``import edgekit.report.units`` (the metric registry's units)
costs nothing else.

The package is callable: ``edgekit.report(...)`` is :func:`edgekit.report.api.report`. The public
facade ``ek.report`` names that function, and once this package has been imported Python's import
system sets the attribute ``edgekit.report`` to the package itself; calling it keeps working.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "report": "edgekit.report.api",
    "REPORT_SCHEMA": "edgekit.report.core",
    "Report": "edgekit.report.core",
    "build_report": "edgekit.report.build",
    "parse_axes": "edgekit.report.build",
    "parse_limits": "edgekit.report.build",
    "recommend": "edgekit.report.recommend",
    "Selection": "edgekit.metrics",
    "METRICS": "edgekit.metrics",
    "render_json": "edgekit.report.render",
    "render_markdown": "edgekit.report.render",
    "render_table": "edgekit.report.render",
    "render_html": "edgekit.report.html",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


from edgekit.facade import callable_package  # noqa: E402

callable_package(__name__)
