"""The built-in default model, trained ahead of time and shipped with edgekit.

A user arrives with a trained model; the built-in default (``edgekit optimize`` with no MODEL, and
``make demo``) stands for one. Training it is not edgekit's job, so it ships trained: its weights are
``pretrained/default-teacher.h5`` beside this module, with ``default-teacher.json`` saying how they
were made (architecture, epochs, seed, the training data's digest, the training settings, the
TensorFlow that trained it, its test accuracy).

The weights are used only when everything that made them matches the run: the same architecture (as
tf-keras serialises it), epochs, seed, training settings and the same training images and labels. Any
difference (``--data``, another ``teacher_epochs`` or ``seed`` in the recipe, a changed architecture)
and the teacher is trained in the run as before. ``tests/optimize/test_pretrained.py`` fails when the
shipped file no longer matches the default; rebuild it with

    .venv/bin/python -m edgekit.optimize.pretrained        # trains (about 10 min) and writes both files
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from edgekit import atomic
from edgekit.digest import sha256_json

DIR = Path(__file__).parent / "pretrained"
WEIGHTS = DIR / "default-teacher.h5"
INFO = DIR / "default-teacher.json"


def teacher_key(model, dataset, *, epochs: int, seed: int, training: dict[str, Any]) -> str:
    """What the trained weights depend on (not edgekit's version: a release does not retrain them)."""
    from edgekit.optimize.data.dataset import array_digest

    return sha256_json({"schema": "edgekit.default-teacher/1", "architecture": model.to_json(),
                        "epochs": int(epochs), "seed": int(seed), "training": training,
                        "x_train": array_digest(dataset.x_train), "y_train": array_digest(dataset.y_train)})


def shipped_info() -> dict[str, Any] | None:
    """The shipped teacher's description, or None when the package has none (or it is unreadable)."""
    try:
        info = json.loads(INFO.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and WEIGHTS.is_file() else None


def load_if_matching(model, key: str) -> dict[str, Any] | None:
    """Load the shipped weights into ``model`` when they were made for ``key``; their info, else None."""
    info = shipped_info()
    if info is None or info.get("key") != key:
        return None
    try:
        model.load_weights(str(WEIGHTS))
    except (OSError, ValueError):  # a damaged file: train instead, as without one
        return None
    return info


def save(model, key: str, info: dict[str, Any]) -> None:
    """Write the weights and their description (each atomically)."""
    from edgekit.optimize import models

    models.save_weights(model, WEIGHTS)
    atomic.write_text(INFO, json.dumps(dict(info, key=key), indent=2, sort_keys=True) + "\n")


def build() -> dict[str, Any]:
    """Train the built-in default teacher exactly as a run would, evaluate it, and ship it."""
    import time

    from edgekit.optimize import models
    from edgekit.optimize.data import load_data
    from edgekit.optimize.recipe import load as load_recipe
    from edgekit.passes import keras_env
    from edgekit.passes.training import set_seed

    recipe = load_recipe(None)
    seed = 0  # edgekit optimize --seed default
    epochs = int(recipe.settings.get("teacher_epochs", models.DEFAULT_TEACHER_EPOCHS))
    dataset = load_data("fashion-mnist")  # the built-in default data (plan.DEFAULT_DATA)
    set_seed(seed)
    model = models.build_teacher(dataset.input_shape, dataset.num_classes)
    key = teacher_key(model, dataset, epochs=epochs, seed=seed, training=models.TEACHER_TRAINING)
    t0 = time.monotonic()
    models.train_teacher(model, dataset, epochs=epochs, seed=seed)
    seconds = time.monotonic() - t0
    probs = model.predict(dataset.x_test, batch_size=512, verbose=0)
    accuracy = float((probs.argmax(axis=1) == dataset.y_test).mean())
    info = {"architecture": "edgekit.optimize.models.build_teacher", "data": dataset.name,
            "epochs": epochs, "seed": seed, "training": models.TEACHER_TRAINING,
            "test_accuracy": round(accuracy, 4), "train_seconds": round(seconds, 1),
            "tensorflow": keras_env.tf().__version__}
    save(model, key, info)
    return dict(info, key=key)


if __name__ == "__main__":
    result = build()
    print(f"default teacher: {result['test_accuracy']:.2%} test accuracy after {result['epochs']} epochs "
          f"({result['train_seconds']:.0f} s) -> {WEIGHTS}", file=sys.stderr)
