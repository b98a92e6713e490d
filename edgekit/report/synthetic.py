"""Synthetic variants and measurements for tests and ``benchmarks/report_scale.py``.

Writes real ``manifest.json`` / ``eval.json`` files in the ``edgekit.variant/1`` and
``edgekit.eval/1`` schemas (no model needed: report and gate never open model.tflite), and builds
:class:`~edgekit.measurement.Measurement` objects like the bench stage stores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.digest import sha256_bytes
from edgekit.measurement import LatencyStats, Measurement
from edgekit.results import DeviceSummary, HostEval, VariantRecord


def sha(name: str) -> str:
    return sha256_bytes(name.encode())


def manifest(name: str, size: int, gzip_size: int | None = None, chain: list | None = None,
             status: str = "ok", reason: str | None = None) -> dict[str, Any]:
    return {
        "schema": "edgekit.variant/1",
        "name": name,
        "chain": chain if chain is not None else [{"pass": "quantize", "params": {"mode": "int8"}}],
        "parent": None,
        "base": "model",
        "sha256": sha(name),
        "size_bytes": int(size),
        "gzip_size_bytes": int(gzip_size if gzip_size is not None else size * 0.8),
        "sparsity": {"overall": 0.0, "layers": {}},
        "unique_weights": {},
        "param_count": int(size // 4),
        "ops": [],
        "io": {},
        "versions": {},
        "compatibility": {"runtime": "tflite-runtime 2.14.0", "status": status, "reason": reason},
        "training_seconds": 0.0,
        "seed": 0,
        "inputs_key": sha("in" + name),
        "created": "2026-01-01T00:00:00Z",
    }


def evaluation(name: str, accuracy: float | None, baseline: str | None = None, status: str = "ok",
               error: str | None = None, suspect: list[str] | None = None) -> dict[str, Any]:
    return {
        "suspect": list(suspect or []),
        "schema": "edgekit.eval/1",
        "status": status,
        "error": error,
        "n": 1000,
        "accuracy": accuracy,
        "per_class_accuracy": [],
        "confusion_matrix": [],
        "baseline": baseline,
        "agreement": None,
        "mean_abs_diff": None,
        "sha256": sha(name),
    }


def write_variant(out: Path, name: str, size: int, accuracy: float | None, *, gzip_size: int | None = None,
                  chain: list | None = None, baseline: str | None = None, status: str = "ok",
                  reason: str | None = None, eval_status: str = "ok", eval_error: str | None = None,
                  with_eval: bool = True, suspect: list[str] | None = None) -> Path:
    """Write ``out/variants/<name>/{manifest.json,eval.json,model.tflite}``; returns the variant dir."""
    d = Path(out) / "variants" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(json.dumps(manifest(name, size, gzip_size, chain, status, reason), indent=1))
    if with_eval:
        (d / "eval.json").write_text(json.dumps(evaluation(name, accuracy, baseline, eval_status, eval_error, suspect), indent=1))
    (d / "model.tflite").write_bytes(b"TFL3" + b"\0" * 12)
    return d


def measurement(name: str, p50: float, *, p90: float | None = None, p99: float | None = None,
                memory: float | None = 20.0, accuracy: float | None = None, serial: str = "emulator-5554",
                profile: str | None = "lowend-armv7", threads: int = 1, status: str = "ok", reason: str | None = None,
                finished: str = "2026-01-01T00:00:00Z", runner: str = "python",
                stats: LatencyStats | None = None, instructions: dict[str, Any] | None = None,
                emulated: bool | None = None, empty_run: float | None = None, counted: bool | None = None) -> Measurement:
    """A Measurement like the bench stage stores; ``stats`` replaces the python runner's statistics
    (e.g. ``edgekit.bench.benchmark_model.stats_ms(...)`` of real benchmark_model output);
    ``instructions`` makes it a counted run (``edgekit bench --metric instructions``), or with
    ``counted=False`` a timed run that was counted beside (bench's default on the emulated device);
    ``emulated`` is bench's device flag; ``empty_run`` the empty run's peak (MiB)."""
    p90 = p50 * 1.1 if p90 is None else p90
    p99 = p50 * 1.3 if p99 is None else p99
    ok = status == "ok"
    if stats is None:
        stats = LatencyStats(n=20.0, mean=p50, p50=p50, p90=p90, p99=p99, min=p50, max=p99, cv=0.05) if ok else LatencyStats()
    device = {"abi": "armeabi-v7a", "model": "edgekit-emu", "sdk": 30, "cores": 4, "ram_mb": 1024, "profile": profile}
    if emulated is not None:
        device["emulated"] = emulated
    counted = instructions is not None if counted is None else counted
    mem: dict[str, Any] = {}
    if empty_run is not None:
        mem["empty_run_mb"] = empty_run
        if ok and memory is not None:
            mem["model_share_mb"] = max(0.0, memory - empty_run)
    return Measurement(
        variant=name, sha256=sha(name), device_serial=serial, device=device, runner=runner, threads=threads,
        config={"runs": 20, "warmup": 3, **({"metric": "instructions"} if counted else {})}, detail={"memory": mem},
        status=status, reason=reason,
        init_ms=5.0 if ok else None, first_inference_ms=p50 * 2 if ok else None,
        latencies_ms=[p50] * 20 if ok and runner == "python" else [],
        stats=stats,
        peak_memory_mb=memory if ok else None, accuracy=accuracy if ok else None, instructions=instructions,
        finished=finished,
    )


def synthetic_records(n: int, seed: int = 0, device: bool = True) -> list[VariantRecord]:
    """``n`` results records with a realistic size/accuracy/latency trade-off (``v000000`` is the float baseline)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    size = rng.uniform(50e3, 5e6, n)
    q = np.log(size)
    acc = np.clip(0.55 + 0.05 * (q - q.min()) + rng.normal(0, 0.03, n), 0, 1)
    lat = size / 1e5 * rng.uniform(0.6, 1.6, n) + rng.uniform(0.5, 2, n)
    mem = 8 + size / 2**20 * rng.uniform(1, 2, n)
    records = []
    for i in range(n):
        name = f"v{i:06d}"
        rec = VariantRecord(
            name=name, is_baseline=i == 0, chain=[] if i == 0 else [{"pass": "quantize", "params": {}}],
            base="model", sha256=sha(name), size_bytes=int(size[i]), gzip_size_bytes=int(size[i] * 0.8),
            param_count=int(size[i] // 4), sparsity=0.0, host=HostEval(status="ok", accuracy=float(acc[i]), n=1000),
        )
        if device:
            rec.device.append(DeviceSummary(
                serial="emulator-5554", profile="lowend-armv7", model="edgekit-emu", abi="armeabi-v7a", threads=1,
                runner="python", runs=20, mean_ms=float(lat[i]), p50_ms=float(lat[i]), p90_ms=float(lat[i] * 1.1),
                p99_ms=float(lat[i] * 1.3), cv=0.05, init_ms=5.0, first_inference_ms=float(lat[i] * 2),
                peak_memory_mb=float(mem[i]), finished="2026-01-01T00:00:00Z",
            ))
        records.append(rec)
    return records
