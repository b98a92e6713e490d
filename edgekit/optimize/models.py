"""Built-in default models, training, and loading a user's model.

The default *teacher* is a CNN with BatchNorm (444k parameters, 93.5 % on Fashion-MNIST); the default
*student* is MobileNet-style (9.6k parameters, ~1/46 of the teacher; the family: :mod:`edgekit.optimize.student`). Both end in a Softmax layer so the exported
.tflite outputs class probabilities; ``logits_of`` exposes the pre-softmax tensor for distillation.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.digest import sha256_file, sha256_json
from edgekit.errors import EdgekitError
from edgekit.passes import keras_env

DEFAULT_TEACHER_EPOCHS = 15
# How the built-in teacher is trained (part of its cache key: a change here retrains it). Measured on
# Fashion-MNIST (docs/distillation.md): 32 channels, 3 epochs at a constant 1e-3 gave 90.1 %; 15 epochs,
# cosine, shifted and mirrored images 91.6 %; with BatchNorm at 2e-3 93.0 %; 48 channels 93.5 % (the default).
TEACHER_TRAINING: dict[str, Any] = {"batch_size": 128, "learning_rate": 2e-3, "schedule": "cosine",
                                    "augment": "shift-flip"}


def train_teacher(model, dataset, *, epochs: int, seed: int, progress=None,
                  training_settings: dict[str, Any] | None = None) -> None:
    """Train the built-in teacher in place on ``dataset``'s training split (seeded, deterministic)."""
    from edgekit.passes import training

    training.set_seed(seed)
    training.fit(model, dataset.x_train, dataset.y_train, epochs=epochs, progress=progress, seed=seed,
                 from_scratch=True, **(TEACHER_TRAINING if training_settings is None else training_settings))


def save_weights(model, path: Path) -> None:
    """Write ``model``'s weights to ``path`` as HDF5, atomically (Keras picks the format by suffix)."""
    import os

    from edgekit import atomic

    with atomic.atomic_path(path) as tmp:
        model.save_weights(str(tmp) + ".h5")
        os.replace(str(tmp) + ".h5", tmp)


def build_teacher(input_shape: tuple[int, ...], num_classes: int, *, width: int = 48, batchnorm: bool = True):
    """A larger CNN: two conv blocks (``width`` and 2·``width`` channels) and a dense head (valid
    padding for images >= 20 px); ``batchnorm`` puts a BatchNorm before each ReLU."""
    keras = keras_env.keras()
    L = keras.layers
    pad = "valid" if min(input_shape[:2]) >= 20 else "same"
    inputs = L.Input(input_shape, name="image")

    def conv(x, channels, name):
        if not batchnorm:
            return L.Conv2D(channels, 3, padding=pad, activation="relu", name=name)(x)
        x = L.Conv2D(channels, 3, padding=pad, use_bias=False, name=name)(x)
        x = L.BatchNormalization(name=f"{name}_bn")(x)
        return L.ReLU(name=f"{name}_relu")(x)

    x = conv(inputs, width, "conv1")
    x = conv(x, width, "conv2")
    x = L.MaxPooling2D(name="pool1")(x)
    x = conv(x, 2 * width, "conv3")
    x = conv(x, 2 * width, "conv4")
    x = L.MaxPooling2D(name="pool2")(x)
    i = 3
    while min(x.shape[1:3]) > 8:  # large images: pool down before the dense head
        x = L.MaxPooling2D(name=f"pool{i}")(x)
        i += 1
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(4 * width, activation="relu", name="fc1")(x)
    x = L.Dropout(0.3, name="dropout")(x)
    x = L.Dense(num_classes, name="logits")(x)
    outputs = L.Softmax(name="probs")(x)
    return keras.Model(inputs, outputs, name="teacher")


