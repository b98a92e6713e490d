"""Running recipe chains: the Keras passes, then the export, sharing chain prefixes in memory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit import atomic
from edgekit.optimize.recipe import VariantSpec

if TYPE_CHECKING:
    from edgekit.optimize.plan import Plan, Progress


class Builder:
    """Runs chains; keeps each Keras chain prefix in memory so shared prefixes train once."""

    def __init__(self, p: "Plan", out: Path, progress: "Progress"):
        self.p = p
        self.out = out
        self.progress = progress
        self.memo: dict[str, tuple[Any, float, int]] = {}   # prefix key -> (model, seconds, params)
        self.base_model = None

    def base(self):
        from edgekit.optimize import models
        from edgekit.passes import training

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
            training.set_seed(self.p.seed)
            self.progress("teacher", f"training the default teacher (0/{epochs} epochs)", 0.0)
            training.fit(model, ds.x_train, ds.y_train, epochs=epochs,
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
        from edgekit.optimize import models
        from edgekit.passes import training
        from edgekit.passes import clustering, distillation, pruning

        ds = self.p.dataset
        prm = step.params
        kw = {"batch_size": prm.get("batch_size", 128)}
        if prm.get("learning_rate"):
            kw["learning_rate"] = prm["learning_rate"]
        epochs = prm.get("epochs", 1)
        report = lambda e, n: self.progress(v.name, f"{step.name} epoch {e}/{n}", None)  # noqa: E731
        self.progress(v.name, f"{step.label()}", None)
        training.set_seed(self.p.seed)
        if step.name == "distill":
            from edgekit.optimize.plan import student_arch

            student = student_arch(v, ds)
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
        from edgekit.optimize import models
        from edgekit.passes import training
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
            training.set_seed(self.p.seed)
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
