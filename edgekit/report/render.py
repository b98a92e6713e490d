"""Renders of a :class:`~edgekit.report.core.Report`: rich terminal table, Markdown, JSON.

(HTML lives in :mod:`edgekit.report.html`.) Table and Markdown show every front variant and at
most ``max_rows`` others (0 = all), then the variants listed apart with their reason.
"""

from __future__ import annotations

import json
from typing import Any

from edgekit.metrics import needs_device
from edgekit.report.core import Report

FRONT_MARK = "★"


def _cell(report: Report, i: int, m: str) -> str:
    return report.text(i, m)


def _note(report: Report, i: int) -> str:
    st = report.status[i]
    parts = []
    if st == "dominated":
        parts.append(f"dominated by {report.dominated_by[i]}")
    elif st == "front" and report.ties_with[i]:
        parts.append("ties with " + ", ".join(report.ties_with[i]))
    elif st not in ("front", "dominated"):
        parts.append(f"{st}: {report.reason[i]}")
    return "; ".join(parts)


def _rows(report: Report, max_rows: int) -> tuple[list[int], int]:
    ranked = [i for i in report.order if report.status[i] in ("front", "dominated")]
    front = [i for i in ranked if report.status[i] == "front"]
    dominated = [i for i in ranked if report.status[i] == "dominated"]
    if max_rows and len(dominated) > max_rows:
        return front + dominated[:max_rows], len(dominated) - max_rows
    return front + dominated, 0


def _title(report: Report) -> str:
    axes = ", ".join(report.selection.label(a) for a in report.axes)
    dev = ""
    if needs_device(report.axes, report.selection):
        dev = f" on {report.selection.device_label()}"
    c = len(report.front_order)
    return f"Pareto front over {axes}{dev}: {c} of {len(report.names)} variant{'s' if len(report.names) != 1 else ''}"


def recommendation_text(report: Report) -> str | None:
    r = report.recommendation
    if not r:
        return None
    lim = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["limits_text"].items()) or "no limits"
    return f"Recommendation ({lim}; objective {r['objective']}): {r['message']}"


def render_table(report: Report, max_rows: int = 100, console: Any = None) -> None:
    """Print a rich table (front marked with ★) to ``console`` (default: stdout)."""
    from rich.table import Table

    if console is None:
        from edgekit.console import wide_console

        console = wide_console()
    table = Table(title=_escape(_title(report)), title_justify="left", header_style="bold")
    table.add_column(FRONT_MARK, justify="center", no_wrap=True, min_width=1)
    table.add_column("variant", overflow="fold", min_width=8, max_width=32)
    for m in report.metrics:
        table.add_column(report.selection.short(m) + ("*" if m in report.axes else ""), justify="right", no_wrap=True)
    table.add_column("note", min_width=12, overflow="fold")
    rows, more = _rows(report, max_rows)
    rec = (report.recommendation or {}).get("variant")
    for i in rows:
        flags = (["recommended"] if report.names[i] == rec else []) + (["baseline"] if report.is_baseline(i) else [])
        note = "; ".join(flags + ([_note(report, i)] if _note(report, i) else []))
        front = report.status[i] == "front"
        table.add_row(FRONT_MARK if front else "", _escape(report.names[i]), *[_cell(report, i, m) for m in report.metrics], _escape(note),
                      style="bold green" if front else "dim")
    if more:
        table.add_row("", f"… {more} more dominated", *[""] * len(report.metrics), "", style="dim")
    console.print(table)
    for title, excluded in _apart(report):
        ex = Table(title=title, title_justify="left", header_style="bold")
        ex.add_column("variant", overflow="fold", max_width=32)
        ex.add_column("status", no_wrap=True)
        ex.add_column("reason", min_width=30, overflow="fold")
        for e in excluded:
            ex.add_row(_escape(e["name"]), e["status"], _escape(e["reason"] or ""), style="red" if e["status"] != "missing" else "yellow")
        console.print(ex)
    console.print(f"[dim]* = axis of the front. {FRONT_MARK} = on the front.[/dim]")
    for line in headline_notes(report):
        console.print(f"[dim]{_escape(line)}[/dim]")
    text = recommendation_text(report)
    if text:
        fits = report.recommendation["fits"]
        console.print(("[bold green]" if fits else "[bold red]") + _escape(text) + ("[/bold green]" if fits else "[/bold red]"))
    for w in report.results.warnings:
        console.print(f"[yellow]warning:[/yellow] {_escape(w)}")


