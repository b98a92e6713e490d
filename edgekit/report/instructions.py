"""Instruction counts and estimated latency in results, report and gate (issue 6).

Counted measurements (``edgekit bench --metric instructions``) carry ``instructions`` (see
:mod:`edgekit.bench.counted`). Two gate metrics read them:

- ``instructions``: guest instructions per invoke (an integer; compared exactly);
- ``estimated_latency``: the cost model's *estimated* ms for the measurement's device profile.

Both pick, among the record's measurements on the selected device/threads, the newest one that has
instruction counts (a later latency-only run does not hide them).
"""

from __future__ import annotations

import re
from typing import Any

from edgekit.report.units import UnitError

METRICS = ("instructions", "estimated_latency")
_COUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([-+]?[0-9]+))?\s*([kKMG]?)\s*$")
_FACTOR = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}


def parse_instructions(text: object) -> float:
    """Instructions per invoke from ``150000000``, ``"150M"``, ``"1.2G"``, ``"80k"`` (1000-based)."""
    accepted = "an instruction count like 150000000, '150M', '1.2G' or '80k'"
    if isinstance(text, bool):
        raise UnitError(f"bad instruction count {text!r} (expected {accepted})")
    if isinstance(text, int):
        if text < 0:
            raise UnitError(f"bad instruction count {text!r} (expected a non-negative number)")
        return float(text)
    if isinstance(text, float):
        if text < 0 or text != text or text != int(text):
            raise UnitError(f"bad instruction count {text!r} (expected a whole number, e.g. {accepted})")
        return float(text)
    if not isinstance(text, str):
        raise UnitError(f"bad instruction count {text!r} (expected {accepted})")
    m = _COUNT.match(text.replace(",", "").replace("_", ""))
    if not m:
        raise UnitError(f"bad instruction count {text!r} (expected {accepted})")
    value = float(m.group(1)) * (10 ** int(m.group(2) or 0)) * _FACTOR[m.group(3)]
    return float(round(value))


def fmt_count(v: float | int | None) -> str:
    return "—" if v is None else f"{int(round(v)):,}"


def change_exact(new: float | None, old: float | None) -> str:
    """``+1,234 (+0.80%)``: the exact integer difference and the relative change."""
    if new is None or old is None:
        return "—"
    d = int(round(new)) - int(round(old))
    if d == 0:
        return "±0 (±0.00%)"
    pct = (d / old * 100) if old else float("inf")
    return f"{d:+,} ({pct:+.2f}%)"


def _keys(d: dict[str, Any]) -> set[str]:
    return {str(v) for v in (d.get("serial"), d.get("profile"), d.get("model"), d.get("device")) if v}


def pick_counted(record: dict[str, Any], device: str | None, threads: int | None) -> dict[str, Any] | None:
    """The newest measurement with instruction counts on the selected device / threads."""
    best = None
    for d in record.get("device") or ():
        if not d.get("instructions"):
            continue
        if device is not None and device not in _keys(d):
            continue
        if threads is not None and int(d.get("threads") or 1) != threads:
            continue
        if best is None or (d.get("finished") or "") >= (best.get("finished") or ""):
            best = d
    return best


def value(record: dict[str, Any], metric: str, device: str | None, threads: int | None) -> tuple[float | None, str | None]:
    where = ", ".join(x for x in (device, f"{threads} thread{'s' if threads != 1 else ''}" if threads else None) if x)
    where = where or "any device"
    m = pick_counted(record, device, threads)
    if m is None:
        failed = [d for d in record.get("device") or () if d.get("status", "ok") != "ok"
                  and (device is None or device in _keys(d))]
        if failed:
            d = failed[0]
            return None, f"{d.get('status')} on {d.get('profile') or d.get('serial')}: {d.get('reason') or 'no reason given'}"
        return None, f"no instruction counts on {where} — run edgekit bench --metric instructions"
    ins = m["instructions"]
    if m.get("status", "ok") != "ok":
        return None, f"{m.get('status')}: {m.get('reason') or 'no reason given'}"
    if metric == "instructions":
        v = ins.get("per_invoke")
        return (float(v), None) if v is not None else (None, "the counted run reached no timed invoke")
    est = ins.get("estimate")
    if not est or est.get("ms") is None:
        return None, f"no cost model for device profile {m.get('profile') or '?'} (add [cost_model] to its devices/*.toml)"
    return float(est["ms"]), None


def estimate_label(record_or_results: Any, device: str | None, threads: int | None) -> str:
    """``Cortex-A7 @ 1300 MHz`` from the first counted measurement found (for labels)."""
    records = record_or_results if isinstance(record_or_results, list) else [record_or_results]
    for rec in records:
        m = pick_counted(rec, device, threads)
        est = ((m or {}).get("instructions") or {}).get("estimate") or {}
        if est.get("core"):
            return f"{est['core']} @ {est.get('clock_mhz', 0):.0f} MHz"
    return "the device profile's cost model"


def extra_columns(record: dict[str, Any], device: str | None = None, threads: int | None = None) -> dict[str, str]:
    """Per-variant HTML report columns: instruction count, class mix, estimate and emulated latency."""
    from edgekit.costmodel import mix_text

    m = pick_counted(record, device, threads)
    if m is None:
        return {}
    ins = m["instructions"] or {}
    est = ins.get("estimate") or {}
    out = {"instr./invoke": fmt_count(ins.get("per_invoke")),
           "instruction mix": mix_text(ins.get("classes") or {}, top=4) or "—"}
    if est.get("ms") is not None:
        out[f"est. {est.get('core', '')} ms"] = f"{est['ms']:.3g} (est., {est.get('clock_mhz', 0):.0f} MHz)"
    p50 = m.get("p50_ms")
    out["emulated p50 ms"] = f"{p50:.3g} (qemu)" if p50 is not None else "—"
    return out
