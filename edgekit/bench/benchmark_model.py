"""The ``benchmark_model`` runner: TFLite's native benchmark binary, pushed and run over adb.

edgekit never downloads the binary: the user passes ``--benchmark-binary PATH`` or places the
``android_arm`` build at ``${EDGEKIT_CACHE:-~/.cache/edgekit}/benchmark_model``.

Output formats parsed (from tensorflow/lite/tools/benchmark/benchmark_model.cc and
tsl/util/stats_calculator.h; every line may carry a log prefix such as ``INFO: `` or a logcat
header, which is ignored)::

    Inference timings in us: Init: 3337, First inference: 81913, Warmup (avg): 58984.7, Inference (avg): 56265.8
    Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9     (older)
    Average inference timings in us: Warmup: 2331.42, Init: 896, no stats: 2177.1      (oldest)
    count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929
    count=9 first=87112 curr=51629 min=51629 max=87112 avg=58147.4 std=11478 p5=51629 median=51962 p95=87112
    count=5 curr=1000(all same)           count=0                                  (degenerate forms)
    Memory footprint delta from the start of the tool (MB): init=2.43359 overall=8.67578
    Peak memory footprint (MB): init=2.4 overall=8.6                                   (older)
    Overall peak memory footprint (MB) via periodic monitoring: 13.1797

The stats lines follow ``Running benchmark for at least ...`` lines: the first is the warm-up,
the second the timed runs. Numbers may use C++ stream notation (``1.23457e+06``).
The binary reports no per-run latencies, so a Measurement from this runner has the parsed
summary in ``stats`` (n from ``count``, mean/std/min/max, p50 from ``median``; p90, p99 and the
confidence interval named unavailable), p5/p95 in ``detail.percentiles_ms`` and an empty ``latencies_ms``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.cache import cache_dir
from edgekit.errors import EdgekitError
from edgekit.measurement import STAT_KEYS, LatencyStats

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"

_NEW = re.compile(
    rf"Inference timings in us: Init: (?P<init>{NUM}), First inference: (?P<first>{NUM}), "
    rf"Warmup \(avg\): (?P<warmup>{NUM}), Inference \(avg\): (?P<inference>{NUM})\s*$"
)
_OLD = re.compile(
    rf"Average inference timings in us: Warmup: (?P<warmup>{NUM}), Init: (?P<init>{NUM}), "
    rf"(?:Inference|no stats): (?P<inference>{NUM})(?:, with stats: {NUM})?\s*$"
)
_STAT_FULL = re.compile(
    rf"^count=(?P<count>\d+) first=(?P<first>{NUM}) curr=(?P<curr>{NUM}) min=(?P<min>{NUM}) "
    rf"max=(?P<max>{NUM}) avg=(?P<avg>{NUM}) std=(?P<std>{NUM})"
    rf"(?: p5=(?P<p5>{NUM}) median=(?P<median>{NUM}) p95=(?P<p95>{NUM}))?\s*$"
)
_STAT_SAME = re.compile(
    rf"^count=(?P<count>\d+) curr=(?P<curr>{NUM})(?:\(all same\))?"
    rf"(?: p5=(?P<p5>{NUM}) median=(?P<median>{NUM}) p95=(?P<p95>{NUM}))?\s*$"
)
_STAT_EMPTY = re.compile(r"^count=0\s*$")
_MEM_DELTA = re.compile(
    rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=(?P<init>{NUM}) overall=(?P<overall>{NUM})\s*$"
)
_MEM_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>{NUM})\s*$")

# Key phrases: a line containing one of these must parse, or the output is rejected.
_KEYS = (
    ("Inference timings in us:", None),
    ("Memory footprint delta from the start of the tool", _MEM_DELTA),
    ("Peak memory footprint (MB):", _MEM_DELTA),
    ("Overall peak memory footprint (MB) via periodic monitoring", _MEM_PEAK),
)
# Lines that mean the model could not be loaded by this runtime (reported as incompatible).
_LOAD_FAILURES = (
    "Didn't find op for builtin opcode",
    "Didn't find custom op",
    "Failed to construct interpreter",
    "Failed to allocate tensors",
    "Failed to mmap model",
    "Encountered unresolved custom op",
    "Registration failed",
)
_PREFIX = re.compile(r"^.*?(?=count=\d)")


class BenchmarkOutputError(EdgekitError):
    """benchmark_model printed something edgekit cannot read."""


@dataclass
class BenchmarkModelResult:
    init_us: float
    inference_avg_us: float
    warmup_avg_us: float
    first_inference_us: float | None = None
    warmup: dict[str, float] = field(default_factory=dict)      # stats line of the warm-up runs
    inference: dict[str, float] = field(default_factory=dict)   # stats line of the timed runs
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_memory_mb: float | None = None
    format: str = "current"                                     # "current" | "legacy"


def _f(text: str | None) -> float | None:
    return None if text is None else float(text)


def _stat(m: re.Match) -> dict[str, float]:
    return {k: float(v) for k, v in m.groupdict().items() if v is not None}


def parse_stats_line(payload: str) -> dict[str, float] | None:
    """``count=... first=... curr=...`` (payload without log prefix) -> dict, or None if not a stats line."""
    payload = payload.strip()
    if not payload.startswith("count="):
        return None
    for rx in (_STAT_FULL, _STAT_SAME, _STAT_EMPTY):
        m = rx.match(payload)
        if m:
            d = _stat(m)
            if rx is _STAT_SAME:  # all runs equal: min = max = avg = curr, std = 0
                d.update({"first": d["curr"], "min": d["curr"], "max": d["curr"], "avg": d["curr"], "std": 0.0})
            return d
    raise BenchmarkOutputError(f"unparseable benchmark_model stats line: {payload!r}", "expected 'count=N first=.. curr=.. min=.. max=.. avg=.. std=..[ p5=.. median=.. p95=..]'")


def load_failure(output: str) -> str | None:
    """The runtime's own words when the output says the model could not be loaded, else None."""
    hits = [ln.strip() for ln in output.splitlines() if any(k in ln for k in _LOAD_FAILURES)]
    return "\n".join(hits) if hits else None


