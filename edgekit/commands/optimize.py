"""`edgekit optimize`: a trained Keras model -> .tflite variants with manifests and host evaluation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from edgekit.console import wide_console

HELP = """Optimise a Keras model into .tflite variants (quantise, prune, cluster, distil) and evaluate each.

With no MODEL it trains the built-in default (a CNN teacher on Fashion-MNIST) and runs the built-in
recipe. Variants go to OUT/variants/<name>/ (model.tflite, manifest.json, eval.json); unchanged
variants are skipped on a re-run. Progress goes to stderr: a live bar on a terminal, otherwise (a CI
log, `| cat`) one line per finished step (variant built, skipped, evaluated) with elapsed time and ETA.

Examples:

  edgekit optimize --out out

  edgekit optimize model.h5 --data data.npz --recipe recipe.toml --out out --json

  edgekit optimize model.tflite --data data.npz --input-range -1-1 --out out
"""


def register(app: typer.Typer) -> None:
    app.command("optimize", help=HELP)(optimize)


def optimize(
    model: Optional[Path] = typer.Argument(None, help="tf-keras .h5, .keras, SavedModel dir or a float .tflite (post-training passes); omit for the built-in default."),
    data: Optional[str] = typer.Option(None, "--data", help="An .npz (x_train, y_train, x_test, y_test), an image folder (one sub-folder per class), or 'fashion-mnist' (the default)."),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", help="Folder or .npy of unlabelled images for teacher-labelled distillation."),
    image_size: Optional[str] = typer.Option(None, "--image-size", help="HxW to resize an image-folder data set to (default: the images' own size, or 96x96 when sizes differ)."),
    input_range: Optional[str] = typer.Option(None, "--input-range", help="The model's input normalisation: 0-1, -1-1, 0-255 or mean=M,std=S (pixel units 0..255, per channel allowed: mean=123.7,116.3,103.5,std=58.4,57.1,57.4). Default: an in-model Rescaling/Normalization layer decides, else 0-1 (with a warning when -1-1 scores over 5 pt differently on a sample)."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe TOML listing the variants (default: the built-in recipe)."),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory; variants go to OUT/variants."),
    seed: int = typer.Option(0, "--seed", help="Random seed for training and calibration sampling."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
    force: bool = typer.Option(False, "--force", help="Rebuild every variant even when unchanged."),
) -> None:
    from edgekit.optimize.run import optimize as run
    from edgekit.optimize.summary import print_summary, summary_rows
    from edgekit.progress import StepProgress

    # a rich bar on a terminal; otherwise (CI logs, `| cat`) one line per finished step on stderr
    with StepProgress("optimize", total=0) as progress:
        variants = run(model, data, recipe=recipe, out=out, seed=seed, force=force, unlabelled=unlabelled,
                       image_size=image_size, input_range=input_range, progress=progress)
    rows = summary_rows(variants)
    if json_out:
        json.dump({"out": str(out), "variants": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(wide_console(), rows, out)
