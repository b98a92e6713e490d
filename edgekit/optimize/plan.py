"""Planning an optimise run: recipe, data and model checked, and which variants to (re)build — no training."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._version import __version__
from edgekit.digest import sha256_bytes, sha256_file, sha256_json
from edgekit.errors import EdgekitError
from edgekit.optimize.recipe import Recipe, VariantSpec
from edgekit.optimize.writer import versions
from edgekit.passes import PASSES
from edgekit.variant import EVAL_FILE, MANIFEST_FILE, MODEL_FILE

DEFAULT_DATA = "fashion-mnist"


@dataclass
class Plan:
    recipe: Recipe
    dataset: Any | None
    base: Any                   # LoadedModel: keras_model / saved_model_dir / kind / sha256 / source
    base_key: str
    default_model: bool
    seed: int
    keys: dict[str, str] = field(default_factory=dict)
    todo: list[VariantSpec] = field(default_factory=list)
    skip: list[VariantSpec] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)   # seconds: data, model, checks

    def base_label(self, v: VariantSpec) -> str:
        """The manifest's ``base``: "teacher" (the built-in model), "student" or "model" (the user's)."""
        return v.base if self.default_model or v.base == "student" else "model"


def check_writable(out: Path) -> None:
    try:
        (out / "variants").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise EdgekitError(f"output directory {out} is not writable ({exc.strerror})", "choose another --out or fix its permissions")


# --------------------------------------------------------------------------- planning (no training)

def plan(*, model: Any = None, data: Any = None, unlabelled: Any = None, recipe: Recipe, out: Path,
         seed: int, force: bool, image_size: Any = None) -> Plan:
    """Check everything that can be checked before training and decide what to (re)build.

    ``model``: None (the built-in teacher), a path, or an in-memory tf-keras model. ``data``: anything
    :func:`edgekit.optimize.data.load_data` takes (None means the built-in data set when ``model`` is
    None, else no data).
    """
    from edgekit.optimize import data as data_mod
    from edgekit.optimize import models

    check_writable(out)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    needs_data = [(v, s) for v in recipe.variants for s in v.chain if PASSES[s.name].needs_data]
    if model is None and data is None:
        data = DEFAULT_DATA
    dataset = None
    if data is not None:
        dataset = data_mod.load_data(data, unlabelled=unlabelled, image_size=image_size)
    elif unlabelled is not None:
        raise EdgekitError("--unlabelled needs --data too (for evaluation and image size)")
    elif needs_data:
        v, s = needs_data[0]
        raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass {s.name!r} needs training data but no --data was given",
                           "pass --data (an .npz or image folder) or drop the pass from the recipe")
    timings["data"] = time.monotonic() - t0

    t0 = time.monotonic()
    if model is None:
        from edgekit.passes.training import set_seed

        set_seed(seed)
        base_model = models.build_teacher(dataset.input_shape, dataset.num_classes)
        base_key = sha256_json({"default-teacher": base_model.to_json(), "epochs": teacher_epochs(recipe),
                                "seed": seed, "data": dataset.fingerprint(), "edgekit": __version__,
                                "training": models.TEACHER_TRAINING})
        base = models.LoadedModel(Path("<built-in teacher>"), base_model, None, "tf-keras", base_key)
    elif isinstance(model, (str, Path)):
        base = models.load_user_model(Path(model), out / "cache")
        base_key = base.sha256
    else:
        base = models.from_keras(model)
        base_key = base.sha256
    if dataset is not None:
        shape = _input_shape(base)
        if shape is not None:
            dataset.check_model_input(shape)
    timings["model"] = time.monotonic() - t0

    # Checks that need the model, still before any training.
    t0 = time.monotonic()
    for v in recipe.variants:
        for s in v.chain:
            spec = PASSES[s.name]
            if spec.trains and not base.trainable and s.name != "ptq-int8":
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass {s.name!r}: {base.source} is a "
                                   f"{'Keras 3 model' if base.kind == 'keras3' else 'SavedModel tf-keras cannot rebuild'}",
                                   models.KERAS3_HINT)
    checked: set[str] = set()
    for v in recipe.variants:
        if v.export and v.export.name == "qat":
            arch = student_arch(v, dataset) if v.base == "student" else base.keras_model
            arch_key = arch.to_json()
            if arch_key in checked:   # the same architecture passed already
                continue
            bad = _qat_unsupported(arch)
            if bad:
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass 'qat': tfmot cannot quantise layer {bad[0]}",
                                   "use ptq-int8 for this model, or replace the layer")
            checked.add(arch_key)

    p = Plan(recipe, dataset, base, base_key, model is None, seed, timings=timings)
    converter = versions()["tensorflow"]
    code = _code_key()
    for v in recipe.variants:
        student = student_arch(v, dataset).to_json() if v.base == "student" else None
        key = sha256_json({"base": base_key, "data": dataset.fingerprint() if dataset is not None else None,
                           "code": code, "student": student,
                           "unlabelled": _array_key(getattr(dataset, "x_unlabelled", None)),
                           "chain": v.chain_key(), "seed": seed, "converter": converter,
                           "settings": recipe.settings, "edgekit": __version__})
        p.keys[v.name] = key
        (p.todo if force or not _up_to_date(out / "variants" / v.name, key) else p.skip).append(v)
    timings["checks"] = time.monotonic() - t0
    return p


def teacher_epochs(recipe: Recipe) -> int:
    from edgekit.optimize import models

    return int(recipe.settings.get("teacher_epochs", models.DEFAULT_TEACHER_EPOCHS))


def _code_key() -> str:
    """Hash of the code that makes variants (passes, models): a change there rebuilds them."""
    here = Path(__file__).resolve().parent
    files = sorted((here.parent / "passes").glob("*.py")) + [here / "models.py"]
    return sha256_json([sha256_file(f) for f in files])[:32]


def _array_key(x) -> str | None:
    if x is None:
        return None
    return sha256_bytes(np.ascontiguousarray(x).tobytes())[:32]


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
        sha = sha256_file(vdir / MODEL_FILE)
    except (OSError, json.JSONDecodeError):
        return False
    return manifest.get("inputs_key") == key and manifest.get("sha256") == sha and (vdir / EVAL_FILE).exists()
