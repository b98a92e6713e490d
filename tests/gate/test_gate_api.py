"""``edgekit.gate.api.gate``: budgets from a file, the current directory or a dict; Results in and out;
counted-run budgets (exact) on synthetic counted measurements."""

from __future__ import annotations

import pytest

from edgekit.errors import EdgekitError
from edgekit.gate.api import gate
from edgekit.gate.render import render_text
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.910, gzip_size=700_000, chain=[])
    write_variant(o, "int8", 210_000, 0.902, gzip_size=150_000, baseline="float32")
    write_variant(o, "int8_pruned", 200_000, 0.880, gzip_size=90_000, baseline="float32")
    return o


BUDGETS = {"size": "gzip", "rule": [
    {"variants": "int8*", "max_size": "200 kB", "min_accuracy": "85%", "max_accuracy_drop": "3pp"},
    {"variants": "float32", "max_size": "1 MiB"},
]}


def test_budgets_as_a_dict_a_file_or_found_in_cwd(out, tmp_path, monkeypatch):
    g = gate(out, BUDGETS)
    assert g.passed and g.exit_code == 0 and g.counts() == {"checks": 7, "passed": 7, "failed": 0, "skipped": 0}
    assert g.budgets.source == "budgets" and g.to_dict()["config"] == "budgets"
    assert [c.where for c in g.checks[:3]] == ["budgets.rule[1].max_size", "budgets.rule[1].max_size", "budgets.rule[1].min_accuracy"]
    assert gate(out, {"budgets": BUDGETS}).counts() == gate(out, {"tool": {"edgekit": {"budgets": BUDGETS}}}).counts()
    toml = tmp_path / "edgekit.toml"
    toml.write_text('[budgets]\nsize = "gzip"\n[[budgets.rule]]\nvariants = "int8*"\nmax_size = "100 kB"\n')
    g = gate(out, toml)
    assert [(c.variant, c.status) for c in g.checks] == [("int8", "FAIL"), ("int8_pruned", "PASS")]
    assert g.failed[0].message == "150.0 kB > 100.0 kB by 50.0 kB" and g.failed[0].where == f"{toml}:5"
    monkeypatch.chdir(tmp_path)
    assert [c.status for c in gate(out).checks] == ["FAIL", "PASS"]   # ./edgekit.toml


@pytest.mark.parametrize("budgets, msg", [
    ({"rule": [{"variants": "*", "max_sise": "300 kB"}]}, "budgets.rule[1].max_sise: unknown key 'max_sise' in rule 1 — did you mean 'max_size'?"),
    ({"rule": [{"variants": "*", "max_size": "3 furlongs"}]}, "budgets.rule[1].max_size: max_size: bad size unit 'furlongs'"),
    ({"rule": [{"variants": "fp16*", "max_size": "1MB"}]}, "budgets.rule[1].variants: pattern 'fp16*' in rule 1 matches no variant"),
    ({"speed": 3, "rule": [{"variants": "*", "max_size": "1MB"}]}, "budgets.speed: unknown key 'speed' in [budgets]"),
    ({"max_size": "1MB"}, "budgets.max_size: limit 'max_size' outside a rule"),
    ({"rule": []}, "budgets: no [[budgets.rule]] entries"),
    ({"rule": [{"variants": "*"}]}, "budgets.rule[1]: rule 1 (*) sets no limit"),
    ({"percentile": "p95", "rule": [{"variants": "*", "max_latency": "1s"}]}, "budgets.percentile: percentile = 'p95': choose"),
    ({"float_baseline": "fp32", "rule": [{"variants": "*", "max_size": "1MB"}]}, "budgets.float_baseline: float_baseline 'fp32' is not a variant"),
])
def test_dict_budget_errors_say_where(out, budgets, msg):
    with pytest.raises(EdgekitError) as exc:
        gate(out, budgets)
    assert exc.value.one_line().startswith(msg), exc.value.one_line()


