"""Typed results records: built from Variants and Measurements, read back from today's results JSON and
old bench.sqlite rows; benchmark_model's missing p90 said by name; a Report never writes into its inputs."""

from __future__ import annotations

import copy
import json

import pytest

from edgekit.bench import benchmark_model as bm
from edgekit.bench.store import Store, measurement_key
from edgekit.cli import main
from edgekit.errors import EdgekitError
from edgekit.report.api import report
from edgekit.metrics import METRICS
from edgekit.report.build import build_report
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import DeviceSummary, HostEval, Results, VariantRecord, load_results
from edgekit.variant import load_variants

# benchmark_model's output (TFLite 2.14 on the emulated armv7 device): p5/median/p95, never p90/p99
CURRENT_FULL = """\
INFO: Initialized session in 3.337ms.
INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=9 first=81913 curr=55502 min=55502 max=81913 avg=58984.7 std=8115 p5=55502 median=56101 p95=81913

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=1061 first=56576 curr=56299 min=54669 max=60236 avg=56265.8 std=982 p5=55001 median=56200 p95=57900

INFO: Inference timings in us: Init: 3337, First inference: 81913, Warmup (avg): 58984.7, Inference (avg): 56265.8
INFO: Overall peak memory footprint (MB) via periodic monitoring: 13.1797
"""

COUNTED = {"per_invoke": 1_234_567, "classes": {"neon_int": 1_000_000, "int": 234_567}, "complete": True,
           "estimate": {"core": "Cortex-A7", "clock_mhz": 1300, "ms": 4.2}}


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.91, chain=[])
    write_variant(o, "int8", 210_000, 0.90, baseline="float32")
    write_variant(o, "dyn", 400_000, 0.905, baseline="float32")
    write_variant(o, "bad", 100_000, 0.50, status="incompatible", reason="op FOO v9 not in tflite-runtime 2.14.0")
    return o


def bench_model_measurement(name: str = "int8"):
    """A measurement whose statistics come from the real benchmark_model output parser."""
    stats = bm.stats_ms(bm.parse_output(CURRENT_FULL))
    return measurement(name, stats.p50, runner="benchmark_model", stats=stats)


def test_records_are_typed_and_take_status_and_baseline_from_the_variants(out):
    variants = {v.name: v for v in load_variants(out)}
    res = load_results(out, measurements=[measurement("int8", 9.0, memory=12), measurement("int8", 4.0, threads=2)])
    assert all(isinstance(r, VariantRecord) for r in res.variants) and res.names == sorted(variants)
    bad = res.get("bad")
    assert (bad.status, bad.reason) == (variants["bad"].status, variants["bad"].reason) == ("incompatible", "op FOO v9 not in tflite-runtime 2.14.0")
    assert res.baseline == "float32" and res.get("float32").is_baseline and not res.get("int8").is_baseline
    i8 = res.get("int8")
    assert isinstance(i8.host, HostEval) and i8.host.accuracy == 0.90 and i8.size_bytes == 210_000
    assert [type(d) for d in i8.device] == [DeviceSummary, DeviceSummary] and [d.threads for d in i8.device] == [1, 2]
    d = i8.device[0]
    assert (d.p50_ms, d.p90_ms, d.peak_memory_mb, d.runs, d.name, d.unavailable) == (9.0, 9.9, 12, 20, "lowend-armv7", {})


def test_results_json_round_trip(out, tmp_path):
    res = load_results(out, measurements=[measurement("int8", 9.0), bench_model_measurement("dyn")])
    path = tmp_path / "results.json"
    res.write(path)
    again = load_results(path)
    assert again.variants == res.variants and again.baseline == res.baseline and again.source == res.source
    data = json.loads(path.read_text())
    assert data["schema"] == "edgekit.results/1" and data["variants"][0]["name"] == "bad"
    assert data["variants"][1]["device"][0]["unavailable"]["p90"] == "benchmark_model reports p5/p50/p95, not p90"


