"""The optimise stage: a model + data + recipe -> variants (model.tflite, manifest.json, eval.json).

    import edgekit as ek
    variants = ek.optimize("model.h5", "data.npz", recipe="recipe.toml", out="out")
    variants = ek.optimize(keras_model, (x_train, y_train, x_test, y_test))
    variants = ek.optimize()                      # the built-in teacher on Fashion-MNIST, built-in recipe

Order of work, so that bad input fails fast and nothing is half-written:
1. parse and validate the recipe (no TensorFlow yet);
2. load the data and the model (or build the default architecture) and run the checks that need
   them — data shape vs model input, passes that need tf-keras, layers QAT cannot quantise;
3. only then train: each variant's chain runs on a fresh clone, sharing chain prefixes in memory;
4. each variant is checked against the target runtime (child process), its folder built in a temp
   folder and renamed into place; a variant whose inputs (model, data, chain, seed, converter) are
   unchanged is skipped;
5. every variant is evaluated on the host on the full test set (child process); a crash or load
   failure is recorded for that variant and the run goes on.

Steps 4-5 of one variant run on a worker thread while the next variant trains (they are child
processes; the order of evaluations is kept, the baseline first). Each finished step is reported to
``progress`` (an :class:`edgekit.progress.StepProgress`); where the time went is written to
``OUT/optimize-timings.json`` (see ``benchmarks/demo_time.py``).
"""

from __future__ import annotations

import concurrent.futures as cf
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import atomic
from edgekit.clock import utc_now
from edgekit.optimize.chain import Builder, Built, NoProgress, Progress
from edgekit.optimize.plan import Plan, plan
from edgekit.optimize.recipe import Recipe, VariantSpec
from edgekit.optimize.writer import TARGET_RUNTIME, cleanup_temp, compatibility, make_manifest, write_variant
from edgekit.variant import Variant

TIMINGS_FILE = "optimize-timings.json"


def optimize(model: Any = None, data: Any = None, *, recipe: str | Path | Recipe | None = None,
             out: str | Path = "out", seed: int = 0, force: bool = False, unlabelled: Any = None,
             image_size: Any = None, input_range: Any = None, progress: Progress | None = None) -> list[Variant]:
    """Produce every variant of ``recipe`` under ``out/variants`` and evaluate it; returns the Variants.

    ``model``: None (the built-in teacher, trained here), a path (tf-keras ``.h5``/``.keras``, a
    SavedModel folder, or a Keras 3 file for post-training passes) or an in-memory tf-keras model.
    ``data``: a name (``"fashion-mnist"``), a path (``.npz`` or an image folder), a
    :class:`edgekit.optimize.data.Dataset`, or arrays ``(x_train, y_train, x_test, y_test)`` as a tuple
    or dict. ``recipe``: a TOML path, a :class:`Recipe`, or None (the built-in recipe). ``unlabelled``:
    images for teacher-labelled distillation (folder, ``.npy`` or an array); ``image_size``: "HxW" for
    image folders. ``input_range``: the model's input normalisation, ``"0-1"``, ``"-1-1"``, ``"0-255"`` or
    ``"mean=M,std=S"`` (see :mod:`edgekit.optimize.data.normalize`; None: detected, else 0-1 with a
    warning when -1-1 scores more than 5 pt differently on a sample). ``progress``: a :class:`edgekit.progress.StepProgress` (default: silent).
    Variants come back in recipe order, each with its manifest and host evaluation.
    """
    from edgekit.optimize import recipe as recipe_mod

    t_start = time.monotonic()
    silent = progress is None
    progress = _Serialized(progress if progress is not None else NoProgress())
    rec = recipe if isinstance(recipe, Recipe) else recipe_mod.load(recipe)
    out = Path(out)
    p = plan(model=model, data=data, unlabelled=unlabelled, recipe=rec, out=out, seed=seed, force=force,
             image_size=image_size, input_range=input_range)
    for w in p.warnings:
        progress.note(w)
        if silent:
            import warnings

            warnings.warn(w, stacklevel=2)
    if p.base.kind == "tflite":
        builder: Any = _TfliteBuilder(p, progress, Builder(p, out, progress))
    else:
        builder = Builder(p, out, progress)
    todo = _baseline_first(p.todo, rec)
    evaluations = len(todo) if p.dataset is not None else 0
    progress.add_total(len(rec.variants) + evaluations + (0 if not todo or builder.teacher_cached() else 1))
    for v in p.skip:
        progress.done(v.name, "unchanged, skipped")
    timings: dict[str, dict[str, float]] = {v.name: {} for v in rec.variants}
    cleanup_temp(out)
    finisher = _Finisher(out, p, progress, timings)
    base = rec.baseline()
    skipped_base = [v for v in p.skip if base is not None and v.name == base.name]
    try:
        finisher.evaluate_skipped(skipped_base)   # the baseline's outputs first: the others compare with them
        for v in todo:
            t0 = time.monotonic()
            built = builder.export(v)
            timings[v.name].update(built.timings, build=time.monotonic() - t0)
            finisher.submit(v, built)
        finisher.evaluate_skipped([v for v in p.skip if v not in skipped_base])
        finisher.wait()
    finally:
        finisher.close()
        cleanup_temp(out)
    variants = [Variant.load(out / "variants" / v.name) for v in rec.variants]
    _write_timings(out, p, builder, timings, time.monotonic() - t_start)
    return variants


