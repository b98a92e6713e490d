"""Which number each axis means for a variant record: size (raw|gzip), accuracy (host|device),
latency (p50|p90|p99|mean on one device and thread count), peak memory.

Device metrics come from one measurement per variant, chosen by :class:`Selection`: the device is
matched by serial, profile name, model or device codename; ``threads`` by equality. When the results
hold one device it is used without asking; with several, the caller must choose. Without
``threads``, the fewest threads measured is used (and shown in every label).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.results import Results

METRICS = ("size", "accuracy", "latency", "memory")
# +1: smaller is better; -1: larger is better
DIRECTION = {"size": 1, "accuracy": -1, "latency": 1, "memory": 1}
DEVICE_METRICS = ("latency", "memory")
LABEL = {"size": "size", "accuracy": "accuracy", "latency": "latency", "memory": "peak memory"}


@dataclass
class Selection:
    size: str = "raw"            # raw | gzip
    accuracy: str = "host"       # host | device
    device: str | None = None    # serial, profile or model
    threads: int | None = None
    percentile: str = "p50"      # p50 | p90 | p99 | mean

    def validate(self) -> "Selection":
        if self.size not in ("raw", "gzip"):
            raise EdgekitError(f"--size must be raw or gzip, not {self.size!r}")
        if self.accuracy not in ("host", "device"):
            raise EdgekitError(f"--accuracy must be host or device, not {self.accuracy!r}")
        if self.percentile not in ("p50", "p90", "p99", "mean"):
            raise EdgekitError(f"--percentile must be p50, p90, p99 or mean, not {self.percentile!r}")
        if self.threads is not None and self.threads < 1:
            raise EdgekitError(f"--threads must be at least 1, not {self.threads}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self, metric: str) -> str:
        if metric == "size":
            return f"size ({self.size})"
        if metric == "accuracy":
            return f"accuracy ({self.accuracy})"
        if metric == "latency":
            return f"latency {self.percentile}"
        return LABEL[metric]

    def short(self, metric: str) -> str:
        """A narrow column header."""
        if metric == "size":
            return "gzip size" if self.size == "gzip" else "size"
        if metric == "accuracy":
            return "dev. acc." if self.accuracy == "device" else "accuracy"
        if metric == "latency":
            return self.percentile if self.percentile != "mean" else "mean lat."
        return "memory"

    def device_label(self) -> str:
        parts = []
        if self.device:
            parts.append(self.device)
        if self.threads:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        return ", ".join(parts) or "any device"


def needs_device(metrics: list[str], sel: Selection) -> bool:
    return any(m in DEVICE_METRICS for m in metrics) or ("accuracy" in metrics and sel.accuracy == "device")


def _device_keys(d: dict[str, Any]) -> set[str]:
    return {str(v) for v in (d.get("serial"), d.get("profile"), d.get("model"), d.get("device")) if v}


def _device_name(d: dict[str, Any]) -> str:
    return str(d.get("profile") or d.get("model") or d.get("serial"))


def resolve_selection(results: Results, sel: Selection, metrics: list[str]) -> Selection:
    """Fill in device and threads when the results leave no choice; raise when they are ambiguous."""
    sel.validate()
    if not needs_device(metrics, sel):
        return sel
    meas = [d for r in results.variants for d in r.get("device") or ()]
    if not meas:
        return sel  # every device metric will be missing; reported per variant
    if sel.device is not None:
        matched = [d for d in meas if sel.device in _device_keys(d)]
        if not matched:
            known = sorted({_device_name(d) for d in meas})
            raise EdgekitError(f"no measurements on device {sel.device!r}", f"measured devices: {', '.join(known)}")
        meas = matched
    else:
        serials = sorted({str(d.get("serial")) for d in meas})
        if len(serials) > 1:
            known = sorted({f"{_device_name(d)} ({d.get('serial')})" for d in meas})
            raise EdgekitError(f"measurements from {len(serials)} devices", f"choose one with --device: {', '.join(known)}")
        sel.device = _device_name(meas[0])
    if sel.threads is None:
        # several thread counts (bench sweeps 1,2 by default): the fewest threads, shown in every label
        sel.threads = min(int(d.get("threads") or 1) for d in meas)
    return sel


def pick_measurement(record: dict[str, Any], sel: Selection) -> dict[str, Any] | None:
    """The record's measurement for the selected device and threads (newest if several runners)."""
    best = None
    for d in record.get("device") or ():
        if sel.device is not None and sel.device not in _device_keys(d):
            continue
        if sel.threads is not None and int(d.get("threads") or 1) != sel.threads:
            continue
        if best is None or _rank(d) >= _rank(best):
            best = d
    return best


def _rank(d: dict[str, Any]) -> tuple[bool, str]:
    """Newest first, but a latency run before a counted run (--metric instructions: qemu + plugin)."""
    return (d.get("metric", "latency") == "latency", d.get("finished") or "")


def metric_value(record: dict[str, Any], metric: str, sel: Selection) -> tuple[float | None, str | None]:
    """(value, why missing). Values: size bytes, accuracy 0..1, latency ms, memory MiB."""
    if metric == "size":
        v = record.get("gzip_size_bytes" if sel.size == "gzip" else "size_bytes")
        return (float(v), None) if v is not None else (None, f"no {sel.size} size")
    if metric == "accuracy" and sel.accuracy == "host":
        host = record.get("host")
        if not host:
            return None, "no host evaluation (eval.json)"
        if host.get("accuracy") is None:
            err = host.get("error")
            return None, f"host evaluation {host.get('status', 'missing')}" + (f": {err}" if err else "")
        return float(host["accuracy"]), None
    m = pick_measurement(record, sel)
    if m is None:
        return None, f"not measured on {sel.device_label()}"
    if m.get("status", "ok") != "ok":
        return None, f"{m.get('status')} on {_device_name(m)}: {m.get('reason') or 'no reason given'}"
    key = {"accuracy": "accuracy", "memory": "peak_memory_mb", "latency": f"{sel.percentile}_ms"}[metric]
    v = m.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None, f"no {LABEL[metric] if metric != 'latency' else sel.percentile + ' latency'} in the measurement on {_device_name(m)}"
    return float(v), None


def device_failure(record: dict[str, Any], sel: Selection) -> str | None:
    """Why the selected measurement is not usable as a variant-level failure (incompatible/failed)."""
    m = pick_measurement(record, sel)
    if m is not None and m.get("status", "ok") != "ok":
        return f"{m.get('status')} on {_device_name(m)}: {m.get('reason') or 'no reason given'}"
    return None


def metric_columns(results: Results, metrics: list[str], sel: Selection) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Per metric an array (NaN = missing), and per variant {metric: why missing}."""
    n = len(results.variants)
    cols = {m: np.full(n, np.nan) for m in metrics}
    why: list[dict[str, str]] = [{} for _ in range(n)]
    for i, r in enumerate(results.variants):
        for m in metrics:
            v, reason = metric_value(r, m, sel)
            if v is None:
                why[i][m] = reason or "missing"
            else:
                cols[m][i] = v
    return cols, why
