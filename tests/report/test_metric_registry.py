"""The metric registry (edgekit/metrics.py): units, formats, changes, limits — and one entry is a new metric everywhere."""

from __future__ import annotations

import json
import math

import pytest

from edgekit import metrics
from edgekit.errors import EdgekitError
from edgekit.metrics import METRICS, Metric, Selection, UnitError, fmt_mib, fmt_ms, fmt_size, metric
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results

BUILT_IN = ["size", "gzip_size", "accuracy", "accuracy_drop", "latency", "memory", "instructions", "estimated_latency", "emulated_latency"]


def test_the_registry_holds_every_metric_with_all_its_parts():
    assert list(METRICS) == BUILT_IN
    for m in METRICS.values():
        assert m.better in ("lower", "higher") and m.unit
        assert m.limit_key == ("max_" if m.better == "lower" else "min_") + m.name
        assert metrics.LIMIT_KEYS[m.limit_key] is m and metrics.UNITS[m.name] == m.unit
        assert m.format(None) == "—" and m.format(float("nan")) == "—" and m.change(None, 1.0) == "—"
        assert isinstance(m.parse(1), float)
        assert m.label_for(Selection()) and "{" not in m.label_for(Selection())
    assert [k for k in metrics.LIMIT_KEYS] == ["max_size", "max_gzip_size", "min_accuracy", "max_accuracy_drop",
                                              "max_latency", "max_memory", "max_instructions", "max_estimated_latency",
                                              "max_emulated_latency"]
    assert {n for n, m in METRICS.items() if m.device} == {"latency", "memory", "instructions", "estimated_latency",
                                                           "emulated_latency"}
    assert {n for n, m in METRICS.items() if m.exact} == {"instructions", "estimated_latency"}


def test_one_size_convention_decimal_and_binary_only_where_labelled():
    assert fmt_size(999) == "999 B" and fmt_size(1000) == "1.0 kB" and fmt_size(1024) == "1.0 kB"
    assert fmt_size(210_000) == "210.0 kB" and fmt_size(1_500_000) == "1.50 MB" and fmt_size(2e9) == "2.00 GB"
    assert METRICS["size"].format(210_000) == METRICS["gzip_size"].format(210_000) == "210.0 kB"
    assert METRICS["memory"].format(12.5) == fmt_mib(12.5) == "12.5 MiB"
    assert METRICS["size"].parse("300kB") == 300_000 and METRICS["size"].parse("2 MiB") == 2 * 1024**2
    assert METRICS["memory"].parse("64 MiB") == 64 and METRICS["memory"].parse("80MB") == pytest.approx(80e6 / 2**20)


def test_formats_deltas_and_changes():
    assert METRICS["latency"].format(9.0) == fmt_ms(9.0) == "9.00 ms" and fmt_ms(150) == "150 ms" and fmt_ms(0.25) == "0.25 ms"
    assert METRICS["accuracy"].format(0.905) == "90.50%" and METRICS["accuracy"].format_delta(0.02) == "2.00 pp"
    assert METRICS["accuracy_drop"].format(0.03) == "3.00 pp"
    assert METRICS["instructions"].format(1234) == "1,234 instructions" and METRICS["instructions"].format_delta(1) == "1 instruction"
    assert METRICS["estimated_latency"].format(12.3) == "12.3 ms (est.)" and METRICS["estimated_latency"].format_delta(0.4) == "0.4 ms"
    assert METRICS["size"].format_delta(10_000) == "10.0 kB"
    assert METRICS["size"].change(230e3, 210e3) == "+9.5%" and METRICS["size"].change(210e3, 210e3) == "±0.0%"
    assert METRICS["memory"].change(9.0, 10.0) == "-10.0%" and METRICS["size"].change(5, 0) == "—"
    assert METRICS["accuracy"].change(0.899, 0.902) == "-0.30 pp"
    assert METRICS["instructions"].change(1001, 1000) == "+1 (+0.10%)" and METRICS["instructions"].change(7, 7) == "±0 (±0.00%)"


@pytest.mark.parametrize("name, text, value", [
    ("latency", "20ms", 20), ("latency", "0.5 s", 500), ("latency", "1500us", 1.5), ("latency", 7, 7),
    ("accuracy", "85%", 0.85), ("accuracy", 0.9, 0.9),
    ("accuracy_drop", "1pp", 0.01), ("accuracy_drop", "1%", 0.01), ("accuracy_drop", 0.01, 0.01),
    ("instructions", "150M", 150e6), ("instructions", "1.2G", 1.2e9), ("instructions", "80k", 80e3),
    ("instructions", "1,234", 1234), ("instructions", 150000000, 150e6),
    ("estimated_latency", "40 ms", 40), ("gzip_size", "1.5MB", 1.5e6),
])
def test_parsers(name, text, value):
    assert METRICS[name].parse(text) == pytest.approx(value)


@pytest.mark.parametrize("name, text, msg", [
    ("size", "3 furlongs", "bad size unit .furlongs."), ("size", "12 Mb", "bad size unit 'Mb'"), ("size", "-1kB", "bad size"),
    ("size", "kB", "bad size"), ("size", True, "bad size"), ("size", float("inf"), "non-negative"),
    ("accuracy", 85, "above 1"), ("accuracy", "85 pts", "bad accuracy unit"), ("accuracy_drop", "2", "above 1"),
    ("latency", "3 weeks", "bad latency"), ("instructions", "12 parsecs", "instruction count"),
    ("instructions", 1.5, "whole"), ("memory", "lots", "bad memory"),
])
def test_parsers_reject_bad_values_saying_what_is_accepted(name, text, msg):
    with pytest.raises(UnitError, match=msg):
        METRICS[name].parse(text)


