"""What ``edgekit optimize`` prints: one row per variant (JSON rows and a table), the progress texts.

Sizes are formatted by the metric registry (:mod:`edgekit.metrics`): decimal kB/MB, 1 kB = 1000 bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from edgekit.metrics import fmt_size
from edgekit.variant import Variant, baseline_variant


def kb(n: int | None) -> str:
    """Bytes in edgekit's one size convention (decimal kB/MB, :func:`edgekit.metrics.fmt_size`)."""
    return fmt_size(n)


def evaluated_text(v: Variant) -> str:
    """The progress text for a finished host evaluation."""
    e = v.evaluation
    if e is None:
        return "not evaluated"
    if e.status != "ok":
        return f"evaluation {e.status}: {e.error or v.reason}"
    agree = "" if e.agreement is None else f", agreement {100 * e.agreement:.1f}% with {e.baseline}"
    status = "" if v.status == "ok" else f" ({v.status}: {v.reason})"
    return f"evaluated on {e.n:,} test images — accuracy {100 * e.accuracy:.2f}%{agree}{status}"


def summary_rows(variants: Iterable[Variant]) -> list[dict[str, Any]]:
    vs = list(variants)
    base = baseline_variant(vs)
    base_acc = base.accuracy if base else None
    rows = []
    for v in vs:
        m, e = v.manifest, v.evaluation
        acc = v.accuracy
        rows.append({
            "name": v.name,
            "chain": m.description,
            "path": str(v.path),
            "size_bytes": m.size_bytes,
            "gzip_size_bytes": m.gzip_size_bytes,
            "sparsity": m.overall_sparsity,
            "param_count": m.param_count,
            "accuracy": acc,
            "delta_vs_baseline_pt": None if acc is None or base_acc is None else round(100 * (acc - base_acc), 2),
            "agreement": e.agreement if e is not None else None,
            "status": v.status,
            "reason": v.reason,
        })
    return rows


def print_summary(console, rows: list[dict[str, Any]], out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"edgekit optimize → {out}/variants", header_style="bold")
    for col, just in (("variant", "left"), ("chain", "left"), ("size", "right"), ("gzip", "right"),
                      ("sparsity", "right"), ("accuracy", "right"), ("Δ pt", "right"), ("agreement", "right"),
                      ("status", "left")):
        table.add_column(col, justify=just)
    for r in rows:
        acc = "—" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        delta = "—" if r["delta_vs_baseline_pt"] is None else f"{r['delta_vs_baseline_pt']:+.2f}"
        agree = "—" if r["agreement"] is None else f"{100 * r['agreement']:.1f}%"
        sparsity = "—" if r["sparsity"] is None else f"{100 * r['sparsity']:.0f}%"
        color = "yellow" if r["status"] == "suspect" else "red"   # suspect: runs, but its outputs are not believable
        status = r["status"] if r["status"] == "ok" else f"[{color}]{r['status']}[/]: {escape(str(r['reason']))}"
        table.add_row(escape(r["name"]), escape(r["chain"]), kb(r["size_bytes"]), kb(r["gzip_size_bytes"]),
                      sparsity, acc, delta, agree, status)
    console.print(table)
