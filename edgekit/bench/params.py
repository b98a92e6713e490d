"""Benchmark parameters as data: one frozen, validated object from the CLI (or a script) to the runners.

    params = BenchParams(runs=20, warmup=2, threads="1,2", accuracy="device")
    params.threads                  # (1, 2)
    params.measurement_config()     # the part hashed into a measurement's key

Like TFLite's benchmark params, every field is a flag of ``edgekit bench`` with the same name
(``benchmark_binary`` is ``--benchmark-binary``). Invalid values raise one-line
:class:`~edgekit.errors.EdgekitError` s when the object is made, before any device is touched.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Sequence

from edgekit.errors import EdgekitError

RUNNERS = ("python", "benchmark_model")
ACCURACY_MODES = ("host", "device")
METRICS = ("latency", "instructions")
NOISY_CV = 0.10


def parse_threads(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """``"1,2,4"`` (or an int, or a sequence) -> (1, 2, 4): duplicates dropped, order kept, each >= 1."""
    if isinstance(text, bool):
        raise EdgekitError(f"--threads {text!r} is not a comma-separated list of integers", "e.g. --threads 1,2,4")
    if isinstance(text, int):
        vals = [text]
    elif isinstance(text, str):
        try:
            vals = [int(x) for x in text.replace(" ", "").split(",") if x]
        except ValueError:
            raise EdgekitError(f"--threads {text!r} is not a comma-separated list of integers", "e.g. --threads 1,2,4") from None
    else:
        try:
            vals = [int(x) for x in text]
        except (TypeError, ValueError):
            raise EdgekitError(f"--threads {text!r} is not a comma-separated list of integers", "e.g. --threads 1,2,4") from None
        text = ",".join(map(str, vals))
    if not vals or any(v < 1 for v in vals):
        raise EdgekitError(f"--threads {text!r}: thread counts must be >= 1", "e.g. --threads 1,2")
    return tuple(dict.fromkeys(vals))


def _number(name: str, value: Any, minimum: float, integer: bool = False) -> Any:
    flag = "--" + name.replace("_", "-")
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise EdgekitError(f"{flag} {value!r} is not {kind}")
    if value != value or value < minimum:
        raise EdgekitError(f"{flag} {value!r} must be >= {minimum:g}")
    return value


@dataclass(frozen=True)
class BenchParams:
    """What to measure and how; the same names as ``edgekit bench``'s flags.

    Fields:
        runs              int        timed runs per measurement (>= 1)
        warmup            int        warm-up runs before timing (>= 0)
        threads           tuple      thread counts; default (1, 2), (1,) with metric "instructions"
        metric            str        "latency" (wall clock) | "instructions" (counted, emulated device)
        runner            str        "python" (edgekit's device runtime: Python + tflite_runtime) | "benchmark_model"
        benchmark_binary  Path|null  android_arm benchmark_model (runner benchmark_model)
        accuracy          str        "host" (keep eval.json) | "device" (run the evaluation set on the device)
        eval_data         Path|str|null  evaluation set for accuracy "device" (default: found in OUT)
        eval_limit        int|null   only the first N evaluation examples
        cooldown          float      seconds to rest between variants (thermal)
        use_xnnpack       bool       benchmark_model's --use_xnnpack
        allow_abi         bool       measure a device whose ABI is not 32-bit ARM
        timeout           float      seconds allowed for one runner invocation
        noisy_cv          float      warn when the coefficient of variation exceeds this
        seed              int        seed of the random inputs of the timed runs
        count             bool       emulated device, metric "latency": also count the 1-thread runs (estimate, per-op counts)
        jobs              int        measurements at the same time on one emulated device (a host core per thread; a phone: 1)
    """

    runs: int = 50
    warmup: int = 5
    threads: tuple[int, ...] | str | int | None = None
    metric: str = "latency"
    runner: str = "python"
    benchmark_binary: Path | str | None = None
    accuracy: str = "host"
    eval_data: Path | str | None = None
    eval_limit: int | None = None
    cooldown: float = 0.0
    use_xnnpack: bool = False
    allow_abi: bool = False
    timeout: float = 3600.0
    noisy_cv: float = NOISY_CV
    seed: int = 0
    count: bool = True
    jobs: int = 1

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            raise EdgekitError(f"--runner {self.runner!r} is not one of {', '.join(RUNNERS)}")
        if self.accuracy not in ACCURACY_MODES:
            raise EdgekitError(f"--accuracy {self.accuracy!r} must be host or device")
        if self.accuracy == "device" and self.runner != "python":
            raise EdgekitError("--accuracy device needs --runner python", "benchmark_model cannot return predictions")
        if self.metric not in METRICS:
            raise EdgekitError(f"--metric {self.metric!r} is not one of {', '.join(METRICS)}",
                               "latency (wall clock) or instructions (counted guest instructions, emulated device)")
        given = self.threads
        threads = parse_threads(given if given is not None else ("1" if self.metric == "instructions" else "1,2"))
        if self.metric == "instructions":
            if threads != (1,):
                raise EdgekitError(f"--metric instructions counts one thread only, not --threads {_text(given)}",
                                   "more threads make counts differ on every run: use --threads 1")
            if self.runner != "python":
                raise EdgekitError("--metric instructions needs --runner python", "counted runs mark phases from the device script")
            if self.accuracy == "device":
                raise EdgekitError("--metric instructions cannot be combined with --accuracy device",
                                   "count with --accuracy host, measure device accuracy in a separate run")
        _number("runs", self.runs, 1, integer=True)
        _number("warmup", self.warmup, 0, integer=True)
        _number("seed", self.seed, 0, integer=True)
        if self.eval_limit is not None:
            _number("eval_limit", self.eval_limit, 1, integer=True)
        _number("cooldown", self.cooldown, 0)
        _number("timeout", self.timeout, 1)
        _number("noisy_cv", self.noisy_cv, 0)
        _number("jobs", self.jobs, 1, integer=True)
        cores = os.cpu_count() or 1
        if self.jobs > cores:
            raise EdgekitError(f"--jobs {self.jobs}: this machine has {cores} core(s), and each job needs its own",
                               f"use --jobs {cores} or fewer")
        set_ = object.__setattr__
        set_(self, "threads", threads)
        set_(self, "use_xnnpack", bool(self.use_xnnpack))
        set_(self, "allow_abi", bool(self.allow_abi))
        set_(self, "count", bool(self.count))
        if self.benchmark_binary is not None:
            set_(self, "benchmark_binary", Path(self.benchmark_binary))
        if isinstance(self.eval_data, Path) or (isinstance(self.eval_data, str) and Path(self.eval_data).exists()):
            set_(self, "eval_data", Path(self.eval_data))

    def replace(self, **changes: Any) -> "BenchParams":
        """A copy with ``changes`` (validated again)."""
        return replace(self, **changes)

    def measurement_config(self, eval_sha256: str | None = None, eval_n: int | None = None) -> dict[str, Any]:
        """The part of the parameters that identifies a measurement (hashed into its key; the thread
        count, the device and the model are key parts of their own). Stable across edgekit versions,
        so ``--resume`` recognises measurements stored by an earlier one."""
        c: dict[str, Any] = {"runs": self.runs, "warmup": self.warmup, "accuracy": self.accuracy, "seed": self.seed}
        if self.metric != "latency":
            c["metric"] = self.metric
        if self.accuracy == "device" and eval_sha256 is not None:
            c["eval_sha256"] = eval_sha256
            c["eval_n"] = eval_n
        if self.runner == "benchmark_model":
            c["use_xnnpack"] = self.use_xnnpack
            c["report_peak_memory_footprint"] = True
        return c

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["threads"] = list(self.threads)  # type: ignore[arg-type]
        for k in ("benchmark_binary", "eval_data"):
            if out[k] is not None:
                out[k] = str(out[k])
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _text(threads: Any) -> str:
    if isinstance(threads, (list, tuple)):
        return ",".join(map(str, threads))
    return str(threads)
