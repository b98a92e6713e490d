"""A float .tflite as the model: litert-quantizer variants, host evaluation vs the Keras route, the emulated device.

One tiny CNN (trained here) goes both ways with the same data: its .h5 through the TF converter and
its float .tflite through litert-quantizer. Their int8 variants must score within 1 pt on the host and
load and run on the emulated armv7 device (tflite-runtime 2.14 under qemu, real adb).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from _tflite_input_models import make, recipe
from conftest import private_adb_server, read_json, run_edgekit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def made(small_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite-input")
    keras_acc = make(small_npz, root / "m")
    rec = recipe(root / "ptq.toml", ("float32", []), ("float16", ["ptq-float16"]), ("dynamic", ["ptq-dynamic"]),
                 ("int8", ["ptq-int8(calibration=256)"]))
    t = run_edgekit("optimize", root / "m" / "model.tflite", "--data", small_npz, "--recipe", rec,
                    "--out", root / "t", "--json", check=True)
    k = run_edgekit("optimize", root / "m" / "model.h5", "--data", small_npz,
                    "--recipe", recipe(root / "k.toml", ("int8", ["ptq-int8(calibration=256)"])),
                    "--out", root / "k", "--json", check=True)
    return root, keras_acc, {r["name"]: r for r in json.loads(t.stdout)["variants"]}, \
        {r["name"]: r for r in json.loads(k.stdout)["variants"]}


def test_tflite_variants_are_ok_and_int8_matches_the_keras_route(made):
    root, keras_acc, t, k = made
    assert {v: r["status"] for v, r in t.items()} == dict.fromkeys(("float32", "float16", "dynamic", "int8"), "ok")
    assert abs(t["float32"]["accuracy"] - keras_acc) <= 0.005        # the input file itself, evaluated on the host
    assert abs(t["int8"]["accuracy"] - k["int8"]["accuracy"]) <= 0.01, (t["int8"], k["int8"])
    for name in ("float16", "dynamic"):      # per-tensor Dense: no silent garbage in tflite-runtime 2.14
        assert abs(t[name]["accuracy"] - t["float32"]["accuracy"]) <= 0.02 and t[name]["agreement"] >= 0.95
    m = read_json(root / "t" / "variants" / "int8" / "manifest.json")
    assert m["versions"]["converter"] == "litert-quantizer 0.11.0"
    assert m["io"]["input"]["dtype"] == "int8" and m["io"]["output"]["dtype"] == "int8"
    assert m["compatibility"]["status"] == "ok" and m["input_range"]["spec"] == "0-1"
    assert read_json(root / "t" / "variants" / "float32" / "eval.json")["baseline"] == "float32"
    assert read_json(root / "t" / "variants" / "int8" / "eval.json")["agreement"] >= 0.9
    sizes = {v: read_json(root / "t" / "variants" / v / "manifest.json")["size_bytes"] for v in t}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]


def test_training_pass_on_a_tflite_is_refused_in_one_line(made, small_npz, tmp_path):
    root = made[0]
    rec = recipe(tmp_path / "r.toml", ("p", ["prune(0.5)", "ptq-int8"]))
    r = run_edgekit("optimize", root / "m" / "model.tflite", "--data", small_npz, "--recipe", rec, "--out", tmp_path / "o")
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "pass 'prune'" in lines[0] and ".tflite" in lines[0] and "no training graph" in lines[0]
    assert not (tmp_path / "o" / "variants" / "p").exists()


def test_an_already_quantised_or_broken_tflite_is_refused_before_anything_runs(made, tmp_path):
    from edgekit.errors import EdgekitError
    from edgekit.optimize.from_tflite import load

    root = made[0]
    with pytest.raises(EdgekitError, match=r"already quantised \(its input is int8\)"):
        load(root / "t" / "variants" / "int8" / "model.tflite")
    data = (root / "m" / "model.tflite").read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[:1000])
    with pytest.raises(EdgekitError, match="not a valid .tflite"):
        load(tmp_path / "cut.tflite")


# ---- the emulated device ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def device():
    if os.geteuid() != 0:
        pytest.skip("the emulated device needs root")
    from edgekit.emulator import image

    if not image.image_ready():
        pytest.skip("device image not built (edgekit emulator build)")
    from edgekit import emulator
    from edgekit.emulator.control import free_port

    with private_adb_server():
        port = free_port()
        serial = emulator.start("armv7-lowend", port=port, private=True).serial
        try:
            yield serial
        finally:
            emulator.stop(port)


def test_both_int8_variants_load_and_run_on_the_emulated_device(made, device, small_npz, tmp_path):
    root = made[0]
    cmd = [sys.executable, "-m", "edgekit.cli", "bench", root / "t" / "variants" / "int8", root / "k" / "variants" / "int8",
           "--device", device, "--threads", "1", "--runs", "2", "--warmup", "1", "--accuracy", "device", "--eval-data", small_npz,
           "--eval-limit", "20", "--out", tmp_path / "b", "--json"]
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    ms = json.loads(r.stdout)["measurements"]
    assert len(ms) == 2 and all(m["status"] == "ok" for m in ms), [(m["status"], m.get("reason")) for m in ms]
    assert all(m["device"]["abi"] == "armeabi-v7a" and m["accuracy_n"] == 20 for m in ms)
    # on-device predictions equal the host's (same kernels): the device accuracy is the host's on those 20
    assert all(m["detail"]["accuracy"]["agreement_with_host"] == 1.0 for m in ms), [m["detail"]["accuracy"] for m in ms]


def test_recipe_check_thresholds_reach_the_host_evaluation(made, small_npz, tmp_path):
    """[settings.checks] in the recipe is what optimize's evaluation judges by: max_kl = 0 makes the
    int8 variant (any output shift at all) suspect, the float32 baseline (no parent) stays ok."""
    root = made[0]
    rec = recipe(tmp_path / "r.toml", ("float32", []), ("int8", ["ptq-int8(calibration=256)"]))
    rec.write_text(rec.read_text() + "\n[settings.checks]\nmax_kl = 0.0\n")
    r = run_edgekit("optimize", root / "m" / "model.tflite", "--data", small_npz, "--recipe", rec,
                    "--out", tmp_path / "o", "--json", check=True)
    got = {v["name"]: v for v in json.loads(r.stdout)["variants"]}
    assert got["float32"]["status"] == "ok"
    assert got["int8"]["status"] == "suspect", got["int8"]
    ev = read_json(tmp_path / "o" / "variants" / "int8" / "eval.json")
    assert ev["checks"]["thresholds"]["max_kl"] == 0.0 and any("KL" in s or "kl" in s for s in ev["suspect"]), ev["suspect"]
