#!/usr/bin/env python3
"""float32 ÷ int8 median latency on the emulated armv7-lowend device, 1 thread.

Pairs: with OUT (or OUT/variants) every variant whose name contains ``int8`` and has a float32
counterpart (``int8`` ↔ ``float32``, ``student-int8`` ↔ ``student-float32``); with no argument,
a random-weight MobileNetV2 (alpha 0.35, 96x96) converted to float32 and full-integer int8.

Runs through edgekit's own python runner (the device's armv7 tflite-runtime 2.14, which has no
XNNPACK) over adb. Emulated time is not phone time: qemu makes every instruction class cost
differently from a Cortex-A7, so read the ratio as indicative (see ../shared/STACK.md).
Starts the emulator if needed (and stops it again if it started it).

Usage: python benchmarks/int8_speedup.py [OUT] [--runs 20] [--warmup 2] [--profile armv7-lowend]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _models import bench_models  # noqa: E402


def pairs_from(arg: str | None) -> list[tuple[str, Path, Path]]:
    if arg is None:
        ms = {p.stem.rsplit("_", 1)[-1]: p for p in bench_models("small")}
        return [("mobilenetv2_035_96", ms["float32"], ms["int8"])]
    from edgekit.variant import load_variants

    vs = {v.name: v for v in load_variants(arg)}
    out = []
    for name, v in sorted(vs.items()):
        if "int8" not in name:
            continue
        f = vs.get(name.replace("int8", "float32"))
        if f is not None and f.compatible and v.compatible:
            out.append((name, f.path, v.path))
    if not out:
        sys.exit(f"no float32/int8 variant pairs under {arg} (names like float32 + int8, student-float32 + student-int8)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", help="OUT or OUT/variants of `edgekit optimize` (default: built MobileNetV2 pair)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--profile", default="armv7-lowend")
    a = ap.parse_args()

    from edgekit import emulator
    from edgekit.bench.device import Device
    from edgekit.bench.params import BenchParams
    from edgekit.bench.runner import PythonRunner
    from edgekit.bench.targets import Target

    pairs = pairs_from(a.out)
    before = {i.port for i in emulator.instances()}
    serial = emulator.ensure_running(a.profile)
    try:
        dev = Device(serial, profile=a.profile)
        dev.ensure_online()
        dev.describe()
        runner = PythonRunner(BenchParams(runs=a.runs, warmup=a.warmup, threads=1))
        runner.prepare(dev)
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"int8 speed-up on {a.profile} ({serial}), 1 thread, {a.runs} runs, {a.warmup} warm-up (emulated)")
        for col in ("pair", "float32 p50 ms", "int8 p50 ms", "float32 ÷ int8", "float32 CV", "int8 CV"):
            t.add_column(col, justify="left" if col == "pair" else "right")
        for name, fpath, ipath in pairs:
            res = []
            for p in (fpath, ipath):
                m = runner.run(dev, Target.from_file(p), 1)
                if m.status != "ok":
                    sys.exit(f"{p}: {m.status}: {m.reason}")
                res.append(m)
            f_med, i_med = (m.stats.p50 for m in res)
            t.add_row(name, f"{f_med:.2f}", f"{i_med:.2f}", f"{f_med / i_med:.2f}x",
                      f"{res[0].stats.cv:.1%}", f"{res[1].stats.cv:.1%}")
        Console(width=140).print(t)
    finally:
        for i in emulator.instances():
            if i.port not in before:
                emulator.stop(i.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
