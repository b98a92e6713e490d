"""Instruction counts on the emulated ARMv7 CPU and the cost model's ESTIMATED latency (issue 6).

Prints two tables:

1. Published single-thread fp32 latencies of MobileNet v1 / v2 (1.0, 224x224) on 32-bit ARM boards
   next to edgekit's *estimate* for the same architectures: rebuilt here with tf-keras
   applications (``weights=None``: latency does not depend on weight values; nothing is downloaded),
   converted to float32 .tflite, counted on the emulated device (``edgekit bench --metric
   instructions``), and costed with the Cortex-A7 (or, for Cortex-A17 boards, the Cortex-A15) cost
   model of ``devices/*.toml`` at the board's clock. ratio = estimate / published.
2. The default variants (``edgekit optimize`` default recipe): instructions per invoke, class mix,
   estimated Cortex-A7 ms, emulated wall ms (the counted run's median invoke under qemu).

Published figures (all: ncnn's ``benchncnn``, 1 thread, fp32, loop count 4, from Tencent/ncnn
``benchmark/README.md`` at commit a4d2ea1d4422c9e849f166fd7a4aefb52f942f6a, sections
"Freescale i.MX7 Dual (Cortex A7 1.0GHz x 2)", "Banana Pi M2 Zero 2 AllWinner H2+, Cortex-A7
(ARMv7-A) (1.2GHz x 4)", "AXERA AX620A (Cortex-A7 1.0GHz * 4)", "HiSilicon Hi3519V101
(Cortex-A17 1.2GHz x 1)", "Rockchip RK3288-CG.W (Cortex-A17 1.8GHz x 4)";
https://github.com/Tencent/ncnn/blob/master/benchmark/README.md). Caveat: those are ncnn's
hand-written NEON kernels, not TFLite's; the armv7 tflite-runtime 2.14 wheel has no XNNPACK, so a
real board running edgekit's runtime would be slower than ncnn - a ratio below 1 is expected.

Usage::

    .venv/bin/python benchmarks/cost_model.py [--variants OUT/variants] [--skip-published]
                                              [--skip-variants] [--work out/cost-model]

Needs root (the emulated device); starts a private emulator instance and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NCNN = ("Tencent/ncnn benchmark/README.md @a4d2ea1d (benchncnn, 1 thread, fp32)")
# (architecture, board, core of the board, clock MHz, published ms, cost-model profile, source)
PUBLISHED = [
    ("mobilenet_v1", "Freescale i.MX7 Dual", "Cortex-A7", 1000, 708.47, "armv7-lowend", NCNN),
    ("mobilenet_v2", "Freescale i.MX7 Dual", "Cortex-A7", 1000, 466.96, "armv7-lowend", NCNN),
    ("mobilenet_v1", "Banana Pi M2 Zero 2 (Allwinner H2+)", "Cortex-A7", 1200, 974.04, "armv7-lowend", NCNN),
    ("mobilenet_v2", "Banana Pi M2 Zero 2 (Allwinner H2+)", "Cortex-A7", 1200, 683.34, "armv7-lowend", NCNN),
    ("mobilenet_v1", "AXERA AX620A", "Cortex-A7", 1000, 920.52, "armv7-lowend", NCNN),
    ("mobilenet_v2", "AXERA AX620A", "Cortex-A7", 1000, 609.18, "armv7-lowend", NCNN),
    ("mobilenet_v1", "HiSilicon Hi3519V101", "Cortex-A17", 1200, 481.64, "armv7-midrange", NCNN),
    ("mobilenet_v2", "HiSilicon Hi3519V101", "Cortex-A17", 1200, 350.81, "armv7-midrange", NCNN),
    ("mobilenet_v1", "Rockchip RK3288 (Tinker Board)", "Cortex-A17", 1800, 235.00, "armv7-midrange", NCNN),
    ("mobilenet_v2", "Rockchip RK3288 (Tinker Board)", "Cortex-A17", 1800, 157.86, "armv7-midrange", NCNN),
]

BUILD = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf, tf_keras as keras
out = sys.argv[1]
keras.utils.set_random_seed(0)
models = {
    "mobilenet_v1": lambda: keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000),
    "mobilenet_v2": lambda: keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000),
}
for name, make in models.items():
    path = os.path.join(out, name + ".tflite")
    if os.path.exists(path):
        continue
    m = make()
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    data = conv.convert()
    with open(path + ".tmp", "wb") as fh:
        fh.write(data)
    os.replace(path + ".tmp", path)
    print(name, m.count_params(), len(data))
"""


