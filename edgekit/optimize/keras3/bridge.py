"""A Keras 3 model file rebuilt as a tf-keras model, so that every tfmot pass can work on it.

    rebuilt = rebuild(Path("model.keras"), workdir, sample=x[:64], sample_text="64 test images")
    rebuilt.model        # a tf-keras model with the Keras 3 model's weights
    rebuilt.line         # "Keras 3 bridge: ... max abs output difference 3.0e-07 ..."

The Keras 3 side (loading the file, serialising its config and weights, running it on the sample)
runs in a child process (:mod:`edgekit.optimize.keras3.child`): the two Keras packages never share
a process. Here the config is translated (:mod:`edgekit.optimize.keras3.translate`), the tf-keras
model built, every weight copied by layer name and shape (each one accounted for), and both models'
outputs on the same inputs compared; above :data:`TOLERANCE` the rebuild is refused with the numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.optimize.keras3.translate import MODEL_CLASSES, Unsupported, translate_model

CHILD = Path(__file__).with_name("child.py")
# Outputs may differ by this much, relative to max(1, largest output) — float32 round-off only.
TOLERANCE = 1e-4
MIN_SAMPLE = 32
ALIASES = {"kernel": "depthwise_kernel", "depthwise_kernel": "kernel"}


class InputMismatch(EdgekitError):
    """The check inputs do not fit the Keras 3 model's input (``shape``: with the batch dimension)."""

    def __init__(self, shape, message: str, hint: str):
        super().__init__(message, hint)
        self.shape = shape


class Mismatch(Exception):
    """The rebuilt tf-keras model's outputs differ from the Keras 3 model's."""


@dataclass
class Rebuilt:
    model: Any                 # tf-keras model
    layers: int
    weights: int               # weight tensors copied
    max_abs: float
    tolerance: float
    line: str                  # the equality check, one line


@dataclass
class Dumped:
    """What the child wrote for one model: its serialised config, weights, outputs (or an error)."""

    dir: Path

    @property
    def error(self) -> str | None:
        f = self.dir / "error.txt"
        return f.read_text().strip() if f.exists() else None

    def info(self) -> dict:
        return json.loads((self.dir / "model.json").read_text())

    def weights(self) -> tuple[dict, dict]:
        index = json.loads((self.dir / "weights.json").read_text())
        with np.load(self.dir / "weights.npz") as z:
            arrays = {k: z[k] for k in z.files}
        return index, arrays

    def outputs(self) -> np.ndarray | None:
        f = self.dir / "outputs.npy"
        return np.load(f) if f.exists() else None


def run_child(jobs: list[dict], timeout: float = 900) -> None:
    """Run the Keras 3 child on ``jobs`` (see :mod:`edgekit.optimize.keras3.child`)."""
    with tempfile.TemporaryDirectory(prefix="edgekit-keras3-") as td:
        job_file = Path(td) / "jobs.json"
        job_file.write_text(json.dumps(jobs))
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            proc = subprocess.run([sys.executable, str(CHILD), str(job_file)], capture_output=True, text=True,
                                  env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"loading the Keras 3 model took over {timeout:.0f} s", "check the model file") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise EdgekitError(f"the Keras 3 child process failed: {lines[-1][:200] if lines else proc.returncode}",
                           "check that the keras package (Keras 3) is installed")


def dump(path: Path, dest: Path, sample: np.ndarray | None) -> Dumped:
    """Serialise the Keras 3 model at ``path`` into ``dest`` and run it on ``sample`` (None: on
    :data:`MIN_SAMPLE` uniform random inputs, kept in ``dest/sample.npy``), in a child process."""
    dest.mkdir(parents=True, exist_ok=True)
    sample_file = dest / "sample.npy"
    if sample is not None:
        np.save(sample_file, np.ascontiguousarray(sample, dtype=np.float32))
    run_child([{"model": str(path), "out": str(dest), "sample": str(sample_file) if sample is not None else None,
                "random": None if sample is not None else MIN_SAMPLE}])
    return Dumped(dest)


# --------------------------------------------------------------------------- building the tf-keras model

def build(dumped: Dumped):
    """The tf-keras model for a dumped Keras 3 model, weights copied; raises Unsupported or ValueError."""
    from edgekit.passes import keras_env

    keras = keras_env.keras()
    config = translate_model(dumped.info()["model"])
    try:
        model = keras.layers.deserialize(config)
    except Exception as exc:  # noqa: BLE001 - tf-keras rejects a translated config: name the first line
        raise Unsupported(config["class_name"], config["config"].get("name", "model"),
                          f"tf-keras cannot build the translated config ({_first_line(exc)})") from None
    index, arrays = dumped.weights()
    try:
        copied = copy_weights(model, index, arrays)
    except ValueError as exc:
        raise Mismatch(f"weights do not fit: {exc}") from None
    return model, copied


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _tfk_layers(model, prefix: str = "") -> dict[str, Any]:
    """Every leaf layer by its path (nested models flattened the way the child flattens them)."""
    out = {}
    for layer in model.layers:
        if type(layer).__name__ in MODEL_CLASSES and hasattr(layer, "layers"):
            out.update(_tfk_layers(layer, f"{prefix}{layer.name}/"))
        else:
            out[prefix + layer.name] = layer
    return out


def _short(w) -> str:
    return w.name.split("/")[-1].split(":")[0]


