"""Quantisation: post-training (dynamic-range, float16, full int8) and quantisation-aware training.

Converter settings are chosen for the target runtime, tflite-runtime 2.14 (the only 32-bit ARM
Python runtime): TF >= 2.17 quantises Dense per channel in dynamic-range mode and emits
FULLY_CONNECTED v12, which 2.14 cannot load, so per-channel Dense is disabled there (emits v9).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.passes import keras_env
from edgekit.passes.keras_env import quiet_native

MODES = ("float32", "dynamic", "float16", "int8")

# tfmot collaborative-optimisation schemes, chosen by what earlier passes did to the weights.
PRESERVE = ("none", "sparsity", "clusters", "sparsity+clusters")


def representative_data(x: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """``samples`` training examples drawn at random (without replacement) for calibration."""
    rng = np.random.default_rng(seed)
    n = min(samples, len(x))
    return x[np.sort(rng.choice(len(x), size=n, replace=False))]


def convert(model=None, *, saved_model_dir: Path | None = None, mode: str = "float32",
            representative: np.ndarray | None = None) -> bytes:
    """Convert a tf-keras model (or a SavedModel dir) to .tflite bytes in ``mode``.

    ``int8`` is full-integer: int8 weights and activations, int8 input and output, calibrated on
    ``representative``. A QAT model (from :func:`quantize_aware`) is exported with mode ``int8``.
    """
    tf = keras_env.tf()
    if mode not in MODES:
        raise ValueError(f"unknown conversion mode {mode!r}")
    if saved_model_dir is not None:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-channel Dense makes FULLY_CONNECTED v12, unknown to tflite-runtime 2.14.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True  # noqa: SLF001
    elif mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 conversion needs representative data")
        rep = representative.astype(np.float32)

        def gen():
            for i in range(len(rep)):
                yield [rep[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with quiet_native():
            return bytes(converter.convert())
    except Exception as exc:  # TF's ConverterError and what the MLIR passes raise: one line, no traceback
        raise EdgekitError(f"the TFLite converter cannot convert this model to {mode}: {_first_error_line(exc)}",
                           hint="the model uses an op or a shape the TFLite builtin ops cannot express; "
                                "export it without that op (or with static shapes) and try again") from None


def _first_error_line(exc: Exception) -> str:
    """The converter's first ``error:`` line (its messages run to pages), else its first line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "error:" in ln), lines[0] if lines else type(exc).__name__)
    pick = pick.split("error:", 1)[-1].strip() if "error:" in pick else pick
    return pick if len(pick) <= 300 else pick[:297] + "..."


def unsupported_layers(model) -> list[str]:
    """Layers tfmot's default 8-bit QAT cannot quantise, as ``"name (Type)"`` (empty when QAT works).

    QAT is applied for real to a throw-away clone (no training), so what tfmot accepts through its
    graph transforms (e.g. BatchNormalization folded into the conv before it) is accepted here too.
    """
    from edgekit.passes.training import clone  # noqa: PLC0415

    tfmot = keras_env.tfmot()
    try:
        tfmot.quantization.keras.quantize_model(clone(model))
        return []
    except Exception as exc:  # noqa: BLE001 - tfmot raises ValueError/RuntimeError/TypeError
        from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: PLC0415
            default_8bit_quantize_registry as registry,
        )

        keras = keras_env.keras()
        reg = registry.Default8BitQuantizeRegistry()
        bad = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers
               if not isinstance(layer, (keras.layers.InputLayer, keras.layers.BatchNormalization))
               and not reg.supports(layer)]
        return bad or [str(exc).splitlines()[0][:160]]


def quantize_aware(model, x, y, *, epochs: int, preserve: str = "none", batch_size: int = 128,
                   learning_rate: float = 1e-4, progress=None):
    """Quantisation-aware training (int8). Returns the QAT model; export with ``convert(mode='int8')``.

    ``preserve`` keeps what earlier passes made: ``sparsity`` (PQAT), ``clusters`` (CQAT),
    ``sparsity+clusters`` (PCQAT).
    """
    from edgekit.passes.training import clone, fit  # noqa: PLC0415

    tfmot = keras_env.tfmot()
    base = clone(model)
    if preserve == "none":
        qat = tfmot.quantization.keras.quantize_model(base)
    else:
        combine = tfmot.experimental.combine
        if preserve == "sparsity":
            scheme = combine.Default8BitPrunePreserveQuantizeScheme()
        elif preserve == "clusters":
            scheme = combine.Default8BitClusterPreserveQuantizeScheme()
        elif preserve == "sparsity+clusters":
            scheme = combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
        else:
            raise ValueError(f"unknown preserve mode {preserve!r}")
        annotated = tfmot.quantization.keras.quantize_annotate_model(base)
        qat = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    if epochs > 0:
        fit(qat, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, progress=progress)
    return qat
