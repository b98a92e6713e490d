"""`edgekit bench`: size, accuracy, latency and memory of every variant on devices over adb."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from typer.core import TyperCommand

DEFAULT_PROFILE = "armv7-lowend"

HELP = (
    "Benchmark variants on 32-bit ARM Android devices over adb: latency statistics, peak memory,\n"
    "on-device accuracy. Results go to OUT/bench.sqlite as each measurement finishes.\n\n"
    "PATHS: OUT, OUT/variants, one variant folder, or .tflite files.\n\n"
    "Example: edgekit bench out/demo/variants --emulator armv7-lowend --runs 20 --threads 1 --accuracy device\n\n"
    "Example: edgekit bench out/demo --device 0123456789ABCDEF --threads 1,2,4 --cooldown 30 --resume --json\n\n"
    "Example: edgekit bench out/demo/variants --emulator --metric instructions --runs 3 --warmup 1   (exact, flake-free cost)\n\n"
    "Exit codes: 0 all measured, 2 bad input, 3 a device was lost mid-sweep (what was measured is saved;\n"
    "reconnect and re-run with --resume)."
)


def profile_names() -> list[str]:
    try:
        from edgekit.emulator.profiles import list_profiles

        return list_profiles()
    except Exception:  # noqa: BLE001
        return ["armv7-lowend", "armv7-midrange"]


class _BenchCommand(TyperCommand):
    """Lets ``--emulator`` stand alone (default profile) as well as take a profile name."""

    def parse_args(self, ctx, args):  # type: ignore[override]
        args = list(args)
        out: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            out.append(a)
            if a == "--emulator":
                nxt = args[i + 1] if i + 1 < len(args) else None
                if nxt is None or nxt.startswith("-") or not (nxt in profile_names() or nxt.endswith(".toml")):
                    out.append(DEFAULT_PROFILE)
            i += 1
        return super().parse_args(ctx, out)


def register(app: typer.Typer) -> None:
    app.command("bench", help=HELP, cls=_BenchCommand, no_args_is_help=True)(bench)


def bench(
    paths: List[Path] = typer.Argument(..., help="OUT, OUT/variants, a variant folder, or .tflite files.", show_default=False),
    device: Optional[List[str]] = typer.Option(None, "--device", "-d", help="adb serial (repeatable). Default: the only device adb sees."),
    emulator: Optional[str] = typer.Option(None, "--emulator", help=f"Start/reuse the emulated device [PROFILE] (default {DEFAULT_PROFILE})."),
    runs: int = typer.Option(50, "--runs", min=1, help="Timed runs per measurement."),
    warmup: int = typer.Option(5, "--warmup", min=0, help="Warm-up runs before timing."),
    threads: Optional[str] = typer.Option(None, "--threads", help="Comma-separated thread counts (default 1,2; 1 with --metric instructions)."),
    metric: str = typer.Option("latency", "--metric", help="latency (wall clock), or instructions: counted guest instructions by class + estimated Cortex-A7/A15 latency (emulated device only, 1 thread)."),
    runner: str = typer.Option("python", "--runner", help="python (edgekit's device runtime, pushed once: Python + tflite_runtime) or benchmark_model (TFLite's native binary)."),
    benchmark_binary: Optional[Path] = typer.Option(None, "--benchmark-binary", help="android_arm benchmark_model; default ${EDGEKIT_CACHE:-~/.cache/edgekit}/benchmark_model (never downloaded)."),
    accuracy: str = typer.Option("host", "--accuracy", help="host (keep the host evaluation) or device (run the evaluation set on the device)."),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="Evaluation set for --accuracy device: .npz (x_test, y_test) or folder with x.npy, y.npy. Default: found in OUT."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", min=1, help="Use only the first N evaluation examples (emulation is slow)."),
    cooldown: float = typer.Option(0.0, "--cooldown", min=0.0, help="Seconds to rest between variants (thermal)."),
    count: bool = typer.Option(True, "--count/--no-count", help="On the emulated device, also count the 1-thread runs (instructions, per-op counts, the estimated phone latency shown as the headline)."),
    use_xnnpack: bool = typer.Option(False, "--use-xnnpack/--no-xnnpack", help="benchmark_model runner: --use_xnnpack value."),
    allow_abi: bool = typer.Option(False, "--allow-abi", help="Benchmark a device whose ABI is not 32-bit ARM."),
    resume: bool = typer.Option(False, "--resume", help="Skip measurements already in OUT/bench.sqlite."),
    timeout: float = typer.Option(3600.0, "--timeout", min=1.0, help="Seconds allowed for one runner invocation."),
    noisy_cv: float = typer.Option(0.10, "--noisy-cv", min=0.0, help="Warn when the coefficient of variation exceeds this."),
    jobs: int = typer.Option(1, "--jobs", help="Emulated device only: measurements at the same time, each on its own host core (the counted estimate does not change; emulated timings are taken side by side)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory for bench.sqlite (default: OUT of the variants; ./out for .tflite files)."),
    json_out: bool = typer.Option(False, "--json", help="Print the measurements as JSON on stdout."),
) -> None:
    import sys

    from edgekit.bench.api import bench as run_bench
    from edgekit.bench.listeners import JsonListener
    from edgekit.bench.params import BenchParams
    from edgekit.bench.ui import ProgressListener, SummaryListener

    params = BenchParams(
        runs=runs, warmup=warmup, threads=threads, metric=metric, runner=runner, benchmark_binary=benchmark_binary,
        accuracy=accuracy, eval_data=eval_data, eval_limit=eval_limit, cooldown=cooldown, use_xnnpack=use_xnnpack, count=count,
        allow_abi=allow_abi, timeout=timeout, noisy_cv=noisy_cv, jobs=jobs,
    )
    shown = JsonListener(sys.stdout) if json_out else SummaryListener()
    run_bench(paths, device=device or None, emulator=emulator, params=params, out=out, resume=resume,
              listeners=[ProgressListener(sys.stderr), shown])