class _Serialized:
    """Progress calls under ``keras_env.OUTPUT_LOCK``: a line printed by the worker thread while the
    converter's native output is redirected (main thread) would land in that sink, unseen."""

    def __init__(self, inner: Progress):
        from edgekit.passes.keras_env import OUTPUT_LOCK

        self.inner, self.lock = inner, OUTPUT_LOCK

    def status(self, key: str, message: str, fraction: float | None = None) -> None:
        with self.lock:
            self.inner.status(key, message, fraction)

    def done(self, key: str, message: str) -> None:
        with self.lock:
            self.inner.done(key, message)

    def note(self, text: str) -> None:
        with self.lock:
            self.inner.note(text)

    def add_total(self, n: int) -> None:
        with self.lock:
            self.inner.add_total(n)


def _baseline_first(todo: list[VariantSpec], rec: Recipe) -> list[VariantSpec]:
    base = rec.baseline()
    return sorted(todo, key=lambda v: base is None or v.name != base.name)


class _Finisher:
    """Check, write and evaluate built variants on one worker thread, in submission order."""

    def __init__(self, out: Path, p: Plan, progress: Progress, timings: dict[str, dict[str, float]]):
        self.out, self.p, self.progress, self.timings = out, p, progress, timings
        self.pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgekit-finish")
        self.futures: list[cf.Future] = []
        self.baseline = p.recipe.baseline()
        self.base_outputs: np.ndarray | None = None
        self.rebuilt: set[str] = set()

    def _raise_failures(self) -> None:
        for f in self.futures:
            if f.done() and f.exception() is not None:
                raise f.exception()

    def submit(self, v: VariantSpec, built: Built) -> None:
        self._raise_failures()   # e.g. a full disk: stop before training the next variant
        self.rebuilt.add(v.name)
        self.futures.append(self.pool.submit(self._finish, v, built))

    def evaluate_skipped(self, skipped: list[VariantSpec]) -> None:
        """Skipped variants whose evaluation is missing or stale (and the baseline's outputs)."""
        if skipped and self.p.dataset is not None:
            self.futures.append(self.pool.submit(self._evaluate_skipped, skipped))

    def wait(self) -> None:
        for f in self.futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- on the worker thread ------------------------------------------------------------------
    def _finish(self, v: VariantSpec, built: Built) -> None:
        from edgekit.tflite.runner import check_loadable

        p = self.p
        t0 = time.monotonic()
        self.progress.status(v.name, f"checking it loads in {TARGET_RUNTIME}", None)
        with tempfile.TemporaryDirectory(prefix="edgekit-check-") as td:
            probe = Path(td) / "model.tflite"
            probe.write_bytes(built.data)
            ok, reason = check_loadable(probe)
        check_s = time.monotonic() - t0
        step_timings = {**built.timings, "check": check_s}
        manifest = make_manifest(v, built.data, recipe=p.recipe, base=p.base_label(v), source_model=str(p.base.source),
                                 seed=p.seed, data_name=getattr(p.dataset, "name", None), inputs_key=p.keys[v.name],
                                 param_count=built.param_count, compat=compatibility(ok, reason),
                                 training_seconds=built.training_seconds, timings=step_timings,
                                 input_range=p.input_range.to_dict() if p.input_range is not None else None,
                                 converter=_converter(p, v), teacher=built.teacher)
        variant = write_variant(self.out, manifest, built.data)
        self.timings[v.name]["check"] = check_s
        from edgekit.optimize.summary import kb

        took = built.timings.get("train", 0.0) + built.timings.get("convert", 0.0) + check_s
        state = "" if ok else f"; incompatible with {TARGET_RUNTIME}: {reason}"
        self.progress.done(v.name, f"built in {took:.0f} s — {manifest.description}, {kb(manifest.size_bytes)}{state}")
        self._evaluate(variant)

    def _evaluate_skipped(self, skipped: list[VariantSpec]) -> None:
        for v in skipped:
            variant = Variant.load(self.out / "variants" / v.name)
            is_base = self.baseline is not None and v.name == self.baseline.name
            ev = variant.evaluation
            # (an eval.json from before the numerical-fault checks has none: checked again)
            stale = ev is None or ev.sha256 != variant.sha256 or (ev.status == "ok" and ev.checks is None)
            if stale or (is_base and self.base_outputs is None and not self._load_base_outputs(variant)):
                self.progress.add_total(1)
                self._evaluate(variant)

    def _cached_outputs(self, variant: Variant) -> Path:
        return self.out / "cache" / f"baseline-outputs-{variant.sha256[:16]}.npy"

    def _load_base_outputs(self, variant: Variant) -> bool:
        cached = self._cached_outputs(variant)
        if cached.exists():
            self.base_outputs = np.load(cached)
            return True
        return False

    def _evaluate(self, variant: Variant) -> None:
        from edgekit.optimize.evaluate import evaluate, write_eval
        from edgekit.optimize.summary import evaluated_text

        ds = self.p.dataset
        if ds is None:
            return
        base = self.baseline
        is_base = base is not None and variant.name == base.name
        if not is_base and base is not None and self.base_outputs is None:
            # the baseline was not (re)evaluated in this run: its outputs come from the cache
            self._load_base_outputs(Variant.load(self.out / "variants" / base.name))
        self.progress.status(variant.name, "evaluating on the host", None)
        t0 = time.monotonic()
        evaluation, outputs = evaluate(variant.path, ds, baseline=base.name if base else None,
                                       baseline_outputs=None if is_base else self.base_outputs,
                                       checks=self.p.recipe.settings.get("checks"))
        variant.set_evaluation(write_eval(variant.dir, evaluation))
        self.timings[variant.name]["evaluate"] = time.monotonic() - t0
        if is_base and outputs is not None:
            self.base_outputs = outputs
            with atomic.atomic_path(self._cached_outputs(variant)) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, outputs)
        self.progress.done(variant.name, evaluated_text(variant))


