"""The optimise stage: a model + data + recipe -> variants (model.tflite, manifest.json, eval.json).

Order of work, so that bad input fails fast and nothing is half-written:
1. parse and validate the recipe (no TensorFlow yet);
2. load the data and the model (or build the default architecture) and run the checks that need
   them — data shape vs model input, passes that need tf-keras, layers QAT cannot quantise;
3. only then train: each variant's chain runs on a fresh clone, sharing chain prefixes in memory;
4. each variant folder is built in a temp folder and renamed into place; a variant whose inputs
   (model, data, chain, seed, converter) are unchanged is skipped;
5. every variant is checked against the target runtime and evaluated on the host in a child
   process; a crash or load failure is recorded for that variant and the run goes on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit import __version__, atomic
from edgekit.errors import EdgekitError
from edgekit.passes import PASSES
from edgekit.recipe import Recipe, VariantSpec
from edgekit.variant import EVAL_FILE, MANIFEST_FILE, MANIFEST_SCHEMA, MODEL_FILE, Variant

TARGET_RUNTIME = "tflite-runtime 2.14.0"
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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"edgekit": __version__}
    for key, dist in (("tensorflow", "tensorflow"), ("tf_keras", "tf-keras"),
                      ("tfmot", "tensorflow-model-optimization"), ("tflite_runtime", "tflite-runtime")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "not installed"
    out["converter"] = f"tensorflow {out['tensorflow']} TFLiteConverter"
    out["target_runtime"] = TARGET_RUNTIME
    return out


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
    from edgekit import data as data_mod
    from edgekit import models

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
        models.set_seed(seed)
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
            arch = _student_arch(v, dataset) if v.base == "student" else base.keras_model
            bad = _qat_unsupported(arch)
            if bad:
                raise EdgekitError(f"{recipe.path}: variant {v.name!r}, pass 'qat': tfmot cannot quantise layer {bad[0]}",
                                   "use ptq-int8 for this model, or replace the layer")

    p = Plan(recipe, dataset, base, base_key, model is None, seed)
    converter = _versions()["tensorflow"]
    code = _code_key()
    for v in recipe.variants:
        student = _student_arch(v, dataset).to_json() if v.base == "student" else None
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
    files = sorted((here / "passes").glob("*.py")) + [here / "models.py"]
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


def _student_arch(v: VariantSpec, dataset):
    from edgekit import models

    params = v.chain[0].params
    if params.get("student", "default") == "default":
        return models.build_student(dataset.input_shape, dataset.num_classes, width=params.get("width", 16))
    return _load_student(params["student"])


def _load_student(path: str):
    from edgekit import models

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


# --------------------------------------------------------------------------- building

class Builder:
    """Runs chains; keeps each Keras chain prefix in memory so shared prefixes train once."""

    def __init__(self, p: Plan, out: Path, progress: Progress):
        self.p = p
        self.out = out
        self.progress = progress
        self.memo: dict[str, tuple[Any, float, int]] = {}   # prefix key -> (model, seconds, params)
        self.base_model = None

    def base(self):
        from edgekit import models

        if self.base_model is not None:
            return self.base_model
        if not self.p.default_model:
            self.base_model = self.p.base.keras_model
            return self.base_model
        ds = self.p.dataset
        cache = self.out / "cache" / f"teacher-{self.p.base_key[:16]}.h5"
        model = self.p.base.keras_model
        if cache.exists():
            model.load_weights(cache)
        else:
            epochs = int(self.p.recipe.settings.get("teacher_epochs", models.DEFAULT_TEACHER_EPOCHS))
            models.set_seed(self.p.seed)
            self.progress("teacher", f"training the default teacher (0/{epochs} epochs)", 0.0)
            models.fit(model, ds.x_train, ds.y_train, epochs=epochs,
                       progress=lambda e, n: self.progress("teacher", f"training the default teacher ({e}/{n} epochs)", e / n))
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic.atomic_path(cache) as tmp:
                model.save_weights(str(tmp) + ".h5")
                os.replace(str(tmp) + ".h5", tmp)
        self.base_model = model
        return model

    def keras_chain(self, v: VariantSpec) -> tuple[Any, float]:
        """The Keras model after ``v``'s keras passes and qat's input; returns (model, seconds)."""
        steps = v.keras_steps
        model, seconds = self.base(), 0.0
        for i in range(len(steps)):
            key = json.dumps([s.to_dict() for s in steps[: i + 1]], sort_keys=True)
            if key in self.memo:
                model, seconds, _ = self.memo[key]
                continue
            t0 = time.monotonic()
            model = self._apply(v, steps[i], model)
            seconds += time.monotonic() - t0
            self.memo[key] = (model, seconds, model.count_params())
        return model, seconds

    def _apply(self, v: VariantSpec, step, model):
        from edgekit import models
        from edgekit.passes import clustering, distillation, pruning

        ds = self.p.dataset
        prm = step.params
        kw = {"batch_size": prm.get("batch_size", 128)}
        if prm.get("learning_rate"):
            kw["learning_rate"] = prm["learning_rate"]
        epochs = prm.get("epochs", 1)
        report = lambda e, n: self.progress(v.name, f"{step.name} epoch {e}/{n}", None)  # noqa: E731
        self.progress(v.name, f"{step.label()}", None)
        models.set_seed(self.p.seed)
        if step.name == "distill":
            student = _student_arch(v, ds)
            if prm.get("unlabelled"):
                x = ds.x_unlabelled if getattr(ds, "x_unlabelled", None) is not None else ds.x_train
                return distillation.distill(model, student, x, None, num_classes=ds.num_classes,
                                            temperature=prm["temperature"], alpha=0.0, epochs=epochs,
                                            progress=report, **kw)
            return distillation.distill(model, student, ds.x_train, ds.y_train, num_classes=ds.num_classes,
                                        temperature=prm["temperature"], alpha=prm["alpha"], epochs=epochs,
                                        progress=report, **kw)
        if step.name == "prune":
            return pruning.prune(model, ds.x_train, ds.y_train, sparsity=prm["sparsity"], epochs=epochs,
                                 progress=report, **kw)
        if step.name == "prune-2:4":
            return pruning.prune_2_4(model, ds.x_train, ds.y_train, epochs=epochs, progress=report, **kw)
        if step.name == "cluster":
            return clustering.cluster(model, ds.x_train, ds.y_train, clusters=prm["clusters"], init=prm["init"],
                                      epochs=epochs, preserve_sparsity=prm["preserve_sparsity"] == "yes",
                                      progress=report, **kw)
        raise AssertionError(step.name)

    def export(self, v: VariantSpec) -> tuple[bytes, float, int]:
        """(tflite bytes, seconds, parameter count) for variant ``v``."""
        from edgekit import models
        from edgekit.passes import quantization as q

        exp = v.export
        ds = self.p.dataset
        if not self.p.base.trainable:
            mode = {"ptq-dynamic": "dynamic", "ptq-float16": "float16", "ptq-int8": "int8", None: "float32"}[exp and exp.name]
            rep = q.representative_data(ds.x_train, exp.params["calibration"], self.p.seed) if mode == "int8" else None
            t0 = time.monotonic()
            data = q.convert(saved_model_dir=self.p.base.saved_model_dir, mode=mode, representative=rep)
            return data, time.monotonic() - t0, 0
        model, seconds = self.keras_chain(v)
        t0 = time.monotonic()
        self.progress(v.name, f"export {exp.label() if exp else 'float32'}", None)
        if exp is None:
            data = q.convert(model, mode="float32")
        elif exp.name == "qat":
            prm = exp.params
            models.set_seed(self.p.seed)
            kw = {"batch_size": prm.get("batch_size", 128)}
            if prm.get("learning_rate"):
                kw["learning_rate"] = prm["learning_rate"]
            qat = q.quantize_aware(model, ds.x_train, ds.y_train, epochs=prm["epochs"], preserve=prm["preserve"],
                                   progress=lambda e, n: self.progress(v.name, f"qat epoch {e}/{n}", None), **kw)
            rep = q.representative_data(ds.x_train, prm["calibration"], self.p.seed)
            data = q.convert(qat, mode="int8", representative=rep)
        else:
            mode = {"ptq-dynamic": "dynamic", "ptq-float16": "float16", "ptq-int8": "int8"}[exp.name]
            rep = q.representative_data(ds.x_train, exp.params["calibration"], self.p.seed) if mode == "int8" else None
            data = q.convert(model, mode=mode, representative=rep)
        return data, seconds + time.monotonic() - t0, model.count_params()


def parent_of(v: VariantSpec, recipe: Recipe) -> str | None:
    """The recipe variant whose chain is the longest proper prefix of ``v``'s (else the baseline)."""
    best, best_len = None, -1
    for other in recipe.variants:
        n = len(other.chain)
        if other is not v and n < len(v.chain) and v.chain[:n] == other.chain and n > best_len:
            best, best_len = other.name, n
    return best


