"""Compression benchmark: the built-in default recipe on Fashion-MNIST, as a table and three targets.

    .venv/bin/python benchmarks/compression.py [--out out/demo]

Reuses the variants in OUT when they are up to date (so after `make demo` it only reads them).
Targets (issue 2): full int8 <= 30% of the float32 file with <= 1.5 pt accuracy drop; the 80%-sparse
int8 variant's gzip size <= 40% of the dense int8 gzip size; the best variant within 1.0 pt of the
float32 baseline >= 10x smaller (gzip) than the float32 baseline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit.optimize.run import optimize  # noqa: E402
from edgekit.progress import StepProgress  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/demo", help="output directory (default: out/demo, as make demo)")
    args = ap.parse_args()
    console = Console(width=140)
    console.print(f"[bold]optimising the default recipe into {args.out} (reused when up to date)…[/]")
    with StepProgress("optimize", total=0) as progress:
        variants = {v.name: v for v in optimize(out=Path(args.out), progress=progress)}
    base = variants["float32"]
    table = Table(title="edgekit compression — default recipe, Fashion-MNIST test set (10,000 images)")
    for col in ("variant", "chain", "size", "× f32", "gzip", "gzip × f32", "sparsity", "accuracy", "Δ pt", "agree"):
        table.add_column(col, justify="left" if col in ("variant", "chain") else "right")
    for v in variants.values():
        m = v.manifest
        acc = v.accuracy
        table.add_row(v.name, m.description, f"{m.size_bytes / 1000:.1f} kB",
                      f"{m.size_bytes / base.size_bytes:.3f}", f"{m.gzip_size_bytes / 1000:.1f} kB",
                      f"{m.gzip_size_bytes / base.gzip_size_bytes:.3f}", f"{100 * (m.overall_sparsity or 0):.0f}%",
                      "—" if acc is None else f"{100 * acc:.2f}%",
                      "—" if acc is None else f"{100 * (acc - base.accuracy):+.2f}",
                      "—" if not v.evaluation or v.evaluation.agreement is None
                      else f"{100 * v.evaluation.agreement:.1f}%")
    console.print(table)

    checks = []
    int8 = variants["int8"]
    ratio = int8.size_bytes / base.size_bytes
    drop = 100 * (base.accuracy - int8.accuracy)
    checks.append(("full int8 ≤ 30% of float32 size, ≤ 1.5 pt drop", ratio <= 0.30 and drop <= 1.5,
                   f"{100 * ratio:.1f}% of the size, {drop:+.2f} pt drop"))
    sparse = variants["prune80-int8"]
    gz = sparse.gzip_size_bytes / int8.gzip_size_bytes
    checks.append(("80%-sparse int8 gzip ≤ 40% of dense int8 gzip", gz <= 0.40,
                   f"{100 * gz:.1f}% (measured sparsity {100 * (sparse.manifest.overall_sparsity or 0):.1f}%)"))
    close = [v for v in variants.values() if v.accuracy is not None and v is not base
             and 100 * (base.accuracy - v.accuracy) <= 1.0]
    best = min(close, key=lambda v: v.gzip_size_bytes, default=None)
    if best is None:
        checks.append(("best variant within 1.0 pt ≥ 10× smaller (gzip)", False, "no variant within 1.0 pt"))
    else:
        factor = base.gzip_size_bytes / best.gzip_size_bytes
        checks.append(("best variant within 1.0 pt ≥ 10× smaller (gzip)", factor >= 10,
                       f"{best.name}: {factor:.1f}× smaller, {100 * (best.accuracy - base.accuracy):+.2f} pt"))
    targets = Table(title="targets")
    for col in ("target", "result", "measured"):
        targets.add_column(col)
    for name, ok, text in checks:
        targets.add_row(name, "[green]PASS[/]" if ok else "[red]MISS[/]", text)
    console.print(targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
