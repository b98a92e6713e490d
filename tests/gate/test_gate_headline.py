"""The per-kind headline rule (issue 11) in the gate: max_latency judges the estimated phone latency on
an emulated device (labelled "est. <core> @<GHz>"), the measured latency on a real phone;
max_emulated_latency judges qemu's wall clock; max_memory the model's share on the emulator."""

from __future__ import annotations

import pytest

from edgekit.gate.api import gate
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results

EST = {"per_invoke": 1000, "classes": {"neon_int": 1000}, "complete": True, "beside": True,
       "estimate": {"core": "Cortex-A53", "clock_mhz": 1400, "ms": 6.7, "label": "est. Cortex-A53 @1.4 GHz"}}


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.91, baseline="float32")
    write_variant(o, "int8", 210_000, 0.90, baseline="float32")
    return o


def test_emulated_device_gates_the_estimate_and_the_models_share(out):
    meas = [measurement("int8", 1.45, memory=70.0, emulated=True, empty_run=60.0, counted=False, instructions=EST,
                        profile="armv7-a53")]
    res = load_results(out, measurements=meas)
    rule = {"variants": "int8", "max_latency": "6 ms", "max_emulated_latency": "2 ms", "max_memory": "12 MiB"}
    g = gate(res, {"rule": [rule]})
    by = {c.key: c for c in g.checks}
    assert by["max_latency"].value == pytest.approx(6.7) and by["max_latency"].status == "FAIL"
    assert by["max_latency"].label == "latency, est. Cortex-A53 @1.4 GHz on armv7-a53, 1 thread"
    assert by["max_emulated_latency"].value == pytest.approx(1.45) and by["max_emulated_latency"].status == "PASS"
    assert by["max_emulated_latency"].label == "latency p50, emulated (qemu) on armv7-a53, 1 thread"
    assert by["max_memory"].value == pytest.approx(10.0) and by["max_memory"].status == "PASS"
    assert "model's share" in by["max_memory"].label
    assert not g.passed


def test_real_phone_gates_the_measured_latency_and_peak(out):
    meas = [measurement("int8", 5.0, memory=30.0, emulated=False, empty_run=20.0, serial="ZY3223", profile="moto-e5")]
    g = gate(load_results(out, measurements=meas), {"rule": [{"variants": "int8", "max_latency": "6 ms", "max_memory": "25 MiB"}]})
    by = {c.key: c for c in g.checks}
    assert by["max_latency"].value == pytest.approx(5.0) and by["max_latency"].label == "latency p50 on moto-e5, 1 thread"
    assert by["max_memory"].value == pytest.approx(30.0) and by["max_memory"].status == "FAIL"
    assert by["max_memory"].label == "peak memory on moto-e5, 1 thread"
