"""One search trial: the sampled chain built with the optimise stage's own machinery, scored honestly.

A trial is an ordinary variant: :class:`edgekit.optimize.chain.Builder` trains and exports the chain
(the same code as ``edgekit optimize``), the device runtime's loadability check runs in a child,
:func:`edgekit.optimize.writer.make_manifest` + ``write_variant`` put it in ``OUT/variants/trial-NNNN``
(its manifest names the study and the trial). It is scored on the *validation* split carved from the
training data (never the test set), sized from the exported file (gzip -9) and, when a budget or an
objective needs them, timed and measured on the device (:mod:`edgekit.search.device`).

A trial whose Keras passes already leave it more than the accuracy budget (plus ``PRUNE_SLACK``) below
the baseline on the validation split is pruned before its export (QAT training, conversion, device) —
unless QAT follows a pass that was not fine-tuned (``cluster(epochs=0)``): QAT is then that pass's
fine-tuning, and the model before it says nothing about the model after it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.digest import sha256_json
from edgekit import stop
from edgekit.errors import EdgekitError

PRUNE_SLACK = 0.02     # export (int8) rarely costs more than 2 pt, QAT rarely wins more back
MEMO_KEEP = 10         # Keras chain prefixes kept between trials (small models: a teacher is ~2 MB); the
                       # default space's six student widths fit, so each student trains once per worker
BASELINE = "float32"


@dataclass
class Budget:
    """Limits a variant must meet (None: no limit) and the objectives to optimise."""

    objectives: list[str]
    max_accuracy_drop: float | None = 0.01      # absolute points (0.01 = 1 pp), vs the float32 baseline
    max_size: int | None = None                 # bytes, gzip -9 of the .tflite
    max_latency: float | None = None            # ms (est. on the emulated device, measured on a phone)
    max_memory: float | None = None             # MiB, peak of the runner process on the device
    margin: float = 0.0                         # held back from the accuracy budget on the validation split

    @property
    def held_back(self) -> float:
        """The margin as applied: at most half the accuracy budget (none without one)."""
        return 0.0 if self.max_accuracy_drop is None else min(self.margin, self.max_accuracy_drop / 2)

    @property
    def validation_drop(self) -> float | None:
        """The accuracy budget a trial must meet on the validation split: the user's, less the margin that
        covers the validation winner's curse."""
        if self.max_accuracy_drop is None:
            return None
        return self.max_accuracy_drop - self.held_back

    @property
    def needs_device(self) -> bool:
        return self.needs_latency or self.needs_memory

    @property
    def needs_latency(self) -> bool:
        return "latency" in self.objectives or self.max_latency is not None

    @property
    def needs_memory(self) -> bool:
        return "memory" in self.objectives or self.max_memory is not None

    def constraints(self, m: dict[str, Any]) -> dict[str, float]:
        """Optuna constraint values (<= 0 feasible), one per limit given, in the same units as the limit."""
        out: dict[str, float] = {}
        if self.max_accuracy_drop is not None:
            out["accuracy_drop"] = m["drop"] - self.validation_drop
        if self.max_size is not None:
            out["size"] = float(m["size"] - self.max_size)
        if self.max_latency is not None:
            out["latency"] = m["latency"] - self.max_latency if m.get("latency") is not None else 1e9
        if self.max_memory is not None:
            out["memory"] = m["memory"] - self.max_memory if m.get("memory") is not None else 1e9
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"objectives": list(self.objectives), "max_accuracy_drop": self.max_accuracy_drop,
                "max_size": self.max_size, "max_latency": self.max_latency, "max_memory": self.max_memory,
                "margin": self.margin}


class Duplicate(Exception):
    """The sampled chain was already tried (not counted, not built)."""


class Surplus(Exception):
    """The study already has its --trials (another worker took the last one)."""


class TrialFailed(Exception):
    """The trial's chain could not be built or evaluated (counted; the error is in its attributes)."""


@dataclass
class Context:
    """What every trial of one worker shares."""

    plan: Any                   # edgekit.optimize.plan.Plan (the search's training split as dataset)
    builder: Any                # edgekit.optimize.chain.Builder
    space: Any                  # edgekit.search.space.Space
    budget: Budget
    out: Path
    study_name: str
    trials: int
    val_accuracy: float         # the float32 baseline on the validation split
    val_outputs: np.ndarray
    measurer: Any = None        # edgekit.search.device.Measurer, when the budget needs the device
    progress: Any = None
    storage: str = ""           # the study's database URL, password hidden
    baseline_metrics: dict[str, Any] = field(default_factory=dict)


