"""Issue 11 on the emulated device: bench counts beside the timed runs (estimate, per-op counts, the
model's memory share), on the Cortex-A53 AArch32 profile (qemu ``max``), started with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench_models import make_variant, tiny_models
from conftest import private_adb_server

from edgekit.emulator.control import free_port

pytestmark = pytest.mark.slow


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgekit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def a53():
    from edgekit.emulator import image

    if os.geteuid() != 0 or not image.image_ready():
        pytest.skip("the emulated device needs root and the device image")
    from edgekit import emulator

    with private_adb_server():
        port = free_port()
        r = _cli("emulator", "start", "--profile", "armv7-a53", "--port", port)
        try:
            assert r.returncode == 0, r.stderr
            yield r.stdout.strip().splitlines()[-1], port
        finally:
            emulator.stop(port)


def test_the_a53_profile_runs_the_armv7_runtime_and_bench_counts_beside_the_timed_runs(a53, tmp_path):
    serial, _ = a53
    d = tiny_models()
    out = tmp_path / "out"
    make_variant(out / "variants", "int8", d / "int8.tflite")
    make_variant(out / "variants", "float", d / "float.tflite")
    r = _cli("bench", out, "--device", serial, "--runs", 2, "--warmup", 0, "--threads", 1, "--json")
    assert r.returncode == 0, r.stderr
    ms = {m["variant"]: m for m in json.loads(r.stdout)["measurements"]}
    for name, m in ms.items():
        assert m["status"] == "ok" and m["config"].get("metric") is None        # a timed (latency) measurement ...
        assert m["device"]["emulated"] is True and m["device"]["profile"] == "armv7-a53"
        ins = m["instructions"]                                                  # ... counted beside, by default
        assert ins["qemu_cpu"] == "max" and ins["beside"] and ins["complete"]
        assert ins["timed_spread"] <= 0.01 * ins["per_invoke"] and not any("differ" in w for w in m["warnings"])
        est = ins["estimate"]
        assert est["core"] == "Cortex-A53" and est["label"] == "est. Cortex-A53 @1.4 GHz" and est["ms"] > 0
        ops = ins["ops"]                                                         # every op counted alone
        assert [o["op"] for o in ops] and all(o["instructions"] > 0 for o in ops)
        assert ops[0]["op"] == "CONV_2D"
        mem = m["detail"]["memory"]
        assert 10 < mem["empty_run_mb"] < m["peak_memory_mb"]
        assert mem["model_share_mb"] == pytest.approx(m["peak_memory_mb"] - mem["empty_run_mb"])
    assert ms["float"]["instructions"]["classes"]["neon_float"] > 0 and ms["int8"]["instructions"]["classes"]["neon_float"] == 0

    # the report: estimated latency and the model's share as the headline, labelled; per-op section
    r = _cli("report", out, "--html", tmp_path / "r.html", "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    labels = {a["metric"]: a["label"] for a in rep["axes"]}
    assert labels["latency"] == "latency, est. Cortex-A53 @1.4 GHz"
    page = (tmp_path / "r.html").read_text()
    assert "latency, est. Cortex-A53 @1.4 GHz" in page and "Estimated time by op type" in page
    assert "memory, model&#x27;s share (peak − empty run, emulated)" in page or "model&#x27;s share" in page

    # --no-count: qemu's wall clock only, labelled emulated (qemu)
    r = _cli("bench", out / "variants" / "int8", "--device", serial, "--runs", 2, "--warmup", 0, "--threads", 1,
             "--no-count", "--json", "--out", tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["measurements"][0]
    assert m["instructions"] is None and m["detail"]["memory"]["model_share_mb"] > 0
