"""The HTML report's "estimated time by op type" section (issue 11): the estimate explains itself.

Source: the per-op counted marks of bench's counted run (:mod:`edgekit.bench.ops`): every operator of
the variant cut into its own single-op model and counted alone on the emulated CPU, costed with the
device profile's cost model. So a user sees that the first convolution, or a float fallback op,
dominates. The per-op counts are measured, one op at a time; their sum differs from the whole
invoke by each op's own invoke overhead (a few thousand instructions per op), which the section
states beside the total.
"""

from __future__ import annotations

import html
from typing import Any

from edgekit.report.readers import pick_counted

TOP = 8


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def op_rows(rec: Any, device: str | None, threads: int | None) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(per op type rows, facts) of a record's counted run with per-op counts; None without them."""
    from edgekit import costmodel
    from edgekit.bench.ops import by_type
    from edgekit.errors import EdgekitError

    m = pick_counted(rec, device, threads)
    ins = (m.instructions or {}) if m is not None else {}
    ops = ins.get("ops") or []
    if not any(o.get("classes") for o in ops):
        return None
    try:
        model = costmodel.load(m.profile) if m.profile else None
    except EdgekitError:
        model = None
    if model is None:
        return None
    rows = by_type(ops, model)
    total = sum(r["ms"] for r in rows) or 1.0
    for r in rows:
        r["share"] = r["ms"] / total
    whole = (ins.get("estimate") or {}).get("ms")
    first = next((o for o in ops if o.get("classes")), None)
    facts = {"label": model.label, "sum_ms": total, "whole_ms": whole, "n_ops": len(ops),
             "first": (first["op"], costmodel.estimate(first["classes"], model)["ms"] / total) if first else None,
             "float_ops": sorted({o["op"] for o in ops if (o.get("classes") or {}).get("neon_float", 0) + (o.get("classes") or {}).get("vfp", 0)
                                  > 0.2 * max(1, o.get("instructions") or 1)})}
    return rows, facts


def render(report: Any) -> str:
    """The section's HTML ('' when no variant has per-op counts)."""
    sel = report.selection
    parts = []
    for i in report.order:
        rec = report.results.variants[i]
        got = op_rows(rec, sel.device, sel.threads)
        if got is None:
            continue
        rows, f = got
        body = "".join(
            f"<tr><td class=\"name\">{_e(r['op'])}</td><td>{r['ops']}</td><td>{r['ms']:.3g}</td><td>{r['share']:.0%}</td>"
            f"<td>#{r['max_index']} ({r['max_ms']:.3g} ms)</td></tr>" for r in rows[:TOP])
        notes = []
        if f["first"]:
            notes.append(f"first op {f['first'][0]}: {f['first'][1]:.0%}")
        if f["float_ops"]:
            notes.append("float arithmetic in " + ", ".join(f["float_ops"]))
        whole = f" (whole invoke: {f['whole_ms']:.3g} ms est.)" if f["whole_ms"] is not None else ""
        parts.append(
            f'<div class="ops" data-variant="{_e(report.names[i])}"><h3>{_e(report.names[i])}</h3>'
            f'<p class="sub">{f["n_ops"]} ops, sum {f["sum_ms"]:.3g} ms {_e(f["label"])}{_e(whole)}'
            + (f"; {_e('; '.join(notes))}" if notes else "") + "</p>"
            '<table class="optable"><thead><tr><th class="name">op type</th><th>ops</th><th>est. ms</th><th>share</th>'
            f"<th>largest op</th></tr></thead><tbody>{body}</tbody></table></div>")
    if not parts:
        return ""
    return ('<h2 id="op-types">Estimated time by op type</h2><p class="sub">Per variant: every operator cut into its '
            "own single-op model and its instructions counted alone on the emulated CPU (bench's counted run), "
            "costed with the device profile's cost model — an <b>estimate</b>, not a measurement. The sum over the "
            "ops includes each op's own invoke overhead (a few thousand instructions per op).</p>"
            '<div class="opsgrid">' + "".join(parts) + "</div>")
