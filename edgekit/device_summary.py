"""A device measurement of a variant, summarised for results, report and gate (:class:`DeviceSummary`),
and the record helpers the results records share. Re-exported by :mod:`edgekit.results`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

SUMMARY_STATS = ("mean", "p50", "p90", "p99", "cv")


@lru_cache(maxsize=None)
def _names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = _names(cls)
    return dict(data) if data.keys() <= names else {k: v for k, v in data.items() if k in names}


def _bench_model_limits(runner: str, have: dict[str, Any], unavailable: dict[str, str]) -> dict[str, str]:
    """Records written before the one stat key set: benchmark_model never reported p90/p99."""
    if runner != "benchmark_model":
        return dict(unavailable)
    missing = [k for k in ("p90", "p99") if have.get(f"{k}_ms") is None]
    return {**{k: f"benchmark_model reports p5/p50/p95, not {k}" for k in missing}, **unavailable}


def _emulated(dev: dict[str, Any], instructions: Any) -> bool | None:
    """Ran on an emulated device: bench's flag, else a counted run (only qemu counts), else unknown."""
    return bool(dev["emulated"]) if dev.get("emulated") is not None else (True if instructions else None)


@dataclass
class DeviceSummary:
    """One device measurement of a variant, summarised (newest per device, threads, runner and metric).

    Fields:
        serial              str         adb serial at measurement time
        device_id           str|null    the device's stable identity (ro.serialno, emulator:<profile>); null: stored before it
        profile             str|null    emulated device profile name
        model               str|null    Android ro.product.model
        device              str|null    Android ro.product.device
        abi                 str|null    e.g. "armeabi-v7a"
        threads             int
        runner              str         "python" | "benchmark_model"
        status              str         "ok" | "incompatible" | "failed" | "oom"
        reason              str|null    why incompatible / failed (the runtime's own words)
        runs                int         timed runs (the runner's count)
        mean_ms             float|null
        p50_ms              float|null
        p90_ms              float|null
        p99_ms              float|null
        cv                  float|null  coefficient of variation of the timed runs
        init_ms             float|null  interpreter creation + allocate
        first_inference_ms  float|null
        peak_memory_mb      float|null  MiB, the whole process (under qemu-user: qemu's own memory included)
        memory_share_mb     float|null  MiB, the model's share: peak minus the empty run (same python3 + runtime, no model)
        empty_run_mb        float|null  MiB, peak of the empty run on this device (emulated: qemu + python + runtime)
        emulated            bool|null   measured on an emulated device (qemu): latency headline is the estimate
        accuracy            float|null  on-device top-1
        instructions        dict|null   counted runs: per_invoke, classes, estimate {core, clock_mhz, ms, label}, ops ...
        metric              str         "latency" | "instructions": what the run was for
        finished            str|null    ISO-8601 UTC
        unavailable         dict        {statistic: why} for mean/p50/p90/p99/cv the runner cannot provide
    """

    serial: str
    threads: int = 1
    runner: str = "python"
    status: str = "ok"
    reason: str | None = None
    profile: str | None = None
    model: str | None = None
    device: str | None = None
    abi: str | None = None
    runs: int = 0
    mean_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    cv: float | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    peak_memory_mb: float | None = None
    memory_share_mb: float | None = None
    empty_run_mb: float | None = None
    emulated: bool | None = None
    accuracy: float | None = None
    instructions: dict[str, Any] | None = None
    metric: str = "latency"
    finished: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    device_id: str | None = None

    @property
    def identity(self) -> str:
        """The device this measurement belongs to (its adb address may change between runs)."""
        return self.device_id or self.serial

    @property
    def name(self) -> str:
        """How the device is named in messages: its profile, else model, else serial."""
        return str(self.profile or self.model or self.serial)

    def matches(self, device: str | None, threads: int | None = None) -> bool:
        return (device is None or device in (self.serial, self.device_id, self.profile, self.model, self.device)) and \
            (threads is None or self.threads == threads)

    def failure(self) -> str:
        return f"{self.status} on {self.name}: {self.reason or 'no reason given'}"

    def latency(self, percentile: str) -> tuple[float | None, str | None]:
        """The ``percentile`` latency (p50 | p90 | p99 | mean) in ms, or why it is missing (by name)."""
        v = getattr(self, f"{percentile}_ms", None)
        if v is not None and v == v:  # NaN counts as missing
            return float(v), None
        why = self.unavailable.get(percentile)
        if why:
            return None, f"{why} (measured on {self.name})"
        return None, f"no {percentile} latency in the measurement on {self.name}"

    @classmethod
    def from_measurement(cls, meas: Any) -> "DeviceSummary":
        """The summary of one :class:`edgekit.measurement.Measurement` (no raw latency list)."""
        dev = meas.device or {}
        mem = (meas.detail or {}).get("memory") or {}
        stats = meas.stats
        values = {f"{k}_ms" if k != "cv" else k: stats.get(k) for k in SUMMARY_STATS}
        unavailable = {k: why for k, why in stats.unavailable.items() if k in SUMMARY_STATS}
        return cls(
            serial=meas.device_serial, device_id=meas.device_id, profile=dev.get("profile"), model=dev.get("model"), device=dev.get("device"),
            abi=dev.get("abi") or dev.get("ABI"), threads=int(meas.threads), runner=meas.runner,
            status=meas.status, reason=meas.reason, runs=stats.runs or len(meas.latencies_ms or []),
            **values, init_ms=meas.init_ms, first_inference_ms=meas.first_inference_ms,
            peak_memory_mb=meas.peak_memory_mb, memory_share_mb=mem.get("model_share_mb"),
            empty_run_mb=mem.get("empty_run_mb"), emulated=_emulated(dev, meas.instructions),
            accuracy=meas.accuracy, instructions=meas.instructions,
            metric=meas.metric, finished=meas.finished,
            unavailable=_bench_model_limits(meas.runner, values, unavailable),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeviceSummary":
        kw = _known(cls, data)
        kw["serial"] = str(kw.get("serial") or "")
        kw["threads"] = int(kw.get("threads") or 1)
        kw["runs"] = int(kw.get("runs") or 0)
        kw["metric"] = kw.get("metric") or "latency"
        kw["unavailable"] = _bench_model_limits(kw.get("runner") or "python", kw, dict(kw.get("unavailable") or {}))
        return cls(**kw)
