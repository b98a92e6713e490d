#!/usr/bin/env python3
"""Harness fidelity, on the host: edgekit's python runner vs Google's benchmark_litert_model.py.

Same models, same thread counts, same warm-up and run counts. For each (model, threads):

- ``edgekit``: edgekit/bench/device_script.py (the script the device runs) with the Interpreter of
  ai-edge-litert (``--runtime ai_edge_litert``, the runtime Google's tool uses), every run timed
  with perf_counter_ns around invoke();
- ``google``: ai_edge_litert/tools/benchmark_litert_model.py from the same wheel (CompiledModel API,
  CPU accelerator), median read from its --result_json (rounded by the tool to 0.01 ms);
- ``ratio`` = edgekit median / google median (target: within 3%, i.e. 0.97 .. 1.03), over the
  repetitions' medians; ``best-rep ratio`` uses each harness's fastest repetition (contention from
  other work only ever adds time, so the fastest repetition is the least disturbed one);
- ``overhead``: wall time of the whole process beyond the timed, warm-up and first runs
  (interpreter start, imports, model load) for each harness.

Each pair runs ``--reps`` times in alternating order; medians over the repetitions are shown.
Both tools share this machine's 2 cores with whatever else runs: expect noise, rerun if busy.

Needs ai-edge-litert (optional extra): ``.venv/bin/pip install -e '.[bench-tools]'``
(or ``pip install ai-edge-litert==2.3.0``; it works with numpy 1.26.4 beside tflite-runtime 2.14).

Usage: python benchmarks/harness_fidelity.py [MODEL.tflite|VARIANT_DIR|OUT ...] [--threads 1,2] [--runs 100] [--warmup 5] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _models import models_from_args  # noqa: E402

from edgekit.bench.params import parse_threads  # noqa: E402
from edgekit.bench.runner import SCRIPT, parse_script_output  # noqa: E402  (the script the device runs)
from edgekit.bench.stats import summarize  # noqa: E402


def google_tool() -> Path:
    try:
        import importlib.util

        spec = importlib.util.find_spec("ai_edge_litert")
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        sys.exit("ai-edge-litert is not installed: run  .venv/bin/pip install -e '.[bench-tools]'  "
                 "(or pip install ai-edge-litert==2.3.0) and try again")
    tool = Path(list(spec.submodule_search_locations)[0]) / "tools" / "benchmark_litert_model.py"
    if not tool.is_file():
        sys.exit(f"{tool} is missing from the installed ai-edge-litert")
    return tool


def run_edgekit(model: Path, threads: int, runs: int, warmup: int) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(SCRIPT), "--model", str(model), "--threads", str(threads), "--runs", str(runs),
                        "--warmup", str(warmup), "--runtime", "ai_edge_litert"], capture_output=True, text=True, timeout=3600)
    wall = (time.perf_counter() - t0) * 1000
    res = parse_script_output(r.stdout)
    if res is None:
        raise RuntimeError(f"edgekit runner failed on {model.name}: {r.stderr.strip()[-300:]}")
    if res["status"] != "ok":
        raise RuntimeError(f"edgekit runner: {model.name}: {res['status']}: {res['reason']}")
    timed = res["first_inference_ms"] + sum(res["warmup_ms"]) + sum(res["latencies_ms"])
    return {"median": summarize(res["latencies_ms"]).p50, "overhead": wall - timed, "wall": wall}


def run_google(tool: Path, model: Path, threads: int, runs: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "r.json"
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(tool), f"--model={model}", f"--num_threads={threads}", f"--num_runs={runs}",
                            f"--warmup_runs={warmup}", f"--result_json={out}"], capture_output=True, text=True, timeout=3600)
        wall = (time.perf_counter() - t0) * 1000
        if r.returncode != 0 or not out.exists():
            raise RuntimeError(f"benchmark_litert_model failed on {model.name}: {(r.stdout + r.stderr).strip()[-300:]}")
        lat = json.loads(out.read_text())["latency"]
    timed = lat["warmup_avg_ms"] * lat["num_warmup_runs"] + lat["avg_ms"] * lat["num_runs"]
    return {"median": lat["median_ms"], "overhead": wall - timed, "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help=".tflite files, variant folders or OUT (default: built MobileNetV2 1.0/160 float32 + int8)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    tool = google_tool()
    models = models_from_args(a.models, size="large")
    threads = parse_threads(a.threads)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"harness fidelity on the host: {a.runs} runs, {a.warmup} warm-up, median of {a.reps} repetitions")
    for col in ("model", "threads", "edgekit p50 ms", "google p50 ms", "ratio", "best-rep ratio", "within 3%",
                "edgekit overhead ms", "google overhead ms"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    for model in models:
        for th in threads:
            ek, gg = [], []
            for rep in range(a.reps):
                order = (0, 1) if rep % 2 == 0 else (1, 0)
                for which in order:
                    if which == 0:
                        ek.append(run_edgekit(model, th, a.runs, a.warmup))
                    else:
                        gg.append(run_google(tool, model, th, a.runs, a.warmup))
            e_med = statistics.median(x["median"] for x in ek)
            g_med = statistics.median(x["median"] for x in gg)
            ratio = e_med / g_med if g_med else float("nan")
            e_best, g_best = min(x["median"] for x in ek), min(x["median"] for x in gg)
            best = e_best / g_best if g_best else float("nan")
            table.add_row(model.name, str(th), f"{e_med:.3f}", f"{g_med:.2f}", f"{ratio:.3f}", f"{best:.3f}",
                          "yes" if abs(ratio - 1) <= 0.03 or abs(best - 1) <= 0.03 else "NO",
                          f"{statistics.median(x['overhead'] for x in ek):.0f}",
                          f"{statistics.median(x['overhead'] for x in gg):.0f}")
    Console(width=180).print(table)
    print(f"host load average (1/5/15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
          " -- above ~1 per core the two harnesses compete with other work and the ratio is noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
