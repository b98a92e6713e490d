"""``edgekit bench --metric instructions`` and the instruction gates, end to end (issue 6).

Real adb (private server), a private emulated armv7-lowend device, the real counting plugin under
the dynamic qemu-arm, a tiny int8 model. Ten counted runs of the same variant are made once
(each its own ``edgekit bench`` process and output dir) and judged: identical per-invoke counts,
identical gate verdicts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench_models import make_variant, tiny_models
from conftest import private_adb_server

from edgekit.emulator.control import free_port

pytestmark = pytest.mark.slow

RUNS = 10


@pytest.fixture(scope="module")
def adb_server():
    if os.geteuid() != 0:
        pytest.skip("the emulated device needs root")
    from edgekit.emulator import image

    if not image.image_ready():
        pytest.skip("device image not built (edgekit emulator build)")
    with private_adb_server() as port:
        yield port


@pytest.fixture(scope="module")
def device(adb_server):
    from edgekit import emulator

    port = free_port()
    serial = emulator.start("armv7-lowend", port=port, private=True).serial
    yield serial
    emulator.stop(port)


def edgekit(*args, timeout=600, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgekit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    root = tmp_path_factory.mktemp("instr") / "variants"
    make_variant(root, "int8", tiny_models() / "int8.tflite")
    return root


@pytest.fixture(scope="module")
def counted_runs(device, variants, tmp_path_factory):
    """RUNS separate counted benches of the same variant: [(out dir, measurement dict)]."""
    base = tmp_path_factory.mktemp("runs")
    runs = []
    for k in range(RUNS):
        out = base / f"run{k}"
        shutil.copytree(variants, out / "variants")       # OUT/variants + OUT/bench.sqlite
        r = edgekit("bench", out / "variants" / "int8", "--device", device, "--metric", "instructions",
                    "--threads", 1, "--runs", 3, "--warmup", 1, "--json")
        assert r.returncode == 0, r.stderr[-2000:]
        (m,) = json.loads(r.stdout)["measurements"]
        runs.append((out, m))
    return runs


def test_same_variant_counted_repeatedly_gives_identical_per_invoke_counts(counted_runs):
    first = counted_runs[0][1]
    ins = first["instructions"]
    assert first["status"] == "ok" and first["threads"] == 1
    assert ins["per_invoke"] > 1000 and ins["complete"] and len(ins["timed"]) == 3
    assert ins["per_invoke"] == min(ins["timed"])                   # the invoke's own cost
    assert ins["timed_spread"] < 0.05 * ins["per_invoke"]           # allocator noise at fixed positions only
    assert sum(ins["classes"].values()) == ins["per_invoke"]
    assert ins["classes"]["neon_int"] > 0 and ins["classes"]["neon_float"] == 0   # an int8 model
    assert ins["estimate"]["core"] == "Cortex-A7" and ins["estimate"]["ms"] > 0
    assert set(ins["estimates"]) >= {"armv7-lowend", "armv7-midrange"}
    assert first["latencies_ms"] and len(first["latencies_ms"]) == 3   # wall-clock beside the counts
    keys = ("per_invoke", "classes", "timed", "warmup", "first_invoke", "load", "estimate")
    for _, m in counted_runs[1:5]:                                    # the same variant, 5 times
        assert {k: m["instructions"][k] for k in keys} == {k: ins[k] for k in keys}
    for _, m in counted_runs[5:]:
        assert m["instructions"]["per_invoke"] == ins["per_invoke"]


def _gate(out: Path, budget: str, tmp: Path, *extra):
    cfg = tmp / "edgekit.toml"
    cfg.write_text(budget)
    return edgekit("gate", out, "--config", cfg, "--json", *extra)


def test_max_instructions_gate_same_verdict_on_every_run(counted_runs, tmp_path):
    n = counted_runs[0][1]["instructions"]["per_invoke"]
    est = counted_runs[0][1]["instructions"]["estimate"]["ms"]
    exact = f'[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_instructions = {n}\n'
    one_less = f'[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_instructions = {n - 1}\n'
    verdicts = []
    for out, _ in counted_runs:
        ok = _gate(out, exact, tmp_path)
        bad = _gate(out, one_less, tmp_path)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert bad.returncode == 1, bad.stdout + bad.stderr
        (chk,) = json.loads(bad.stdout)["checks"]
        assert chk["metric"] == "instructions" and chk["value"] == n and chk["limit"] == n - 1
        assert "by 1 instruction" in chk["message"]
        verdicts.append((ok.returncode, bad.returncode))
    assert verdicts == [(0, 1)] * RUNS
    # estimated latency budget, exact as well (derived from the integer counts)
    out = counted_runs[0][0]
    r = _gate(out, f'[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_estimated_latency = "{est * 1.000001} ms"\n', tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    (chk,) = json.loads(r.stdout)["checks"]
    assert chk["metric"] == "estimated_latency" and "est." in chk["label"] and "Cortex-A7" in chk["label"]
    r = _gate(out, f'[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_estimated_latency = "{est * 0.99} ms"\n', tmp_path)
    assert r.returncode == 1


def test_baseline_delta_is_exact(counted_runs, tmp_path):
    out0, out1 = counted_runs[0][0], counted_runs[1][0]
    base = tmp_path / "baseline.json"
    n = counted_runs[0][1]["instructions"]["per_invoke"]
    budget = f'[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_instructions = "{n * 2}"\n'
    r = _gate(out0, budget, tmp_path, "--baseline", base, "--update-baseline")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _gate(out1, budget, tmp_path, "--baseline", base)
    (chk,) = json.loads(r.stdout)["checks"]
    assert chk["baseline_value"] == n and chk["change"] == "±0 (±0.00%)"


def test_html_report_shows_mix_and_estimate_beside_emulated_latency(counted_runs, tmp_path):
    out = counted_runs[0][0]
    page = tmp_path / "r.html"
    r = edgekit("report", out, "--html", page)
    assert r.returncode == 0, r.stderr
    html = page.read_text()
    ins = counted_runs[0][1]["instructions"]
    assert "instr./invoke" in html and f"{ins['per_invoke']:,}" in html
    assert "est. Cortex-A7" in html and "emulated" in html
    assert "neon_int" in html                                           # the class mix


def test_metric_errors(device, variants, tmp_path):
    r = edgekit("bench", variants / "int8", "--device", device, "--metric", "cycles")
    assert r.returncode == 2 and "--metric" in r.stderr and "instructions" in r.stderr
    r = edgekit("bench", variants / "int8", "--device", device, "--metric", "instructions", "--threads", "1,2")
    assert r.returncode == 2 and "one thread" in r.stderr
    r = edgekit("bench", variants / "int8", "--device", device, "--metric", "instructions", "--runner", "benchmark_model")
    assert r.returncode == 2 and "python" in r.stderr
    r = edgekit("bench", variants / "int8", "--device", device, "--metric", "instructions", "--threads", 1,
                "--accuracy", "device")
    assert r.returncode == 2 and "accuracy" in r.stderr
    cfg = tmp_path / "edgekit.toml"
    cfg.write_text('[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_instructions = "12 parsecs"\n')
    r = edgekit("gate", variants, "--config", cfg)
    assert r.returncode == 2 and f"{cfg}:4" in r.stderr and "max_instructions" in r.stderr


def test_counted_route_is_unavailable_where_the_command_is_not_intercepted(device):
    """What a real phone answers: the counted route exists only as the daemon-side command, so the
    same probe run through the device's shell (`sh -c ...`) finds no such program, and bench says
    the metric is unavailable there."""
    from edgekit.bench import counted
    from edgekit.bench.device import Device
    from edgekit.errors import EdgekitError

    class ThroughShell(Device):
        def shell(self, args, timeout=120.0):
            cmd = args if isinstance(args, str) else " ".join(args)
            return super().shell(["sh", "-c", cmd], timeout=timeout)

    assert counted.probe(Device(device)).startswith("edgekit-counted 1 ")
    with pytest.raises(EdgekitError) as exc:
        counted.require(ThroughShell(device))
    assert "unavailable" in exc.value.message and "real phone" in exc.value.message
