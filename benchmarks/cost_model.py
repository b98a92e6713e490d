"""Estimated phone latency vs published single-thread TFLite latencies on 32-bit ARM (issue 11).

Rebuilds the published models with random weights (tf-keras applications, ``weights=None``: latency
does not depend on weight values; nothing is downloaded), converts them (float32, or full-integer
int8 with uint8 input / float32 output as ST ships them), counts their instructions on the emulated
device (``edgekit bench --metric instructions``: the A53 rows on ``armv7-a53`` = qemu ``max``, the A7
rows on ``armv7-lowend`` = qemu ``cortex-a7``) and costs the counts with the row's cost model at the
board's clock. ``ratio`` = estimate / published.

Calibration (fixed before any estimate was looked at; at most half of the rows): one factor per
group, the geometric mean of published / raw estimate over the group's calibration rows —
``k`` for the A53 default kernels (this is ``calibration`` in devices/armv7-a53.toml), ``x`` for
XNNPACK on the A53 (on top of ``k``), ``k8`` for the A7 int8 XNNPACK rows. The held-out rows are
never used to fit anything; their error is reported separately. Also printed: ncnn's published
fp32 numbers (the issue-6 comparison; other kernels, context only) and, with ``--variants``, the
default variants' counts.

Published rows (all single thread, 32-bit userland; mean latency as published):

* A53 (AArch32): AI-performance/embedded-ai.bench @e46eb32c9c2438cc3920f9b7877c4ebbf8e88c86,
  ``20200920-bench:ncnn-tnn-mnn-tflite-androidv7v8-cpugpu.csv`` rows framework=tflite,
  platform=android-armv7, cpu_thread_num=1; TFLite master de8ecf4592 (Sept 2020, ~2.4-dev)
  ``benchmark_model --num_runs=100 --warmup_runs=20``, backend ARM (default kernels: ruy) or
  ARM_XNNPACK (``--use_xnnpack=true``); ZTE B2015 Snapdragon 410 (4x A53 @1.2 GHz, Android 5.1.1)
  and Redmi 6 Pro Snapdragon 625 (8x A53 @2.0 GHz, Android 9). Re-checked against the file at that commit.
* A7: STMicroelectronics/stm32ai-modelzoo @6f10965e6a40e2a28abd9c181f43cac4de4111c5,
  ``image_classification/mobilenetv1/README.md`` and ``.../mobilenetv2/README.md``, "Reference MPU
  inference time", STM32MP135F-DK2 (1x Cortex-A7 @1000 MHz: one core, so one thread), X-LINUX-AI
  v5.1.0 "TensorFlowLite 2.11.0", built with XNNPACK (QS8/QU8) as its default delegate
  (STMicroelectronics/meta-st-x-linux-ai tag v5.1.0 recipe): int8 rows through XNNPACK (inferred).
  Row 18's table says 128x128 but links the 224 model (at 128 it would be 3x slower per MAC than
  every other MP135 row): taken as 224, held out.

Usage::

    .venv/bin/python benchmarks/cost_model.py [--work out/cost-model] [--variants OUT/variants]

Needs root (the emulated device); starts private emulator instances and stops them at the end.
About 4 min here (model build ~2 min the first time, counting ~1-2 min).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

S1 = "AI-performance/embedded-ai.bench @e46eb32 20200920-bench:ncnn-tnn-mnn-tflite-androidv7v8-cpugpu.csv"
S2V1 = "STMicroelectronics/stm32ai-modelzoo @6f10965 image_classification/mobilenetv1/README.md"
S2V2 = "STMicroelectronics/stm32ai-modelzoo @6f10965 image_classification/mobilenetv2/README.md"
TF24 = "TFLite de8ecf4592 (~2.4-dev)"
TF211 = "TFLite 2.11.0 (X-LINUX-AI 5.1.0)"
SD410, SD625, MP135 = ("Snapdragon 410 (ZTE B2015)", 1200), ("Snapdragon 625 (Redmi 6 Pro)", 2000), ("STM32MP135F-DK2", 1000)
# (row, model, device (name, MHz), core, backend, published ms, split, runtime, source)
ROWS = [
    (1, "mnv1_1.0_224_f32", SD410, "A53", "default", 465.925, "cal", TF24, S1),
    (2, "mnv1_1.0_224_f32", SD410, "A53", "xnnpack", 256.403, "held", TF24, S1),
    (3, "mnv2_1.0_224_f32", SD410, "A53", "default", 305.481, "held", TF24, S1),
    (4, "mnv2_1.0_224_f32", SD410, "A53", "xnnpack", 177.354, "cal", TF24, S1),
    (7, "mnv1_1.0_224_f32", SD625, "A53", "default", 359.692, "held", TF24, S1),
    (8, "mnv1_1.0_224_f32", SD625, "A53", "xnnpack", 199.574, "cal", TF24, S1),
    (9, "mnv2_1.0_224_f32", SD625, "A53", "default", 234.978, "cal", TF24, S1),
    (10, "mnv2_1.0_224_f32", SD625, "A53", "xnnpack", 131.329, "held", TF24, S1),
    (13, "st_mnv1_0.25_224_i8", MP135, "A7", "xnnpack", 52.51, "held", TF211, S2V1),
    (14, "st_mnv1_0.5_224_i8", MP135, "A7", "xnnpack", 145.4, "cal", TF211, S2V1),
    (15, "st_mnv1_0.25_96_i8", MP135, "A7", "xnnpack", 9.75, "held", TF211, S2V1),
    (16, "st_mnv1_0.25_96g_i8", MP135, "A7", "xnnpack", 9.01, "held", TF211, S2V1),
    (17, "st_mnv2_1.0_224_i8pt", MP135, "A7", "xnnpack", 415.7, "cal", TF211, S2V2),
    (18, "st_mnv2_1.0_224_i8", MP135, "A7", "xnnpack", 308.80, "held", TF211, S2V2),
    (19, "st_mnv2_0.35_224_i8", MP135, "A7", "xnnpack", 54.85, "cal", TF211, S2V2),
    (20, "st_mnv2_0.35_128_i8", MP135, "A7", "xnnpack", 27.17, "held", TF211, S2V2),
]
PROFILE = {"A53": "armv7-a53", "A7": "armv7-lowend"}
DESCRIBE = {
    "mnv1_1.0_224_f32": "MobileNet v1 1.0 224 fp32", "mnv2_1.0_224_f32": "MobileNet v2 1.0 224 fp32",
    "st_mnv1_0.25_224_i8": "MNv1 0.25 224 int8 +5cls", "st_mnv1_0.5_224_i8": "MNv1 0.5 224 int8 +5cls",
    "st_mnv1_0.25_96_i8": "MNv1 0.25 96 int8 +5cls", "st_mnv1_0.25_96g_i8": "MNv1 0.25 96x1 int8 +5cls",
    "st_mnv2_1.0_224_i8pt": "MNv2 1.0 224 int8/tensor", "st_mnv2_1.0_224_i8": "MNv2 1.0 224 int8 (*)",
    "st_mnv2_0.35_224_i8": "MNv2 0.35 224 int8 +5cls", "st_mnv2_0.35_128_i8": "MNv2 0.35 128 int8 +5cls",
}
NCNN = "Tencent/ncnn benchmark/README.md @a4d2ea1d (benchncnn, 1 thread, fp32)"
NCNN_ROWS = [  # (model, board, MHz, published ms, profile) — ncnn's kernels, not TFLite's: context only
    ("mnv1_1.0_224_f32", "Freescale i.MX7 Dual (A7)", 1000, 708.47, "armv7-lowend"),
    ("mnv2_1.0_224_f32", "Freescale i.MX7 Dual (A7)", 1000, 466.96, "armv7-lowend"),
    ("mnv1_1.0_224_f32", "Banana Pi M2 Zero 2 (A7)", 1200, 974.04, "armv7-lowend"),
    ("mnv2_1.0_224_f32", "Banana Pi M2 Zero 2 (A7)", 1200, 683.34, "armv7-lowend"),
    ("mnv1_1.0_224_f32", "AXERA AX620A (A7)", 1000, 920.52, "armv7-lowend"),
    ("mnv2_1.0_224_f32", "AXERA AX620A (A7)", 1000, 609.18, "armv7-lowend"),
    ("mnv1_1.0_224_f32", "HiSilicon Hi3519V101 (A17)", 1200, 481.64, "armv7-midrange"),
    ("mnv2_1.0_224_f32", "HiSilicon Hi3519V101 (A17)", 1200, 350.81, "armv7-midrange"),
    ("mnv1_1.0_224_f32", "Rockchip RK3288 (A17)", 1800, 235.00, "armv7-midrange"),
    ("mnv2_1.0_224_f32", "Rockchip RK3288 (A17)", 1800, 157.86, "armv7-midrange"),
]

BUILD = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf, tf_keras as keras
out = sys.argv[1]
want = sys.argv[2:]
keras.utils.set_random_seed(0)
A = keras.applications

def st_head(backbone, classes):
    # ST model zoo: keras backbone (include_top=False, pooling="avg") + Dropout + Dense(classes, softmax)
    x = keras.layers.Dropout(1e-6)(backbone.output)
    return keras.Model(backbone.input, keras.layers.Dense(classes, activation="softmax")(x))

MODELS = {
    "mnv1_1.0_224_f32": (lambda: A.MobileNet(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000), "float"),
    "mnv2_1.0_224_f32": (lambda: A.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000), "float"),
    "st_mnv1_0.25_224_i8": (lambda: st_head(A.MobileNet(input_shape=(224, 224, 3), alpha=0.25, weights=None, include_top=False, pooling="avg"), 5), "int8"),
    "st_mnv1_0.5_224_i8": (lambda: st_head(A.MobileNet(input_shape=(224, 224, 3), alpha=0.5, weights=None, include_top=False, pooling="avg"), 5), "int8"),
    "st_mnv1_0.25_96_i8": (lambda: st_head(A.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, include_top=False, pooling="avg"), 5), "int8"),
    "st_mnv1_0.25_96g_i8": (lambda: st_head(A.MobileNet(input_shape=(96, 96, 1), alpha=0.25, weights=None, include_top=False, pooling="avg"), 5), "int8"),
    "st_mnv2_1.0_224_i8pt": (lambda: A.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000), "int8-per-tensor"),
    "st_mnv2_1.0_224_i8": (lambda: A.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000), "int8"),
    "st_mnv2_0.35_224_i8": (lambda: st_head(A.MobileNetV2(input_shape=(224, 224, 3), alpha=0.35, weights=None, include_top=False, pooling="avg"), 5), "int8"),
    "st_mnv2_0.35_128_i8": (lambda: st_head(A.MobileNetV2(input_shape=(128, 128, 3), alpha=0.35, weights=None, include_top=False, pooling="avg"), 5), "int8"),
}
for name, (make, kind) in MODELS.items():
    if want and name not in want:
        continue
    path = os.path.join(out, name + ".tflite")
    if os.path.exists(path):
        continue
    m = make()
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    if kind != "float":
        shape = (1,) + tuple(m.input_shape[1:])
        rng = np.random.default_rng(0)
        def rep():
            for _ in range(4):
                yield [rng.uniform(-1, 1, shape).astype("float32")]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8       # ST: uint8 input, float32 output
        conv.inference_output_type = tf.float32
        if kind == "int8-per-tensor":
            conv._experimental_disable_per_channel = True
    data = conv.convert()
    with open(path + ".tmp", "wb") as fh:
        fh.write(data)
    os.replace(path + ".tmp", path)
    print(name, m.count_params(), len(data), flush=True)
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




STABLE_PORT = {"armv7-a53": 5681, "armv7-lowend": 5682}


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def raw_estimate(classes: dict, profile: str, mhz: float) -> float:
    """ms from the profile's cycles per class at ``mhz``, calibration 1 (the uncalibrated model)."""
    from edgekit import costmodel

    model = costmodel.load(profile)
    return costmodel.estimate(classes, costmodel.CostModel(core=model.core, clock_mhz=mhz, cycles=model.cycles))["ms"]


