"""Tiny .tflite models for the bench tests, made once per machine in a TensorFlow subprocess.

Never import tflite_runtime in a process that imported tensorflow: the models are built by a
child ``python -c`` and cached under the temp dir, keyed by the recipe below.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_RECIPE = r'''
import os, sys, json
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tf_keras as keras
out = sys.argv[1]
rng = np.random.default_rng(0)
keras.utils.set_random_seed(0)
x = rng.random((64, 8, 8, 1), dtype=np.float32)
y = (x[:, :4].mean(axis=(1, 2, 3)) * 10).astype(np.int64) % 4
m = keras.Sequential([
    keras.layers.InputLayer(input_shape=(8, 8, 1), batch_size=1),
    keras.layers.Conv2D(4, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(48, activation="relu"),   # 144x48 weights: big enough for dynamic-range quant
    keras.layers.Dense(4, activation="softmax"),
])
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(x, y, epochs=3, verbose=0)

def conv(kind):
    c = tf.lite.TFLiteConverter.from_keras_model(m)
    if kind == "int8":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([x[i:i+1]] for i in range(32))
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
    elif kind == "dynamic":   # TF >= 2.17 emits FULLY_CONNECTED v12: does not load in tflite-runtime 2.14
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    return c.convert()

for kind in ("float", "int8", "dynamic"):
    with open(os.path.join(out, kind + ".tflite"), "wb") as fh:
        fh.write(conv(kind))
# a model whose tensors need ~50 MB: the device's memory cap kills it on a small-cap profile
h = keras.Sequential([keras.layers.InputLayer(input_shape=(2048, 2048), batch_size=1),
                      keras.layers.Lambda(lambda t: t * 2.0 + 1.0), keras.layers.Lambda(lambda t: t * t)])
with open(os.path.join(out, "hungry.tflite"), "wb") as fh:
    fh.write(tf.lite.TFLiteConverter.from_keras_model(h).convert())
# a 48 MB float model (one 3072x4096 Dense): big enough that pushing it takes a moment
b = keras.Sequential([keras.layers.InputLayer(input_shape=(3072,), batch_size=1), keras.layers.Dense(4096)])
with open(os.path.join(out, "big.tflite"), "wb") as fh:
    fh.write(tf.lite.TFLiteConverter.from_keras_model(b).convert())
np.save(os.path.join(out, "eval_x.npy"), x[:12])
np.save(os.path.join(out, "eval_y.npy"), y[:12])
print("ok")
'''


def tiny_models() -> Path:
    """Directory with float.tflite, int8.tflite, dynamic.tflite (incompatible), hungry.tflite (~50 MB of
    tensors), big.tflite (48 MB of weights), eval_x.npy, eval_y.npy."""
    key = hashlib.sha256(_RECIPE.encode()).hexdigest()[:12]
    d = Path(tempfile.gettempdir()) / f"edgekit-bench-tiny-{key}"
    if (d / "eval_y.npy").exists():
        return d
    tmp = Path(tempfile.mkdtemp(prefix=d.name + ".", dir=d.parent))
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, "-c", _RECIPE, str(tmp)], check=True, env=env, capture_output=True, timeout=600)
    try:
        os.replace(tmp, d)
    except OSError:  # another process won the race
        pass
    return d


def make_variant(root: Path, name: str, model: Path, extra: dict | None = None) -> Path:
    """A minimal OUT/variants/<name>/ (model.tflite + manifest.json) as `edgekit optimize` writes it."""
    import gzip
    import json

    vdir = root / name
    vdir.mkdir(parents=True, exist_ok=True)
    data = model.read_bytes()
    (vdir / "model.tflite").write_bytes(data)
    manifest = {
        "schema": "edgekit.variant/1",
        "name": name,
        "chain": [],
        "parent": None,
        "base": "model",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "gzip_size_bytes": len(gzip.compress(data, 9)),
        "compatibility": {"runtime": "tflite-runtime 2.14.0", "status": "ok", "reason": None},
    }
    manifest.update(extra or {})
    (vdir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return vdir