# a results JSON as edgekit wrote it before the typed records (no "unavailable", runs 0 for benchmark_model)
TODAY = {
    "schema": "edgekit.results/1", "created": "2026-11-30T10:00:00Z", "edgekit_version": "0.4.0", "source": "out",
    "baseline": "float32",
    "variants": [
        {"name": "float32", "status": "ok", "reason": None, "is_baseline": True, "chain": [], "parent": None, "base": "model",
         "sha256": "a" * 64, "size_bytes": 800000, "gzip_size_bytes": 700000, "param_count": 200000, "sparsity": 0.0,
         "host": {"status": "ok", "accuracy": 0.91, "n": 1000, "agreement": None, "mean_abs_diff": None, "error": None},
         "device": [], "extra": {}},
        {"name": "int8", "status": "ok", "reason": None, "is_baseline": False, "chain": [{"pass": "quantize", "params": {}}],
         "parent": "float32", "base": "model", "sha256": "b" * 64, "size_bytes": 210000, "gzip_size_bytes": 150000,
         "param_count": 200000, "sparsity": 0.0,
         "host": {"status": "ok", "accuracy": 0.90, "n": 1000, "agreement": 0.97, "mean_abs_diff": 0.01, "error": None},
         "device": [{"serial": "emulator-5554", "profile": "lowend-armv7", "model": "edgekit-emu", "device": None,
                     "abi": "armeabi-v7a", "threads": 1, "runner": "benchmark_model", "status": "ok", "reason": None,
                     "runs": 0, "mean_ms": 56.27, "p50_ms": 56.2, "p90_ms": None, "p99_ms": None, "cv": 0.017,
                     "init_ms": 3.3, "first_inference_ms": 81.9, "peak_memory_mb": 13.2, "accuracy": None,
                     "instructions": None, "metric": "latency", "finished": "2026-11-30T09:00:00Z"}],
         "extra": {"note": "kept"}},
    ],
}


def test_todays_results_json_still_reads(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(TODAY))
    res = load_results(path)
    assert res.names == ["float32", "int8"] and res.baseline == "float32" and res.get("int8").extra == {"note": "kept"}
    rep = report(path, axes="size,latency", percentile="p90")
    i = rep.index("int8")
    assert rep.status[i] == "missing" and "benchmark_model reports p5/p50/p95, not p90" in rep.reason[i]
    assert report(path, axes="size,latency").value(i, "latency") == 56.2


def test_old_bench_sqlite_rows_still_read(out):
    """A row stored before the one stat key set: benchmark_model's p5/p50/p95 in stats, no 'unavailable'."""
    m = bench_model_measurement("int8")
    store = Store(out / "bench.sqlite")
    store.add(m)
    old = m.to_dict()
    old["stats"] = {"n": 1061.0, "mean": 56.2658, "std": 0.982, "min": 54.669, "max": 60.236, "p5": 55.001,
                    "p50": 56.2, "p95": 57.9, "cv": 0.01745}
    store._db.execute("UPDATE measurements SET data = ? WHERE key = ?", (json.dumps(old), measurement_key(m)))
    store.close()
    (d,) = load_results(out).get("int8").device
    assert (d.runner, d.runs, d.p50_ms, d.p90_ms) == ("benchmark_model", 1061, 56.2, None)
    assert d.latency("p90") == (None, "benchmark_model reports p5/p50/p95, not p90 (measured on lowend-armv7)")


