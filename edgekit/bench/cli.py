"""The body of ``edgekit bench`` (the typer layer is edgekit/commands/bench.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from edgekit.errors import EdgekitError


def profile_names() -> list[str]:
    try:
        from edgekit.emulator.profiles import list_profiles

        return list_profiles()
    except Exception:  # noqa: BLE001
        return ["armv7-lowend", "armv7-midrange"]


def parse_threads(text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise EdgekitError(f"--threads {text!r} is not a comma-separated list of integers", "e.g. --threads 1,2,4")
    if not vals or any(v < 1 for v in vals):
        raise EdgekitError(f"--threads {text!r}: thread counts must be >= 1", "e.g. --threads 1,2")
    return list(dict.fromkeys(vals))


def resolve_targets(paths: Sequence[Path]):
    """Targets from OUT / OUT/variants / variant dirs / .tflite files, and the default OUT dir."""
    from edgekit.bench.runner import Target
    from edgekit.variant import MANIFEST_FILE, load_variants

    targets: list[Target] = []
    out_dir: Path | None = None
    for p in paths:
        if p.is_file():
            if p.suffix != ".tflite":
                raise EdgekitError(f"{p} is not a .tflite file", "pass OUT, OUT/variants, a variant folder or .tflite files")
            targets.append(Target.from_file(p))
            out_dir = out_dir or Path("out")
            continue
        for v in load_variants(p):
            if not v.path.is_file():
                raise EdgekitError(f"variant {v.name} has no {v.path.name} in {v.dir}", "re-run `edgekit optimize`")
            targets.append(Target.from_variant(v))
        if out_dir is None:
            if (p / MANIFEST_FILE).exists():
                out_dir = p.parent.parent
            elif (p / "variants").is_dir():
                out_dir = p
            else:
                out_dir = p.parent
    seen: set[tuple[str, str]] = set()
    uniq = []
    for t in targets:
        if (t.name, t.sha256) not in seen:
            seen.add((t.name, t.sha256))
            uniq.append(t)
    return uniq, (out_dir or Path("out"))


def run(*, paths, devices, emulator, runs, warmup, threads, runner, benchmark_binary, accuracy, eval_data,
        eval_limit, cooldown, use_xnnpack, allow_abi, resume, timeout, noisy_cv, out, json_out,
        metric="latency") -> None:
    from edgekit.bench.device import ARM32_ABIS, emulator_device, open_devices
    from edgekit.bench.runner import RUNNERS, BenchConfig
    from edgekit.bench.store import DB_FILE, Store
    from edgekit.bench.sweep import Sweep, find_eval_data, load_eval_set

    if runner not in RUNNERS:
        raise EdgekitError(f"--runner {runner!r} is not one of {', '.join(RUNNERS)}")
    if accuracy not in ("host", "device"):
        raise EdgekitError(f"--accuracy {accuracy!r} must be host or device")
    if accuracy == "device" and runner != "python":
        raise EdgekitError("--accuracy device needs --runner python", "benchmark_model cannot return predictions")
    if emulator and devices:
        raise EdgekitError("give either --device or --emulator, not both")
    from edgekit.bench.counted import METRICS

    if metric not in METRICS:
        raise EdgekitError(f"--metric {metric!r} is not one of {', '.join(METRICS)}",
                           "latency (wall clock) or instructions (counted guest instructions, emulated device)")
    if threads is None:
        threads = "1" if metric == "instructions" else "1,2"
    thread_list = parse_threads(threads)
    if metric == "instructions":
        if thread_list != [1]:
            raise EdgekitError(f"--metric instructions counts one thread only, not --threads {threads}",
                               "more threads make counts differ on every run: use --threads 1")
        if runner != "python":
            raise EdgekitError("--metric instructions needs --runner python", "counted runs mark phases from the device script")
        if accuracy == "device":
            raise EdgekitError("--metric instructions cannot be combined with --accuracy device",
                               "count with --accuracy host, measure device accuracy in a separate run")
    targets, default_out = resolve_targets(paths)
    out_dir = out or default_out
    cfg = BenchConfig(runner=runner, runs=runs, warmup=warmup, accuracy=accuracy, use_xnnpack=use_xnnpack,
                      benchmark_binary=benchmark_binary, timeout=timeout, noisy_cv=noisy_cv, metric=metric)
    if runner == "benchmark_model":
        from edgekit.bench.benchmark_model import find_binary

        find_binary(benchmark_binary)  # fail before touching devices
    if accuracy == "device":
        src = eval_data or find_eval_data(out_dir, targets)
        if src is None:
            raise EdgekitError(f"--accuracy device needs an evaluation set and none was found in {out_dir}",
                               "pass --eval-data: fashion-mnist, a .npz with x_test/y_test, an image folder, or a folder with x.npy + y.npy")
        cfg.eval = load_eval_set(str(src) if isinstance(src, str) else src, out_dir / ".bench-cache", eval_limit)

    devs = [emulator_device(emulator)] if emulator else open_devices(devices)
    for d in devs:
        d.describe()
        d.check_abi(allow_abi)
        if d.info.get("abi") not in ARM32_ABIS:
            sys.stderr.write(f"edgekit: warning: device {d.serial} has ABI {d.info.get('abi')}, not armeabi-v7a "
                             "(benchmarked because of --allow-abi)\n")
        if metric == "instructions":
            from edgekit.bench.counted import require

            require(d)  # a real phone: the metric is unavailable there (exit 2)

    store = Store(out_dir / DB_FILE)
    sweep = Sweep(targets, devs, thread_list, cfg, store, resume=resume, cooldown=cooldown)
    from edgekit.bench.ui import Progress

    with Progress(sweep, enabled=sys.stderr.isatty() or not json_out) as progress:
        sweep.on_event = progress.event
        result = sweep.run()
    ms = result.measurements
    if json_out:
        payload = {
            "db": str(store.path),
            "measured": result.measured,
            "skipped": result.skipped,
            "errors": result.errors,
            "measurements": [m.to_dict() for m in ms],
        }
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        from edgekit.bench.ui import summary_table

        summary_table(ms, targets, result, store.path)
    store.close()
    if result.errors:
        lost = "; ".join(result.errors.values())
        raise EdgekitError(
            f"{lost} — {len(ms)} measurement(s) saved in {out_dir / DB_FILE}",
            "fix the device (reconnect, restart the emulator) and re-run with --resume",
            exit_code=3 if result.lost else 2,
        )
