"""Report: the Pareto front over size, accuracy, latency and memory, plus a recommendation.

    from edgekit.results import load_results
    from edgekit.report import build_report, Selection
    report = build_report(load_results("out"), axes=["size", "accuracy"], limits={"max_size": 300e3})

Renders: :func:`render_table`, :func:`render_markdown`, :func:`render_html`, :func:`render_json`.
"""

from edgekit.report.core import LIMITS, REPORT_SCHEMA, Report, build_report, parse_axes, parse_limits, recommend
from edgekit.report.metrics import METRICS, Selection
from edgekit.report.render import render_json, render_markdown, render_table


def render_html(report, extra_columns=None, title="edgekit report"):
    from edgekit.report.html import render_html as _render

    return _render(report, extra_columns=extra_columns, title=title)


__all__ = [
    "LIMITS", "METRICS", "REPORT_SCHEMA", "Report", "Selection", "build_report", "parse_axes", "parse_limits",
    "recommend", "render_html", "render_json", "render_markdown", "render_table",
]
