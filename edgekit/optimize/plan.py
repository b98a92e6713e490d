"""Planning an optimise run: recipe, data and model checked, and which variants to (re)build — no training."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit._version import __version__
from edgekit.errors import EdgekitError
from edgekit.optimize.recipe import Recipe, VariantSpec
from edgekit.optimize.writer import versions
from edgekit.passes import PASSES
from edgekit.variant import EVAL_FILE, MANIFEST_FILE, MODEL_FILE

DEFAULT_DATA = "fashion-mnist"

Progress = Callable[[str, str, float | None], None]   # (variant, message, fraction of its work or None)


@dataclass
class Plan:
    recipe: Recipe
    dataset: Any | None
    base: Any                   # LoadedModel-like: keras_model / saved_model_dir / kind / sha256
    base_key: str
    default_model: bool
    seed: int
    keys: dict[str, str] = field(default_factory=dict)
    todo: list[VariantSpec] = field(default_factory=list)
    skip: list[VariantSpec] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_key(obj: Any) -> str:
    return _sha256(json.dumps(obj, sort_keys=True, default=str).encode())


def check_writable(out: Path) -> None:
    try:
        (out / "variants").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise EdgekitError(f"output directory {out} is not writable ({exc.strerror})", "choose another --out or fix its permissions")


# --------------------------------------------------------------------------- planning (no training)

def plan(*, model: Path | None, data: str | None, unlabelled: Path | None, recipe: Recipe, out: Path,
         seed: int, force: bool, image_size: str | None = None) -> Plan:
    from edgekit.optimize import data as data_mod
    from edgekit.optimize import models

    check_writable(out)
    needs_data = [(v, s) for v in recipe.variants for s in v.chain if PASSES[s.name].needs_data]
    if model is None and data is None:
        data = DEFAULT_DATA
    dataset = None
    if data is not None:
        dataset = data_mod.load_data(data, image_size=image_size)
    elif needs_data:
        v, s = needs_data[0]
        raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass {s.name!r} needs training data but no --data was given",
                           "pass --data (an .npz or image folder) or drop the pass from the recipe")
    if unlabelled is not None:
        if dataset is None:
            raise EdgekitError("--unlabelled needs --data too (for evaluation and image size)")
        dataset.x_unlabelled = data_mod.load_unlabelled(unlabelled, image_size=dataset.input_shape[:2],
                                                        channels=dataset.input_shape[2])

    if model is None:
        from edgekit.passes.training import set_seed

        set_seed(seed)
        base_model = models.build_teacher(dataset.input_shape, dataset.num_classes)
        epochs = int(recipe.settings.get("teacher_epochs", models.DEFAULT_TEACHER_EPOCHS))
        base_key = _json_key({"default-teacher": base_model.to_json(), "epochs": epochs, "seed": seed,
                              "data": dataset.fingerprint(), "edgekit": __version__})
        base = models.LoadedModel(Path("<built-in teacher>"), base_model, None, "tf-keras", base_key)
    else:
        base = models.load_user_model(model, out / "cache")
        base_key = base.sha256
    if dataset is not None:
        shape = _input_shape(base)
        if shape is not None:
            dataset.check_model_input(shape)

    # Checks that need the model, still before any training.
    for v in recipe.variants:
        for s in v.chain:
            spec = PASSES[s.name]
            if spec.trains and not base.trainable and s.name != "ptq-int8":
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass {s.name!r}: {base.source} is a "
                                   f"{'Keras 3 model' if base.kind == 'keras3' else 'SavedModel tf-keras cannot rebuild'}",
                                   models.KERAS3_HINT)
        if v.export and v.export.name == "qat":
            arch = student_arch(v, dataset) if v.base == "student" else base.keras_model
            bad = _qat_unsupported(arch)
            if bad:
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass 'qat': tfmot cannot quantise layer {bad[0]}",
                                   "use ptq-int8 for this model, or replace the layer")

    p = Plan(recipe, dataset, base, base_key, model is None, seed)
    converter = versions()["tensorflow"]
    code = _code_key()
    for v in recipe.variants:
        student = student_arch(v, dataset).to_json() if v.base == "student" else None
        key = _json_key({"base": base_key, "data": dataset.fingerprint() if dataset is not None else None,
                         "code": code, "student": student,
                         "unlabelled": _array_key(getattr(dataset, "x_unlabelled", None)),
                         "chain": v.chain_key(), "seed": seed, "converter": converter,
                         "settings": recipe.settings, "edgekit": __version__})
        p.keys[v.name] = key
        (p.todo if force or not _up_to_date(out / "variants" / v.name, key) else p.skip).append(v)
    return p


def _code_key() -> str:
    """Hash of the code that makes variants (passes, models): a change there rebuilds them."""
    here = Path(__file__).resolve().parent
    files = sorted((here.parent / "passes").glob("*.py")) + [here / "models.py"]
    return _sha256(b"".join(f.read_bytes() for f in files))[:32]


def _array_key(x) -> str | None:
    if x is None:
        return None
    return _sha256(np.ascontiguousarray(x).tobytes())[:32]


def _input_shape(base) -> tuple | None:
    if base.keras_model is None:
        return None
    shape = base.keras_model.input_shape
    if isinstance(shape, list):
        return None
    return tuple(shape)


def student_arch(v: VariantSpec, dataset):
    from edgekit.optimize import models

    params = v.chain[0].params
    if params.get("student", "default") == "default":
        return models.build_student(dataset.input_shape, dataset.num_classes, width=params.get("width", 16))
    return _load_student(params["student"])


def _load_student(path: str):
    from edgekit.optimize import models

    loaded = models.load_user_model(Path(path), Path(tempfile.gettempdir()))
    if loaded.keras_model is None:
        raise EdgekitError(f"student {path} is not a tf-keras model", models.KERAS3_HINT)
    return loaded.keras_model


def _qat_unsupported(model) -> list[str]:
    from edgekit.passes.quantization import unsupported_layers

    return unsupported_layers(model)


def _up_to_date(vdir: Path, key: str) -> bool:
    try:
        manifest = json.loads((vdir / MANIFEST_FILE).read_text())
        data = (vdir / MODEL_FILE).read_bytes()
    except (OSError, json.JSONDecodeError):
        return False
    return manifest.get("inputs_key") == key and manifest.get("sha256") == _sha256(data) and (vdir / EVAL_FILE).exists()


