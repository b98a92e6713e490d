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

import tempfile
from pathlib import Path

import numpy as np

from edgekit import atomic
from edgekit.optimize.chain import Builder
from edgekit.optimize.plan import Plan, Progress, plan
from edgekit.optimize.recipe import Recipe
from edgekit.optimize.writer import TARGET_RUNTIME, cleanup_temp, write_variant
from edgekit.variant import Variant


# --------------------------------------------------------------------------- evaluation

def evaluate_all(out: Path, p: Plan, variants: list[Variant], rebuilt: set[str], progress: Progress) -> None:
    """Host evaluation (child process) of every rebuilt variant or one missing eval.json."""
    from edgekit.optimize.evaluate import evaluate, write_eval

    ds = p.dataset
    if ds is None:
        return
    baseline = p.recipe.baseline()
    base_outputs = None
    ordered = sorted(variants, key=lambda v: v.name != (baseline.name if baseline else None))
    cache_dir = out / "cache"
    for var in ordered:
        is_base = baseline is not None and var.name == baseline.name
        need = var.name in rebuilt or var.evaluation is None or var.evaluation.sha256 != var.sha256
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
            result["error"] = var.manifest.compatibility.reason
        var.set_evaluation(write_eval(var.dir, result))
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
    from edgekit.optimize import recipe as recipe_mod
    from edgekit.tflite.runner import check_loadable

    progress = progress or (lambda name, msg, frac: None)
    rec = recipe if isinstance(recipe, Recipe) else recipe_mod.load(recipe)
    out = Path(out)
    p = plan(model=model, data=data, unlabelled=unlabelled, recipe=rec, out=out, seed=seed, force=force,
             image_size=image_size)
    for v in p.skip:
        progress(v.name, "unchanged, skipped", 1.0)
    cleanup_temp(out)
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
        cleanup_temp(out)
    variants = [Variant.load(out / "variants" / v.name) for v in rec.variants]
    evaluate_all(out, p, variants, rebuilt, progress)
    for v in rec.variants:
        progress(v.name, "done", 1.0)
    return variants