def copy_weights(model, index: dict, arrays: dict) -> int:
    """Copy every Keras 3 weight into the tf-keras layer of the same name; by weight name, else order.

    Raises ValueError when a weight has no place, a shape differs or a tf-keras weight is left unset.
    """
    layers = _tfk_layers(model)
    copied = 0
    for lname, entries in index.items():
        layer = layers.get(lname)
        targets = list(layer.weights) if layer is not None else []
        if not entries and not targets:
            continue
        if layer is None:
            raise ValueError(f"layer {lname} has {len(entries)} weights but no tf-keras counterpart")
        if len(targets) != len(entries):
            raise ValueError(f"layer {lname}: {len(entries)} Keras 3 weights, {len(targets)} in tf-keras")
        by_name = {_short(w): w for w in targets}
        values = []
        used: set[int] = set()
        for e in entries:
            w = by_name.get(e["name"])
            w = by_name.get(ALIASES.get(e["name"], "")) if w is None else w
            if w is None or id(w) in used or list(w.shape) != e["shape"]:
                w = next((t for t in targets if id(t) not in used and list(t.shape) == e["shape"]), None)
            if w is None:
                raise ValueError(f"layer {lname}: no tf-keras weight of shape {e['shape']} for {e['name']}")
            used.add(id(w))
            values.append((w, arrays[e["key"]]))
        for w, a in values:
            w.assign(a)
        if hasattr(layer, "finalize_state"):   # preprocessing layers (Normalization) derive their state
            layer.finalize_state()
        copied += len(values)
    return copied


# --------------------------------------------------------------------------- the equality check

def outputs_of(model, x: np.ndarray) -> np.ndarray:
    y = model(np.asarray(x, dtype=np.float32), training=False)
    y = y[0] if isinstance(y, (list, tuple)) else y
    return np.asarray(y)


def compare(model, x: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max abs difference, tolerance) between ``model``'s outputs on ``x`` and ``reference``."""
    y = outputs_of(model, x)
    if y.shape != reference.shape:
        raise Mismatch(f"output shape {tuple(y.shape)} in tf-keras, {tuple(reference.shape)} in Keras 3")
    tol = TOLERANCE * max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    return float(np.max(np.abs(y.astype(np.float64) - reference))) if y.size else 0.0, tol


def check_line(path: Path, layers: int, weights: int, max_abs: float, tol: float, sample_text: str) -> str:
    return (f"Keras 3 bridge: {path.name} rebuilt as tf-keras ({layers} layers, {weights} weight tensors copied); "
            f"max abs output difference on {sample_text}: {max_abs:.2e} (tolerance {tol:.0e})")


def rebuild(path: Path, workdir: Path, sample: np.ndarray | None, sample_text: str) -> Rebuilt:
    """Rebuild the Keras 3 model at ``path`` as tf-keras and check both agree on ``sample`` (None:
    on random inputs). Nothing is kept; see :func:`load_or_rebuild` for the cached form.

    Raises :class:`Unsupported` (a layer with no translation), :class:`Mismatch` (outputs differ) or
    EdgekitError (the file does not load in Keras 3, or the sample does not fit its input).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="keras3-dump-", dir=workdir))
    try:
        return _finish(path, _checked(path, dump(path, dest, sample)), sample_text)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def load_or_rebuild(path: Path, workdir: Path, digest: str, sample: np.ndarray | None, sample_text: str) -> Rebuilt:
    """:func:`rebuild`, with the child's output kept in ``workdir`` (keyed by the file's digest and the
    sample): a re-run rebuilds and re-checks the tf-keras model without starting Keras 3 again."""
    from edgekit.digest import sha256_bytes, sha256_file

    code = "".join(sha256_file(Path(__file__).with_name(f)) for f in ("child.py", "translate.py"))
    key = sha256_bytes((code + ("random" if sample is None else sha256_bytes(np.ascontiguousarray(sample, dtype=np.float32).tobytes()))).encode())
    cached = workdir / f"keras3-{digest[:16]}-{key[:12]}"
    if not (cached / "model.json").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".keras3-dump-", dir=workdir))
        try:
            _checked(path, dump(path, tmp, sample))
            shutil.rmtree(cached, ignore_errors=True)
            os.replace(tmp, cached)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _finish(path, Dumped(cached), sample_text)


def _checked(path: Path, dumped: Dumped) -> Dumped:
    if dumped.error:
        hint = "check the file is complete"
        if path.suffix in (".h5", ".hdf5"):
            hint = ("Keras 3 cannot rebuild every model from its own .h5 (e.g. one with tensor operations such as "
                    "x + 3 in MobileNetV3): save it as .keras")
        raise EdgekitError(f"cannot load Keras 3 model {path}: {dumped.error}", hint)
    if dumped.outputs() is None:
        shape = dumped.info()["input_shape"]
        x = np.load(dumped.dir / "sample.npy", mmap_mode="r")
        raise InputMismatch(shape[0] if len(shape) == 1 else shape,
                            f"the data's inputs {tuple(x.shape[1:])} do not fit the model's input "
                            f"{tuple(shape[0][1:]) if len(shape) == 1 else shape}", "give data of the model's input shape")
    return dumped


def _finish(path: Path, dumped: Dumped, sample_text: str) -> Rebuilt:
    model, copied = build(dumped)
    sample, reference = np.load(dumped.dir / "sample.npy"), dumped.outputs()
    try:
        max_abs, tol = compare(model, sample, reference)
    except Mismatch:
        raise
    except Exception as exc:  # noqa: BLE001 - the rebuilt model fails to run: its first line
        raise Mismatch(f"the rebuilt model does not run ({_first_line(exc)})") from None
    n_layers = len(_tfk_layers(model))
    line = check_line(path, n_layers, copied, max_abs, tol, sample_text)
    if not max_abs <= tol:
        raise Mismatch(f"max abs output difference {max_abs:.3e} on {sample_text} is above the tolerance {tol:.0e}")
    return Rebuilt(model, n_layers, copied, max_abs, tol, line)
