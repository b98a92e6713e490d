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
        progress=None) -> None:
    """Compile and train ``model`` on (x, y); ``progress(done_epochs, epochs)`` is called per epoch."""
    keras = keras_env.keras()
    compile_classifier(model, learning_rate)
    cbs = list(callbacks or [])
    if progress is not None:
        cbs.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: progress(e + 1, epochs)))
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=cbs, shuffle=True)


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
