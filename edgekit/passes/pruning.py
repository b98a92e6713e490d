"""Magnitude pruning (polynomial schedule that works for short runs) and 2:4 structured pruning.

The schedule's end step and update frequency are derived from the real number of training steps,
so a two-epoch run reaches the target sparsity (tfmot's default frequency of 100 steps silently
leaves short runs dense). Wrappers are stripped before returning.
"""

from __future__ import annotations

import math

import numpy as np

from edgekit.passes import keras_env


def schedule_steps(n_examples: int, batch_size: int, epochs: int) -> tuple[int, int]:
    """(end_step, frequency): masks update ~20 times and reach the target at ~75% of training."""
    steps = max(1, math.ceil(n_examples / batch_size) * epochs)
    frequency = max(1, steps // 20)
    end_step = max(frequency, frequency * int(0.75 * steps / frequency))
    return end_step, frequency


def prune(model, x, y, *, sparsity: float, epochs: int, batch_size: int = 128,
          learning_rate: float = 5e-4, progress=None):
    """Magnitude-prune Conv2D/Dense kernels to ``sparsity`` while fine-tuning; returns a stripped model."""
    from edgekit.passes.training import clone, fit  # noqa: PLC0415

    tfmot = keras_env.tfmot()
    sk = tfmot.sparsity.keras
    end_step, frequency = schedule_steps(len(x), batch_size, epochs)
    schedule = sk.PolynomialDecay(initial_sparsity=0.0, final_sparsity=float(sparsity), begin_step=0,
                                  end_step=end_step, frequency=frequency)
    wrapped = sk.prune_low_magnitude(clone(model), pruning_schedule=schedule)
    fit(wrapped, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        callbacks=[sk.UpdatePruningStep()], progress=progress)
    return sk.strip_pruning(wrapped)


def _m_by_n_eligible(layer) -> bool:
    keras = keras_env.keras()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return False
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        kernel = layer.kernel.shape
        # 2:4 groups run along the input-channel axis; it must be a multiple of 4.
        in_axis = kernel[-2] if len(kernel) == 4 else kernel[0]
        return in_axis % 4 == 0
    return False


def prune_2_4(model, x, y, *, epochs: int, batch_size: int = 128, learning_rate: float = 5e-4, progress=None):
    """2:4 structured pruning (two of every four consecutive input-channel weights are zero).

    Layers whose input-channel count is not a multiple of 4 (e.g. a first conv on grey images) and
    depthwise convolutions are left dense; the manifest's measured sparsity shows what was pruned.
    """
    from edgekit.passes.training import clone, fit  # noqa: PLC0415

    tfmot = keras_env.tfmot()
    keras = keras_env.keras()
    sk = tfmot.sparsity.keras
    base = clone(model)

    def wrap(layer):
        if _m_by_n_eligible(layer):
            return sk.prune_low_magnitude(layer, sparsity_m_by_n=(2, 4))
        return layer

    # clone_function returns base's own layer objects (wrapped or not), so trained weights carry over.
    wrapped = keras.models.clone_model(base, clone_function=wrap)
    fit(wrapped, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        callbacks=[sk.UpdatePruningStep()], progress=progress)
    return sk.strip_pruning(wrapped)


def keras_sparsity(model) -> float:
    """Fraction of exactly-zero values over Conv2D/Dense kernels (a check before export)."""
    keras = keras_env.keras()
    zeros = total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and not isinstance(
            layer, keras.layers.DepthwiseConv2D
        ):
            k = layer.kernel.numpy()
            zeros += int(np.sum(k == 0))
            total += k.size
    return zeros / total if total else 0.0
