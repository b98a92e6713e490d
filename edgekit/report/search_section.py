"""The HTML report's "Search" section (issue 15): what ``edgekit search`` tried and found.

Source: ``OUT/search.json`` (:mod:`edgekit.search.summary`, no Optuna needed to read it) next to the
variants the report was made from. Shows the study and its budget, the best-so-far value of the first
objective vs trial number as an SVG plot (every trial a dot: within budget or over it), the front
with each member's test accuracy (evaluated once, at the end) and every trial. Trial metrics are on
the validation split carved from the training data; the section says so.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

FILE = "search.json"
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 280, 64, 16, 16, 40


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def find(source: str | Path) -> Path | None:
    """OUT/search.json for a report source (OUT, OUT/variants or a variant folder)."""
    p = Path(str(source))
    for d in (p, p.parent, p.parent.parent):
        f = d / FILE
        if f.is_file():
            return f
    return None


def load(source: str | Path) -> dict[str, Any] | None:
    f = find(source)
    if f is None:
        return None
    try:
        doc = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == "edgekit.search/1" else None


def _fmt(objective: str, v: float | None, kind: str | None = None) -> str:
    if v is None:
        return "—"
    if objective == "size":
        return f"{v / 1000:.1f} kB"
    if objective == "latency":
        return f"{kind + ' ' if kind else ''}{v:.3g} ms"
    if objective == "memory":
        return f"{v:.1f} MiB"
    return f"{v:.2%}"


def latency_kind(doc: dict[str, Any]) -> str | None:
    """"est." (the emulated device's estimate) or "measured" (a phone): what the study's latencies are."""
    for m in [doc.get("baseline") or {}] + [t.get("metrics") or {} for t in doc.get("trials", [])]:
        if m.get("latency_kind"):
            return m["latency_kind"]
    return None


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2%}"


def svg_curve(doc: dict[str, Any]) -> str:
    """Best-so-far (step line) and every trial's value (dots) of the first objective vs trial number."""
    objective = doc["budget"]["objectives"][0]
    kind = latency_kind(doc) if objective == "latency" else None   # "est." on the axis and in every tooltip
    curve = [(n, b) for n, b in doc["best_so_far"].get(objective, [])]
    dots = [(t["number"], t["metrics"].get(objective), bool(t.get("feasible"))) for t in doc["trials"]
            if t.get("state") == "complete" and t["metrics"].get(objective) is not None]
    values = [v for _, v, _ in dots] + [b for _, b in curve if b is not None]
    title = f"best-so-far {kind + ' ' if kind else ''}{objective} within budget vs trial number"
    if not values:
        return (f'<svg class="plot search" width="{W}" height="{H}" role="img" aria-label="{_e(title)}">'
                f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">no completed trial yet</text></svg>')
    n_max = max([n for n, _ in curve] + [n for n, _, _ in dots] + [1])
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo * 0.9, hi * 1.1 + 1e-9
    span = hi - lo

    def x(n: float) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * (n / n_max if n_max else 0)

    def y(v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / span)

    parts = [f'<svg class="plot search" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{_e(title)}">',
             f'<title>{_e(title)}</title>',
             f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#9aa5b1"/>',
             f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#9aa5b1"/>']
    for k in range(5):
        v = lo + span * k / 4
        parts.append(f'<text class="label" x="{PAD_L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_e(_fmt(objective, v, kind))}</text>')
    for k in range(6):
        n = round(n_max * k / 5)
        parts.append(f'<text class="label" x="{x(n):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{n}</text>')
    parts.append(f'<text class="label" x="{(PAD_L + W - PAD_R) / 2}" y="{H - 6}" text-anchor="middle">trial number</text>')
    for n, v, ok in dots:
        fill = "#4e79a7" if ok else "#d0d5da"
        parts.append(f'<circle class="trial {"ok" if ok else "over"}" cx="{x(n):.1f}" cy="{y(v):.1f}" r="3.5" fill="{fill}">'
                     f'<title>trial {n}: {_e(_fmt(objective, v, kind))}{"" if ok else " (over budget)"}</title></circle>')
    pts, prev = [], None
    for n, b in curve:
        if b is None:
            continue
        if prev is not None:
            pts.append(f"{x(n):.1f},{y(prev):.1f}")
        pts.append(f"{x(n):.1f},{y(b):.1f}")
        prev = b
    if pts:
        parts.append(f'<polyline class="best-so-far" points="{" ".join(pts)}" fill="none" stroke="#f28e2b" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _budget_text(b: dict[str, Any], kind: str | None = None) -> str:
    parts = []
    if b.get("max_accuracy_drop") is not None:
        from edgekit.search.trial import Budget

        budget = Budget(**b)    # search.json's budget is Budget.as_dict (no margin before 2026-12-07)
        parts.append(f"accuracy drop ≤ {b['max_accuracy_drop'] * 100:g} pt"
                     + (f" (≤ {budget.validation_drop * 100:.3g} pt on the validation split: "
                        f"{budget.held_back * 100:.3g} pt margin)" if budget.held_back else ""))
    if b.get("max_size") is not None:
        parts.append(f"gzip size ≤ {b['max_size'] / 1000:g} kB")
    if b.get("max_latency") is not None:
        parts.append(f"{kind + ' ' if kind else ''}latency ≤ {b['max_latency']:g} ms")
    if b.get("max_memory") is not None:
        parts.append(f"memory ≤ {b['max_memory']:g} MiB")
    return ", ".join(parts) or "no limits"


def render(report: Any) -> str:
    """The section's HTML ('' when the report's source has no search.json)."""
    doc = load(getattr(report.results, "source", ""))
    return render_doc(doc) if doc else ""


def render_doc(doc: dict[str, Any]) -> str:
    objectives = doc["budget"]["objectives"]
    base = doc.get("baseline") or {}
    val = doc.get("validation") or {}
    out = ['<h2 id="search">Search</h2>',
           f'<p class="sub">Study <code>{_e(doc["study"])}</code> ({_e(doc.get("storage", ""))}): '
           f'{doc["finished"]} of {doc["target"]} trials finished; objective{"s" if len(objectives) > 1 else ""} '
           f'{_e(", ".join(objectives))}; budget {_e(_budget_text(doc["budget"], latency_kind(doc)))} vs float32 '
           f'(validation {_pct(base.get("accuracy"))}, test {_pct(base.get("test_accuracy"))}, '
           f'{_fmt("size", base.get("size"))} gzip). Trials are scored on a validation split of '
           f'{val.get("n", "?")} images held out of the training data; the test set is used once, for the front.</p>',
           svg_curve(doc),
           '<p class="sub">orange: best within budget so far; blue dots: trials within budget; grey: over budget.</p>',
           "<h3>Front</h3>"]
    head = ["trial", "variant", "chain", "gzip", "× smaller", "val acc", "test acc", "test drop", "latency", "memory"]
    rows = []
    for r in doc["front"]:
        m = r["metrics"]
        rows.append([r["number"], r.get("variant"), r.get("description"), _fmt("size", m.get("size")),
                     f"{r['ratio']:.1f}×" if r.get("ratio") else "—", _pct(m.get("accuracy")),
                     _pct(r.get("test_accuracy")) if r.get("test_accuracy") is not None else "(other worker)",
                     "—" if r.get("test_drop") is None else f"{r['test_drop'] * 100:.2f} pt",
                     _fmt("latency", m.get("latency"), m.get("latency_kind")),
                     _fmt("memory", m.get("memory"))])
    out.append(_table("search-front", head, rows) if rows else '<p class="sub">no trial within the budget yet.</p>')
    out.append("<h3>Trials</h3>")
    head = ["trial", "state", "family", "chain", "gzip", "val acc", "val drop", "latency", "budget", "note"]
    rows = []
    for t in doc["trials"]:
        m = t.get("metrics") or {}
        note = t.get("error") or t.get("pruned") or ""
        rows.append([t["number"], t["state"], t.get("family") or "", t.get("description") or "", _fmt("size", m.get("size")),
                     _pct(m.get("accuracy")), "—" if m.get("drop") is None else f"{m['drop'] * 100:.2f} pt",
                     _fmt("latency", m.get("latency"), m.get("latency_kind")),
                     ("within" if t.get("feasible") else "over") if t["state"] == "complete" else "—", note])
    out.append(_table("search-trials", head, rows))
    return "\n".join(out)


def _table(tid: str, head: list[str], rows: list[list[Any]]) -> str:
    h = "".join(f'<th class="{"name" if c in ("variant", "chain", "note") else ""}">{_e(c)}</th>' for c in head)
    body = "".join("<tr>" + "".join(f'<td class="{"name" if head[i] in ("variant", "chain", "note") else ""}">{_e(v)}</td>'
                                    for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table id="{tid}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'
