"""The per-kind headline rule (issue 11) in the report: on an emulated device latency is the cost
model's estimate ("latency, est. <core> @<GHz>"), qemu's wall clock stays available as
emulated_latency ("emulated (qemu)") and memory is the model's share; on a real phone both are measured."""

from __future__ import annotations

import re

import pytest
from test_report_html import run_chromium

from edgekit.metrics import METRICS
from edgekit.report.build import build_report, parse_limits
from edgekit.report.html import render_html
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results


def est(ms: float, core: str = "Cortex-A7", mhz: int = 1300) -> dict:
    conv = {"neon_int": 900, "alu": 100}
    return {"per_invoke": 1000, "classes": conv, "complete": True, "beside": True,
            "estimate": {"core": core, "clock_mhz": mhz, "ms": ms, "label": f"est. {core} @{mhz / 1000:g} GHz"},
            "ops": [{"index": 0, "op": "CONV_2D", "instructions": 800_000, "classes": {"neon_int": 700_000, "alu": 100_000}},
                    {"index": 1, "op": "FULLY_CONNECTED", "instructions": 150_000, "classes": {"vfp": 100_000, "alu": 50_000}},
                    {"index": 2, "op": "SOFTMAX", "instructions": 5_000, "classes": {"alu": 5_000}}]}


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    for name, size, acc in (("float32", 800_000, 0.91), ("int8", 210_000, 0.90), ("student", 60_000, 0.86)):
        write_variant(o, name, size, acc, baseline="float32")
    return o


def emulated(out):
    # timed runs under qemu (wall p50 ms) with the counted run beside them (estimate ms); memory 60 MiB empty run
    meas = [measurement(n, wall, memory=mem, emulated=True, empty_run=60.0, counted=False, instructions=est(e),
                        profile="armv7-lowend")
            for n, wall, e, mem in (("float32", 66.6, 10.4, 95.0), ("int8", 1.45, 6.7, 70.0), ("student", 0.9, 1.2, 62.0))]
    return load_results(out, measurements=meas)


def real(out):
    meas = [measurement(n, wall, memory=mem, emulated=False, empty_run=20.0, serial="ZY3223", profile="moto-e5")
            for n, wall, mem in (("float32", 40.0, 50.0), ("int8", 9.0, 30.0), ("student", 2.0, 25.0))]
    return load_results(out, measurements=meas)


def test_emulated_device_headline_is_the_estimate_and_the_models_memory_share(out):
    rep = build_report(emulated(out), limits=parse_limits(max_latency="8 ms"))
    sel = rep.selection
    assert sel.label("latency") == "latency, est. Cortex-A7 @1.3 GHz" and sel.short("latency") == "est. ms"
    assert sel.label("memory") == "memory, model's share (peak − empty run, emulated)"
    assert sel.label("emulated_latency") == "latency p50, emulated (qemu)"
    lat = {n: rep.value(rep.index(n), "latency") for n in ("float32", "int8", "student")}
    assert lat == {"float32": pytest.approx(10.4), "int8": pytest.approx(6.7), "student": pytest.approx(1.2)}
    assert rep.value(rep.index("int8"), "memory") == pytest.approx(10.0)          # 70 - the 60 MiB empty run
    rec = rep.results.get("float32")
    assert METRICS["emulated_latency"].read(rec, sel, None) == (pytest.approx(66.6), None)
    # max_latency judges the estimate: float32 (10.4 est.) is out, int8 (6.7) fits although qemu took 1.45 vs 66.6
    assert rep.recommendation["variant"] == "int8"
    page = render_html(rep)
    assert "latency, est. Cortex-A7 @1.3 GHz" in page and "Estimated time by op type" in page
    ops = page.split('id="op-types"', 1)[1]
    assert re.search(r"<td class=\"name\">CONV_2D</td><td>1</td><td>[0-9.]+</td><td>9[0-9]%</td>", ops)
    assert "first op CONV_2D" in ops and "float arithmetic in FULLY_CONNECTED" in ops


def test_real_phone_headline_is_measured(out):
    rep = build_report(real(out), limits=parse_limits(max_latency="10 ms"))
    sel = rep.selection
    assert sel.label("latency") == "latency p50" and sel.label("memory") == "peak memory"
    assert rep.value(rep.index("int8"), "latency") == pytest.approx(9.0)
    assert rep.value(rep.index("int8"), "memory") == pytest.approx(30.0)         # the measured peak, nothing subtracted
    v, why = METRICS["emulated_latency"].read(rep.results.get("int8"), sel, None)
    assert v is None and "real phone" in why
    assert "Estimated time by op type" not in render_html(rep)


def test_emulated_without_counts_falls_back_to_qemu_time_labelled_emulated(out):
    meas = [measurement(n, wall, emulated=True, empty_run=60.0, memory=80.0) for n, wall in (("float32", 66.6), ("int8", 1.45))]
    rep = build_report(load_results(out, measurements=meas))
    assert rep.selection.label("latency") == "latency p50, emulated (qemu)"
    assert rep.value(rep.index("int8"), "latency") == pytest.approx(1.45)


def test_the_plot_axis_says_est_in_chromium(out, tmp_path):
    rep = build_report(emulated(out))
    path = tmp_path / "report.html"
    path.write_text(render_html(rep))
    r = run_chromium(tmp_path, "--dump-dom", path.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    svg = r.stdout.split('id="plot-latency-accuracy"', 1)[1].split("</svg>", 1)[0]
    axis = re.findall(r'<text class="axis-label"[^>]*>([^<]+)', svg)
    assert axis[0].startswith("latency, est. Cortex-A7 @1.3 GHz")