class _TfliteBuilder:
    """A .tflite base's variants (:mod:`edgekit.optimize.from_tflite`), with the chain Builder's interface;
    its distilled students (the .tflite teaches) are trained by ``students``, a chain Builder."""

    teacher_seconds = None

    def __init__(self, p: Plan, progress: Progress, students: Builder):
        self.p, self.progress, self.students = p, progress, students

    def teacher_cached(self) -> bool:
        return True

    def export(self, v: VariantSpec) -> Built:
        from edgekit.optimize import from_tflite

        if v.base == "student":
            return self.students.export(v)
        t0 = time.monotonic()
        data = from_tflite.export(self.p.base, v, self.p.dataset, self.p.seed, self.progress)
        took = time.monotonic() - t0
        return Built(data, self.p.base.param_count, took, {"train": 0.0, "convert": took})


def _converter(p: Plan, v: VariantSpec) -> str | None:
    """What made the file when not the TF converter: litert-quantizer (a .tflite base's export passes)."""
    if p.base.kind != "tflite" or v.base == "student":
        return None
    from edgekit.optimize.from_tflite import QUANTIZER, quantizer_version

    return f"{QUANTIZER} {quantizer_version()}" if v.export is not None else "none (the input .tflite itself)"


def _write_timings(out: Path, p: Plan, builder: Builder, timings: dict[str, dict[str, float]], total: float) -> None:
    """``OUT/optimize-timings.json``: where this run's time went (seconds; a skipped variant has none)."""
    data = {
        "schema": "edgekit.optimize-timings/1",
        "created": utc_now(),
        "total": round(total, 3),
        "stages": {k: round(s, 3) for k, s in p.timings.items()},
        "teacher": None if builder.teacher_seconds is None else round(builder.teacher_seconds, 3),
        "variants": {name: {k: round(s, 3) for k, s in t.items()} for name, t in timings.items()},
        "skipped": [v.name for v in p.skip],
    }
    atomic.write_json(out / TIMINGS_FILE, data)
