"""The Measurement: one variant measured on one device with one configuration.

Produced by ``edgekit bench`` (stored in ``OUT/bench.sqlite``), consumed by report and gate.
Times are milliseconds; memory is MiB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("ok", "incompatible", "failed")


@dataclass
class Measurement:
    variant: str                      # variant name
    sha256: str                       # of the .tflite measured
    device_serial: str
    device: dict[str, Any]            # ABI, model, sdk, cores, ram, profile (emulated) ...
    runner: str                       # "python" | "benchmark_model"
    threads: int
    config: dict[str, Any]            # runs, warmup, accuracy mode, flags ...
    status: str = "ok"                # one of STATUSES
    reason: str | None = None         # why incompatible / failed (verbatim runtime message)
    init_ms: float | None = None
    first_inference_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)   # every timed run, in order
    stats: dict[str, float] = field(default_factory=dict)     # mean std min max p50 p90 p99 ci95_low ci95_high cv
    peak_memory_mb: float | None = None
    accuracy: float | None = None     # on-device top-1 (accuracy=device), else None
    instructions: dict[str, Any] | None = None   # counted runs on the emulator (issue 6)
    warnings: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    edgekit_version: str | None = None
    # added by bench (issue 4); all optional, older records load with the defaults
    size_bytes: int | None = None     # of the .tflite measured
    accuracy_n: int | None = None     # evaluation examples behind ``accuracy``
    detail: dict[str, Any] = field(default_factory=dict)  # runner detail: memory phases (MiB), warm-up runs, runtime, accuracy check
    wall_ms: float | None = None      # host-observed wall time of the whole runner invocation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