def write_variant(out: Path, v: VariantSpec, p: Plan, data: bytes, seconds: float, params: int,
                  compat: tuple[bool, str | None]) -> Variant:
    """Build the variant folder beside its final place and swap it in (never half-written)."""
    from edgekit.tflite.inspect import read_model_info, weight_stats

    info = read_model_info(data)
    stats = weight_stats(data)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "name": v.name,
        "chain": [s.to_dict() for s in v.chain],
        "description": v.describe(),
        "parent": parent_of(v, p.recipe),
        "base": v.base if p.default_model or v.base == "student" else "model",
        "source_model": str(p.base.source),
        "sha256": _sha256(data),
        "size_bytes": len(data),
        "gzip_size_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "sparsity": {"overall": stats["overall_sparsity"],
                     "layers": {k: s["sparsity"] for k, s in stats["layers"].items()}},
        "unique_weights": {k: s["unique"] for k, s in stats["layers"].items()},
        "param_count": int(params),
        "ops": info["ops"],
        "io": {"input": info["inputs"][0] if info.get("inputs") else None,
               "output": info["outputs"][0] if info.get("outputs") else None},
        "versions": _versions(),
        "compatibility": {"runtime": TARGET_RUNTIME, "status": "ok" if compat[0] else "incompatible",
                          "reason": compat[1]},
        "training_seconds": round(seconds, 3),
        "seed": p.seed,
        "data": getattr(p.dataset, "name", None),
        "inputs_key": p.keys[v.name],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    final = out / "variants" / v.name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{v.name}.", dir=final.parent))
    try:
        (tmp / MODEL_FILE).write_bytes(data)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Variant(final, manifest)


