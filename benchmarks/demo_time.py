"""Where `make demo`'s time goes: set-up steps, the teacher, every variant's training / conversion /
device-runtime check / host evaluation, bench per variant, report — from a real run.

    .venv/bin/python benchmarks/demo_time.py [--out out/demo]          # read what the last make demo recorded
    .venv/bin/python benchmarks/demo_time.py --run [--fresh]           # run `make demo` now, then print
    .venv/bin/python benchmarks/demo_time.py --compare OTHER_OUT       # also: accuracies vs another run

What it reads (all written by the run itself): OUT/demo-stages.tsv (make demo: each stage's wall
time), OUT/setup-timings.tsv (scripts/setup.sh: each step), OUT/optimize-timings.json (edgekit
optimize: data, model, checks, teacher, per variant train/convert/check/evaluate), and the bench
measurements in OUT/bench.sqlite (each runner invocation's wall time). A variant's device check and
host evaluation run on a worker thread while the next variant trains, so those rows overlap the
training rows: the stage total is the wall time, not the sum of its rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("setup", "optimize", "bench", "report")


def read_tsv(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


def stage_seconds(out: Path) -> dict[str, tuple[float, int]]:
    """{stage: (wall seconds, exit code)} from make demo's OUT/demo-stages.tsv (the last entry per stage)."""
    stages: dict[str, tuple[float, int]] = {}
    for row in read_tsv(out / "demo-stages.tsv"):
        if len(row) == 4:
            stages[row[0]] = (float(row[2]) - float(row[1]), int(row[3]))
    return stages


def setup_steps(out: Path) -> list[tuple[str, float]]:
    return [(row[0], float(row[1])) for row in read_tsv(out / "setup-timings.tsv") if len(row) == 2]


def optimize_timings(out: Path) -> dict[str, Any] | None:
    path = out / "optimize-timings.json"
    return json.loads(path.read_text()) if path.is_file() else None


def bench_seconds(out: Path) -> dict[str, float]:
    """{variant: seconds} over the measurements in OUT/bench.sqlite (runner wall time, else finished - started)."""
    from datetime import datetime

    db = out / "bench.sqlite"
    if not db.is_file():
        return {}
    from edgekit.bench.store import load_measurements

    per: dict[str, float] = {}
    for m in load_measurements(db):
        secs = None
        if m.wall_ms is not None:
            secs = m.wall_ms / 1000
        elif m.started and m.finished:
            secs = (datetime.fromisoformat(m.finished) - datetime.fromisoformat(m.started)).total_seconds()
        if secs is not None:
            per[m.variant] = per.get(m.variant, 0.0) + secs
    return per


def bench_busy(out: Path) -> tuple[float, int]:
    """(seconds in which at least one measurement was in flight, the most run side by side: ``--jobs``):
    the union of the measurements' [started, finished] intervals (push, runs, counted run; 1 s resolution)."""
    from datetime import datetime

    db = out / "bench.sqlite"
    if not db.is_file():
        return 0.0, 1
    from edgekit.bench.store import load_measurements

    spans, jobs = [], 1
    for m in load_measurements(db):
        if not m.finished:
            continue
        end = datetime.fromisoformat(m.finished).timestamp()
        start = datetime.fromisoformat(m.started).timestamp() if m.started else (
            end - m.wall_ms / 1000 if m.wall_ms is not None else end)
        spans.append((start, end))
        jobs = max(jobs, int((m.detail or {}).get("jobs") or 1))
    busy, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            busy, reach = busy + end - start, end
        elif end > reach:
            busy, reach = busy + end - reach, end
    return busy, jobs


def accuracies(out: Path) -> dict[str, float | None]:
    accs = {}
    for ev in sorted((out / "variants").glob("*/eval.json")):
        accs[ev.parent.name] = json.loads(ev.read_text()).get("accuracy")
    return accs


def image_build_seconds(out: Path) -> float | None:
    """The device image's build time, when this demo built it (its recipe.json says when and how long)."""
    import json
    from datetime import datetime

    stages = stage_seconds(out)
    start = min((float(r[1]) for r in read_tsv(out / "demo-stages.tsv") if len(r) >= 4), default=None)
    try:
        from edgekit.emulator.image import image_dir

        meta = json.loads((image_dir() / "recipe.json").read_text())
        built_at = datetime.fromisoformat(str(meta["built_at"]).replace("Z", "+00:00")).timestamp()
    except (ImportError, OSError, ValueError, KeyError):
        return None
    if start is None or not stages or built_at < start:
        return None  # built before this demo (cached)
    return float(meta["build_seconds"])


