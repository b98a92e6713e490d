"""Import TensorFlow the one safe way: tf-keras (Keras 2), quiet logs.

tfmot works only with tf-keras models; ``TF_USE_LEGACY_KERAS=1`` must be set before the first
``import tensorflow``. Never import tflite_runtime in the same process afterwards.
"""

from __future__ import annotations

import os


def _prepare() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def tf():
    """Return the ``tensorflow`` module, imported with tf-keras as ``tf.keras``."""
    _prepare()
    import tensorflow  # noqa: PLC0415

    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


def keras():
    """Return ``tf_keras`` (Keras 2)."""
    tf()
    import tf_keras  # noqa: PLC0415

    return tf_keras


def tfmot():
    """Return ``tensorflow_model_optimization``."""
    tf()
    import tensorflow_model_optimization  # noqa: PLC0415

    return tensorflow_model_optimization
