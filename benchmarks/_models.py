"""Benchmark models for the scripts in benchmarks/ (not tests): built once in a TensorFlow child
process and cached under ${EDGEKIT_CACHE:-~/.cache/edgekit}/bench-models/<recipe hash>/.

Random-weight MobileNetV2, float32 and full-integer int8, in two sizes: ``small`` (alpha 0.35,
96x96x3: fast enough under emulation) and ``large`` (alpha 1.0, 160x160x3: several ms on x86, so
the 0.01 ms rounding of Google's benchmark tool does not matter).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

RECIPE = r'''
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tf_keras as keras
out, alpha, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
m = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, weights=None, classes=10)
rng = np.random.default_rng(0)
rep = rng.random((16, size, size, 3), dtype=np.float32)
def conv(kind):
    c = tf.lite.TFLiteConverter.from_keras_model(m)
    if kind == "int8":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([rep[i:i+1]] for i in range(16))
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
    return c.convert()
for kind in ("float32", "int8"):
    tag = f"mobilenetv2_{int(alpha * 100):03d}_{size}"
    open(os.path.join(out, f"{tag}_{kind}.tflite"), "wb").write(conv(kind))
'''


SIZES = {"small": ("0.35", "96"), "large": ("1.0", "160")}


def bench_models(size: str = "small") -> list[Path]:
    alpha, px = SIZES[size]
    from edgekit.digest import sha256_bytes

    key = sha256_bytes((RECIPE + alpha + px).encode())[:12]
    cache = Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "bench-models" / key
    if not cache.is_dir():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=key + ".", dir=cache.parent))
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        print("building benchmark models (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-c", RECIPE, str(tmp), alpha, px], check=True, env=env, timeout=1800)
        os.replace(tmp, cache)
    return sorted(cache.glob("*.tflite"))


def models_from_args(paths: list[str], size: str = "small") -> list[Path]:
    """.tflite files, variant folders or OUT dirs -> .tflite paths (default: the built ones)."""
    if not paths:
        return bench_models(size)
    out: list[Path] = []
    for p in map(Path, paths):
        if p.suffix == ".tflite":
            out.append(p)
        else:
            from edgekit.variant import load_variants

            out += [v.path for v in load_variants(p)]
    return out