def inputs_key(ctx: Context, v: Any) -> str:
    from edgekit._version import __version__

    p = ctx.plan
    return sha256_json({"base": p.base_key, "data": p.dataset.fingerprint(), "chain": v.chain_key(), "seed": p.seed,
                        "study": ctx.study_name, "edgekit": __version__})


def build_and_write(ctx: Context, v: Any, trial_number: int | None):
    """Export ``v`` (reusing shared prefixes), check it loads on the device runtime, write its variant folder."""
    from edgekit.optimize.recipe import Recipe
    from edgekit.optimize.writer import compatibility, make_manifest, write_variant
    from edgekit.tflite.runner import check_loadable

    p = ctx.plan
    t0 = time.monotonic()
    built = ctx.builder.export(v)
    t1 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edgekit-check-") as td:
        probe = Path(td) / "model.tflite"
        probe.write_bytes(built.data)
        ok, reason = check_loadable(probe)
    check_s = time.monotonic() - t1
    manifest = make_manifest(v, built.data, recipe=Recipe("search", [v]), base=p.base_label(v),
                             source_model=str(p.base.source), seed=p.seed, data_name=getattr(p.dataset, "name", None),
                             inputs_key=inputs_key(ctx, v), param_count=built.param_count,
                             compat=compatibility(ok, reason), training_seconds=built.training_seconds,
                             timings={**built.timings, "check": check_s})
    manifest.study, manifest.trial = ctx.study_name, trial_number
    variant = write_variant(ctx.out, manifest, built.data)
    return variant, ok, reason, t1 - t0 + check_s


def validate(ctx: Context, variant: Any) -> Any:
    """The variant's Evaluation on the validation split (kept in the study, never written as eval.json)."""
    from edgekit.optimize.evaluate import evaluate

    evaluation, _ = evaluate(variant.path, ctx.plan.dataset, baseline=BASELINE, baseline_outputs=ctx.val_outputs,
                             checks=ctx.space.settings.get("checks"))
    return evaluation


def judged_before_export(v: Any) -> bool:
    """Whether the Keras model says what the variant will score: not when QAT fine-tunes a last Keras
    pass that trained no epoch of its own (``prune → cluster(epochs=0) → qat``, PCQAT as the recipes
    write it: the clusters' k-means without fine-tuning can stand far below what QAT makes of them)."""
    if not v.keras_steps:
        return False
    untrained_last = v.keras_steps[-1].params.get("epochs", 1) == 0
    return not (v.export is not None and v.export.name == "qat" and untrained_last)


def prune_threshold(ctx: Context) -> float | None:
    """Validation accuracy below which a trial is hopeless after its Keras passes (None: no budget)."""
    if ctx.budget.max_accuracy_drop is None:
        return None
    return ctx.val_accuracy - ctx.budget.max_accuracy_drop - PRUNE_SLACK


def _keras_accuracy(model: Any, ds: Any) -> float:
    probs = model.predict(ds.x_test, batch_size=512, verbose=0)
    return float((np.asarray(probs).argmax(axis=1) == ds.y_test).mean())


def not_the_chains(exc: BaseException) -> bool:
    """A failure of the host or the device, which every later trial would meet too: a full or read-only
    disk, a device that went away during the measurement (``BenchIncomplete``)."""
    import errno

    from edgekit.bench.api import BenchIncomplete

    if isinstance(exc, BenchIncomplete):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def variant_name(number: int) -> str:
    """The trial's variant folder in OUT/variants (one study per OUT: numbers start at 0 in each)."""
    return f"trial-{number:04d}"


