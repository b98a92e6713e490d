"""`edgekit report`: the Pareto front of the variants, a recommendation, four renders (calls ``edgekit.report.api.report``)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgekit.metrics import LIMIT_KEYS, METRICS  # the registry: a cheap import (no numpy, no rich)

FORMATS = ("table", "markdown", "html", "json")


def register(app: typer.Typer) -> None:
    app.command(
        "report",
        help=(
            "Show the Pareto front of the variants (size, accuracy, latency, memory) and recommend one.\n\n"
            "RESULTS is an OUT dir from `edgekit optimize` (device measurements come from OUT/bench.sqlite "
            "when present), OUT/variants, or a results/report JSON file.\n\n"
            "Example: edgekit report out --max-size 300kB --min-accuracy 0.85 --max-latency 20ms --html out/report.html\n\n"
            "Example: edgekit report out --axes size,accuracy --size gzip --format markdown --out report.md"
        ),
        no_args_is_help=True,
    )(report)


def report(
    results: Path = typer.Argument(..., help="OUT dir, OUT/variants, or a results JSON (edgekit report --format json)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | markdown | html | json."),
    json_out: bool = typer.Option(False, "--json", help="Same as --format json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the render to FILE (atomically) instead of stdout."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the HTML page to FILE and print its path."),
    axes: Optional[str] = typer.Option(None, "--axes", help=f"Comma list of metrics: {', '.join(METRICS)} (default: size,accuracy[,latency if measured])."),
    size: str = typer.Option("raw", "--size", help="Size axis: raw or gzip."),
    accuracy: str = typer.Option("host", "--accuracy", help="Accuracy axis: host (eval.json) or device (on-device)."),
    device: Optional[str] = typer.Option(None, "--device", help="Device profile, serial or model for latency/memory (default: the only one measured)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Thread count of the measurements (default: the fewest measured)."),
    percentile: str = typer.Option("p50", "--percentile", help="Latency statistic: p50, p90, p99 or mean."),
    max_size: Optional[str] = typer.Option(None, "--max-size", help="Limit, e.g. 300kB, 2MiB."),
    min_accuracy: Optional[str] = typer.Option(None, "--min-accuracy", help="Limit, e.g. 0.85 or 85%."),
    max_latency: Optional[str] = typer.Option(None, "--max-latency", help="Limit, e.g. 20ms."),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help="Limit, e.g. 64MiB."),
    objective: Optional[str] = typer.Option(None, "--objective", help="What 'best' means within the limits: any metric, e.g. size, accuracy (default), latency or memory."),
    limit: Optional[List[str]] = typer.Option(None, "--limit", help=f"Any limit of the metric registry as KEY=VALUE ({', '.join(LIMIT_KEYS)}), e.g. max_gzip_size=250kB (repeatable)."),
    max_rows: int = typer.Option(100, "--max-rows", help="Table/Markdown: dominated rows shown at most (0 = all); the front is always shown."),
) -> None:
    from edgekit.errors import EdgekitError
    from edgekit.report.api import report as build
    from edgekit.report.render import render_json, render_markdown

    if json_out:
        fmt = "json"
    if fmt not in FORMATS:
        raise EdgekitError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if max_rows < 0:
        raise EdgekitError("--max-rows must be 0 (all) or more")
    more: dict[str, str] = {}
    for item in limit or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise EdgekitError(f"--limit {item!r} is not KEY=VALUE", "e.g. --limit max_gzip_size=250kB")
        more[key.strip()] = value.strip()
    rep = build(results, axes=axes, max_size=max_size, min_accuracy=min_accuracy, max_latency=max_latency,
                max_memory=max_memory, objective=objective, size=size, accuracy=accuracy, device=device,
                threads=threads, percentile=percentile, limits=more)

    def html_text() -> str:
        from edgekit.report.html import render_html

        return render_html(rep)

    if fmt == "table":
        from edgekit.report.render import render_table

        if out is not None:
            import io

            from rich.console import Console

            from edgekit.atomic import write_text

            console = Console(record=True, width=140, file=io.StringIO())
            render_table(rep, max_rows=max_rows, console=console)
            write_text(out, console.export_text())
        else:
            render_table(rep, max_rows=max_rows)
    else:
        text = {"markdown": lambda: render_markdown(rep, max_rows=max_rows), "html": html_text, "json": lambda: render_json(rep)}[fmt]()
        if out is not None:
            from edgekit.atomic import write_text

            write_text(out, text)
        else:
            typer.echo(text, nl=False)
    if out is not None:
        typer.echo(f"wrote {out}", err=True)
    if html is not None:
        from edgekit.atomic import write_text

        write_text(html, html_text())
        typer.echo(f"HTML report: {html.resolve()}", err=fmt != "table")
