"""The Keras 3 side of the bridge: run as a script in a child process, never imported with tf-keras.

    python -m edgekit.optimize.keras3.child JOB.json

JOB.json is a list of jobs ``{"model": PATH, "out": DIR, "sample": NPY or null, "random": N or null,
"export": DIR or null}`` (``random``: N uniform inputs of the model's shape, written to DIR/sample.npy).
For each job the model is loaded with Keras 3 and DIR receives ``model.json`` (the serialised model:
module, class_name, config), ``weights.npz`` + ``weights.json`` (every layer's weights in order, with
their names and shapes) and, when a sample is given, ``outputs.npy`` (the model's outputs on it). With
``export`` the model is also exported as a SavedModel (for the post-training passes). A job that fails
writes ``error.txt`` (one line) instead; the others still run. This module imports nothing of edgekit.
"""

from __future__ import annotations

import json
import os
import sys


def _environment() -> None:
    os.environ.pop("TF_USE_LEGACY_KERAS", None)   # this process is Keras 3 only
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def _layer_weights(model) -> tuple[dict, list]:
    """(index, arrays): per layer (nested models flattened by path) the names and shapes of its weights."""
    index: dict[str, list] = {}
    arrays: list = []

    def walk(layer, prefix: str) -> None:
        inner = getattr(layer, "layers", None)
        if inner is not None and layer is not model and type(layer).__name__ in ("Functional", "Sequential", "Model"):
            for sub in inner:
                walk(sub, f"{prefix}{layer.name}/")
            return
        entries = []
        for w in layer.weights:
            entries.append({"name": w.name.split("/")[-1].split(":")[0], "path": w.path,
                            "shape": list(w.shape), "key": f"w{len(arrays)}"})
            arrays.append(w.numpy())
        index[prefix + layer.name] = entries

    for layer in model.layers:
        walk(layer, "")
    return index, arrays


def run_job(job: dict) -> None:
    import numpy as np
    import keras

    out = job["out"]
    os.makedirs(out, exist_ok=True)
    model = keras.saving.load_model(job["model"], compile=False)
    serialised = keras.saving.serialize_keras_object(model)
    index, arrays = _layer_weights(model)
    np.savez(os.path.join(out, "weights.npz"), **{f"w{i}": a for i, a in enumerate(arrays)})
    with open(os.path.join(out, "weights.json"), "w") as fh:
        json.dump(index, fh)
    with open(os.path.join(out, "model.json"), "w") as fh:
        json.dump({"model": serialised, "keras_version": keras.__version__,
                   "input_shape": [list(s) if s is not None else None for s in _shapes(model.inputs)],
                   "output_shape": [list(s) for s in _shapes(model.outputs)]}, fh)
    if job.get("random"):    # no data given: uniform [0, 1) inputs of the model's input shape
        shape = [d if d is not None else 32 for d in model.inputs[0].shape[1:]]
        x = np.random.default_rng(0).uniform(0, 1, (int(job["random"]), *shape)).astype("float32")
        job["sample"] = os.path.join(out, "sample.npy")
        np.save(job["sample"], x)
    if job.get("sample"):
        x = np.load(job["sample"])
        if len(model.inputs) != 1 or not _fits(x.shape[1:], model.inputs[0].shape[1:]):
            return   # no outputs.npy: the parent reports that the data does not fit
        y = model(x, training=False)
        y = y[0] if isinstance(y, (list, tuple)) else y
        np.save(os.path.join(out, "outputs.npy"), np.asarray(y))
    if job.get("export"):
        model.export(job["export"], verbose=False)


def _fits(shape, model_shape) -> bool:
    return len(shape) == len(model_shape) and all(m is None or m == d for d, m in zip(shape, model_shape))


def _shapes(tensors) -> list:
    return [tuple(t.shape) for t in tensors]


def main(argv: list[str]) -> int:
    _environment()
    with open(argv[0]) as fh:
        jobs = json.load(fh)
    failed = 0
    for job in jobs:
        try:
            run_job(job)
        except Exception as exc:  # noqa: BLE001 - reported per job, one line
            failed += 1
            os.makedirs(job["out"], exist_ok=True)
            text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            with open(os.path.join(job["out"], "error.txt"), "w") as fh:
                fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