OLD_MARK = ".old-"


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace folder ``final`` by ``tmp``; if that fails, the previous ``final`` is put back."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}{OLD_MARK}{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _cleanup_temp(out: Path) -> None:
    """Remove temp folders of an interrupted run; restore a previous variant caught mid-swap."""
    vroot = out / "variants"
    if not vroot.is_dir():
        return
    for d in sorted(vroot.iterdir()):
        if not (d.name.startswith(".") and d.is_dir()):
            continue
        if OLD_MARK in d.name:
            final = vroot / d.name[1:].split(OLD_MARK)[0]
            if not final.exists():
                os.replace(d, final)
                continue
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- evaluation

def evaluate_all(out: Path, p: Plan, variants: list[Variant], rebuilt: set[str], progress: Progress) -> None:
    """Host evaluation (child process) of every rebuilt variant or one missing eval.json."""
    from edgekit.evaluate import evaluate, write_eval

    ds = p.dataset
    if ds is None:
        return
    baseline = p.recipe.baseline()
    base_outputs = None
    ordered = sorted(variants, key=lambda v: v.name != (baseline.name if baseline else None))
    cache_dir = out / "cache"
    for var in ordered:
        is_base = baseline is not None and var.name == baseline.name
        need = var.name in rebuilt or var.evaluation is None or var.evaluation.get("sha256") != var.sha256
        if is_base:
            cached = cache_dir / f"baseline-outputs-{var.sha256[:16]}.npy"
            if not need and cached.exists():
                base_outputs = np.load(cached)
                continue
        elif not need:
            continue
        progress(var.name, "evaluating on the host", None)
        result, outputs = evaluate(var.path, ds, baseline_outputs=None if is_base else base_outputs)
        if baseline is not None:
            result["baseline"] = baseline.name
        if not var.compatible and result.get("status") == "ok":
            result["status"] = "incompatible"
            result["error"] = var.manifest["compatibility"]["reason"]
        write_eval(var.dir, result)
        var.evaluation = result
        if is_base and outputs is not None:
            base_outputs = outputs
            with atomic.atomic_path(cached) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, outputs)


# --------------------------------------------------------------------------- entry point

def optimize(*, model: Path | None = None, data: str | None = None, unlabelled: Path | None = None,
             image_size: str | None = None,
             recipe: Path | Recipe | None = None, out: Path = Path("out"), seed: int = 0, force: bool = False,
             progress: Progress | None = None) -> list[Variant]:
    """Produce every variant of ``recipe`` under ``out/variants`` and evaluate it; returns the Variants."""
    from edgekit import recipe as recipe_mod
    from edgekit.tflite.runner import check_loadable

    progress = progress or (lambda name, msg, frac: None)
    rec = recipe if isinstance(recipe, Recipe) else recipe_mod.load(recipe)
    out = Path(out)
    p = plan(model=model, data=data, unlabelled=unlabelled, recipe=rec, out=out, seed=seed, force=force,
             image_size=image_size)
    for v in p.skip:
        progress(v.name, "unchanged, skipped", 1.0)
    _cleanup_temp(out)
    builder = Builder(p, out, progress)
    rebuilt: set[str] = set()
    try:
        for v in p.todo:
            data_bytes, seconds, params = builder.export(v)
            with tempfile.TemporaryDirectory(prefix="edgekit-check-") as td:
                probe = Path(td) / "model.tflite"
                probe.write_bytes(data_bytes)
                progress(v.name, f"checking it loads in {TARGET_RUNTIME}", None)
                compat = check_loadable(probe)
            write_variant(out, v, p, data_bytes, seconds, params, compat)
            rebuilt.add(v.name)
            progress(v.name, "built", 0.9)
    finally:
        _cleanup_temp(out)
    variants = [Variant.load(out / "variants" / v.name) for v in rec.variants]
    evaluate_all(out, p, variants, rebuilt, progress)
    for v in rec.variants:
        progress(v.name, "done", 1.0)
    return variants