def parse_output(output: str) -> BenchmarkModelResult:
    """Parse benchmark_model's stdout+stderr. Raises BenchmarkOutputError quoting the bad line."""
    timing: dict[str, float | None] | None = None
    fmt = "current"
    stats: list[dict[str, float]] = []
    mem_init = mem_overall = peak = None
    after_running = False
    for raw in output.splitlines():
        line = raw.rstrip("\r")
        if "Running benchmark for at least" in line:
            after_running = True
            continue
        m = _PREFIX.match(line)
        if m is not None and after_running:
            payload = line[m.end():]
            parsed = parse_stats_line(payload)
            if parsed is not None:
                stats.append(parsed)
                after_running = False
                continue
        if "Average inference timings in us:" in line:
            mo = _OLD.search(line)
            if not mo:
                raise BenchmarkOutputError(f"unparseable benchmark_model timing line: {line.strip()!r}")
            timing = {k: _f(v) for k, v in mo.groupdict().items()}
            fmt = "legacy"
            continue
        if "Inference timings in us:" in line:
            mo = _NEW.search(line)
            if not mo:
                raise BenchmarkOutputError(f"unparseable benchmark_model timing line: {line.strip()!r}")
            timing = {k: _f(v) for k, v in mo.groupdict().items()}
            fmt = "current"
            continue
        for key, rx in _KEYS[1:]:
            if key in line:
                mo = rx.search(line)  # type: ignore[union-attr]
                if not mo:
                    raise BenchmarkOutputError(f"unparseable benchmark_model memory line: {line.strip()!r}")
                if rx is _MEM_PEAK:
                    peak = float(mo["peak"])
                else:
                    mem_init, mem_overall = float(mo["init"]), float(mo["overall"])
                break
    if timing is None:
        failure = load_failure(output)
        tail = [ln.strip() for ln in output.strip().splitlines()[-3:]]
        detail = failure or (" | ".join(tail) if tail else "(no output)")
        raise BenchmarkOutputError(f"benchmark_model printed no 'Inference timings in us' line; last output: {detail!r}")
    warm = stats[0] if len(stats) >= 1 else {}
    inf = stats[1] if len(stats) >= 2 else {}
    first = timing.get("first")
    if first is None and warm.get("first") is not None:
        first = warm["first"]
    return BenchmarkModelResult(
        init_us=float(timing["init"] or 0.0),
        inference_avg_us=float(timing["inference"] or 0.0),
        warmup_avg_us=float(timing["warmup"] or 0.0),
        first_inference_us=first,
        warmup=warm,
        inference=inf,
        memory_init_mb=mem_init,
        memory_overall_mb=mem_overall,
        peak_memory_mb=peak,
        format=fmt,
    )


