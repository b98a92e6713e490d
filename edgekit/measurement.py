"""The Measurement: one variant measured on one device with one configuration.

Produced by ``edgekit bench`` (stored in ``OUT/bench.sqlite``), consumed by report and gate.
Times are milliseconds; memory is MiB (binary, as the kernel's ``VmHWM`` counts it).

Statistics have one key set whatever the runner (:data:`STAT_KEYS`): a runner that cannot provide
one leaves it ``None`` and says why in ``LatencyStats.unavailable`` by name (``benchmark_model``
reports p5/p50/p95, so its p90 and p99 are unavailable, never silently missing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATUSES = ("ok", "incompatible", "failed", "oom")
STAT_KEYS = ("n", "mean", "std", "min", "max", "p50", "p90", "p99", "ci95_low", "ci95_high", "cv")
PERCENTILES = ("p50", "p90", "p99", "mean")


@dataclass
class LatencyStats:
    """Statistics of the timed runs (ms; ``n`` and ``cv`` are plain numbers).

    Fields:
        n                 float|null  timed runs behind the statistics
        mean              float|null
        std               float|null  sample standard deviation
        min               float|null
        max               float|null
        p50               float|null  median
        p90               float|null
        p99               float|null
        ci95_low          float|null  95% confidence interval of the mean (Student t)
        ci95_high         float|null
        cv                float|null  coefficient of variation, std / mean
        drift_rho         float|null  Spearman rho of latency vs run index (trend across the run)
        drift_p           float|null  its p-value
        drift_rel_change  float|null  fitted change first -> last run, as a fraction of the median
        unavailable       dict        {key: why} for every key of STAT_KEYS this runner cannot provide
    """

    n: float | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    ci95_low: float | None = None
    ci95_high: float | None = None
    cv: float | None = None
    drift_rho: float | None = None
    drift_p: float | None = None
    drift_rel_change: float | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> float | None:
        v = getattr(self, key, None) if key in _STAT_FIELDS else None
        return None if v is None or v != v else float(v)  # NaN counts as missing

    def why_missing(self, key: str) -> str | None:
        """None when ``key`` has a value; else why (the runner's own limitation, or no timed runs)."""
        if self.get(key) is not None:
            return None
        return self.unavailable.get(key) or ("no timed runs" if not self.n else f"{key} not recorded")

    @property
    def runs(self) -> int:
        return int(self.n or 0)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "unavailable"}
        if self.unavailable:
            out["unavailable"] = dict(self.unavailable)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "LatencyStats":
        data = dict(data or {})
        unavailable = dict(data.pop("unavailable", None) or {})
        # records written before the one key set: benchmark_model stored p5/p95 (no p90/p99)
        if ("p5" in data or "p95" in data) and "p90" not in data:
            for k in ("p90", "p99"):
                unavailable.setdefault(k, f"benchmark_model reports p5/p50/p95, not {k}")
            for k in ("ci95_low", "ci95_high"):
                unavailable.setdefault(k, "benchmark_model reports no per-run times (no confidence interval)")
        kw = {k: float(v) for k, v in data.items() if k in _STAT_FIELDS and v is not None}
        return cls(**kw, unavailable=unavailable)


_STAT_FIELDS = frozenset(f.name for f in fields(LatencyStats)) - {"unavailable"}


@dataclass
class Measurement:
    """One variant on one device with one configuration (a row of ``OUT/bench.sqlite``).

    Fields:
        variant             str       variant name
        sha256              str       of the .tflite measured
        device_serial       str       adb serial at measurement time
        device              dict      ABI, model, sdk, cores, ram_mb, profile (emulated), runtime ...
        runner              str       "python" | "benchmark_model"
        threads             int
        config              dict      runs, warmup, accuracy mode, runner flags, metric ... (hashed into the key)
        status              str       "ok" | "incompatible" | "failed" | "oom" (killed by the device's memory cap)
        reason              str|null  why incompatible / failed (the runtime's own words)
        init_ms             float|null  interpreter creation + allocate
        first_inference_ms  float|null
        latencies_ms        list      every timed run, in order (empty when the runner gives only a summary)
        stats               LatencyStats  one key set whatever the runner
        peak_memory_mb      float|null  MiB, the whole process
        accuracy            float|null  on-device top-1 (accuracy=device)
        instructions        dict|null   counted runs on the emulated device (docs/instructions.md)
        warnings            list      "noisy: ...", "drift: ...", "abi: ..."
        started             str|null  ISO-8601 UTC
        finished            str|null  ISO-8601 UTC
        edgekit_version     str|null
        size_bytes          int|null  of the .tflite measured
        accuracy_n          int|null  evaluation examples behind accuracy
        detail              dict      runner detail: memory phases (MiB), warm-up runs, runtime, accuracy check
        wall_ms             float|null  host-observed wall time of the whole runner invocation
        device_id           str|null  the device's stable identity: ro.serialno of a phone, emulator:<profile> (null: stored before it)
    """

    variant: str
    sha256: str
    device_serial: str
    device: dict[str, Any]
    runner: str
    threads: int
    config: dict[str, Any]
    status: str = "ok"
    reason: str | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    stats: LatencyStats = field(default_factory=LatencyStats)
    peak_memory_mb: float | None = None
    accuracy: float | None = None
    instructions: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    edgekit_version: str | None = None
    size_bytes: int | None = None
    accuracy_n: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    wall_ms: float | None = None
    device_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.stats, LatencyStats):
            self.stats = LatencyStats.from_dict(self.stats)

    @property
    def identity(self) -> str:
        """The device this belongs to: its stable identity, or (rows stored before it) the adb serial."""
        return self.device_id or self.device_serial

    @property
    def metric(self) -> str:
        """What the run was for: "latency" (timed) or "instructions" (counted, emulated device)."""
        return (self.config or {}).get("metric", "latency")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stats"] = self.stats.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        old = kw.get("stats") if isinstance(kw.get("stats"), dict) else {}
        extra = {k: float(old[k]) for k in ("p5", "p95") if old.get(k) is not None}
        if extra:   # a row written before the one key set: benchmark_model's p5/p95 move to detail
            kw["detail"] = dict(kw.get("detail") or {})
            kw["detail"].setdefault("percentiles_ms", extra)
        return cls(**kw)