def run_trial(ctx: Context, trial: Any) -> tuple[float, ...]:
    """The Optuna objective: sample, build, score; the values of ``ctx.budget.objectives``."""
    import optuna

    from edgekit.optimize.summary import kb
    from edgekit.search import study as study_mod
    from edgekit.search.space import variant_spec

    n = trial.number
    trial.set_user_attr("worker", study_mod.worker_id())
    if study_mod.surplus(trial.study, n, ctx.trials):
        trial.set_user_attr("surplus", True)
        raise Surplus()
    family, chain = ctx.space.sample(trial)
    name = variant_name(n)
    try:
        v = variant_spec(name, chain, f"{ctx.space.path}, family {family!r}", ctx.space.settings)
    except EdgekitError as exc:   # the space was checked; a sampled value the pass refuses is the trial's error
        trial.set_user_attr("error", exc.one_line())
        raise TrialFailed(exc.one_line()) from None
    key = v.chain_key()
    trial.set_user_attr("family", family)
    trial.set_user_attr("chain", [s.to_dict() for s in v.chain])
    trial.set_user_attr("description", v.describe(every=True))
    trial.set_user_attr("chain_key", key)
    dup = study_mod.duplicate_of(trial.study, n, key)
    if dup is not None:
        trial.set_user_attr("duplicate_of", dup)
        raise Duplicate(dup)
    progress = ctx.progress
    if progress is not None:
        progress.status(name, f"{family}: {v.describe(every=True)}", 0.0)
    try:
        if judged_before_export(v) and ctx.budget.max_accuracy_drop is not None:
            model, _, _ = ctx.builder.keras_chain(v)
            acc = _keras_accuracy(model, ctx.plan.dataset)
            if len(ctx.budget.objectives) == 1:
                trial.report(acc, step=len(v.keras_steps))
                hopeless = trial.should_prune()
            else:
                hopeless = acc < prune_threshold(ctx)
            if hopeless:
                trial.set_user_attr("metrics", {"accuracy": acc, "drop": ctx.val_accuracy - acc})
                trial.set_constraint("accuracy_drop", ctx.val_accuracy - acc - ctx.budget.validation_drop)
                trial.set_user_attr("pruned", f"validation accuracy {acc:.2%} after {' → '.join(s.label() for s in v.keras_steps)}")
                raise optuna.TrialPruned()
        variant, ok, reason, seconds = build_and_write(ctx, v, n)
        trial.set_user_attr("variant", variant.name)
        if not ok:
            raise TrialFailed(f"incompatible with the device runtime: {reason}")
        ev = validate(ctx, variant)
        if ev.status != "ok" or ev.accuracy is None:
            raise TrialFailed(f"validation failed: {ev.error}")
        m: dict[str, Any] = {"size": variant.manifest.gzip_size_bytes, "file_size": variant.size_bytes,
                             "accuracy": ev.accuracy, "drop": ctx.val_accuracy - ev.accuracy,
                             "agreement": ev.agreement, "seconds": round(seconds, 3)}
        if ctx.measurer is not None:
            m.update(ctx.measurer.measure(variant))
    except optuna.TrialPruned:
        raise
    except Exception as exc:   # noqa: BLE001 — a chain that breaks in TensorFlow/tfmot is this trial's failure
        stop.raise_if_requested()   # unless it is a Ctrl-C/SIGTERM TensorFlow turned into an error: then stop
        if not_the_chains(exc):
            raise   # the host or the device failed, not the chain: the search stops (one line), the trial not counted
        text = exc.one_line() if isinstance(exc, EdgekitError) else (
            str(exc) if isinstance(exc, TrialFailed) else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        trial.set_user_attr("error", text[:500])
        raise TrialFailed(text) from None
    finally:
        ctx.builder.trim_memo(MEMO_KEEP)   # memory stays flat; a repeated prefix is not trained again
    cons = ctx.budget.constraints(m)
    if ev.suspect:   # NaN, constant, one class, no longer agreeing with the float parent: never on the front
        cons["suspect"] = 1.0
        trial.set_user_attr("suspect", list(ev.suspect))
    for k, c in cons.items():
        trial.set_constraint(k, float(c))
    trial.set_user_attr("metrics", m)
    trial.set_user_attr("constraints", cons)
    trial.set_user_attr("feasible", all(c <= 0 for c in cons.values()))
    values = []
    for o in ctx.budget.objectives:
        if m.get(o) is None:
            trial.set_user_attr("error", f"no {o} measured")
            raise TrialFailed(f"no {o} measured")
        values.append(float(m[o]))
    if progress is not None:
        lat = f", est. {m['latency']:.3g} ms" if m.get("latency") is not None and m.get("latency_kind") == "est." else (
            f", {m['latency']:.3g} ms" if m.get("latency") is not None else "")
        progress.status(name, f"{v.describe(every=True)}: {kb(m['size'])} gzip, val {m['accuracy']:.2%}{lat}", 1.0)
    return tuple(values)