def stats_ms(result: BenchmarkModelResult) -> LatencyStats:
    """Measurement.stats (ms) from the timed-runs stats line (falls back to the average only).

    benchmark_model prints count/avg/std/min/max and p5/median/p95, never single runs: p90, p99 and
    the confidence interval are unavailable and say so; p5/p95 go to the measurement's detail."""
    s = result.inference
    out: dict[str, float] = {}
    if not s:
        out["mean"] = result.inference_avg_us / 1000.0
    else:
        out["n"] = float(s["count"])
        for src, dst in (("avg", "mean"), ("std", "std"), ("min", "min"), ("max", "max"), ("median", "p50")):
            if src in s:
                out[dst] = s[src] / 1000.0
        if out.get("mean"):
            out["cv"] = out.get("std", 0.0) / out["mean"]
    why = {"p90": "benchmark_model reports p5/p50/p95, not p90", "p99": "benchmark_model reports p5/p50/p95, not p99",
           "ci95_low": "benchmark_model reports no per-run times (no confidence interval)",
           "ci95_high": "benchmark_model reports no per-run times (no confidence interval)"}
    unavailable = {k: why.get(k, f"benchmark_model did not report {k}") for k in STAT_KEYS if k not in out}
    return LatencyStats(**out, unavailable=unavailable)


def fill_measurement(m: Any, output: str, returncode: int, noisy_cv: float) -> None:
    """A Measurement from benchmark_model's stdout+stderr and exit code: ``ok`` with the parsed
    numbers, ``incompatible`` (the runtime's own words) when the model could not be loaded,
    else ``failed`` quoting what could not be read."""
    try:
        parsed = parse_output(output)
    except BenchmarkOutputError as exc:
        failure = load_failure(output)
        m.status = "incompatible" if failure else "failed"
        m.reason = failure or f"exit code {returncode}: {exc.message}"
        return
    if returncode != 0:
        m.warnings.append(f"benchmark_model exited with code {returncode}")
    m.init_ms = parsed.init_us / 1000.0
    m.first_inference_ms = None if parsed.first_inference_us is None else parsed.first_inference_us / 1000.0
    m.stats = stats_ms(parsed)
    if (m.stats.cv or 0.0) > noisy_cv:
        m.warnings.append(f"noisy: CV {m.stats.cv:.1%} > {noisy_cv:.0%} (benchmark_model summary)")
    m.peak_memory_mb = parsed.peak_memory_mb if parsed.peak_memory_mb is not None else parsed.memory_overall_mb
    m.detail = {"init_delta_mb": parsed.memory_init_mb, "overall_delta_mb": parsed.memory_overall_mb,
                "peak_mb": parsed.peak_memory_mb, "warmup": parsed.warmup, "format": parsed.format,
                "percentiles_ms": extra_percentiles_ms(parsed)}


def extra_percentiles_ms(result: BenchmarkModelResult) -> dict[str, float]:
    """The percentiles benchmark_model reports beyond the common key set (p5, p95), in ms."""
    s = result.inference or {}
    return {k: s[k] / 1000.0 for k in ("p5", "p95") if k in s}


def default_binary() -> Path:
    return cache_dir() / "benchmark_model"


def find_binary(path: str | os.PathLike | None) -> Path:
    """The user's benchmark_model binary; never downloaded."""
    p = Path(path) if path else default_binary()
    if not p.is_file():
        where = f"--benchmark-binary {p}" if path else f"{p} (the default place)"
        raise EdgekitError(
            f"no benchmark_model binary at {where}",
            "build or download TFLite's android_arm benchmark_model yourself and pass --benchmark-binary PATH "
            "(or copy it to ${EDGEKIT_CACHE:-~/.cache/edgekit}/benchmark_model); edgekit never downloads it",
        )
    return p


def command_args(remote_binary: str, remote_model: str, threads: int, runs: int, warmup: int, use_xnnpack: bool) -> list[str]:
    """argv for the device (quoted by the caller)."""
    return [
        remote_binary,
        f"--graph={remote_model}",
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--warmup_runs={warmup}",
        f"--use_xnnpack={'true' if use_xnnpack else 'false'}",
        "--report_peak_memory_footprint=true",
    ]
