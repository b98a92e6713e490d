"""Tiny models for the .tflite-input and input-range tests, made in a child process (TensorFlow never in pytest).

``make(npz, out_dir, inputs="0-1")`` trains a ~13k-parameter tf-keras CNN for 2 epochs on the .npz
(``inputs="-1-1"``: on pixels mapped to [-1, 1], as keras.applications' ``preprocess_input`` does),
saves ``model.h5`` and its float ``model.tflite`` (TF converter), and returns the Keras top-1 accuracy
on the test split under the same mapping.
"""

from __future__ import annotations

from pathlib import Path

from conftest import run_python

SCRIPT = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tf_keras as keras, tensorflow as tf
keras.utils.set_random_seed(0)
d = np.load(sys.argv[1]); out = sys.argv[2]; inputs = sys.argv[3]
def prep(x):
    x = x[..., None].astype("float32") / 255.0
    return x * 2.0 - 1.0 if inputs == "-1-1" else x
L = keras.layers
i = L.Input((28, 28, 1))
h = L.Conv2D(8, 3, activation="relu")(i)
h = L.MaxPooling2D()(h)
h = L.Conv2D(16, 3, activation="relu")(h)
h = L.MaxPooling2D()(h)
h = L.Flatten()(h)
h = L.Dense(32, activation="relu")(h)
m = keras.Model(i, L.Softmax()(L.Dense(10)(h)))
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(prep(d["x_train"]), d["y_train"], epochs=3, batch_size=32, verbose=0)
m.save(os.path.join(out, "model.h5"))
open(os.path.join(out, "model.tflite"), "wb").write(tf.lite.TFLiteConverter.from_keras_model(m).convert())
acc = float((m.predict(prep(d["x_test"]), verbose=0).argmax(1) == d["y_test"]).mean())
print("ACC", acc)
"""


def make(npz: Path, out_dir: Path, inputs: str = "0-1") -> float:
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout = run_python(SCRIPT, npz, out_dir, inputs)
    return float(next(ln for ln in stdout.splitlines() if ln.startswith("ACC")).split()[1])


def recipe(path: Path, *chains: tuple[str, list[str]]) -> Path:
    text = "".join(f'[[variant]]\nname = "{name}"\nchain = {chain!r}\n\n'.replace("'", '"') for name, chain in chains)
    path.write_text(text)
    return path