def test_bad_arguments_are_one_line_errors(out, tmp_path):
    with pytest.raises(EdgekitError, match="budgets must be a path, None or a dict, not int"):
        gate(out, 3)
    with pytest.raises(EdgekitError, match="config file .*nope.toml does not exist"):
        gate(out, tmp_path / "nope.toml")
    with pytest.raises(EdgekitError, match="results must be a path or Results, not list"):
        gate([], BUDGETS)
    with pytest.raises(EdgekitError, match="baseline .*old.json does not exist"):
        gate(out, BUDGETS, baseline=tmp_path / "old.json")


def test_results_objects_and_a_baseline(out):
    old = load_results(out)
    write_variant(out, "int8", 230_000, 0.899, gzip_size=168_000, baseline="float32")
    g = gate(load_results(out), BUDGETS, baseline=old)
    size = next(c for c in g.checks if c.variant == "int8" and c.key == "max_size")
    acc = next(c for c in g.checks if c.variant == "int8" and c.key == "min_accuracy")
    assert (size.value, size.baseline_value, size.change) == (168_000, 150_000, "+12.0%")
    assert (acc.change, acc.limit_text) == ("-0.30 pp", "≥ 85.00%") and size.limit_text == "≤ 200 kB"
    assert "+12.0%" in render_text(g) and g.baseline_file == old.source


COUNTED = {"per_invoke": 150_000_000, "classes": {"neon_int": 149_000_000, "int": 1_000_000}, "complete": True,
           "estimate": {"core": "Cortex-A7", "clock_mhz": 1300, "ms": 40.0}}


def test_counted_runs_are_judged_exactly(out):
    meas = [measurement("int8", 9.0), measurement("int8", 900.0, instructions=COUNTED, finished="2026-01-02T00:00:00Z")]
    res = load_results(out, measurements=meas)
    rule = {"variants": "int8", "max_instructions": 150_000_000, "max_estimated_latency": "40 ms"}
    g = gate(res, {"rule": [rule]})
    assert [c.status for c in g.checks] == ["PASS", "PASS"] and g.checks[0].value == 150_000_000
    assert g.checks[1].label == "est. latency (Cortex-A7 @ 1300 MHz) from instructions on lowend-armv7, 1 thread"
    g = gate(res, {"rule": [{**rule, "max_instructions": "149999999", "max_estimated_latency": "39.999999 ms"}]})
    assert [c.status for c in g.checks] == ["FAIL", "FAIL"]
    assert g.checks[0].message == "150,000,000 instructions > 149,999,999 instructions by 1 instruction"
    more = load_results(out, measurements=[measurement("int8", 900.0, instructions={**COUNTED, "per_invoke": 150_001_234})])
    g = gate(more, {"rule": [rule]}, baseline=res)
    assert g.checks[0].change == "+1,234 (+0.00%)" and g.checks[0].status == "FAIL"
    # on the emulated device a latency budget reads the estimate (the headline); qemu's wall clock of
    # the latency run (never the counted one, qemu + plugin) is max_emulated_latency
    g = gate(res, {"rule": [{"variants": "int8", "max_latency": "10 ms", "max_emulated_latency": "10 ms"}]})
    assert [c.value for c in g.checks] == [pytest.approx(40.0), pytest.approx(9.0)]
    assert [c.status for c in g.checks] == ["FAIL", "PASS"]
    assert g.checks[0].label == "latency, est. Cortex-A7 @1.3 GHz on lowend-armv7, 1 thread"
    assert g.checks[1].label == "latency p50, emulated (qemu) on lowend-armv7, 1 thread"
    # without counted runs: a clear FAIL, or SKIP when the rule says so
    g = gate(out, {"rule": [{"variants": "int8", "max_instructions": "150M", "missing": "skip"}]})
    assert g.checks[0].status == "SKIP" and g.passed
    assert g.checks[0].message == "missing: no instruction counts on any device — run edgekit bench --metric instructions"
