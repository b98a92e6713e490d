"""Re-create tests/data/emulator_int8.tflite (a tiny full-integer int8 CNN used by test_emulator.py).

    .venv/bin/python tests/data/make_emulator_int8.py

Conv2D + DepthwiseConv2D + Dense(softmax) on 8x8x1, fixed weights, int8 in/out; ~3 KB.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from edgekit.passes.keras_env import keras, tf  # noqa: E402

tf_, k = tf(), keras()
inp = k.Input((8, 8, 1))
x = k.layers.Conv2D(4, 3, activation="relu")(inp)
x = k.layers.DepthwiseConv2D(3, padding="same")(x)
x = k.layers.Flatten()(x)
x = k.layers.Dense(10, activation="softmax")(x)
m = k.Model(inp, x)
rng = np.random.default_rng(0)
m.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in m.get_weights()])


def rep():
    r = np.random.default_rng(1)
    for _ in range(20):
        yield [r.random((1, 8, 8, 1), dtype=np.float32)]


conv = tf_.lite.TFLiteConverter.from_keras_model(m)
conv.optimizations = [tf_.lite.Optimize.DEFAULT]
conv.representative_dataset = rep
conv.target_spec.supported_ops = [tf_.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf_.int8
conv.inference_output_type = tf_.int8
out = Path(__file__).with_name("emulator_int8.tflite")
out.write_bytes(conv.convert())
print(out, out.stat().st_size)
