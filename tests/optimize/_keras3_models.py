"""Keras 3 models for the bridge's tests, built and saved in a child process (Keras 3 only there).

``build_models(dest, names, formats)`` writes ``dest/NAME.keras`` / ``dest/NAME.h5`` for each name of
:data:`BUILDERS` (the script below), with BatchNormalization statistics and biases set to random
values so that a wrong translation shows in the outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import os, sys
os.environ.pop("TF_USE_LEGACY_KERAS", None)
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras
from keras import layers as L

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def functional(inputs, outputs, name):
    return keras.Model(inputs, outputs, name=name)


def seq():
    return keras.Sequential([L.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                             L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                             L.Dense(32, activation="relu"), L.Dropout(0.2), L.Dense(10), L.Softmax()], name="seq")


def branches():
    i = L.Input((28, 28, 1), name="image")
    a = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="a_conv")(i)
    a = L.BatchNormalization(name="a_bn")(a)
    a = L.ReLU(6.0, name="a_relu")(a)
    b = L.Conv2D(8, 5, strides=2, padding="same", activation="relu", name="b_conv")(i)
    b = L.DepthwiseConv2D(3, padding="same", name="b_dw")(b)
    x = L.Add(name="add")([a, b])
    x = L.Concatenate(name="concat")([x, a])
    x = L.SeparableConv2D(16, 3, padding="same", activation="relu", name="sep")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop")(x)
    o = L.Dense(10, activation="softmax", name="probs")(x)
    return functional(i, o, "branches")


def mnv2():
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)


def conv_family():
    i = L.Input((16, 16, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(i)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same", activation="silu")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(x)
    x = L.SeparableConv2D(12, 3, depth_multiplier=1, activation="tanh")(x)
    x = L.Conv2D(4, 1, groups=2, activation="sigmoid")(x)
    return functional(i, L.Flatten()(x), "conv_family")


def activations():
    i = L.Input((8, 8, 4))
    x = L.Conv2D(8, 1)(i)
    x = L.BatchNormalization(momentum=0.9, epsilon=1e-3)(x)
    outs = [L.ReLU(6.0)(x), L.ReLU(negative_slope=0.1, threshold=0.5)(x), L.LeakyReLU(0.3)(x), L.ELU()(x)]
    for act in ["relu", "relu6", "sigmoid", "tanh", "swish", "silu", "hard_sigmoid", "hard_silu", "softplus", "elu"]:
        outs.append(L.Activation(act)(x))
    outs.append(L.Conv2D(4, 1, activation="hard_silu")(x))
    return functional(i, L.Concatenate()(outs), "activations")


def merge():
    i = L.Input((6, 6, 4))
    a = L.Conv2D(4, 1)(i)
    b = L.Conv2D(4, 3, padding="same")(i)
    outs = [L.Add()([a, b, i]), L.Multiply()([a, b]), L.Subtract()([a, b]), L.Average()([a, b]),
            L.Maximum()([a, b]), L.Minimum()([a, b]), L.Concatenate(axis=-1)([a, b])]
    return functional(i, L.Concatenate()(outs), "merge")


def pool_pad():
    i = L.Input((12, 12, 3))
    x = L.ZeroPadding2D(((1, 2), (0, 1)))(i)
    x = L.Conv2D(6, 3)(x)
    a = L.MaxPooling2D(2)(x)
    b = L.AveragePooling2D(3, strides=1, padding="same")(x)
    g = [L.GlobalMaxPooling2D()(a), L.GlobalAveragePooling2D()(b), L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(b))]
    return functional(i, L.Concatenate()(g), "pool_pad")


def reshape_dense():
    i = L.Input((4, 4, 2))
    x = L.Reshape((8, 4))(i)
    x = L.Permute((2, 1))(x)
    x = L.Flatten()(x)
    x = L.Dense(16, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    x = L.Reshape((1, 1, 16))(x)
    x = L.Flatten()(x)
    return functional(i, L.Dense(5, activation="softmax")(x), "reshape_dense")


def preprocessing():
    i = L.Input((8, 8, 3))
    a = L.Rescaling(1 / 127.5, offset=-1.0)(i)
    b = L.Normalization(mean=[0.2, 0.4, 0.6], variance=[0.04, 0.09, 0.16])(i)
    n = L.Normalization(axis=-1)
    n.adapt(rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32"))
    c = n(i)
    return functional(i, L.Flatten()(L.Concatenate()([a, b, c])), "preprocessing")


def ops():
    i = L.Input((6, 6, 3))
    x = L.Conv2D(4, 1)(i)
    outs = [x + 3.0, x * (1.0 / 6.0), 2.0 - x, x - 1.5, x / 4.0, 0.5 * x, x * x, x + x]
    return functional(i, L.Flatten()(L.Concatenate()(outs)), "ops")


def seq_hard_sigmoid():
    return keras.Sequential([L.Input((10,)), L.Dense(8), L.Activation("hard_sigmoid"), L.Dense(3, activation="softmax")],
                            name="seq_hard_sigmoid")


def nested():
    inner = keras.Sequential([L.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization()], name="inner")
    i = L.Input((8, 8, 3))
    x = inner(i)
    x = L.GlobalAveragePooling2D()(x)
    return functional(i, L.Dense(3, activation="softmax")(x), "nested")


def mobilenet():
    return keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=5)


def mobilenet_v3_small():
    return keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), alpha=0.75, weights=None, classes=5)


def efficientnet_b0():
    return keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=5)


def unsupported():   # a layer the bridge has no translation for (the converter handles it)
    i = L.Input((6, 4, 1))
    x = L.UnitNormalization(name="unit_norm")(L.Flatten()(i))
    return functional(i, L.Dense(3, activation="softmax")(x), "unsupported")


def randomise(model):
    for w in model.weights:
        name = w.path.split("/")[-1]
        if name in ("moving_variance", "variance"):
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        elif name in ("moving_mean", "mean", "beta", "bias"):
            w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
        elif name == "gamma":
            w.assign(rng.uniform(0.8, 1.2, w.shape).astype("float32"))


dest, formats = sys.argv[1], sys.argv[2].split(",")
for name in sys.argv[3:]:
    model = globals()[name]()
    if name != "preprocessing":
        randomise(model)
    for fmt in formats:
        model.save(os.path.join(dest, f"{name}.{fmt}"))
'''

BUILDERS = ("seq", "branches", "mnv2", "conv_family", "activations", "merge", "pool_pad", "reshape_dense",
            "preprocessing", "ops", "seq_hard_sigmoid", "nested", "mobilenet", "mobilenet_v3_small",
            "efficientnet_b0", "unsupported")


def build_models(dest: Path, names, formats=("keras",)) -> dict[str, dict[str, Path]]:
    """Build and save ``names`` with Keras 3 in a child; returns {name: {format: path}}."""
    unknown = set(names) - set(BUILDERS)
    assert not unknown, unknown
    dest.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(dest), ",".join(formats), *names],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"building Keras 3 models failed:\n{proc.stderr[-3000:]}")
    return {n: {f: dest / f"{n}.{f}" for f in formats} for n in names}
