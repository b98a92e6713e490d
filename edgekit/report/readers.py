"""How each metric is read from a results record: ``read_<metric>(record, selection, baseline) -> (value, why)``.

The readers of the metric registry (:mod:`edgekit.metrics`; each entry names its reader). Records are
:class:`edgekit.results.VariantRecord` with their :class:`~edgekit.results.DeviceSummary` list;
``selection`` is an :class:`edgekit.metrics.Selection` (duck-typed: at run time this module imports neither).
``why`` says in words why a value is missing — not measured on the selected device, the runner's own
limitation (``benchmark_model reports p5/p50/p95, not p90``), a failed evaluation ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgekit.report.units import is_missing

if TYPE_CHECKING:
    from edgekit.metrics import Selection


# -- picking the measurement ------------------------------------------------------------------


def host_accuracy(rec: Any) -> tuple[float | None, str | None]:
    h = rec.host
    if h is None:
        return None, "no host evaluation (eval.json)"
    if h.accuracy is None:
        return None, f"host evaluation {h.status or 'missing'}" + (f": {h.error}" if h.error else "")
    return float(h.accuracy), None


def pick_measurement(rec: Any, device: str | None, threads: int | None) -> Any:
    """The record's measurement on ``device`` / ``threads`` (None: any): a latency run before a counted
    one (``--metric instructions`` runs under qemu + plugin), then the newest."""
    devs = rec.device
    if len(devs) == 1:  # the common case, fast at 100k variants
        return devs[0] if devs[0].matches(device, threads) else None
    cands = [d for d in devs if d.matches(device, threads)]
    return max(cands, key=lambda d: (d.metric == "latency", d.finished or "")) if cands else None


def pick_counted(rec: Any, device: str | None, threads: int | None) -> Any:
    """The newest measurement with instruction counts on ``device`` / ``threads``."""
    cands = [d for d in rec.device if d.instructions and d.matches(device, threads)]
    return max(cands, key=lambda d: d.finished or "") if cands else None


def device_failure(rec: Any, sel: Selection) -> str | None:
    """Why the selected measurement makes the variant unusable (incompatible / failed there), else None."""
    m = pick_measurement(rec, sel.device, sel.threads)
    return m.failure() if m is not None and m.status != "ok" else None


# -- readers: (record, selection, float baseline record) -> (value, why missing) ------------


def read_size(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    v = rec.gzip_size_bytes if sel.size == "gzip" else rec.size_bytes
    return (float(v), None) if v is not None else (None, f"no {sel.size} size")


def read_gzip_size(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    v = rec.gzip_size_bytes
    return (float(v), None) if v is not None else (None, "no gzip size")


def read_accuracy(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    if sel.accuracy == "host":
        return host_accuracy(rec)
    return _from_measurement(rec, sel, "accuracy", "on-device accuracy")


def read_accuracy_drop(rec: Any, sel: Selection, base: Any = None) -> tuple[float | None, str | None]:
    acc, why = read_accuracy(rec, sel)
    if acc is None:
        return None, why
    if base is None:
        return None, "no float baseline in the results"
    bacc, bwhy = read_accuracy(base, sel)
    if bacc is None:
        return None, f"float baseline {base.name}: {bwhy}"
    return bacc - acc, None


def _from_measurement(rec: Any, sel: Selection, attr: str, what: str) -> tuple[float | None, str | None]:
    m = pick_measurement(rec, sel.device, sel.threads)
    if m is None:
        return None, f"not measured on {sel.device_label()}"
    if m.status != "ok":
        return None, m.failure()
    if attr == "latency":
        return m.latency(sel.percentile)
    v = getattr(m, attr)
    if is_missing(v):
        return None, f"no {what} in the measurement on {m.name}"
    return float(v), None


def _source(m: Any, sel: Selection) -> str:
    """Which latency the headline is for this measurement: the selection's, or (``auto``, a reader
    called without :func:`edgekit.metrics.resolve_selection`) the per-kind rule."""
    if sel.latency_source != "auto":
        return sel.latency_source
    return "estimate" if m.emulated and ((m.instructions or {}).get("estimate") or {}).get("ms") is not None else "wall"


def read_latency(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    """The headline latency: on an emulated device the cost model's estimate for the profile's phone
    core (counted beside the timed runs), on a real phone the measured percentile."""
    m = pick_measurement(rec, sel.device, sel.threads)
    if m is not None and m.status == "ok" and _source(m, sel) == "estimate":
        if m.emulated is False:
            return None, f"{m.name} is a real phone: its latency is measured, not estimated"
        est = (m.instructions or {}).get("estimate") or {}
        if est.get("ms") is not None:
            return float(est["ms"]), None
        return _from_counted(rec, sel, "estimated_latency")
    return _from_measurement(rec, sel, "latency", "latency")


def read_emulated_latency(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    """qemu's wall clock on the emulated device (never a phone's time: labelled "emulated (qemu)")."""
    m = pick_measurement(rec, sel.device, sel.threads)
    if m is not None and m.emulated is False:
        return None, f"{m.name} is a real phone (its measured latency is the latency metric)"
    return _from_measurement(rec, sel, "latency", "latency")


def read_memory(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    """Peak memory on a real phone; on an emulated device the model's share (peak - the empty run)."""
    m = pick_measurement(rec, sel.device, sel.threads)
    if m is not None and m.status == "ok" and (m.emulated or (m.emulated is None and sel.emulated)):
        if m.memory_share_mb is not None:
            return float(m.memory_share_mb), None
        return None, f"no empty-run footprint in the measurement on {m.name} (re-run edgekit bench to get the model's share)"
    return _from_measurement(rec, sel, "peak_memory_mb", "peak memory")


def _from_counted(rec: Any, sel: Selection, which: str) -> tuple[float | None, str | None]:
    m = pick_counted(rec, sel.device, sel.threads)
    if m is None:
        failed = next((d for d in rec.device if d.status != "ok" and d.matches(sel.device)), None)
        if failed is not None:
            return None, failed.failure()
        return None, f"no instruction counts on {sel.device_label()} — run edgekit bench --metric instructions"
    if m.status != "ok":
        return None, m.failure()
    ins = m.instructions or {}
    if which == "instructions":
        v = ins.get("per_invoke")
        return (float(v), None) if v is not None else (None, "the counted run reached no timed invoke")
    est = ins.get("estimate") or {}
    if est.get("ms") is None:
        return None, f"no cost model for device profile {m.profile or '?'} (add [cost_model] to its devices/*.toml)"
    return float(est["ms"]), None


def read_instructions(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    return _from_counted(rec, sel, "instructions")


def read_estimated_latency(rec: Any, sel: Selection, _base: Any = None) -> tuple[float | None, str | None]:
    return _from_counted(rec, sel, "estimated_latency")
