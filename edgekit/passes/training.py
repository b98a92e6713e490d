"""Training helpers shared by the passes: seeding, compiling, fitting and cloning tf-keras models."""

from __future__ import annotations

import numpy as np

from edgekit.digest import sha256_bytes, sha256_json
from edgekit.passes import keras_env


def set_seed(seed: int) -> None:
    tf = keras_env.tf()
    keras = keras_env.keras()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_classifier(model, learning_rate: float = 1e-3) -> None:
    keras = keras_env.keras()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def fit(model, x, y, epochs: int, batch_size: int = 128, callbacks=None, learning_rate: float = 1e-3,
        progress=None, *, augment: str = "none", schedule: str = "constant", seed: int = 0,
        loss=None, soft_views=None, from_scratch: bool = False) -> None:
    """Compile and train ``model`` on (x, y); ``progress(done_epochs, epochs)`` is called per epoch.

    ``augment`` and ``schedule``: :mod:`edgekit.passes.augment` (its batches seeded by ``seed``);
    ``loss`` replaces the classifier's sparse cross-entropy and accuracy metric; ``soft_views``: see
    :func:`edgekit.passes.augment.batches`. ``from_scratch`` (a model trained from its initial
    weights): :func:`settle_batchnorm` for this run's steps."""
    from edgekit.passes import augment as aug  # noqa: PLC0415

    keras = keras_env.keras()
    steps = epochs * -(-len(x) // batch_size)
    rate = aug.learning_rate(learning_rate, schedule, steps=steps)
    if from_scratch:
        settle_batchnorm(model, steps)
    if loss is None:
        compile_classifier(model, rate)
    else:
        model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss)
    cbs = list(callbacks or [])
    if progress is not None:
        cbs.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: progress(e + 1, epochs)))
    if augment == "none" and schedule == "constant" and soft_views is None:   # exactly as before augmentation existed
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=cbs, shuffle=True)
        return
    model.fit(aug.batches(x, y, batch_size=batch_size, augment=augment, seed=seed, soft_views=soft_views),
              epochs=epochs, verbose=0,
              callbacks=cbs, shuffle=False)


def settle_batchnorm(model, steps: int) -> None:
    """Let BatchNorm's moving averages converge within ``steps`` training steps: momentum at most
    1 - 10/steps (0.99, Keras's default, needs ~500 steps; a teacher trained 15 epochs on 800 images
    takes 105 and was left at 11 % accuracy). Runs of 1,000 steps or more are unchanged."""
    keras = keras_env.keras()
    cap = 1.0 - 10.0 / max(int(steps), 11)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.momentum > cap:
            layer.momentum = cap


def clone(model):
    """A fresh copy of ``model`` (tfmot wrappers mutate the layers of the model they get)."""
    keras = keras_env.keras()
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def logits_of(model):
    """A model sharing ``model``'s layers that outputs pre-softmax logits, or None."""
    keras = keras_env.keras()
    last = model.layers[-1]
    is_softmax = isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and getattr(last.activation, "__name__", "") == "softmax"
    )
    if is_softmax:
        return keras.Model(model.inputs, last.input)
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        return None
    return keras.Model(model.inputs, model.outputs)


def param_count(model) -> int:
    return int(model.count_params())


def weights_hash(model) -> str:
    """sha256 over the architecture (JSON) and every weight's dtype, shape and bytes."""
    weights = [np.ascontiguousarray(w) for w in model.get_weights()]
    return sha256_json({"architecture": model.to_json(),
                        "weights": [[w.dtype.str, list(w.shape), sha256_bytes(w.tobytes())]
                                    for w in weights]})