def build_student(input_shape: tuple[int, ...], num_classes: int, width: int | None = None,
                  depth: int | None = None, resolution: int | None = None, block: str | None = None):
    """The built-in student family (:mod:`edgekit.optimize.student`; None: that parameter's default —
    block "separable", width 16, depth 1: edgekit's original MobileNet-style student)."""
    from edgekit.optimize import student

    return student.build_student(input_shape, num_classes, width=width, depth=depth, resolution=resolution,
                                 block=block)


# --------------------------------------------------------------------------- loading user models

@dataclass
class LoadedModel:
    """A user's model: a tf-keras model (all passes) or a SavedModel dir (post-training passes only)."""

    source: Path
    keras_model: Any | None
    saved_model_dir: Path | None
    kind: str          # "tf-keras" | "keras3" | "saved-model"
    sha256: str
    untrainable_why: str | None = None   # a Keras 3 model the bridge cannot rebuild: which layer, and why

    @property
    def trainable(self) -> bool:
        return self.keras_model is not None


def file_digest(path: Path) -> str:
    """sha256 over a model file (its name and bytes) or a SavedModel folder (every file's path and bytes)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return sha256_json([[str(f.relative_to(path) if path.is_dir() else f.name), sha256_file(f)] for f in files])


def from_keras(model) -> LoadedModel:
    """An in-memory tf-keras model as the run's base (its digest: architecture and weights)."""
    from edgekit.passes.training import weights_hash

    keras = keras_env.keras()
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        if kind.startswith("keras.") or kind.startswith("keras.src"):
            raise EdgekitError(f"the model is an in-memory Keras 3 {type(model).__name__}, not a tf-keras model",
                               "save it with model.save('model.keras') and pass the path: edgekit rebuilds a Keras 3 "
                               "file as tf-keras in a child process (the two Keras packages never share one)")
        raise EdgekitError(f"the model of type {kind} is not understood",
                           "pass a tf-keras model, the path of a .h5/.keras file or SavedModel folder, or None")
    return LoadedModel(Path(f"<in-memory model {model.name}>"), model, None, "tf-keras", weights_hash(model))


