"""`edgekit search`: the best variants within a budget, found by an Optuna study (edgekit.search)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer

from edgekit.console import wide_console
from edgekit.errors import EdgekitError

HELP = """Search pruning x clustering x QAT x distillation for the smallest / fastest variant within a budget.

An Optuna study (TPE with constraints; several --objective give a Pareto front) over a search space
declared in TOML (default: the built-in space; see docs/search.md). Each trial is scored on a
validation split carved from the training data; the test set is used once, at the end, for each
front member. Every completed trial is an ordinary variant in OUT/variants/trial-NNNN (its manifest
names the study and trial), so `edgekit report`, `bench` and `gate` work on OUT unchanged.
The study lives in OUT/search.sqlite: the same command after a kill continues it (no finished trial
runs again); --storage postgresql://... lets several workers share one study. Latency and memory
(when a budget or objective needs them) come from the emulated device's counted run (est.) or from
a phone with --device. Progress: a live display on a terminal, else one line per trial.

Examples:

  edgekit search --out out/search-size --max-accuracy-drop 1pp --objective size --trials 40

  edgekit search --out out/search-latency --objective latency --max-accuracy-drop 1pp --trials 40

  edgekit search model.h5 --data data.npz --out out --objective size --objective latency --max-latency 20ms

  edgekit search --out out --space my-space.toml --max-size 100kB --objective accuracy --timeout 2h

  edgekit search --out out --storage postgresql://edgekit:pw@db:5432/edgekit --trials 100   # on each worker
"""


def register(app: typer.Typer) -> None:
    app.command("search", help=HELP)(search)


def parse_duration(text: Optional[str]) -> Optional[float]:
    """Seconds from ``90``, ``90s``, ``30m``, ``30min``, ``2h``, ``1h30m``."""
    if text is None:
        return None
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(h|min|m|s)", t)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*(h|min|m|s)", "", t).strip():
        raise EdgekitError(f"--timeout {text!r} is not a duration", "e.g. 90s, 30m, 2h or 1h30m")
    mult = {"h": 3600, "m": 60, "min": 60, "s": 1}
    return sum(float(n) * mult[u] for n, u in parts)


def search(
    model: Optional[Path] = typer.Argument(None, help="tf-keras .h5, .keras or SavedModel dir; omit for the built-in default."),
    data: Optional[str] = typer.Option(None, "--data", help="An .npz, an image folder, or 'fashion-mnist' (the default)."),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory: OUT/variants, OUT/search.sqlite, OUT/search.json."),
    space: Optional[Path] = typer.Option(None, "--space", help="Search space TOML (default: the built-in space)."),
    objective: List[str] = typer.Option(["size"], "--objective", help="size | latency | memory | accuracy; repeat (or comma-separate) for a Pareto front."),
    max_accuracy_drop: str = typer.Option("1pp", "--max-accuracy-drop", help="Budget vs float32: 1pp, 0.5%, 0.01 (absolute). Trials must meet it less the space's accuracy_margin (0.3 pt by default) on the validation split. 'none' for no limit."),
    max_size: Optional[str] = typer.Option(None, "--max-size", help="Budget on the gzip -9 size of the .tflite: 100kB, 1.5MB."),
    max_latency: Optional[str] = typer.Option(None, "--max-latency", help="Budget on latency: 20ms (est. on the emulated device, measured with --device)."),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help="Budget on the runner's peak memory on the device: 64MiB."),
    trials: int = typer.Option(40, "--trials", help="Finished trials the study should have (a re-run continues up to it)."),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="Stop starting trials after this long: 90s, 30m, 2h."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna database URL for several workers, e.g. postgresql://user:pw@host/db (default: OUT/search.sqlite)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: derived from space, budget, model and data)."),
    device: Optional[str] = typer.Option(None, "--device", help="adb serial of a phone: latency and memory measured there."),
    emulator: Optional[str] = typer.Option(None, "--emulator", help="Emulated device profile for latency/memory estimates (default armv7-lowend)."),
    image_size: Optional[str] = typer.Option(None, "--image-size", help="HxW for image-folder data."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the split, training and the sampler (default: the space's seed, else 0)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result (search.json) on stdout."),
) -> None:
    from edgekit.progress import StepProgress
    from edgekit.search.api import search as run
    from edgekit.search.summary import load

    objectives = [o.strip() for item in objective for o in item.split(",") if o.strip()]
    drop = None if max_accuracy_drop.strip().lower() == "none" else max_accuracy_drop
    seconds = parse_duration(timeout)
    with StepProgress("search", total=0) as progress:
        result = run(model, data, out=out, space=space, objectives=objectives, max_accuracy_drop=drop,
                     max_size=max_size, max_latency=max_latency, max_memory=max_memory, trials=trials,
                     timeout=seconds, storage=storage, study=study, device=device, emulator=emulator, seed=seed,
                     image_size=image_size, progress=progress)
    if json_out:
        json.dump(load(out), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print_result(result, out)


def print_result(result, out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from edgekit.optimize.summary import kb

    con = wide_console()
    b = result.baseline
    con.print(f"study {escape(result.study)}: {result.finished} trials finished; float32 baseline {kb(b['size'])} gzip, "
              f"validation {b['accuracy']:.2%}" + (f", test {b['test_accuracy']:.2%}" if b.get("test_accuracy") is not None else ""),
              markup=False)
    if not result.front:
        con.print("no trial met the budget — loosen it, widen the space or run more --trials", markup=False)
        return
    t = Table(title="the front: best trials within the budget (val = validation split; test = once, at the end)")
    for col in ("trial", "variant", "chain", "gzip", "x smaller", "val acc", "test acc", "test drop", "latency", "memory"):
        t.add_column(col, overflow="fold")
    for r in result.front:
        m = r["metrics"]
        lat = f"{m.get('latency_kind', '')} {m['latency']:.3g} ms".strip() if m.get("latency") is not None else "-"
        t.add_row(str(r["number"]), escape(str(r["variant"])), escape(str(r["description"])), kb(m["size"]),
                  f"{r['ratio']:.1f}x" if r.get("ratio") else "-", f"{m['accuracy']:.2%}",
                  f"{r['test_accuracy']:.2%}" if r.get("test_accuracy") is not None else "(other worker)",
                  f"{r['test_drop'] * 100:.2f} pp" if r.get("test_drop") is not None else "-", lat,
                  f"{m['memory']:.1f} MiB" if m.get("memory") is not None else "-")
    con.print(t)
    con.print(f"every trial: {out / 'search.json'}; report: edgekit report {out}", markup=False)
