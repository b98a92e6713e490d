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
variants are skipped on a re-run.

Examples:

  edgekit optimize --out out

  edgekit optimize model.h5 --data data.npz --recipe recipe.toml --out out --json
"""


def register(app: typer.Typer) -> None:
    app.command("optimize", help=HELP)(optimize)


def optimize(
    model: Optional[Path] = typer.Argument(None, help="tf-keras .h5, .keras or SavedModel dir; omit for the built-in default."),
    data: Optional[str] = typer.Option(None, "--data", help="An .npz (x_train, y_train, x_test, y_test), an image folder (one sub-folder per class), or 'fashion-mnist' (the default)."),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", help="Folder or .npy of unlabelled images for teacher-labelled distillation."),
    image_size: Optional[str] = typer.Option(None, "--image-size", help="HxW to resize an image-folder data set to (default: the images' own size, or 96x96 when sizes differ)."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe TOML listing the variants (default: the built-in recipe)."),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory; variants go to OUT/variants."),
    seed: int = typer.Option(0, "--seed", help="Random seed for training and calibration sampling."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
    force: bool = typer.Option(False, "--force", help="Rebuild every variant even when unchanged."),
) -> None:
    from edgekit.optimize.run import optimize as run

    console = wide_console(stderr=True)
    with _progress(console) as progress:
        variants = run(model=model, data=data, unlabelled=unlabelled, image_size=image_size, recipe=recipe, out=out, seed=seed,
                       force=force, progress=progress)
    rows = summary_rows(variants)
    if json_out:
        json.dump({"out": str(out), "variants": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(wide_console(), rows, out)


class _progress:
    """A rich progress display with one row per variant; callable as (variant, message, fraction)."""

    def __init__(self, console):
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[variant]:<28}"), BarColumn(),
                            TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                            transient=False)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, variant: str, message: str, fraction: float | None) -> None:
        if variant not in self.tasks:
            self.tasks[variant] = self.bar.add_task(message, total=1.0, variant=variant)
        task = self.tasks[variant]
        kwargs = {"description": message}
        if fraction is not None:
            kwargs["completed"] = fraction
        self.bar.update(task, **kwargs)


def summary_rows(variants) -> list[dict]:
    from edgekit.variant import baseline_variant

    base = baseline_variant(variants)
    base_acc = base.accuracy if base else None
    rows = []
    for v in variants:
        m, e = v.manifest, v.evaluation
        acc = v.accuracy
        rows.append({
            "name": v.name,
            "chain": m.description,
            "path": str(v.path),
            "size_bytes": m.size_bytes,
            "gzip_size_bytes": m.gzip_size_bytes,
            "sparsity": m.overall_sparsity,
            "param_count": m.param_count,
            "accuracy": acc,
            "delta_vs_baseline_pt": None if acc is None or base_acc is None else round(100 * (acc - base_acc), 2),
            "agreement": e.agreement if e is not None else None,
            "status": v.status,
            "reason": v.reason,
        })
    return rows


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def print_summary(console, rows: list[dict], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"edgekit optimize → {out}/variants", header_style="bold")
    for col, just in (("variant", "left"), ("chain", "left"), ("size", "right"), ("gzip", "right"),
                      ("sparsity", "right"), ("accuracy", "right"), ("Δ pt", "right"), ("agreement", "right"),
                      ("status", "left")):
        table.add_column(col, justify=just)
    for r in rows:
        acc = "—" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        delta = "—" if r["delta_vs_baseline_pt"] is None else f"{r['delta_vs_baseline_pt']:+.2f}"
        agree = "—" if r["agreement"] is None else f"{100 * r['agreement']:.1f}%"
        status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]: {r['reason']}"
        table.add_row(r["name"], r["chain"], _kb(r["size_bytes"]), _kb(r["gzip_size_bytes"]),
                      f"{100 * r['sparsity']:.0f}%", acc, delta, agree, status)
    console.print(table)