def _keras_zip_version(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
        return str(meta.get("keras_version"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError):
        return None


def _h5_keras_version(path: Path) -> str | None:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version")
    except (OSError, ImportError):
        return None
    return version.decode() if isinstance(version, bytes) else (str(version) if version is not None else None)


KERAS3_HINT = (
    "tfmot needs a tf-keras (Keras 2) model: edgekit rebuilds a Keras 3 .keras/.h5 file as one when it "
    "can translate every layer; otherwise rebuild it with `import tf_keras as keras` and save it, or use "
    "the post-training passes (ptq-dynamic, ptq-float16, ptq-int8), which work on Keras 3 models as they are"
)


def load_user_model(path: Path, workdir: Path, data: Any = None) -> LoadedModel:
    """Load MODEL as tf-keras. A Keras 3 file (.keras or .h5) is rebuilt as tf-keras through the
    bridge (:mod:`edgekit.optimize.keras3`), checked equal on ``data`` (a Dataset; None: random
    inputs); when it cannot be, it is exported to a SavedModel for the post-training passes."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"model {path} does not exist", "give a tf-keras .h5, .keras or SavedModel directory")
    digest = file_digest(path)
    keras = keras_env.keras()
    if path.is_file() and path.suffix == ".keras":
        version = _keras_zip_version(path)
        if version is None:
            raise EdgekitError(f"model {path} is not a valid .keras archive (corrupt or truncated)", "re-save the model")
        if version.startswith("3"):
            return _load_keras3(path, workdir, digest, data)
    if path.is_file() and path.suffix in (".h5", ".hdf5") and (_h5_keras_version(path) or "").startswith("3"):
        return _load_keras3(path, workdir, digest, data)
    if path.is_dir() and not (path / "saved_model.pb").exists():
        raise EdgekitError(f"{path} is a directory but not a SavedModel (no saved_model.pb)", "give a .h5, .keras or SavedModel directory")
    if path.is_file() and path.suffix not in (".h5", ".hdf5", ".keras"):
        raise EdgekitError(f"model {path} has an unknown format ({path.suffix or 'no suffix'})", "give a tf-keras .h5, .keras or SavedModel directory")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a bad-input error
        if path.is_dir():
            # A SavedModel that tf-keras cannot rebuild (e.g. exported by Keras 3): convert-only.
            return LoadedModel(path, None, path, "saved-model", digest)
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "batch_shape" in msg or "keras_version" in msg:
            raise EdgekitError(f"model {path} was saved by Keras 3 and does not load in tf-keras", KERAS3_HINT)
        raise EdgekitError(f"cannot load model {path}: {msg}", "check the file is a complete tf-keras model (corrupt or truncated?)")
    if path.is_dir() and not isinstance(model, keras.Model):
        # A SavedModel of a plain tf.Module (no Keras model inside): tf-keras hands back a restored
        # object with no layers; it is convert-only, like a SavedModel tf-keras cannot rebuild.
        return LoadedModel(path, None, path, "saved-model", digest)
    return LoadedModel(path, model, None, "tf-keras", digest)


def _load_keras3(path: Path, workdir: Path, digest: str, data: Any) -> LoadedModel:
    """The Keras 3 model rebuilt as tf-keras (all passes), or exported (post-training passes only)."""
    from edgekit.optimize.keras3 import bridge
    from edgekit.optimize.keras3.translate import Unsupported

    sample, sample_text = _bridge_sample(data)
    try:
        rebuilt = bridge.load_or_rebuild(path, workdir, digest, sample, sample_text)
    except bridge.InputMismatch as exc:
        if data is not None:
            data.check_model_input(exc.shape)   # the data set's own one-line message
        raise
    except (Unsupported, bridge.Mismatch) as exc:
        if isinstance(exc, Unsupported):
            why = f"layer {exc.layer_class} ({exc.layer_name}) has no tf-keras translation{': ' + exc.why if exc.why else ''}"
        else:
            why = f"the tf-keras rebuild is refused: {exc}"
        _note(f"Keras 3 bridge: {path.name}: {why}; the post-training passes (ptq-dynamic, ptq-float16, ptq-int8) "
              "and distillation from it (as the teacher) still work, the other training passes do not")
        return LoadedModel(path, None, _export_keras3(path, workdir / f"savedmodel-{digest[:16]}"), "keras3", digest,
                           untrainable_why=why)
    _note(rebuilt.line)
    return LoadedModel(path, rebuilt.model, None, "keras3", digest)


def _bridge_sample(data: Any) -> tuple[np.ndarray | None, str]:
    """Inputs for the bridge's equality check: 64 of the data's test images (at least 32 when the data
    has them), else None (random inputs)."""
    from edgekit.optimize.keras3.bridge import MIN_SAMPLE

    if data is None:
        return None, f"{MIN_SAMPLE} random inputs (no data given)"
    x = np.concatenate([data.x_test[:64], data.x_train[: max(0, MIN_SAMPLE - len(data.x_test[:64]))]])
    return x.astype(np.float32), f"{len(x)} inputs from the data"


def _note(line: str) -> None:
    import sys

    from edgekit.passes.keras_env import OUTPUT_LOCK

    with OUTPUT_LOCK:
        print(line, file=sys.stderr, flush=True)


_EXPORT_SCRIPT = r"""
import os, sys
os.environ.pop("TF_USE_LEGACY_KERAS", None)
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
m = keras.saving.load_model(sys.argv[1], compile=False)
m.export(sys.argv[2])
"""


def _export_keras3(path: Path, dest: Path) -> Path:
    """Export a Keras 3 model to a SavedModel in a child process (never mix Keras 2 and 3)."""
    import os
    import shutil
    import subprocess
    import sys

    if (dest / "saved_model.pb").exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run([sys.executable, "-c", _EXPORT_SCRIPT, str(path), str(tmp)],
                          capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise EdgekitError(f"cannot load Keras 3 model {path}: {lines[-1][:200] if lines else 'unknown error'}",
                           "check the file is complete")
    os.replace(tmp, dest)
    return dest
