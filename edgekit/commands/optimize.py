"""`edgekit optimize`: a trained Keras model -> .tflite variants with manifests and host evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "optimize",
        help=(
            "Optimise a Keras model into .tflite variants (quantise, prune, cluster, distil).\n\n"
            "With no MODEL, trains the built-in default teacher/student on Fashion-MNIST.\n\n"
            "Example: edgekit optimize model.h5 --data data.npz --recipe recipe.toml --out out"
        ),
        no_args_is_help=False,
    )(optimize)


def optimize(
    model: Optional[Path] = typer.Argument(None, help="tf-keras .h5, .keras or SavedModel dir; omit for the built-in default."),
    data: Optional[str] = typer.Option(None, "--data", help="Data: .npz (x_train,y_train,x_test,y_test), an image folder, or 'fashion-mnist' (default)."),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", help="Folder or .npy of unlabelled images for teacher-labelled distillation."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe TOML listing the variants; default: the built-in recipe."),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory (variants go to OUT/variants)."),
    seed: int = typer.Option(0, "--seed", help="Random seed for training and sampling."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    force: bool = typer.Option(False, "--force", help="Rebuild every variant even when unchanged."),
) -> None:
    from edgekit.optimize import run

    run(model=model, data=data, unlabelled=unlabelled, recipe=recipe, out=out, seed=seed, json_out=json_out, force=force)