def fit(rows: list[dict]) -> dict[str, float]:
    """The three factors, from the calibration rows only."""
    cal = [r for r in rows if r["split"] == "cal"]
    k = geomean([r["pub"] / r["raw"] for r in cal if r["core"] == "A53" and r["backend"] == "default"])
    x = geomean([r["pub"] / (k * r["raw"]) for r in cal if r["core"] == "A53" and r["backend"] == "xnnpack"])
    k8 = geomean([r["pub"] / r["raw"] for r in cal if r["core"] == "A7"])
    return {"k": k, "x": x, "k8": k8}


def apply(r: dict, f: dict[str, float]) -> float:
    if r["core"] == "A7":
        return r["raw"] * f["k8"]
    return r["raw"] * f["k"] * (f["x"] if r["backend"] == "xnnpack" else 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "cost-model", help="models and count results")
    ap.add_argument("--variants", type=Path, default=None, help="also count these variants (e.g. OUT/variants)")
    a = ap.parse_args()

    from edgekit import costmodel, emulator
    from edgekit.emulator.control import free_port

    work = a.work
    models_dir = work / "tflite-models"
    models_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", BUILD, str(models_dir)], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if proc.returncode != 0:
        sys.exit(f"building the models failed:\n{proc.stderr[-3000:]}")
    print(f"[cost_model] {len(DESCRIBE)} models (random weights) ready in {time.time() - t0:.0f} s", flush=True)

    counts: dict[tuple[str, str], dict] = {}
    for core, profile in PROFILE.items():
        names = sorted({r[1] for r in ROWS if r[3] == core} | ({"mnv1_1.0_224_f32", "mnv2_1.0_224_f32"} if core == "A7" else set()))
        port = STABLE_PORT[profile] if port_free(STABLE_PORT[profile]) else free_port()   # stable: --resume reuses counts
        inst = emulator.start(profile, port=port, private=True)
        try:
            t0 = time.time()
            ms = counted([models_dir / f"{n}.tflite" for n in names], inst.serial, work / profile, runs=2, warmup=1)
            print(f"[cost_model] {len(names)} models counted in {time.time() - t0:.0f} s on {profile} "
                  f"(qemu {emulator.load_profile(profile).qemu_cpu})", flush=True)
            if a.variants and core == "A7":
                variant_ms = counted([a.variants], inst.serial, work / "variants", runs=2, warmup=1)
        finally:
            emulator.stop(port)
        for m in ms:
            counts[(profile, m["variant"])] = m.get("instructions") or {}

    rows = []
    for rid, model, (dev, mhz), core, backend, pub, split, runtime, src in ROWS:
        ins = counts.get((PROFILE[core], model)) or {}
        if not ins.get("classes"):
            sys.exit(f"{model} was not counted on {PROFILE[core]}")
        rows.append({"id": rid, "model": model, "dev": dev, "mhz": mhz, "core": core, "backend": backend, "pub": pub,
                     "split": split, "runtime": runtime, "src": src, "n": ins["per_invoke"],
                     "raw": raw_estimate(ins["classes"], PROFILE[core], mhz)})
    f = fit(rows)
    print()
    print("Published single-thread TFLite latency on 32-bit ARM vs edgekit's ESTIMATE (counted instructions x cost model)")
    print(f"{'#':>2} {'split':<5} {'model':<26} {'device':<28} {'core@MHz':<10} {'backend':<8} {'instr/invoke':>12} "
          f"{'published':>9} {'raw est.':>8} {'est.':>8} {'est/pub':>7}  runtime; source")
    for r in rows:
        r["est"] = apply(r, f)
        r["ratio"] = r["est"] / r["pub"]
        print(f"{r['id']:>2} {r['split']:<5} {DESCRIBE[r['model']]:<26} {r['dev']:<28} {r['core'] + '@' + str(r['mhz']):<10} "
              f"{r['backend']:<8} {fmt_n(r['n']):>12} {r['pub']:>9.1f} {r['raw']:>8.1f} {r['est']:>8.1f} {r['ratio']:>7.2f}  "
              f"{r['runtime']}; {r['src']}")
    print("  published = mean ms as published, 1 thread; raw est. = cycles/class of the profile (calibration 1) at the "
          "board's clock; est. = raw x fitted factor; (*) row 18 is listed at 128x128 but links the 224 model: taken as 224")
    print(f"\nFitted on the {sum(r['split'] == 'cal' for r in rows)} calibration rows (of {len(rows)}): "
          f"k = {f['k']:.3f} (A53 default kernels; devices/armv7-a53.toml calibration = "
          f"{costmodel.load('armv7-a53').calibration:.3f}), x = {f['x']:.3f} (XNNPACK / default on the A53), "
          f"k8 = {f['k8']:.3f} (A7 int8 XNNPACK rows vs the A7 cost model)")
    for split in ("cal", "held"):
        err = [abs(r["ratio"] - 1) for r in rows if r["split"] == split]
        print(f"  {'calibration' if split == 'cal' else 'held-out   '} rows: n = {len(err)}, median |est/pub - 1| = "
              f"{statistics.median(err):.1%}, max = {max(err):.1%}")
    for grp, sel in (("A53 default", lambda r: r["core"] == "A53" and r["backend"] == "default"),
                     ("A53 XNNPACK", lambda r: r["core"] == "A53" and r["backend"] == "xnnpack"),
                     ("A7 int8 XNNPACK", lambda r: r["core"] == "A7")):
        err = [abs(r["ratio"] - 1) for r in rows if r["split"] == "held" and sel(r)]
        print(f"    held-out {grp:<16} n = {len(err)}, median {statistics.median(err):.1%}")
    print("  same instructions on both qemu CPUs? MobileNet v1 fp32: "
          f"{counts[('armv7-a53', 'mnv1_1.0_224_f32')]['per_invoke']:,} (max) vs "
          f"{counts[('armv7-lowend', 'mnv1_1.0_224_f32')]['per_invoke']:,} (cortex-a7)")

    print(f"\nContext: ncnn's published fp32 single-thread numbers ({NCNN}); other kernels, uncalibrated A7/A15 models")
    for model, board, mhz, pub, prof in NCNN_ROWS:
        ins = counts[("armv7-lowend", model)]
        est = raw_estimate(ins["classes"], prof, mhz)
        print(f"   {DESCRIBE[model]:<26} {board:<28} {mhz:>5} MHz  published {pub:>7.1f}  est. {est:>7.1f}  ratio {est / pub:.2f}")

    if a.variants:
        print("\nVariants on the emulated armv7-lowend (1 thread): instructions and the estimate per profile")
        for m in sorted(variant_ms, key=lambda m: m["variant"]):
            ins = m.get("instructions") or {}
            ests = ins.get("estimates") or {}
            print(f"   {m['variant']:<27} {m['status']:<7} {fmt_n(ins.get('per_invoke')):>10}  " + "  ".join(
                f"{costmodel.label_of(e)} {e['ms']:.2f} ms" for e in ests.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
