"""Gate: judge results against budgets from pyproject.toml / edgekit.toml (exit 0 pass, 1 broken, 2 config).

    from edgekit.gate import gate
    result = gate("out", config="edgekit.toml", baseline_file="baseline.json")
    print(render_text(result)); raise SystemExit(result.exit_code)
"""

from __future__ import annotations

from pathlib import Path

from edgekit.gate.config import Budgets, Rule, find_config, load_budgets, match_rules
from edgekit.gate.core import GATE_SCHEMA, Check, GateResult, run_gate
from edgekit.gate.render import render_json, render_junit, render_markdown, render_text


def gate(results_path: str | Path, config: str | Path | None = None, baseline_file: str | Path | None = None,
         allow_missing_baseline: bool = False) -> GateResult:
    """Load results, budgets and (optionally) a baseline results file, then run every check."""
    from edgekit.errors import EdgekitError
    from edgekit.results import load_results

    budgets = load_budgets(find_config(config))
    results = load_results(results_path)
    baseline = None
    if baseline_file is not None:
        bp = Path(baseline_file)
        if bp.exists():
            baseline = load_results(bp)
        elif not allow_missing_baseline:
            raise EdgekitError(f"baseline {bp} does not exist", "write one with --update-baseline (e.g. on main) or drop --baseline")
    return run_gate(results, budgets, baseline, str(baseline_file) if baseline_file is not None and baseline is not None else None)


__all__ = [
    "Budgets", "Check", "GATE_SCHEMA", "GateResult", "Rule", "find_config", "gate", "load_budgets", "match_rules",
    "render_json", "render_junit", "render_markdown", "render_text", "run_gate",
]
