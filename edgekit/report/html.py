"""Self-contained HTML report: inline SVG plots drawn here (no scripts, fonts or network).

Plots: accuracy vs size, accuracy vs latency (when measured) and accuracy vs peak memory (when
memory is an axis). In each, every ranked variant is a point; variants on the report's front are
orange, the 2-D Pareto front of that plot is drawn as a staircase, and points are labelled (all of
them up to ``LABEL_ALL`` points, else the front only). Hovering a point shows its values.

The variant table has room for extra per-variant columns: every key of a record's ``extra`` dict
(from the inputs) and every derived column of the report (``Report.derived``: instruction count,
class mix, estimate and emulated latency of counted runs) becomes a column; callers may pass
``extra_columns=[(key, header), ...]`` to fix their order and headers.
"""

from __future__ import annotations

import html as _html
import math
from typing import Any

import numpy as np

from edgekit.metrics import METRICS, fmt as fmt_metric
from edgekit.report.core import Report
from edgekit.report.render import FRONT_MARK, _note, _title, recommendation_text

LABEL_ALL = 40
W, H = 540, 370
ML, MR, MT, MB = 64, 20, 30, 48

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1d232a;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 8px}
.sub{color:#5b6570;margin:0 0 14px}
.rec{padding:10px 14px;border-radius:6px;margin:10px 0 16px;font-weight:600}
.rec.ok{background:#e6f6ea;border:1px solid #7cc68e}.rec.no{background:#fdeaea;border:1px solid #e39a9a}
.plots{display:flex;flex-wrap:wrap;gap:18px}
.plot{border:1px solid #d9dee3;border-radius:6px;background:#fbfcfd}
.plot .axis{stroke:#8a949e;stroke-width:1}.plot .grid{stroke:#e7ebef;stroke-width:1}
.plot .tick{font-size:11px;fill:#5b6570}.plot .axis-label{font-size:12px;fill:#1d232a}
.plot .title{font-size:13px;font-weight:600;fill:#1d232a}
.plot .pt{fill:#9aa5b1;stroke:#fff;stroke-width:1}.plot .pt.front{fill:#f28e2b;stroke:#8a4a0c}
.plot .pt.rec{stroke:#1a7f37;stroke-width:3}
.plot .front-line{fill:none;stroke:#f28e2b;stroke-width:2;stroke-dasharray:5 3}
.plot .label{font-size:10.5px;fill:#1d232a}
.opsgrid{display:flex;flex-wrap:wrap;gap:18px}.ops h3{font-size:14px;margin:8px 0 2px}.optable td,.optable th{padding:2px 8px}
.plot .empty{font-size:13px;fill:#5b6570}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border-bottom:1px solid #e3e7eb;padding:4px 9px;text-align:right;white-space:nowrap}
th{background:#f3f5f7;position:sticky;top:0}
td.name,th.name,td.note,th.note{text-align:left}td.note{white-space:normal;color:#5b6570}
tr.front td{font-weight:600;background:#fff6ec}
tr.excl td{color:#9b2c2c}
.legend span{display:inline-block;margin-right:14px}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:middle}
"""


def _e(x: Any) -> str:
    return _html.escape(str(x), quote=True)


def _ticks(lo: float, hi: float, log: bool, n: int = 5) -> list[float]:
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        out = []
        for p in range(a, b + 1):
            for m in (1, 2, 5):
                v = m * 10**p
                if lo <= v <= hi:
                    out.append(v)
        return out or [lo, hi]
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _front2d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the 2-D front (x lower better, y higher better), sorted by x."""
    from edgekit.report.pareto import pareto

    on, _, _ = pareto(np.column_stack([x, -y]))
    idx = np.flatnonzero(on)
    return idx[np.lexsort((-y[idx], x[idx]))]


def svg_plot(report: Report, xm: str, ym: str = "accuracy", pid: str | None = None) -> str:
    """One scatter plot as an inline <svg> string."""
    pid = pid or f"plot-{xm}-{ym}"
    sel = report.selection
    title = f"{sel.label(ym)} vs {sel.label(xm)}"
    head = (f'<svg class="plot" id="{_e(pid)}" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" role="img" aria-label="{_e(title)}">'
            f'<text class="title" x="{ML}" y="18">{_e(title)}</text>')
    ranked = np.array([s in ("front", "dominated") for s in report.status], dtype=bool)
    xcol, ycol = report.columns.get(xm), report.columns.get(ym)
    if xcol is None or ycol is None:
        mask = np.zeros(len(report.names), dtype=bool)
    else:
        mask = ranked & ~np.isnan(xcol) & ~np.isnan(ycol)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        why = "no device measurements — run edgekit bench" if METRICS[xm].device else "no ranked variants"
        head = head.replace(f'height="{H}" viewBox="0 0 {W} {H}"', f'height="90" viewBox="0 0 {W} 90"')
        return head + f'<text class="empty" x="{W / 2}" y="55" text-anchor="middle">{_e(why)}</text></svg>'
    x, y = xcol[idx], ycol[idx]
    xlo, xhi = float(x.min()), float(x.max())
    ylo, yhi = float(y.min()), float(y.max())
    log = xlo > 0 and xhi / xlo > 20
    if log:
        xlo, xhi = xlo / 1.25, xhi * 1.25
    else:
        pad = (xhi - xlo) * 0.06 or max(abs(xhi) * 0.1, 1e-9)
        xlo, xhi = max(0.0, xlo - pad) if xlo >= 0 else xlo - pad, xhi + pad
    ypad = (yhi - ylo) * 0.08 or 0.01
    ylo, yhi = ylo - ypad, yhi + ypad
    if ym == "accuracy":
        ylo, yhi = max(0.0, ylo), min(1.0, yhi) if yhi - ypad <= 1 else yhi
    pw, ph = W - ML - MR, H - MT - MB

    def sx(v: np.ndarray | float) -> Any:
        if log:
            return ML + (np.log10(v) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo)) * pw
        return ML + (np.asarray(v) - xlo) / ((xhi - xlo) or 1) * pw

    def sy(v: np.ndarray | float) -> Any:
        return MT + ph - (np.asarray(v) - ylo) / ((yhi - ylo) or 1) * ph

    parts = [head]
    for t in _ticks(ylo, yhi, False):
        yy = float(sy(t))
        parts.append(f'<line class="grid" x1="{ML}" x2="{ML + pw}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
                     f'<text class="tick" x="{ML - 6}" y="{yy + 4:.1f}" text-anchor="end">{_e(fmt_metric(ym, t))}</text>')
    for t in _ticks(xlo, xhi, log):
        xx = float(sx(t))
        parts.append(f'<line class="grid" x1="{xx:.1f}" x2="{xx:.1f}" y1="{MT}" y2="{MT + ph}"/>'
                     f'<text class="tick" x="{xx:.1f}" y="{MT + ph + 16}" text-anchor="middle">{_e(fmt_metric(xm, t))}</text>')
    parts.append(f'<line class="axis" x1="{ML}" x2="{ML + pw}" y1="{MT + ph}" y2="{MT + ph}"/>'
                 f'<line class="axis" x1="{ML}" x2="{ML}" y1="{MT}" y2="{MT + ph}"/>'
                 f'<text class="axis-label" x="{ML + pw / 2}" y="{H - 8}" text-anchor="middle">{_e(sel.label(xm))}'
                 f'{" (log scale)" if log else ""} — {METRICS[xm].better} is better</text>'
                 f'<text class="axis-label" transform="translate(14 {MT + ph / 2}) rotate(-90)" text-anchor="middle">{_e(sel.label(ym))} — {METRICS[ym].better} is better</text>')
    # 2-D front staircase of this projection
    f2 = _front2d(x, y)
    px, py = sx(x), sy(y)
    pts = []
    for k, j in enumerate(f2):
        if k:
            pts.append(f"{px[j]:.1f},{py[f2[k - 1]]:.1f}")
        pts.append(f"{px[j]:.1f},{py[j]:.1f}")
    parts.append(f'<polyline class="front-line" points="{" ".join(pts)}"/>')
    rec = (report.recommendation or {}).get("variant") or (report.recommendation or {}).get("closest")
    names = report.names
    front_full = np.array([report.status[i] == "front" for i in idx], dtype=bool)
    draw = np.argsort(front_full, kind="stable")  # dominated first, front on top
    for k in draw:
        i = idx[k]
        cls = "pt front" if front_full[k] else "pt"
        if names[i] == rec:
            cls += " rec"
        tip = f"{names[i]}: {sel.label(xm)} {fmt_metric(xm, x[k])}, {sel.label(ym)} {fmt_metric(ym, y[k])}"
        parts.append(f'<circle class="{cls}" cx="{px[k]:.1f}" cy="{py[k]:.1f}" r="{5 if front_full[k] else 3.5}" '
                     f'data-name="{_e(names[i])}"><title>{_e(tip)}</title></circle>')
    label = range(len(idx)) if len(idx) <= LABEL_ALL else sorted(set(np.flatnonzero(front_full).tolist()) | set(f2.tolist()))
    if len(idx) > LABEL_ALL and len(label) > LABEL_ALL:
        label = f2.tolist()[:LABEL_ALL]
    groups: dict[tuple[int, int], list[int]] = {}
    for k in label:  # one label per position: identical points share it ("a, b")
        groups.setdefault((int(round(px[k])), int(round(py[k]))), []).append(int(k))
    placed: list[tuple[float, float, float, float]] = []
    # points are obstacles too, so a label does not cover a neighbour
    # (only for small plots: with thousands of points every spot is taken anyway)
    obstacles = [(float(px[k]) - 4, float(py[k]) - 4, float(px[k]) + 4, float(py[k]) + 4) for k in range(len(idx))] if len(idx) <= 300 else []
    order = sorted(groups.values(), key=lambda ks: (not front_full[ks[0]], float(px[ks[0]])))
    for ks in order:
        k = ks[0]
        text = ", ".join(names[idx[j]] for j in ks)
        x0, y0 = float(px[k]), float(py[k])
        box = _place_label(x0, y0, len(text) * 6.0 + 2, placed, obstacles, pw)
        if box is None:
            continue  # no free spot: the hover title still names the point
        bx, by, anchor = box
        placed.append((bx - (len(text) * 6.0 + 2 if anchor == "end" else 0), by - 10, bx + (0 if anchor == "end" else len(text) * 6.0 + 2), by + 2))
        parts.append(f'<text class="label" x="{bx:.1f}" y="{by:.1f}" text-anchor="{anchor}">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _place_label(x: float, y: float, w: float, placed: list, obstacles: list, pw: float) -> tuple[float, float, str] | None:
    """First free spot around (x, y) for a label ``w`` px wide: (text x, baseline y, anchor)."""
    right_ok = x + 7 + w <= ML + pw + MR - 2
    cands = []
    for dy in (-6, 14, -18, 26, -30):
        for side in (("start", "end") if right_ok else ("end", "start")):
            cands.append((x + (7 if side == "start" else -7), y + dy, side))
    for bx, by, anchor in cands:
        x1 = bx if anchor == "start" else bx - w
        box = (x1, by - 10, x1 + w, by + 2)
        if box[0] < ML - 4 or box[2] > W - 2 or box[1] < MT - 10 or box[3] > H - MB + 2:
            continue
        if any(_overlap(box, b) for b in placed) or any(_overlap(box, o) for o in obstacles if not _inside(x, y, o)):
            continue
        return bx, by, anchor
    return None


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(x: float, y: float, box: tuple) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def render_html(report: Report, extra_columns: list[tuple[str, str]] | None = None, title: str = "edgekit report") -> str:
    """A self-contained HTML page (inline CSS + SVG; no scripts, no network)."""
    extra = list(extra_columns or [])
    seen = {k for k, _ in extra}
    for rec in report.results.variants:  # the inputs' extra columns, then the report's derived ones
        for k in rec.extra:
            if k not in seen:
                seen.add(k)
                extra.append((k, k.replace("_", " ")))
    for k in report.derived_headers():
        if k not in seen:
            seen.add(k)
            extra.append((k, k))
    plots = [svg_plot(report, "size")]
    plots.append(svg_plot(report, "latency"))
    if "memory" in report.axes:
        plots.append(svg_plot(report, "memory"))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{_e(title)}</h1>",
           f'<p class="sub">{_e(_title(report))}. Source: <code>{_e(report.results.source)}</code>. '
           f'Baseline: <code>{_e(report.results.baseline or "none")}</code>. Created {_e(report.created)}.</p>']
    text = recommendation_text(report)
    if text:
        out.append(f'<div class="rec {"ok" if report.recommendation["fits"] else "no"}" id="recommendation">{_e(text)}</div>')
    out.append('<p class="legend"><span><i class="dot" style="background:#f28e2b"></i>on the Pareto front</span>'
               '<span><i class="dot" style="background:#9aa5b1"></i>dominated</span>'
               '<span><svg width="26" height="8"><line x1="0" y1="4" x2="26" y2="4" stroke="#f28e2b" stroke-width="2" stroke-dasharray="5 3"/></svg> '
               'front of the plotted pair</span>'
               '<span><i class="dot" style="background:#fff;border:3px solid #1a7f37;width:6px;height:6px"></i>'
               'recommended (or closest) variant</span></p>')
    out.append('<div class="plots">' + "".join(plots) + "</div>")
    out.append("<h2>Variants</h2>")
    head = ["<th>" + FRONT_MARK + "</th>", '<th class="name">variant</th>']
    head += [f"<th>{_e(report.selection.label(m))}{' *' if m in report.axes else ''}</th>" for m in report.metrics]
    head += [f'<th class="extra">{_e(h)}</th>' for _, h in extra]
    head.append('<th class="note">note</th>')
    out.append('<table id="variants"><thead><tr>' + "".join(head) + "</tr></thead><tbody>")
    rows = []
    for i in report.order:
        st = report.status[i]
        recd = report.results.variants[i]
        derived = report.derived[i] if report.derived else {}
        cls = "front" if st == "front" else ("dom" if st == "dominated" else "excl")
        name = report.names[i] + (" (baseline)" if recd.is_baseline else "")
        cells = [f"<td>{FRONT_MARK if st == 'front' else ''}</td>", f'<td class="name">{_e(name)}</td>']
        cells += [f"<td>{_e(report.text(i, m))}</td>" for m in report.metrics]
        cells += [f'<td class="extra">{_e(_fmt_extra(recd.extra[k] if k in recd.extra else derived.get(k)))}</td>' for k, _ in extra]
        note = _note(report, i)
        r = report.recommendation or {}
        tag = "recommended" if report.names[i] == r.get("variant") else ("closest (nothing fits)" if report.names[i] == r.get("closest") else "")
        note = "; ".join(x for x in (tag, note) if x)
        cells.append(f'<td class="note">{_e(note)}</td>')
        rows.append(f'<tr class="{cls}" data-status="{st}">' + "".join(cells) + "</tr>")
    out.append("".join(rows))
    out.append("</tbody></table>")
    suspect = [e for e in report.excluded() if e["status"] == "suspect"]
    if suspect:   # listed apart: they run, but their outputs are not believable (docs/checks.md)
        out.append(f'<h2 id="suspect">Suspect variants ({len(suspect)})</h2><p class="sub">Numerical-fault checks tripped: '
                   'never on the front, never recommended.</p><ul class="suspect">'
                   + "".join(f"<li><code>{_e(e['name'])}</code>: {_e(e['reason'] or '')}</li>" for e in suspect) + "</ul>")
    out.append('<p class="sub">* axis of the front. Sizes in decimal units (1 kB = 1000 B); memory in MiB.</p>')
    from edgekit.report.render import headline_notes

    out += [f'<p class="sub headline">{_e(line)}</p>' for line in headline_notes(report)]
    if any(k.startswith("est. ") for k, _ in extra):
        out.append('<p class="sub">instr./invoke: guest instructions of one inference counted on the emulated ARMv7 '
                   'CPU (exact, identical on every run); est.: an <b>estimate</b> for a real core from those counts '
                   'and the device profile\'s cost model, not a measurement; emulated: wall-clock time under qemu.</p>')
    from edgekit.report import ops_section

    out.append(ops_section.render(report))
    out.append(__import__("edgekit.report.search_section", fromlist=["render"]).render(report))  # edgekit search
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _fmt_extra(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