SUSPECT_TITLE = "Suspect — numerical-fault checks tripped (never ranked, never recommended; docs/checks.md)"


def _apart(report: Report) -> list[tuple[str, list[dict[str, Any]]]]:
    """The variants listed apart: suspect ones under their own title, then the rest as "Not ranked"."""
    excluded = report.excluded()
    groups = [(SUSPECT_TITLE, [e for e in excluded if e["status"] == "suspect"]),
              ("Not ranked", [e for e in excluded if e["status"] != "suspect"])]
    return [(t, g) for t, g in groups if g]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, max_rows: int = 100) -> str:
    """GitHub-flavoured Markdown (a PR comment or $GITHUB_STEP_SUMMARY)."""
    out = ["### edgekit report", "", _title(report) + ".", ""]
    text = recommendation_text(report)
    if text:
        icon = "✅" if report.recommendation["fits"] else "❌"
        out += [f"{icon} {_md(text)}", ""]
    head = ["", "variant"] + [report.selection.label(m) + (" ⋆" if m in report.axes else "") for m in report.metrics] + ["note"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join([":-:", ":--"] + ["--:"] * len(report.metrics) + [":--"]) + "|")
    rows, more = _rows(report, max_rows)
    rec = (report.recommendation or {}).get("variant")
    for i in rows:
        front = report.status[i] == "front"
        name = f"`{_md(report.names[i])}`"
        if report.is_baseline(i):
            name += " (baseline)"
        if report.names[i] == rec:
            name += " ← recommended"
        if front:
            name = f"**{name}**"
        cells = [FRONT_MARK if front else "", name] + [_cell(report, i, m) for m in report.metrics] + [_md(_note(report, i))]
        out.append("| " + " | ".join(cells) + " |")
    if more:
        out.append(f"| | … {more} more dominated |" + " |" * (len(report.metrics) + 1))
    out += ["", f"{FRONT_MARK} on the Pareto front; ⋆ axis of the front.", *headline_notes(report), ""]
    for title, excluded in _apart(report):
        out += [f"**{_md(title)}**", "", "| variant | status | reason |", "|:--|:--|:--|"]
        out += [f"| `{_md(e['name'])}` | {e['status']} | {_md(e['reason'] or '')} |" for e in excluded]
        out.append("")
    for w in report.results.warnings:
        out.append(f"> warning: {_md(w)}")
    return "\n".join(out).rstrip() + "\n"


def render_json(report: Report, include_results: bool = True) -> str:
    """JSON, schema ``edgekit.report/1`` (embeds the ``edgekit.results/1`` it was built from)."""
    from edgekit.atomic import json_default

    data = report.to_dict(include_results=include_results)
    # indented for people when small; compact (C encoder, ~5x faster) for thousands of variants
    indent = 1 if len(report.names) <= 1000 else None
    try:
        return json.dumps(data, indent=indent, default=json_default, allow_nan=False) + "\n"
    except ValueError:  # a NaN/inf somewhere in the inputs: JSON has none, write null
        return json.dumps(_finite(data), indent=indent, default=json_default, allow_nan=False) + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def headline_notes(report: Any) -> list[str]:
    """What the headline latency / memory columns are on an emulated device (nothing on a real phone)."""
    sel, out = report.selection, []
    metrics = set(report.metrics) | set(report.axes)
    if "latency" in metrics and sel.latency_source == "estimate":
        out.append(f"{sel.short('latency')} = {sel.label('latency')}: an estimate for that phone core from the instructions "
                   "counted on the emulated device (docs/cost-model.md), not a measurement; qemu's own time: emulated_latency.")
    if "memory" in metrics and sel.emulated:
        out.append(f"{sel.short('memory')} = {sel.label('memory')}: the process's peak minus an empty run (qemu + python + runtime).")
    return out