def rows(out: Path) -> list[tuple[str, str, float | None, str]]:
    """(stage, step, seconds, note) rows of the table; the stage's own wall time comes first."""
    stages = stage_seconds(out)
    table: list[tuple[str, str, float | None, str]] = []

    def stage_row(name: str) -> None:
        if name in stages:
            secs, rc = stages[name]
            table.append((name, "(stage wall time)", secs, "" if rc == 0 else f"exit code {rc}"))

    stage_row("setup")
    for step, secs in setup_steps(out):
        table.append(("setup", step, secs, "overlaps the pip step" if "background" in step else ""))

    stage_row("optimize")
    ot = optimize_timings(out)
    if ot is not None:
        if "optimize" in stages:
            table.append(("optimize", "start-up (Python, imports)", stages["optimize"][0] - ot["total"], ""))
        for key, label in (("data", "load data"), ("model", "build / load the model"), ("checks", "checks before training")):
            if key in ot.get("stages", {}):
                table.append(("optimize", label, ot["stages"][key], ""))
        if ot.get("teacher") is not None:
            table.append(("optimize", "teacher training", ot["teacher"], ""))
        for name, t in ot.get("variants", {}).items():
            if name in ot.get("skipped", []):
                table.append(("optimize", f"{name}", 0.0, "unchanged, skipped"))
                continue
            for key, label, note in (("train", "train", ""), ("convert", "convert", ""),
                                     ("check", "device-runtime check", "worker thread"),
                                     ("evaluate", "host evaluation", "worker thread")):
                if key in t:
                    table.append(("optimize", f"{name}: {label}", t[key], note))

    stage_row("device image")
    built = image_build_seconds(out)
    if built is not None:
        table.append(("device image", "build (started by set-up, ran beside optimise)", built, "overlaps optimise"))

    stage_row("bench")
    bench = bench_seconds(out)
    busy, jobs = bench_busy(out)
    side = f"runner wall time, {jobs} side by side (--jobs)" if jobs > 1 else "runner wall time"
    for name, secs in sorted(bench.items()):
        table.append(("bench", name, secs, side))
    if bench and "bench" in stages:   # the time no measurement was running
        table.append(("bench", "device start, set-up, no measurement in flight", max(0.0, stages["bench"][0] - busy), ""))

    stage_row("report")
    return table


def print_tables(console: Console, out: Path, compare: Path | None) -> None:
    stages = stage_seconds(out)
    total = sum(s for s, _ in stages.values()) if stages else None
    t = Table(title=f"where make demo's time goes ({out})", header_style="bold")
    for col, just in (("stage", "left"), ("step", "left"), ("seconds", "right"), ("% of demo", "right"), ("note", "left")):
        t.add_column(col, justify=just)
    for stage, step, secs, note in rows(out):
        share = "" if total in (None, 0) or secs is None else f"{100 * secs / total:.1f}%"
        style = "bold" if step == "(stage wall time)" else None
        t.add_row(stage, escape(step), "—" if secs is None else f"{secs:,.1f}", share, escape(note), style=style)
    if total is not None:
        t.add_row("demo", "(total)", f"{total:,.1f}", "100%", f"{total / 60:.1f} min", style="bold")
    console.print(t)
    if not stages:
        console.print(f"no {out}/demo-stages.tsv: run `make demo OUT={out}` (or this script with --run) first")

    if compare is not None:
        mine, theirs = accuracies(out), accuracies(compare)
        c = Table(title=f"host accuracy: {out} vs {compare}", header_style="bold")
        for col in ("variant", "now", "other", "Δ pt"):
            c.add_column(col, justify="left" if col == "variant" else "right")
        for name in sorted(set(mine) | set(theirs)):
            a, b = mine.get(name), theirs.get(name)
            d = "—" if a is None or b is None else f"{100 * (a - b):+.2f}"
            c.add_row(escape(name), "—" if a is None else f"{100 * a:.2f}%", "—" if b is None else f"{100 * b:.2f}%", d)
        console.print(c)
        theirs_stages = stage_seconds(compare)
        if theirs_stages:
            s = Table(title="stage wall times (s)", header_style="bold")
            for col in ("stage", "now", "other"):
                s.add_column(col, justify="left" if col == "stage" else "right")
            for name in STAGES:
                a, b = stages.get(name, (None, 0))[0], theirs_stages.get(name, (None, 0))[0]
                s.add_row(name, "—" if a is None else f"{a:,.0f}", "—" if b is None else f"{b:,.0f}")
            console.print(s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/demo", help="make demo's OUT (default: out/demo)")
    ap.add_argument("--run", action="store_true", help="run `make demo OUT=...` first (its output streams through)")
    ap.add_argument("--fresh", action="store_true", help="with --run: delete OUT first, so nothing is reused")
    ap.add_argument("--compare", type=Path, help="another run's OUT: print host accuracies (and stage times) side by side")
    args = ap.parse_args()
    out = Path(args.out)
    if args.run:
        if args.fresh and out.exists():
            shutil.rmtree(out)
        rc = subprocess.run(["make", "-C", str(ROOT), "demo", f"OUT={out.resolve()}"]).returncode
        if rc != 0:
            print(f"make demo exited {rc}", file=sys.stderr)
    if not out.is_absolute() and not out.exists() and (ROOT / out).exists():
        out = ROOT / out
    print_tables(Console(width=120), out, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