def edgekit(*args: str, timeout: float = 7200) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "edgekit.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def counted(paths: list[Path], serial: str, out: Path, runs: int, warmup: int) -> list[dict]:
    r = edgekit("bench", *map(str, paths), "--device", serial, "--metric", "instructions", "--threads", "1",
                "--runs", str(runs), "--warmup", str(warmup), "--out", str(out), "--resume", "--json")
    if r.returncode != 0:
        sys.exit(f"edgekit bench failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout)["measurements"]


def fmt_n(n: float | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1e6:,.1f}M" if n >= 1e6 else f"{n / 1e3:,.1f}k"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "cost-model", help="models, results and the default variants")
    ap.add_argument("--variants", type=Path, default=None, help="variants to count (default: WORK/variants, made by `edgekit optimize`)")
    ap.add_argument("--skip-published", action="store_true")
    ap.add_argument("--skip-variants", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="timed invokes per default variant (counts are identical; wall ms is their median)")
    a = ap.parse_args()

    from edgekit import costmodel, emulator
    from edgekit.emulator.control import free_port

    work = a.work
    work.mkdir(parents=True, exist_ok=True)
    variants = a.variants or (work / "variants")
    if not a.skip_variants and not variants.is_dir():
        print(f"[cost_model] no variants in {variants}: running `edgekit optimize --out {work}` (default recipe) ...", flush=True)
        r = edgekit("optimize", "--out", str(work))
        if r.returncode != 0:
            sys.exit(f"edgekit optimize failed:\n{r.stderr[-3000:]}")

    models_dir = work / "published-models"
    if not a.skip_published:
        models_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", BUILD, str(models_dir)], capture_output=True, text=True,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        if proc.returncode != 0:
            sys.exit(f"building MobileNet v1/v2 failed:\n{proc.stderr[-3000:]}")
        print(f"[cost_model] MobileNet v1/v2 224 float32 (random weights) ready in {time.time() - t0:.0f} s", flush=True)

    port = free_port()
    inst = emulator.start("armv7-lowend", port=port, private=True)
    try:
        if not a.skip_published:
            t0 = time.time()
            ms = counted([models_dir / "mobilenet_v1.tflite", models_dir / "mobilenet_v2.tflite"], inst.serial,
                         work / "published", runs=1, warmup=0)
            by = {m["variant"]: m for m in ms}
            print(f"[cost_model] counted in {time.time() - t0:.0f} s on the emulated armv7-lowend (qemu cortex-a7)\n")
            print("Published single-thread latency on 32-bit ARM boards vs edgekit's ESTIMATE (fp32, 224x224)")
            print(f"{'model':<13} {'board':<37} {'core @ MHz':<17} {'instr/invoke':>13} {'published ms':>12} "
                  f"{'est. ms':>9} {'est/pub':>8}")
            for arch, board, core, mhz, pub, prof, src in PUBLISHED:
                m = by.get(arch)
                ins = (m or {}).get("instructions") or {}
                if not ins.get("classes"):
                    print(f"{arch:<13} {board:<37} (not counted: {(m or {}).get('reason')})")
                    continue
                model = costmodel.load(prof)
                at_board = costmodel.CostModel(core=model.core, clock_mhz=mhz, cycles=model.cycles, profile=prof)
                est = costmodel.estimate(ins["classes"], at_board)["ms"]
                print(f"{arch:<13} {board:<37} {core + ' @ ' + str(mhz):<17} {fmt_n(ins['per_invoke']):>13} "
                      f"{pub:>12.1f} {est:>9.1f} {est / pub:>8.2f}")
            print(f"  cost models: armv7-lowend = {costmodel.load('armv7-lowend').core} cycles/class, "
                  f"armv7-midrange = {costmodel.load('armv7-midrange').core} (for the Cortex-A17 boards); "
                  "clock = the board's")
            print(f"  published: {NCNN}; est. = estimate from counted instructions (not a measurement)")
            for arch in ("mobilenet_v1", "mobilenet_v2"):
                ins = (by.get(arch) or {}).get("instructions") or {}
                if ins.get("classes"):
                    thumb = ins.get("thumb_share")
                    print(f"  {arch} mix: {costmodel.mix_text(ins['classes'], top=9)}"
                          + (f"; {thumb:.1%} in Thumb state" if thumb is not None else ""))
            print()

        if not a.skip_variants:
            t0 = time.time()
            ms = counted([variants], inst.serial, work / "default", runs=a.runs, warmup=1)
            print(f"[cost_model] default variants counted in {time.time() - t0:.0f} s\n")
            print("Default variants on the emulated armv7-lowend (1 thread)")
            print(f"{'variant':<27} {'status':<7} {'instr/invoke':>13} {'est. Cortex-A7 ms':>18} "
                  f"{'emulated wall ms':>17} {'Thumb':>6}  class mix")
            for m in sorted(ms, key=lambda m: m["variant"]):
                ins = m.get("instructions") or {}
                est = (ins.get("estimate") or {}).get("ms")
                wall = (m.get("stats") or {}).get("p50")
                n = ins.get("per_invoke")
                print(f"{m['variant']:<27} {m['status']:<7} {(f'{n:,}' if n is not None else '—'):>13} "
                      f"{(f'{est:.2f}' if est is not None else '—'):>18} {(f'{wall:.1f}' if wall else '—'):>17} "
                      f"{(format(ins['thumb_share'], '.0%') if ins.get('thumb_share') is not None else '—'):>6}  "
                      f"{costmodel.mix_text(ins['classes'], top=4) if ins.get('classes') else (m.get('reason') or '')[:60]}")
            print("  est. = Cortex-A7 @ the armv7-lowend profile's clock, from counted instructions (an estimate); "
                  "emulated wall = median invoke under qemu (with the counting plugin)")
    finally:
        emulator.stop(port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
