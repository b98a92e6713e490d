"""The Variant: one ``.tflite`` file plus the manifest saying how it was made.

On disk: ``OUT/variants/<name>/model.tflite``, ``manifest.json`` and, after host
evaluation, ``eval.json``. Every stage after ``optimize`` reads variants through
:func:`load_variants`.

manifest.json (schema ``edgekit.variant/1``)::

    name            str     variant name (unique within a recipe)
    chain           list    [{"pass": "prune", "params": {...}}, ...] in the order applied
    parent          str|null  the variant whose Keras model this chain started from
    base            str     "teacher" | "student" | "model" (the user's model)
    sha256          str     of model.tflite
    size_bytes      int
    gzip_size_bytes int     gzip -9 of model.tflite
    sparsity        {"overall": float, "layers": {layer: float}}  measured on exported weights
    unique_weights  {layer: int}   distinct values per weight tensor (clustering shows here)
    param_count     int
    ops             [{"op": "CONV_2D", "version": 3, "count": 2}, ...]  read from the flatbuffer
    io              {"input": {...}, "output": {...}}  shape, dtype, quantization (scale, zero_point)
    versions        {"edgekit", "tensorflow", "tf_keras", "tfmot", "converter", "target_runtime"}
    compatibility   {"runtime": "tflite-runtime 2.14.0", "status": "ok"|"incompatible", "reason": str|null}
    training_seconds float
    seed            int
    inputs_key      str     hash of everything the variant depends on (skip-if-unchanged)
    created         str     ISO-8601 UTC

eval.json (schema ``edgekit.eval/1``)::

    status          "ok" | "failed" | "incompatible"
    error           str|null
    n               int     evaluation examples
    accuracy        float   top-1, 0..1
    per_class_accuracy  [float]
    confusion_matrix    [[int]]  rows = true class, cols = predicted
    baseline        str|null  name of the float32 baseline variant
    agreement       float|null  top-1 agreement with the baseline, 0..1
    mean_abs_diff   float|null  mean |probability difference| vs the baseline
    sha256          str     of the model evaluated
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

MANIFEST_SCHEMA = "edgekit.variant/1"
EVAL_SCHEMA = "edgekit.eval/1"
MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
EVAL_FILE = "eval.json"


@dataclass
class Variant:
    """A .tflite file with its manifest (and host evaluation, once done)."""

    dir: Path
    manifest: dict[str, Any]
    evaluation: dict[str, Any] | None = field(default=None)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def path(self) -> Path:
        return self.dir / MODEL_FILE

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def size_bytes(self) -> int:
        return int(self.manifest["size_bytes"])

    @property
    def gzip_size_bytes(self) -> int:
        return int(self.manifest["gzip_size_bytes"])

    @property
    def compatible(self) -> bool:
        return self.manifest.get("compatibility", {}).get("status", "ok") == "ok"

    @property
    def accuracy(self) -> float | None:
        if self.evaluation and self.evaluation.get("status") == "ok":
            return self.evaluation.get("accuracy")
        return None

    @classmethod
    def load(cls, directory: str | Path) -> "Variant":
        directory = Path(directory)
        mpath = directory / MANIFEST_FILE
        try:
            manifest = json.loads(mpath.read_text())
        except FileNotFoundError:
            raise EdgekitError(f"{directory} is not a variant: no {MANIFEST_FILE}", "point at OUT/variants or one variant folder made by `edgekit optimize`")
        except json.JSONDecodeError as exc:
            raise EdgekitError(f"{mpath} is not valid JSON ({exc.msg} at line {exc.lineno})", "re-run `edgekit optimize` to rewrite it")
        if manifest.get("schema") != MANIFEST_SCHEMA:
            raise EdgekitError(f"{mpath} has schema {manifest.get('schema')!r}, expected {MANIFEST_SCHEMA!r}")
        evaluation = None
        epath = directory / EVAL_FILE
        if epath.exists():
            try:
                evaluation = json.loads(epath.read_text())
            except json.JSONDecodeError:
                evaluation = None
        return cls(directory, manifest, evaluation)


def load_variants(path: str | Path) -> list[Variant]:
    """Variants under ``path``: an output dir (``OUT``), ``OUT/variants`` or a single variant dir."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path} does not exist", "run `edgekit optimize --out DIR` first")
    if (path / MANIFEST_FILE).exists():
        return [Variant.load(path)]
    if (path / "variants").is_dir():
        path = path / "variants"
    dirs = sorted(p for p in path.iterdir() if (p / MANIFEST_FILE).exists())
    if not dirs:
        raise EdgekitError(f"no variants found under {path}", "run `edgekit optimize --out DIR` and pass DIR or DIR/variants")
    return [Variant.load(d) for d in dirs]
