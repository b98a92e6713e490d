"""Judge results against budgets: one check per (rule, matched variant, limit).

A check whose metric is missing (e.g. a latency budget on results with no device measurements, or
an accuracy budget on a variant whose evaluation failed) FAILS with the reason, unless its rule
(or the defaults) say ``missing = "skip"``; then it is reported as SKIP and does not fail the gate.
Size and accuracy budgets only need ``edgekit optimize`` output.

Gate JSON (schema ``edgekit.gate/1``)::

    schema        "edgekit.gate/1"
    passed        bool
    exit_code     0 | 1
    config        str     budgets file
    results       str     what was judged
    baseline_file str|null
    float_baseline str|null
    counts        {"checks", "passed", "failed", "skipped"}
    checks        [{variant, rule, key, metric, label, status: PASS|FAIL|SKIP, value, limit,
                    value_text, limit_text, baseline_value, change, message, where}]
                  values in base units: bytes, ms, fraction (accuracy, accuracy drop), MiB
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.gate.config import Budgets, Rule, match_rules
from edgekit.report import instructions, units
from edgekit.report.metrics import Selection, metric_value, resolve_selection
from edgekit.results import Results

GATE_SCHEMA = "edgekit.gate/1"

KEY_METRIC = {
    "max_size": "size",
    "max_latency": "latency",
    "min_accuracy": "accuracy",
    "max_accuracy_drop": "accuracy_drop",
    "max_memory": "memory",
    "max_instructions": "instructions",            # counted runs (issue 6): exact comparisons
    "max_estimated_latency": "estimated_latency",
}
EXACT = ("instructions", "estimated_latency")


@dataclass
class Check:
    variant: str
    rule: int
    key: str
    metric: str
    label: str
    status: str                 # PASS | FAIL | SKIP
    value: float | None
    limit: float
    value_text: str
    limit_text: str
    baseline_value: float | None
    change: str
    message: str
    where: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateResult:
    checks: list[Check]
    budgets: Budgets
    results: Results
    baseline_file: str | None
    float_baseline: str | None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "FAIL"]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def counts(self) -> dict[str, int]:
        return {
            "checks": len(self.checks),
            "passed": sum(c.status == "PASS" for c in self.checks),
            "failed": sum(c.status == "FAIL" for c in self.checks),
            "skipped": sum(c.status == "SKIP" for c in self.checks),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": GATE_SCHEMA,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "config": str(self.budgets.path),
            "results": self.results.source,
            "baseline_file": self.baseline_file,
            "float_baseline": self.float_baseline,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
        }


def fmt_value(metric: str, v: float | None) -> str:
    if v is None:
        return "—"
    if metric == "size":
        return units.fmt_size(v)
    if metric == "accuracy":
        return units.fmt_acc(v)
    if metric == "accuracy_drop":
        return f"{v * 100:.2f} pp"
    if metric == "latency":
        return units.fmt_ms(v)
    if metric == "instructions":
        n = int(round(v))
        return f"{n:,} instruction{'s' if n != 1 else ''}"
    if metric == "estimated_latency":
        return f"{units.fmt_ms(v)} (est.)"
    return units.fmt_mib(v)


def change_text(metric: str, new: float | None, old: float | None) -> str:
    if new is None or old is None:
        return "—"
    if metric in ("accuracy", "accuracy_drop"):
        d = (new - old) * 100
        return "±0.00 pp" if abs(d) < 0.005 else f"{d:+.2f} pp"
    if metric == "instructions":
        return instructions.change_exact(new, old)
    return units.fmt_pct_change(new, old)


def _label(metric: str, sel: Selection) -> str:
    if metric in ("size", "accuracy"):
        return sel.label(metric)
    if metric == "accuracy_drop":
        return f"accuracy drop ({sel.accuracy}) vs float"
    if metric == "instructions":
        return f"instructions per invoke on {sel.device_label()}"
    if metric == "estimated_latency":
        return f"est. latency ({getattr(sel, 'estimate_core', None) or 'cost model'}) from instructions on {sel.device_label()}"
    what = sel.label("latency") if metric == "latency" else "peak memory"
    return f"{what} on {sel.device_label()}"


def _value(results: Results, name: str, metric: str, sel: Selection, float_base: str | None) -> tuple[float | None, str | None]:
    rec = results.get(name)
    if rec is None:
        return None, "not in results"
    if metric in instructions.METRICS:
        return instructions.value(rec, metric, sel.device, sel.threads)
    if metric != "accuracy_drop":
        return metric_value(rec, metric, sel)
    acc, why = metric_value(rec, "accuracy", sel)
    if acc is None:
        return None, why
    base = results.get(float_base) if float_base else None
    if base is None:
        return None, f"float baseline {float_base!r} not in results"
    bacc, bwhy = metric_value(base, "accuracy", sel)
    if bacc is None:
        return None, f"float baseline {float_base}: {bwhy}"
    return bacc - acc, None


def run_gate(results: Results, budgets: Budgets, baseline: Results | None = None, baseline_file: str | None = None) -> GateResult:
    """Run every check; raise EdgekitError (exit 2) for config problems found against the results."""
    matched = match_rules(budgets, results.names)
    float_base = budgets.float_baseline or results.baseline
    if budgets.float_baseline and budgets.float_baseline not in results.names:
        line = _default_line(budgets, "float_baseline")
        raise EdgekitError(f"{budgets.where(line)}: float_baseline {budgets.float_baseline!r} is not a variant",
                           f"variants: {', '.join(results.names[:8])}")
    checks: list[Check] = []
    for rule, names in matched:
        for key, limit in rule.limits.items():
            metric = KEY_METRIC[key]
            where = budgets.where(rule.key_lines.get(key, rule.line))
            if metric == "accuracy_drop" and not float_base:
                raise EdgekitError(f"{where}: max_accuracy_drop needs a float baseline and the results have none "
                                   "(no variant with an empty chain, no eval.json baseline)", "set float_baseline = \"NAME\" in the budgets")
            sel = _selection(rule, results, metric, where)
            if metric == "estimated_latency":  # name the core whose cost model the estimate uses
                sel.estimate_core = instructions.estimate_label(results.variants, sel.device, sel.threads)
            bsel = None
            if baseline is not None:
                bsel = Selection(**{k: getattr(sel, k) for k in ("size", "accuracy", "device", "threads", "percentile")})
            for name in names:
                value, why = _value(results, name, metric, sel, float_base)
                bval = None
                if baseline is not None and bsel is not None:
                    bval, _ = _value(baseline, name, metric, bsel, baseline.baseline if metric == "accuracy_drop" else None)
                is_min = key.startswith("min_")
                limit_text = ("≥ " if is_min else "≤ ") + _as_written(rule.limit_text.get(key), metric, limit)
                if value is None:
                    status = "SKIP" if rule.missing == "skip" else "FAIL"
                    hint = " — run edgekit bench" if metric in ("latency", "memory") or sel.accuracy == "device" else ""
                    msg = f"missing: {why}{hint}"
                else:
                    if metric in EXACT:  # deterministic counts: no tolerance
                        ok = value <= limit
                    else:
                        ok = value >= limit - 1e-12 if is_min else value <= limit + 1e-9
                    status = "PASS" if ok else "FAIL"
                    if ok:
                        msg = f"{fmt_value(metric, value)} {'≥' if is_min else '≤'} {fmt_value(metric, limit)}"
                    else:
                        by = (limit - value) if is_min else (value - limit)
                        msg = f"{fmt_value(metric, value)} {'<' if is_min else '>'} {fmt_value(metric, limit)} by {fmt_value(metric, by)}"
                checks.append(Check(
                    variant=name, rule=rule.index + 1, key=key, metric=metric, label=_label(metric, sel), status=status,
                    value=value, limit=limit, value_text=fmt_value(metric, value), limit_text=limit_text,
                    baseline_value=bval, change=change_text(metric, value, bval) if baseline is not None else "—",
                    message=msg, where=where,
                ))
    return GateResult(checks, budgets, results, baseline_file, float_base)


def _as_written(text: str | None, metric: str, limit: float) -> str:
    """The limit as the budget file wrote it (``2 MiB``), else formatted."""
    if text is None or metric in ("accuracy", "accuracy_drop"):
        return fmt_value(metric, limit)
    try:
        float(text)
    except ValueError:
        return text
    return fmt_value(metric, limit)


def _selection(rule: Rule, results: Results, metric: str, where: str) -> Selection:
    s = rule.select
    sel = Selection(size=s.get("size") or "raw", accuracy=s.get("accuracy") or "host", device=s.get("device"),
                    threads=s.get("threads"), percentile=s.get("percentile") or "p50")
    need = ["accuracy"] if metric == "accuracy_drop" else ["latency"] if metric in EXACT else [metric]
    try:
        return resolve_selection(results, sel, need)
    except EdgekitError as exc:
        hint = (exc.hint or "").replace("--device", "device = ").replace("--threads", "threads = ")
        raise EdgekitError(f"{where}: {exc.message}", hint + " in the rule or the budgets defaults" if hint else None) from None


def _default_line(budgets: Budgets, key: str) -> int:
    from edgekit.gate.config import _Lines

    text = budgets.path.read_text()
    lines = _Lines(text)
    for section in ("tool.edgekit.budgets", "budgets"):
        no = lines.key(section, key)
        if no > 1 or lines.table(section)[0]:
            return no
    return 1
