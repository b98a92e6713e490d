"""Deliberately broken tiny classifiers (8x8x1 -> 10 classes) as .tflite, one per numerical-fault kind.

:func:`broken_models` runs :data:`SCRIPT` once in a child process (TensorFlow never in pytest) and
returns the folder holding ``<name>.tflite`` and ``data.npz`` (x_test uint8, y_test = the parent's
top-1 class, so the parent is 100 % accurate). Every model is ``Flatten -> Dense(10)`` with hand-set
weights (columns of the parent's kernel sum to 0, so its predictions spread over the classes):

    parent     the float parent (softmax)
    honest     the parent's kernel + 1 % noise: no check trips
    nan        softmax + 0.001 * sqrt(pixel[0,0] - 0.5): NaN for the images whose first pixel < 0.5
    constant   zero kernel, random bias, softmax: one output for every input
    zero       zero kernel and bias, no activation: every output 0
    one_class  kernel * 0.3 and +6 on class 0's bias: class 0 takes nearly every prediction
    disagree   another random kernel: ~10 % top-1 agreement with the parent
    shifted    kernel * 0.05: same top-1 class everywhere, probabilities near uniform (large KL)
"""

from __future__ import annotations

from pathlib import Path

from conftest import run_python

KINDS = {"nan": "nonfinite", "constant": "constant", "zero": "all_zero", "one_class": "one_class",
         "disagree": "agreement", "shifted": "kl"}

SCRIPT = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tf_keras as keras, tensorflow as tf
out = sys.argv[1]
rng = np.random.default_rng(0)
L = keras.layers
def zero_sum(w):
    return (w - w.mean(axis=0, keepdims=True)).astype("float32")
W = zero_sum(rng.normal(0, 2, (64, 10)))
def dense(kernel, bias, act="softmax", extra=None):
    i = L.Input((8, 8, 1))
    d = L.Dense(10, activation=act)
    h = d(L.Flatten()(i))
    if extra is not None:
        h = L.Lambda(extra)([h, i])
    m = keras.Model(i, h)
    d.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    return m
b0 = np.zeros(10)
models = {
    "parent": dense(W, b0),
    "honest": dense(W + 0.01 * rng.normal(0, 2, W.shape), b0),
    "nan": dense(W, b0, extra=lambda t: t[0] + 0.001 * tf.sqrt(tf.reshape(t[1][:, 0, 0, 0], (-1, 1)) - 0.5)),
    "constant": dense(np.zeros_like(W), rng.normal(0, 1, 10)),
    "zero": dense(np.zeros_like(W), b0, act=None),
    "one_class": dense(W * 0.3, np.eye(10)[0] * 6.0),
    "disagree": dense(zero_sum(rng.normal(0, 2, (64, 10))), b0),
    "shifted": dense(W * 0.05, b0),
}
x = rng.integers(0, 256, (300, 8, 8), dtype=np.uint8)
xf = (x[..., None] / 255.0).astype("float32")
np.savez(os.path.join(out, "data.npz"), x_train=x[:100], y_train=np.arange(100) % 10, x_test=x,
         y_test=models["parent"].predict(xf, verbose=0).argmax(1))
for name, m in models.items():
    open(os.path.join(out, name + ".tflite"), "wb").write(tf.lite.TFLiteConverter.from_keras_model(m).convert())
print("OK")
"""

_CACHE: dict[str, Path] = {}


def broken_models(base: Path) -> Path:
    """The folder of broken models (built once per session under ``base``)."""
    out = base / "edgekit_broken_tflite"
    if str(out) not in _CACHE:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "shifted.tflite").exists():
            run_python(SCRIPT, out, timeout=300)
        _CACHE[str(out)] = out
    return _CACHE[str(out)]
