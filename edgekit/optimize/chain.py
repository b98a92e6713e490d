"""Running recipe chains: the Keras passes, then the export, sharing work in memory.

Shared work is done once per run: each Keras chain prefix (``prune(0.8)`` for both ``prune80-int8``
and ``prune80-cluster16-qat-int8``) is trained once, and the teacher's outputs on the training images
are computed once for every distilled student (and cached in ``OUT/cache`` for later runs, like each
trained built-in student: :mod:`edgekit.optimize.student_cache`). Any base
teaches a distilled student — tf-keras, Keras 3, SavedModel or ``.tflite`` (:mod:`edgekit.optimize.teacher`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgekit.optimize.recipe import VariantSpec

if TYPE_CHECKING:
    from edgekit.optimize.plan import Plan


class Progress(Protocol):
    """What the run reports to (``edgekit.progress.StepProgress`` implements it)."""

    def status(self, key: str, message: str, fraction: float | None = None) -> None: ...
    def done(self, key: str, message: str) -> None: ...
    def note(self, text: str) -> None: ...
    def add_total(self, n: int) -> None: ...


class NoProgress:
    """Reports nothing (the Python API's default)."""

    def status(self, key: str, message: str, fraction: float | None = None) -> None:
        pass

    def done(self, key: str, message: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def add_total(self, n: int) -> None:
        pass

    def start_steps(self) -> None:
        pass


@dataclass
class Built:
    """One exported variant: its .tflite bytes and how it was made."""

    data: bytes
    param_count: int
    training_seconds: float                 # the whole chain's training, shared prefixes included
    timings: dict[str, float] = field(default_factory=dict)   # seconds spent now: train, convert
    teacher: dict | None = None             # a distilled student's teacher: {"kind", "sha256"}


class Builder:
    """Runs chains; keeps each Keras chain prefix in memory so shared prefixes train once."""

    def __init__(self, p: "Plan", out: Path, progress: Progress):
        self.p = p
        self.out = out
        self.progress = progress
        self.memo: dict[str, tuple[Any, float]] = {}   # prefix key -> (model, cumulative seconds)
        self.base_model = None
        self.teacher_seconds: float | None = None        # None: not trained in this run
        self._teacher = None                              # edgekit.optimize.teacher.Teacher, made on first use
        from edgekit.optimize.student_cache import StudentCache

        self.students = StudentCache(p, out / "cache", progress)   # trained students, for every later run

    # ------------------------------------------------------------------------------------- base
    def teacher_cache(self) -> Path:
        return self.out / "cache" / f"teacher-{self.p.base_key[:16]}.h5"

    def teacher_cached(self) -> bool:
        return not self.p.default_model or self.teacher_cache().exists()

    def shipped_teacher(self, model) -> dict | None:
        """Load the shipped trained default teacher into ``model`` when it was made for this run's inputs."""
        from edgekit.optimize import models, pretrained
        from edgekit.optimize.plan import teacher_epochs

        key = pretrained.teacher_key(model, self.p.dataset, epochs=teacher_epochs(self.p.recipe),
                                     seed=self.p.seed, training=models.TEACHER_TRAINING)
        return pretrained.load_if_matching(model, key)

    def base(self):
        from edgekit.optimize import models
        from edgekit.optimize.plan import teacher_epochs

        if self.base_model is not None:
            return self.base_model
        model = self.p.base.keras_model
        if not self.p.default_model:
            self.base_model = model
            return model
        cache = self.teacher_cache()
        shipped = None if cache.exists() else self.shipped_teacher(model)
        if cache.exists():
            model.load_weights(cache)
        elif shipped is not None:
            self.progress.done("teacher", f"the built-in default model ships trained ({shipped['epochs']} epochs, "
                                          f"{shipped['test_accuracy']:.2%} on the test set): not retrained")
        else:
            epochs = teacher_epochs(self.p.recipe)
            t0 = time.monotonic()
            self.progress.status("teacher", f"training the default teacher (0/{epochs} epochs)", 0.0)
            models.train_teacher(model, self.p.dataset, epochs=epochs, seed=self.p.seed,
                                 progress=lambda e, n: self.progress.status(
                                     "teacher", f"training the default teacher ({e}/{n} epochs)", e / n))
            models.save_weights(model, cache)
            self.teacher_seconds = time.monotonic() - t0
            self.progress.done("teacher", f"trained the default teacher ({epochs} epochs) in {self.teacher_seconds:.0f} s")
        self.base_model = model
        return model

    def teacher_probs(self, teacher, x: np.ndarray, which: str) -> np.ndarray:
        """The teacher's output probabilities on ``x``: computed once per (teacher, data, images) for
        every student and re-run (``OUT/cache``); any kind of base teaches (:mod:`edgekit.optimize.teacher`)."""
        if self._teacher is None:
            from edgekit.optimize.teacher import Teacher

            self._teacher = Teacher(self.p.base, self.p.base_key, self.p.dataset, self.out / "cache", self.progress)
        return self._teacher.probs(x, which, keras_model=teacher)

    def teacher_record(self, v: VariantSpec) -> dict | None:
        """The manifest's ``teacher`` of a distilled variant: {"kind", "sha256"} (None: not distilled)."""
        if v.base != "student":
            return None
        from edgekit.optimize.teacher import describe

        return describe(self.p.base, self.p.base_key)

    def trim_memo(self, keep: int) -> None:
        """Forget all but the ``keep`` most recently trained Keras prefixes (a search keeps a few, so a
        trial that repeats an earlier trial's prune or distill step with another export reuses it)."""
        for key in list(self.memo)[: max(0, len(self.memo) - keep)]:
            del self.memo[key]

    # ------------------------------------------------------------------------------------- keras
    def keras_chain(self, v: VariantSpec) -> tuple[Any, float, float]:
        """The Keras model after ``v``'s keras passes: (model, cumulative seconds, seconds spent now)."""
        steps = v.keras_steps
        model, seconds, spent = self.base(), 0.0, 0.0
        for i in range(len(steps)):
            key = json.dumps([s.to_dict() for s in steps[: i + 1]], sort_keys=True)
            if key in self.memo:
                model, seconds = self.memo.pop(key)   # re-inserted below: the most recently used last
                self.memo[key] = (model, seconds)
                continue
            t0 = time.monotonic()
            cached = self.students.path(v, steps[i]) if i == 0 and steps[i].name == "distill" else None
            stored = self.students.load(steps[i], cached)
            if stored is not None:   # trained before (an earlier run, a killed search): its training time counts
                model, took_then = stored
                seconds += took_then
                spent += time.monotonic() - t0
            else:
                model = self._apply(v, steps[i], model)
                took = time.monotonic() - t0
                seconds += took
                spent += took
                self.students.save(steps[i], cached, model, took)
            self.memo[key] = (model, seconds)
        return model, seconds, spent

    def _apply(self, v: VariantSpec, step, model):
        from edgekit.passes import clustering, distillation, pruning, training

        ds = self.p.dataset
        prm = step.params
        kw = {"batch_size": prm.get("batch_size", 128)}
        if prm.get("learning_rate"):
            kw["learning_rate"] = prm["learning_rate"]
        epochs = prm.get("epochs", 1)
        label = step.label()
        report = lambda e, n: self.progress.status(v.name, f"{label} epoch {e}/{n}", e / n)  # noqa: E731
        self.progress.status(v.name, label, 0.0)
        training.set_seed(self.p.seed)
        if step.name == "distill":
            from edgekit.optimize.plan import student_arch

            student = student_arch(v, ds)
            kw.update(temperature=prm["temperature"], epochs=epochs, progress=report, seed=self.p.seed,
                      schedule=prm["schedule"], augment=prm["augment"], num_classes=ds.num_classes)
            own = getattr(ds, "x_unlabelled", None) is not None

            def views(which):   # with augmentation the teacher labels each epoch's augmented images (cached)
                return lambda e, images: self.teacher_probs(
                    model, images, f"{which}, augmented ({prm['augment']}, seed {self.p.seed}, "
                                   f"batch {kw['batch_size']}, epoch {e + 1})")

            if prm.get("unlabelled"):   # the teacher's labels only: never a human one
                x = ds.x_unlabelled if own else ds.x_train
                which = "unlabelled" if own else "train"
                probs = None if prm["augment"] != "none" else self.teacher_probs(model, x, which)
                return distillation.distill(model, student, x, None, alpha=0.0, teacher_probs=probs,
                                            view_probs=views(which), **kw)
            x, y, which = ds.x_train, ds.y_train, "train"
            if own:   # labelled and unlabelled images together: hard + soft where a label exists, soft where not
                x = np.concatenate([x, ds.x_unlabelled])
                y = np.concatenate([y, np.full(len(ds.x_unlabelled), -1, np.int64)])
                which = "train+unlabelled"
            probs = None
            if prm["augment"] == "none":
                probs = self.teacher_probs(model, ds.x_train, "train")
                if own:
                    probs = np.concatenate([probs, self.teacher_probs(model, ds.x_unlabelled, "unlabelled")])
            return distillation.distill(model, student, x, y, alpha=prm["alpha"], teacher_probs=probs,
                                        view_probs=views(which), **kw)
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

    # ------------------------------------------------------------------------------------- export
    def export(self, v: VariantSpec) -> Built:
        """Train ``v``'s chain (reusing shared prefixes) and convert it to .tflite."""
        from edgekit.passes import quantization as q
        from edgekit.passes import training

        exp = v.export
        ds = self.p.dataset
        if not self.p.base.trainable and v.base != "student":   # a distilled student trains whatever the base
            mode = {"ptq-dynamic": "dynamic", "ptq-float16": "float16", "ptq-int8": "int8", None: "float32"}[exp and exp.name]
            rep = q.representative_data(ds.x_train, exp.params["calibration"], self.p.seed) if mode == "int8" else None
            self.progress.status(v.name, f"export {exp.label() if exp else 'float32'}", None)
            t0 = time.monotonic()
            data = q.convert(saved_model_dir=self.p.base.saved_model_dir, mode=mode, representative=rep)
            took = time.monotonic() - t0
            return Built(data, 0, took, {"train": 0.0, "convert": took})
        model, seconds, spent = self.keras_chain(v)
        train_qat = 0.0
        self.progress.status(v.name, f"export {exp.label() if exp else 'float32'}", None)
        t0 = time.monotonic()
        if exp is None:
            data = q.convert(model, mode="float32")
        elif exp.name == "qat":
            prm = exp.params
            training.set_seed(self.p.seed)
            kw = {"batch_size": prm.get("batch_size", 128)}
            if prm.get("learning_rate"):
                kw["learning_rate"] = prm["learning_rate"]
            qat = q.quantize_aware(model, ds.x_train, ds.y_train, epochs=prm["epochs"], preserve=prm["preserve"],
                                   progress=lambda e, n: self.progress.status(v.name, f"qat epoch {e}/{n}", e / n), **kw)
            train_qat = time.monotonic() - t0
            rep = q.representative_data(ds.x_train, prm["calibration"], self.p.seed)
            data = q.convert(qat, mode="int8", representative=rep)
        else:
            mode = {"ptq-dynamic": "dynamic", "ptq-float16": "float16", "ptq-int8": "int8"}[exp.name]
            rep = q.representative_data(ds.x_train, exp.params["calibration"], self.p.seed) if mode == "int8" else None
            data = q.convert(model, mode=mode, representative=rep)
        took = time.monotonic() - t0
        return Built(data, int(model.count_params()), seconds + took,
                     {"train": spent + train_qat, "convert": took - train_qat}, teacher=self.teacher_record(v))
