"""Import TensorFlow the one safe way: tf-keras (Keras 2), quiet logs.

tfmot works only with tf-keras models; ``TF_USE_LEGACY_KERAS=1`` must be set before the first
``import tensorflow``. Never import tflite_runtime in the same process afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings

# Held while fds 1/2 point at a sink (quiet_native): other threads that print take it too, so their
# lines are not swallowed by the sink (see edgekit.optimize.run).
OUTPUT_LOCK = threading.RLock()


def _prepare() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN kernels: measured on the 2-core x86 demo machine, half the CPU time per training step of
    # the built-in teacher and 2.5x less for the student (depthwise convs) than TF's Eigen kernels, and
    # still bit-identical from run to run with op determinism on. "0" in the environment turns them off.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    if not os.path.exists("/dev/nvidia0"):
        # No GPU: skip CUDA probing (and its noisy "failed call to cuInit" log).
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def tf():
    """Return the ``tensorflow`` module, imported with tf-keras as ``tf.keras``."""
    _prepare()
    if "tensorflow" not in sys.modules:
        with quiet_native():  # absl prints start-up noise before logging is configured
            import tensorflow  # noqa: PLC0415, F401
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


@contextlib.contextmanager
def quiet_native():
    """Silence the converter's C++ prints on fds 1/2 (holding :data:`OUTPUT_LOCK` meanwhile)."""
    with OUTPUT_LOCK:
        with _quiet_fds():
            yield


@contextlib.contextmanager
def _quiet_fds():
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
