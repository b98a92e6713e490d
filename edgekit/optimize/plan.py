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
    input_range: Any = None     # edgekit.optimize.data.normalize.InputRange (the dataset is already mapped)
    warnings: list[str] = field(default_factory=list)
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
         seed: int, force: bool, image_size: Any = None, input_range: Any = None) -> Plan:
    """Check everything that can be checked before training and decide what to (re)build.

    ``model``: None (the built-in teacher), a path, or an in-memory tf-keras model. ``data``: anything
    :func:`edgekit.optimize.data.load_data` takes (None means the built-in data set when ``model`` is
    None, else no data). ``input_range``: ``--input-range`` text or an InputRange (None: detected from an
    in-model Rescaling/Normalization layer, else 0-1 with a check of both common ranges on a sample).
    """
    from edgekit.optimize import data as data_mod
    from edgekit.optimize import models
    from edgekit.optimize.data.normalize import parse_input_range

    check_writable(out)
    given_range = parse_input_range(input_range)
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
    elif isinstance(model, (str, Path)) and Path(model).suffix.lower() == ".tflite":
        from edgekit.optimize import from_tflite

        base = from_tflite.load(Path(model))
        base_key = base.sha256
    elif isinstance(model, (str, Path)):
        base = models.load_user_model(Path(model), out / "cache", data=dataset)
        base_key = base.sha256
    else:
        base = models.from_keras(model)
        base_key = base.sha256
    if dataset is not None:
        shape = _input_shape(base)
        if shape is not None:
            dataset.check_model_input(shape)
    timings["model"] = time.monotonic() - t0
    t0 = time.monotonic()
    rng, warnings = choose_input_range(given_range, base, dataset, default_model=model is None, seed=seed)
    if dataset is not None and not rng.identity:
        dataset = data_mod.normalized(dataset, rng)
    timings["input_range"] = time.monotonic() - t0

    # Checks that need the model, still before any training.
    t0 = time.monotonic()
    for v in recipe.variants:
        if v.base == "student":
            check_student(v, dataset, f"{recipe.path}:{v.line}" if v.line else recipe.path)
            # distill trains a new student; the base only predicts (edgekit.optimize.teacher), so any
            # kind of model teaches, and the passes after distill train the student, not the base
            continue
        for s in v.chain:
            spec = PASSES[s.name]
            if spec.trains and base.kind == "tflite" and s.name != "ptq-int8":
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass {s.name!r}: {base.source} is a .tflite "
                                   "file, whose weights are frozen constants with no training graph to train",
                                   "run training passes on the Keras model it was converted from; a .tflite gets "
                                   "ptq-float16, ptq-dynamic and ptq-int8")
            if spec.trains and not base.trainable and s.name != "ptq-int8":
                what = ("Keras 3 model the bridge cannot rebuild as tf-keras"
                        + (f" ({base.untrainable_why})" if base.untrainable_why else "")
                        if base.kind == "keras3" else "SavedModel tf-keras cannot rebuild")
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass {s.name!r}: {base.source} is a {what}",
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

    p = Plan(recipe, dataset, base, base_key, model is None, seed, input_range=rng, warnings=warnings, timings=timings)
    converter = versions()["tensorflow"]
    code = _code_key()
    for v in recipe.variants:
        student = student_arch(v, dataset).to_json() if v.base == "student" else None
        key = sha256_json({"base": base_key, "data": dataset.fingerprint() if dataset is not None else None,
                           "code": code, "student": student,
                           "unlabelled": _array_key(getattr(dataset, "x_unlabelled", None)),
                           "chain": v.chain_key(), "seed": seed, "converter": converter,
                           "settings": recipe.settings, "edgekit": __version__,
                           "input_range": [rng.spec, rng.mean, rng.std]})
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
    files = sorted((here.parent / "passes").glob("*.py")) + [here / "models.py", here / "from_tflite.py",
                                                             here / "teacher.py"]
    return sha256_json([sha256_file(f) for f in files])[:32]


def _array_key(x) -> str | None:
    if x is None:
        return None
    return sha256_bytes(np.ascontiguousarray(x).tobytes())[:32]


def _input_shape(base) -> tuple | None:
    if getattr(base, "input_shape", None) is not None:   # a .tflite base reads it from the flatbuffer
        return tuple(base.input_shape)
    if base.keras_model is None:
        return None
    shape = base.keras_model.input_shape
    if isinstance(shape, list):
        return None
    return tuple(shape)