def test_benchmark_model_p90_is_named_and_runs_is_the_runners_count(out, tmp_path, capsys):
    store = Store(out / "bench.sqlite")
    store.add(bench_model_measurement("int8"))
    store.add(measurement("float32", 30.0))
    store.close()
    (d,) = load_results(out).get("int8").device
    assert d.runs == 1061 and d.p50_ms == pytest.approx(56.2) and d.mean_ms == pytest.approx(56.2658)
    assert main(["report", str(out), "--axes", "size,latency", "--percentile", "p90", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (missing,) = [e for e in data["excluded"] if e["name"] == "int8"]
    assert missing["status"] == "missing"
    assert missing["reason"] == "latency p90: benchmark_model reports p5/p50/p95, not p90 (measured on lowend-armv7)"
    cfg = tmp_path / "edgekit.toml"
    cfg.write_text('[budgets]\npercentile = "p99"\n[[budgets.rule]]\nvariants = "*"\nmax_latency = "100 ms"\n')
    assert main(["gate", str(out), "--config", str(cfg), "--json"]) == 1
    checks = {c["variant"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["float32"]["status"] == "PASS"
    assert checks["int8"]["status"] == "FAIL" and checks["int8"]["message"] == \
        "missing: benchmark_model reports p5/p50/p95, not p99 (measured on lowend-armv7)"
    assert main(["report", str(out), "--axes", "size,latency", "--json"]) == 0   # p50 is reported
    assert "int8" in json.loads(capsys.readouterr().out)["front"]


def test_a_report_never_writes_into_its_inputs(out):
    meas = [measurement("int8", 9.0), measurement("int8", 300.0, instructions=COUNTED, finished="2026-01-02T00:00:00Z"),
            measurement("float32", 30.0)]
    res = load_results(out, measurements=meas)
    before = copy.deepcopy(res)
    from edgekit.metrics import Selection

    sel = Selection(percentile="p90")
    rep = build_report(res, selection=sel, limits={"max_size": "450kB", "max_instructions": "2M"})
    assert res == before and sel == Selection(percentile="p90") and rep.selection.device == "lowend-armv7"
    # the counted run's display columns belong to the Report
    i = rep.index("int8")
    assert rep.derived[i]["instr./invoke"] == "1,234,567" and rep.derived[i]["est. Cortex-A7 ms"].startswith("4.2 (est.")
    assert rep.derived[i]["emulated p50 ms"] == "300 (qemu)" and rep.derived[rep.index("float32")] == {}
    assert res.get("int8").extra == {} and rep.row(i)["derived"]["instruction mix"].startswith("neon_int")
    # emulated device: the headline latency is the estimate; qemu's wall clock is labelled as such
    assert rep.value(i, "latency") == pytest.approx(4.2) and rep.selection.label("latency") == "latency, est. Cortex-A7 @1.3 GHz"
    assert METRICS["emulated_latency"].read(res.get("int8"), rep.selection, None) == (pytest.approx(9.9), None)
    from edgekit.report.html import render_html

    page = render_html(rep)
    assert ">instr./invoke</th>" in page and "1,234,567" in page and "est. Cortex-A7" in page
    assert rep.recommendation["variant"] == "int8" and "instructions" in rep.metrics


@pytest.mark.parametrize("doc, msg", [
    ({"schema": "edgekit.results/2", "variants": []}, "has schema 'edgekit.results/2'"),
    ([1, 2], "has schema 'list'"),
    ({"schema": "edgekit.results/1", "variants": [{"size_bytes": 3}]}, "'variants' must be a list of records with a name"),
    ({"schema": "edgekit.results/1", "variants": [{"name": "x", "size_bytes": "lots"}]}, "a variant record is malformed"),
])
def test_bad_results_documents_are_one_line_errors(tmp_path, doc, msg):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(EdgekitError, match=msg):
        load_results(path)


def test_results_accept_plain_dict_records():
    res = Results([{"name": "b", "size_bytes": 5, "device": [{"serial": "s", "p50_ms": 1.0}]}, {"name": "a"}])
    assert res.get("b").device[0].p50_ms == 1.0 and res.get("a").size_bytes is None and res.has_device


@pytest.mark.parametrize("target", [
    "edgekit.results:Results", "edgekit.results:VariantRecord", "edgekit.results:HostEval", "edgekit.results:DeviceSummary",
    "edgekit.report.core:Report", "edgekit.metrics:Selection", "edgekit.metrics:Metric", "edgekit.gate.core:Check",
    "edgekit.gate.core:GateResult", "edgekit.gate.config:Budgets", "edgekit.gate.config:Rule",
])
def test_record_docstrings_list_exactly_their_fields(target):
    """docs/schemas.md is generated from these Fields blocks (edgekit.schemas)."""
    from edgekit import schemas

    assert schemas.mismatches(schemas.load(target)) == []


def test_one_phone_over_usb_then_wireless_adb_is_one_device_in_the_report(out, capsys):
    """Measurements belong to the device's identity (ro.serialno), not its adb address: the same phone
    measured over USB and later over wireless adb is one device; the newer measurement counts."""
    usb = measurement("int8", 9.0, serial="R58M12ABCDE", profile=None, finished="2026-01-01T00:00:00Z")
    wifi = measurement("int8", 7.0, serial="192.168.1.20:5555", profile=None, finished="2026-01-02T00:00:00Z")
    usb.device_id = wifi.device_id = "R58M12ABCDE"
    other = measurement("dyn", 8.0, serial="0123456789ABCDEF", profile=None)
    store = Store(out / "bench.sqlite")
    for m in (usb, wifi):
        store.add(m)
    store.close()
    res = load_results(out)
    (summary,) = res.get("int8").device
    assert (summary.identity, summary.serial, summary.p50_ms) == ("R58M12ABCDE", "192.168.1.20:5555", 7.0)
    assert main(["report", str(out), "--json"]) == 0              # one device: no --device needed
    capsys.readouterr()
    store = Store(out / "bench.sqlite")
    store.add(other)                                               # no device_id (stored before it): its serial
    store.close()
    assert main(["report", str(out), "--json"]) == 2
    err = capsys.readouterr().err
    assert "measurements from 2 devices" in err and "(R58M12ABCDE)" in err and "(0123456789ABCDEF)" in err
