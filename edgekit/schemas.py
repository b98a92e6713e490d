"""The documented schemas of the records that flow through the stages, generated from the classes.

Every record dataclass documents its fields in its docstring, in a ``Fields:`` block with one line per
field (``name  type  text``). ``docs/schemas.md`` is this module's output
(``python -m edgekit.schemas > docs/schemas.md``); a test checks that every documented name is a field
of the dataclass and every field is documented, and that the file is up to date.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys

# (title, "module:Class"), in pipeline order
RECORDS = [
    ("Variant: manifest.json", "edgekit.variant:Manifest"),
    ("Variant: manifest.json compatibility", "edgekit.variant:Compatibility"),
    ("Variant: eval.json", "edgekit.variant:Evaluation"),
    ("Bench parameters (edgekit bench flags)", "edgekit.bench.params:BenchParams"),
    ("Measurement (a row of OUT/bench.sqlite)", "edgekit.measurement:Measurement"),
    ("Measurement statistics", "edgekit.measurement:LatencyStats"),
    ("Results (edgekit.results/1)", "edgekit.results:Results"),
    ("Results: one variant", "edgekit.results:VariantRecord"),
    ("Results: host evaluation", "edgekit.results:HostEval"),
    ("Results: one device measurement", "edgekit.results:DeviceSummary"),
    ("Metric (the registry's entries)", "edgekit.metrics:Metric"),
    ("Selection (which number each metric means)", "edgekit.metrics:Selection"),
    ("Report (edgekit.report/1)", "edgekit.report.core:Report"),
    ("Gate budgets", "edgekit.gate.config:Budgets"),
    ("Gate budgets: one rule", "edgekit.gate.config:Rule"),
    ("Gate verdict (edgekit.gate/1)", "edgekit.gate.core:GateResult"),
    ("Gate: one check", "edgekit.gate.core:Check"),
]


def load(target: str) -> type:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def documented_fields(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, text) from the ``Fields:`` block of ``cls``'s docstring."""
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == "Fields:")
    except StopIteration:
        return []
    out = []
    for ln in lines[start + 1:]:
        if not ln.strip():
            if out:
                break
            continue
        if not ln.startswith(" "):
            break
        parts = ln.split(None, 2)
        out.append((parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""))
    return out


def summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def mismatches(cls: type) -> list[str]:
    """What differs between the docstring's Fields block and the dataclass fields (empty when equal)."""
    doc = [n for n, _, _ in documented_fields(cls)]
    real = [f.name for f in dataclasses.fields(cls)]
    out = []
    if not doc:
        out.append(f"{cls.__qualname__}: no Fields: block in its docstring")
    for n in real:
        if n not in doc:
            out.append(f"{cls.__qualname__}.{n} is a field but not documented")
    for n in doc:
        if n not in real:
            out.append(f"{cls.__qualname__}: documents {n!r}, which is not a field")
    return out


def render() -> str:
    out = ["# Record schemas", "",
           "Generated from the record classes by `python -m edgekit.schemas > docs/schemas.md`;",
           "`tests/test_schemas.py` fails when this file or a class's field list is out of date.",
           "JSON files carry the same keys; `null` is an absent value.", ""]
    for title, target in RECORDS:
        cls = load(target)
        out += [f"## {title}", "", f"`{target.replace(':', '.')}` — {summary(cls)}", "",
                "| field | type | meaning |", "|:--|:--|:--|"]
        for name, typ, text in documented_fields(cls):
            out.append(f"| `{name}` | {typ.replace('|', ' or ')} | {text.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