def student_arch(v: VariantSpec, dataset):
    """The untrained student of distilled variant ``v``: the built-in family's member its ``distill``
    step names (block, width, depth, resolution: :mod:`edgekit.optimize.student`), or the user's file."""
    from edgekit.optimize import models

    params = v.chain[0].params
    if params.get("student", "default") == "default":
        return models.build_student(dataset.input_shape, dataset.num_classes, width=params.get("width"),
                                    depth=params.get("depth"), resolution=params.get("resolution"),
                                    block=params.get("block"))
    return _load_student(params["student"])


def check_student(v: VariantSpec, dataset, where: str) -> None:
    """The distill step's family parameters against the data, before any training (one line)."""
    from edgekit.optimize.recipe import RecipeError
    from edgekit.optimize.student import resolution_problem

    params = v.chain[0].params
    if dataset is None or params.get("student", "default") != "default":
        return
    why = resolution_problem(dataset.input_shape, params.get("resolution"))
    if why:
        raise RecipeError(f"{where}: variant {v.name!r}, pass 'distill', parameter 'resolution': {why}",
                          f"give 8 ≤ resolution ≤ {min(dataset.input_shape[:2])}, or omit it for the images' own size")


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


# --------------------------------------------------------------------------- input normalisation

SAMPLE = 500          # test images of the both-ranges check
DISAGREE = 0.05       # warn when the two common ranges differ by more than this (5 pt)


def choose_input_range(given, base, dataset, *, default_model: bool, seed: int):
    """(InputRange, warnings): the user's range, else one implied by an in-model Rescaling/Normalization
    layer, else 0-1 — checked against -1-1 on a sample of the test images (warning above 5 pt apart)."""
    from edgekit.optimize.data.normalize import COMMON, DEFAULT, detect, parse_input_range

    keras_model = getattr(base, "keras_model", None)
    found = detect(keras_model) if keras_model is not None else None
    if given is not None:
        if found is not None and (found.mean, found.std) != (given.mean, given.std):
            return given.with_source("user", f"given; the model's {found.detail} suggests {found.spec}"), [
                f"warning: input range: --input-range {given.spec} given, but the model's {found.detail} "
                f"suggests it takes {found.spec} pixels"]
        return given.with_source("user"), []
    if found is not None:
        return found, []
    if default_model or dataset is None:
        return DEFAULT, []
    accs = _sample_accuracies(base, dataset, [parse_input_range(c) for c in COMMON], seed)
    if accs is None:
        return DEFAULT, []
    n = min(SAMPLE, len(dataset.x_test))
    text = ", ".join(f"{c}: {a:.1%}" for c, a in zip(COMMON, accs))
    rng = DEFAULT.with_source("default", f"checked on {n} test images: {text}")
    if abs(accs[0] - accs[1]) <= DISAGREE:
        return rng, []
    head = f"warning: input range: on {n} test images the model scores {text} (more than 5 pt apart); using 0-1"
    if accs[1] > accs[0]:
        return rng, [f"{head} — it looks trained on -1-1 inputs: pass --input-range -1-1 (or the range it expects)"]
    return rng, [f"{head}, the higher — pass --input-range to state the model's normalisation"]


def _sample_accuracies(base, dataset, ranges, seed: int) -> list[float] | None:
    """Top-1 accuracy of the base model on a test sample under each range (None: nothing to run)."""
    rng = np.random.default_rng(seed)
    n = min(SAMPLE, len(dataset.x_test))
    idx = np.sort(rng.choice(len(dataset.x_test), size=n, replace=False))
    x, y = dataset.x_test[idx], np.asarray(dataset.y_test)[idx]
    out = []
    for r in ranges:
        xr = r.apply(x)
        if getattr(base, "keras_model", None) is not None:
            pred = base.keras_model.predict(xr, batch_size=256, verbose=0)
        elif getattr(base, "kind", None) == "tflite":
            from edgekit.tflite.runner import InterpreterFailure, predict

            try:
                pred = predict(base.source, xr)
            except InterpreterFailure:
                return None
        else:
            return None
        pred = np.asarray(pred).reshape(len(xr), -1)
        out.append(float((pred.argmax(axis=1) == y).mean()))
    return out