def test_within_is_exact_for_counts_and_tolerant_of_float_noise_otherwise():
    ins, size, acc = METRICS["instructions"], METRICS["size"], METRICS["accuracy"]
    assert ins.within(1000, 1000) and not ins.within(1001, 1000) and ins.miss(1001, 1000) == 1
    assert size.within(300_000 + 1e-7, 300_000) and not size.within(300_001, 300_000)
    assert acc.within(0.85 - 1e-13, 0.85) and not acc.within(0.849, 0.85) and acc.miss(0.84, 0.85) == pytest.approx(0.01)


def test_labels_follow_the_selection_and_aliases_resolve():
    sel = Selection(size="gzip", accuracy="device", percentile="p90", device="lowend-armv7", threads=2)
    assert [METRICS[m].label_for(sel) for m in ("size", "accuracy", "accuracy_drop", "latency", "memory")] == [
        "size (gzip)", "accuracy (device)", "accuracy drop (device) vs float", "latency p90", "peak memory"]
    assert sel.device_label() == "lowend-armv7, 2 threads" and Selection().device_label() == "any device"
    assert METRICS["accuracy"].needs_device(sel) and not METRICS["accuracy"].needs_device(Selection())
    assert metric("mem") is METRICS["memory"] and metric("Gzip-Size") is METRICS["gzip_size"]
    with pytest.raises(EdgekitError, match="unknown metric 'speed'"):
        metric("speed")
    with pytest.raises(EdgekitError, match="--percentile must be p50, p90, p99 or mean"):
        Selection(percentile="p95").validate()


@pytest.fixture
def params_metric():
    """A metric added as one entry (parameter count), removed again after the test."""
    saved = [dict(d) for d in (metrics.METRICS, metrics.LIMIT_KEYS, metrics.UNITS, metrics._ALIASES)]

    def read(rec, sel, base):
        return (float(rec.param_count), None) if rec.param_count is not None else (None, "no parameter count")

    yield metrics.register(Metric("params", "parameters", "parameters", "lower", metrics.parse_instructions,
                                  lambda v: "—" if v is None else f"{int(v):,} params", lambda v: f"{int(v):,} params",
                                  metrics.change_pct, read))
    for d, old in zip((metrics.METRICS, metrics.LIMIT_KEYS, metrics.UNITS, metrics._ALIASES), saved):
        d.clear()
        d.update(old)


def test_adding_a_metric_is_one_entry(params_metric, tmp_path, capsys):
    from edgekit.cli import main
    from edgekit.gate.api import gate
    from edgekit.report.api import report

    out = tmp_path / "out"
    write_variant(out, "float32", 800_000, 0.91, chain=[])   # synthetic manifests: param_count = size // 4
    write_variant(out, "int8", 210_000, 0.90)
    write_variant(out, "wide", 200_000, 0.80)
    rep = report(out, axes="params,accuracy", limits={"max_params": "60k"})
    assert rep.value(rep.index("int8"), "params") == 52_500 and rep.text(rep.index("wide"), "params") == "50,000 params"
    assert set(rep.front) == {"float32", "int8", "wide"} and rep.recommendation["variant"] == "int8"
    g = gate(out, {"rule": [{"variants": "*", "max_params": "60k"}]})
    assert [(c.variant, c.status) for c in g.checks] == [("float32", "FAIL"), ("int8", "PASS"), ("wide", "PASS")]
    assert g.checks[0].message == "200,000 params > 60,000 params by 140,000 params"
    assert main(["report", str(out), "--axes", "params,size", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["units"]["params"] == "parameters" and data["axes"][0]["better"] == "lower"


def test_reading_a_metric_from_a_record_says_why_it_is_missing(tmp_path):
    out = tmp_path / "out"
    write_variant(out, "float32", 800_000, 0.91, chain=[])
    write_variant(out, "int8", 210_000, None, eval_status="failed", eval_error="SIGSEGV")
    res = load_results(out, measurements=[measurement("float32", 30.0, status="failed", reason="device lost")])
    f32, i8 = res.get("float32"), res.get("int8")
    sel = metrics.resolve_selection(res, Selection(), ["latency"])
    assert METRICS["latency"].read(f32, sel, None) == (None, "failed on lowend-armv7: device lost")
    assert METRICS["latency"].read(i8, sel, None) == (None, "not measured on lowend-armv7, 1 thread")
    assert METRICS["accuracy"].read(i8, sel, None) == (None, "host evaluation failed: SIGSEGV")
    assert METRICS["accuracy_drop"].read(f32, sel, f32) == (0.0, None)
    assert METRICS["accuracy_drop"].read(f32, sel, None)[1] == "no float baseline in the results"
    assert METRICS["instructions"].read(i8, sel, None)[1].endswith("run edgekit bench --metric instructions")
    v, why = METRICS["gzip_size"].read(f32, sel, None)
    assert v == 640_000 and why is None and not math.isnan(v)


def test_the_registry_is_a_cheap_import():
    """Other stages format through it: importing it loads no numpy, rich or typer."""
    import subprocess
    import sys

    code = "import sys, edgekit.metrics; print(sorted(m for m in ('numpy', 'rich', 'typer') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr[-2000:]
