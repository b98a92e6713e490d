"""Tiny .tflite models for the tflite inspect/runner/evaluate tests.

Run as a script (``python tests/_tiny_tflite.py OUT_DIR``) it imports TensorFlow (tf-keras), builds
a few 8x8x1 → 10-class models with hand-set weights and writes OUT_DIR/<name>.tflite plus
OUT_DIR/expected.json (the weight statistics set in Keras). Tests call :func:`tiny_models`, which
runs the script once per pytest session in a subprocess, so the pytest process never needs
TensorFlow and the tflite_runtime child processes never see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NAMES = ("float", "int8", "dynamic", "float16", "logits", "fixedbatch")
_CACHE: dict[str, Path] = {}


def tiny_models(base: Path) -> Path:
    """Directory holding the tiny models (built once per session under ``base``)."""
    key = str(base)
    if key in _CACHE:
        return _CACHE[key]
    out = base / "edgekit_tiny_tflite"
    if not (out / "expected.json").exists():
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        proc = subprocess.run([sys.executable, __file__, str(out)], capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"building tiny models failed:\n{proc.stderr[-4000:]}")
    _CACHE[key] = out
    return out


def _build(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from edgekit.passes.keras_env import keras, tf

    tf_ = tf()
    k = keras()
    tf_.random.set_seed(0)
    import numpy as np

    rng = np.random.default_rng(0)
    values = np.array([0.0, -0.5, 0.5, 0.25], dtype=np.float32)

    def model(softmax: bool = True):
        inp = k.Input((8, 8, 1))
        x = k.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)          # 6x6x4, kernel 3x3x1x4
        x = k.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)          # kernel 3x3x4x1
        x = k.layers.Flatten()(x)                                               # 144
        x = k.layers.Dense(10, activation="softmax" if softmax else None, name="fc")(x)  # 1440 weights
        m = k.Model(inp, x)
        expected = {}
        for layer in m.layers:
            ws = layer.get_weights()
            if not ws:
                continue
            kern = rng.choice(values, size=ws[0].shape).astype(np.float32)
            bias = rng.normal(0, 0.1, size=ws[1].shape).astype(np.float32)
            layer.set_weights([kern, bias])
            expected[layer.name] = {"zeros": int((kern == 0).sum()), "size": int(kern.size), "unique": int(np.unique(kern).size)}
        return m, expected

    def convert(m, mode: str) -> bytes:
        conv = tf_.lite.TFLiteConverter.from_keras_model(m)
        if mode in ("int8", "dynamic", "float16"):
            conv.optimizations = [tf_.lite.Optimize.DEFAULT]
        if mode == "float16":
            conv.target_spec.supported_types = [tf_.float16]
        if mode == "int8":
            def rep():
                r = np.random.default_rng(1)
                for _ in range(20):
                    yield [r.random((1, 8, 8, 1), dtype=np.float32)]
            conv.representative_dataset = rep
            conv.target_spec.supported_ops = [tf_.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf_.int8
            conv.inference_output_type = tf_.int8
        return conv.convert()

    base, expected = model()
    for mode in ("float", "int8", "dynamic", "float16"):
        (out / f"{mode}.tflite").write_bytes(convert(base, mode))
    logits, _ = model(softmax=False)
    (out / "logits.tflite").write_bytes(convert(logits, "float"))
    # a graph that hard-codes batch 1: resizing the input to a batch "works" but gives wrong shapes
    inp = k.Input((8, 8, 1))
    x = k.layers.Lambda(lambda t: tf_.reshape(t, [1, 64]))(inp)
    x = k.layers.Dense(10, activation="softmax")(x)
    (out / "fixedbatch.tflite").write_bytes(convert(k.Model(inp, x), "float"))
    (out / "expected.json").write_text(json.dumps({"weights": expected, "tf_version": tf_.__version__}))


if __name__ == "__main__":
    _build(Path(sys.argv[1]))
