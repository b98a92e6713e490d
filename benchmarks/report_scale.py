"""How long `edgekit report` takes on 1k / 10k / 100k synthetic variants (target: 10k < 2 s).

Each row times, on synthetic results with device measurements (size, accuracy, latency, memory):
  load    — the results JSON from disk into typed records (edgekit.results)
  build   — metric columns (edgekit.metrics readers), Pareto front over size/accuracy/latency, dominators,
            recommendation (edgekit.report.api.report)
  json    — the JSON render (edgekit.report/1, results embedded)
  md      — the Markdown render (front + 100 dominated rows)
  table   — the rich terminal table (front + 100 dominated rows), printed to a null console
  html    — the self-contained HTML page with its two SVG plots and the full table
  total   — load (results JSON from disk) + all of the above

Usage: .venv/bin/python benchmarks/report_scale.py [N ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from edgekit.report.api import report
from edgekit.report.html import render_html
from edgekit.report.render import render_json, render_markdown, render_table
from edgekit.report.synthetic import synthetic_records
from edgekit.results import Results, load_results


def once(n: int, tmp: Path) -> dict[str, float]:
    path = tmp / f"results-{n}.json"
    Results(synthetic_records(n, seed=n), baseline="v000000").write(path)
    t = {}
    t0 = time.perf_counter()
    res = load_results(path)
    t["load"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    rep = report(res, axes=["size", "accuracy", "latency"], max_size="300kB", min_accuracy=0.7, max_latency="20ms")
    t["build"] = time.perf_counter() - t1
    def table(rep) -> None:
        import io

        from rich.console import Console

        render_table(rep, console=Console(file=io.StringIO(), width=140))

    for name, fn in (("json", render_json), ("md", render_markdown), ("table", table), ("html", render_html)):
        s = time.perf_counter()
        fn(rep)
        t[name] = time.perf_counter() - s
    t["total"] = time.perf_counter() - t0
    t["front"] = len(rep.front)
    return t


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [1_000, 10_000, 100_000]
    cols = ("load", "build", "json", "md", "table", "html", "total")
    print(f"{'variants':>9}  {'front':>6}  " + "  ".join(f"{c + ' s':>8}" for c in cols) + "  10k target")
    with tempfile.TemporaryDirectory() as d:
        once(50, Path(d))  # warm-up: module imports (rich, numpy) are paid once, not per size
        for n in sizes:
            t = once(n, Path(d))
            verdict = ("ok (< 2 s)" if t["total"] < 2 else "SLOW (>= 2 s)") if n == 10_000 else ""
            print(f"{n:>9,}  {t['front']:>6}  " + "  ".join(f"{t[c]:>8.3f}" for c in cols) + f"  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
