"""Counted runs (``edgekit bench --metric instructions``) in the report and gate (issue 6).

The two metrics — ``instructions`` (guest instructions per invoke, compared exactly) and
``estimated_latency`` (the cost model's *estimated* ms for the device profile) — are entries of the
registry (:mod:`edgekit.metrics`). This module derives the report's display columns from a
record's counted run (instruction count, class mix, estimate and the emulated latency beside it)
and names the core whose cost model an estimate uses. Both read the newest measurement with
instruction counts on the selected device / threads (a later latency-only run does not hide it).
"""

from __future__ import annotations

from typing import Any

from edgekit.report.readers import pick_counted
from edgekit.results import VariantRecord


def estimate_label(records: list[VariantRecord], device: str | None, threads: int | None) -> str:
    """``Cortex-A7 @ 1300 MHz`` from the first counted measurement found (for labels)."""
    for rec in records:
        m = pick_counted(rec, device, threads)
        est = ((m.instructions or {}).get("estimate") or {}) if m is not None else {}
        if est.get("core"):
            return f"{est['core']} @ {float(est.get('clock_mhz') or 0):.0f} MHz"
    return "the device profile's cost model"


def derived_columns(record: VariantRecord, device: str | None = None, threads: int | None = None) -> dict[str, str]:
    """Display columns of one variant's counted run: instruction count, class mix, estimate, emulated latency."""
    from edgekit.costmodel import mix_text

    m = pick_counted(record, device, threads)
    if m is None:
        return {}
    ins: dict[str, Any] = m.instructions or {}
    est = ins.get("estimate") or {}
    per = ins.get("per_invoke")
    out = {"instr./invoke": "—" if per is None else f"{int(round(per)):,}",
           "instruction mix": mix_text(ins.get("classes") or {}, top=4) or "—"}
    if est.get("ms") is not None:
        out[f"est. {est.get('core', '')} ms"] = f"{est['ms']:.3g} (est., {float(est.get('clock_mhz') or 0):.0f} MHz)"
    out["emulated p50 ms"] = f"{m.p50_ms:.3g} (qemu)" if m.p50_ms is not None else "—"
    return out
