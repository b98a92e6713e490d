"""``ek.gate``: the public Python entry point of the gate stage (``edgekit gate`` calls it).

    import edgekit as ek
    verdict = ek.gate("out", "edgekit.toml", baseline="baseline.json")
    verdict.passed, verdict.exit_code, [c.message for c in verdict.failed]
    ek.gate("out", {"rule": [{"variants": "int8*", "max_size": "300kB"}]})   # budgets as a dict
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgekit.errors import EdgekitError
from edgekit.gate.config import Budgets, budgets_from_dict, find_config, load_budgets
from edgekit.gate.core import GateResult, run_gate
from edgekit.results import Results, load_results


def _results(value: Any, what: str) -> Results:
    if isinstance(value, Results):
        return value
    if isinstance(value, (str, Path)):
        return load_results(value)
    raise EdgekitError(f"gate() {what} must be a path or Results, not {type(value).__name__}",
                       "pass an OUT dir, a results JSON or edgekit.load_results(...)")


def _budgets(value: Any) -> Budgets:
    if isinstance(value, Budgets):
        return value
    if value is None or isinstance(value, (str, Path)):
        return load_budgets(find_config(value))
    if isinstance(value, Mapping):
        return budgets_from_dict(value)
    raise EdgekitError(f"gate() budgets must be a path, None or a dict, not {type(value).__name__}",
                       "pass edgekit.toml / pyproject.toml, None (found in the current directory) or a dict like the [budgets] table")


def gate(results: str | Path | Results, budgets: str | Path | Mapping[str, Any] | None = None, *,
         baseline: str | Path | Results | None = None) -> GateResult:
    """Judge ``results`` (an OUT dir, a results JSON or Results) against ``budgets``.

    ``budgets``: an ``edgekit.toml`` / ``pyproject.toml`` path, None (``./edgekit.toml``, else
    ``./pyproject.toml``), or a dict shaped like the ``[budgets]`` table. ``baseline``: results
    (path or Results) to show each check's change against; a path that does not exist is an error.
    Config problems raise :class:`~edgekit.errors.EdgekitError` naming where they are (exit 2 in the CLI).
    """
    b = _budgets(budgets)
    res = _results(results, "results")
    old = None
    baseline_file = None
    if baseline is not None:
        if isinstance(baseline, (str, Path)) and not Path(baseline).exists():
            raise EdgekitError(f"baseline {baseline} does not exist", "write one with --update-baseline (e.g. on main) or drop --baseline")
        old = _results(baseline, "baseline")
        baseline_file = str(baseline) if isinstance(baseline, (str, Path)) else (old.source or "baseline results")
    return run_gate(res, b, old, baseline_file)
