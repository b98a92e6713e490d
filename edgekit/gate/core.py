"""Judge results against budgets: one check per (rule, matched variant, limit).

Budget keys, parsers, values, formats and change texts all come from the metric registry
(:mod:`edgekit.metrics`): ``max_<metric>`` / ``min_<metric>`` for every metric, compared with
``Metric.within`` (exact for instruction counts and the estimate derived from them).

A check whose metric is missing (e.g. a latency budget on results with no device measurements, or
an accuracy budget on a variant whose evaluation failed) FAILS with the reason, unless its rule
(or the defaults) say ``missing = "skip"``; then it is reported as SKIP and does not fail the gate.
Size and accuracy budgets only need ``edgekit optimize`` output.

A variant whose status is ``suspect`` (a numerical-fault check tripped, :mod:`edgekit.checks`) FAILS
every check of every rule that matches it, the message naming the checks, unless that rule (or the
defaults) say ``allow_suspect = true``; then it is judged on its values like any other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.gate.config import Budgets, Rule, match_rules
from edgekit.metrics import LIMIT_KEYS, Metric, Selection, resolve_selection
from edgekit.report.instructions import estimate_label
from edgekit.results import Results

GATE_SCHEMA = "edgekit.gate/1"
STATUSES = ("PASS", "FAIL", "SKIP")


@dataclass
class Check:
    """One budget applied to one variant.

    Fields:
        variant         str         variant name
        rule            int         1-based position of the rule among the budgets' rules
        key             str         the budget key, e.g. "max_size"
        metric          str         the metric of edgekit.metrics it judges, e.g. "size"
        label           str         what is checked, e.g. "latency p90 on lowend-armv7, 1 thread"
        status          str         "PASS" | "FAIL" | "SKIP"
        value           float|null  the variant's value in base units (bytes, fraction, ms, MiB, instructions)
        limit           float       the limit in base units
        value_text      str         the value formatted by the registry
        limit_text      str         "≤ 300 kB" (as written in the budgets when it had a unit)
        baseline_value  float|null  the same metric of the same variant in the --baseline results
        change          str         vs the baseline: "+12.0%", "-0.30 pp", "+1,234 (+0.80%)" or "—"
        message         str         "150.0 kB > 120.0 kB by 30.0 kB", or "missing: why"
        where           str         where the budget is: "FILE:LINE" or "budgets.rule[1].max_size"
    """

    variant: str
    rule: int
    key: str
    metric: str
    label: str
    status: str
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
    """The verdict: every check, the budgets and results judged (schema ``edgekit.gate/1``).

    Fields:
        checks          list      [Check] in rule order, then variant name, then budget key order
        budgets         Budgets   the budgets applied (source: the file, or "budgets" for a dict)
        results         Results   what was judged
        baseline_file   str|null  the --baseline results compared against
        float_baseline  str|null  the float baseline of accuracy drops
    """

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
        return {"checks": len(self.checks), "passed": sum(c.status == "PASS" for c in self.checks),
                "failed": sum(c.status == "FAIL" for c in self.checks), "skipped": sum(c.status == "SKIP" for c in self.checks)}

    def to_dict(self) -> dict[str, Any]:
        return {"schema": GATE_SCHEMA, "passed": self.passed, "exit_code": self.exit_code, "config": self.budgets.source,
                "results": self.results.source, "baseline_file": self.baseline_file, "float_baseline": self.float_baseline,
                "counts": self.counts(), "checks": [c.to_dict() for c in self.checks]}


def check_label(metric: Metric, sel: Selection, results: Results) -> str:
    label = metric.label_for(sel)
    if metric.name == "estimated_latency":  # name the core whose cost model the estimate uses
        label = f"{label} ({estimate_label(results.variants, sel.device, sel.threads)}) from instructions"
    return f"{label} on {sel.device_label()}" if metric.needs_device(sel) else label


def _as_written(text: str | None, metric: Metric, limit: float) -> str:
    """The limit as the budget wrote it (``2 MiB``) when it had a unit, else formatted."""
    if text is None or metric.unit in ("fraction", "points"):
        return metric.format(limit)
    try:
        float(text)
    except ValueError:
        return text
    return metric.format(limit)


def _selection(rule: Rule, results: Results, metric: Metric, where: str) -> Selection:
    s = rule.select
    sel = Selection(size=s.get("size") or "raw", accuracy=s.get("accuracy") or "host", device=s.get("device"),
                    threads=s.get("threads"), percentile=s.get("percentile") or "p50")
    try:
        return resolve_selection(results, sel, [metric.name])
    except EdgekitError as exc:
        hint = (exc.hint or "").replace("--device", "device = ").replace("--threads", "threads = ")
        raise EdgekitError(f"{where}: {exc.message}", hint + " in the rule or the budgets defaults" if hint else None) from None


def _verdict(metric: Metric, value: float | None, why: str | None, limit: float, missing: str, sel: Selection) -> tuple[str, str]:
    if value is None:
        hint = " — run edgekit bench" if (why or "").startswith("not measured") else ""
        return ("SKIP" if missing == "skip" else "FAIL"), f"missing: {why}{hint}"
    is_max = metric.better == "lower"
    if metric.within(value, limit):
        return "PASS", f"{metric.format(value)} {'≤' if is_max else '≥'} {metric.format(limit)}"
    return "FAIL", f"{metric.format(value)} {'>' if is_max else '<'} {metric.format(limit)} by {metric.format_delta(metric.miss(value, limit))}"


def run_gate(results: Results, budgets: Budgets, baseline: Results | None = None, baseline_file: str | None = None) -> GateResult:
    """Run every check; raise EdgekitError (exit 2) for config problems found against the results."""
    matched = match_rules(budgets, results.names)
    float_base = budgets.float_baseline or results.baseline
    if budgets.float_baseline and budgets.float_baseline not in results.names:
        where = budgets.locate.default("float_baseline") if budgets.locate else budgets.source
        raise EdgekitError(f"{where}: float_baseline {budgets.float_baseline!r} is not a variant",
                           f"variants: {', '.join(results.names[:8])}")
    base_rec = results.get(float_base)
    old_base = baseline.get(baseline.baseline) if baseline is not None else None
    checks: list[Check] = []
    for rule, names in matched:
        for key, limit in rule.limits.items():
            metric = LIMIT_KEYS[key]
            where = rule.key_where.get(key, rule.where)
            if metric.name == "accuracy_drop" and not float_base:
                raise EdgekitError(f"{where}: max_accuracy_drop needs a float baseline and the results have none "
                                   "(no variant with an empty chain, no eval.json baseline)", "set float_baseline = \"NAME\" in the budgets")
            sel = _selection(rule, results, metric, where)
            label = check_label(metric, sel, results)
            limit_text = ("≤ " if metric.better == "lower" else "≥ ") + _as_written(rule.limit_text.get(key), metric, limit)
            for name in names:
                value, why = metric.read(results.get(name), sel, base_rec)
                bval = None
                if baseline is not None and baseline.get(name) is not None:
                    bval, _ = metric.read(baseline.get(name), sel, old_base)
                status, msg = _verdict(metric, value, why, limit, rule.missing, sel)
                rec = results.get(name)
                if rec is not None and rec.status == "suspect" and not rule.allow_suspect:
                    status, msg = "FAIL", f"suspect: {rec.reason} — set allow_suspect = true in the rule to judge it anyway"
                checks.append(Check(
                    variant=name, rule=rule.index + 1, key=key, metric=metric.name, label=label, status=status,
                    value=value, limit=limit, value_text=metric.format(value), limit_text=limit_text,
                    baseline_value=bval, change=metric.change(value, bval) if baseline is not None else "—",
                    message=msg, where=where,
                ))
    return GateResult(checks, budgets, results, baseline_file, float_base)
