"""Gate output: plain text (CI logs), Markdown ($GITHUB_STEP_SUMMARY / PR comment), JUnit XML, JSON."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

from edgekit.gate.core import GateResult


def _summary(g: GateResult) -> str:
    c = g.counts()
    variants = len({x.variant for x in g.checks})
    text = f"{c['checks']} checks on {variants} variant{'s' if variants != 1 else ''}: {c['passed']} passed, {c['failed']} failed"
    if c["skipped"]:
        text += f", {c['skipped']} skipped"
    return text


def render_text(g: GateResult) -> str:
    rows = [("", "variant", "check", "value", "limit", "vs baseline", "")]
    for c in g.checks:
        detail = c.message if c.status != "PASS" else ""
        rows.append((c.status, c.variant, c.label, c.value_text, c.limit_text, c.change, detail))
    widths = [max(len(r[k]) for r in rows) for k in range(6)]
    out = [f"edgekit gate — budgets {g.budgets.source}" + (f", baseline {g.baseline_file}" if g.baseline_file else "")]
    for r in rows:
        line = "  ".join(r[k].ljust(widths[k]) if k < 3 else r[k].rjust(widths[k]) for k in range(6))
        if r[6]:
            line += "  " + r[6]
        out.append(line.rstrip())
    out.append(("gate passed — " if g.passed else "gate FAILED — ") + _summary(g))
    for c in g.failed:
        out.append(f"  {c.where}: {c.variant} {c.label}: {c.message}")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def render_markdown(g: GateResult) -> str:
    icon = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "SKIP": "⚪ SKIP"}
    out = [f"### edgekit gate: {'✅ passed' if g.passed else '❌ failed'}", "", _summary(g) + ".", ""]
    if g.baseline_file:
        out += [f"Changes are against `{_md(g.baseline_file)}`.", ""]
    out += ["| | variant | check | value | limit | vs baseline | note |", "|:--|:--|:--|--:|--:|--:|:--|"]
    for c in sorted(g.checks, key=lambda c: (c.status != "FAIL", c.status != "SKIP")):
        note = "" if c.status == "PASS" else c.message
        out.append(f"| {icon[c.status]} | `{_md(c.variant)}` | {_md(c.label)} | {_md(c.value_text)} | {_md(c.limit_text)} | {_md(c.change)} | {_md(note)} |")
    out.append("")
    out.append(f"Budgets: `{_md(str(g.budgets.source))}`.")
    return "\n".join(out) + "\n"


def render_junit(g: GateResult) -> str:
    c = g.counts()
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="edgekit gate" tests="{c["checks"]}" failures="{c["failed"]}" skipped="{c["skipped"]}">',
           f'  <testsuite name="edgekit.gate" tests="{c["checks"]}" failures="{c["failed"]}" skipped="{c["skipped"]}" errors="0">']
    for x in g.checks:
        name = f"{x.label} {x.limit_text}"
        out.append(f"    <testcase classname={quoteattr('edgekit.gate.' + x.variant)} name={quoteattr(name)}>")
        body = f"{x.variant}: {x.label} {x.message}; vs baseline {x.change}; budget at {x.where}"
        if x.status == "FAIL":
            out.append(f"      <failure message={quoteattr(x.message)} type=\"budget\">{escape(body)}</failure>")
        elif x.status == "SKIP":
            out.append(f"      <skipped message={quoteattr(x.message)}/>")
        else:
            out.append(f"      <system-out>{escape(body)}</system-out>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def render_json(g: GateResult) -> str:
    return json.dumps(g.to_dict(), indent=1, allow_nan=False) + "\n"
