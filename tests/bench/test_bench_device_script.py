"""The python runner's device script, run on the HOST with the x86 tflite-runtime 2.14.

The same file runs on the device (armv7 tflite-runtime under the emulator or a phone); here it
is checked as a plain child process, against tiny float / int8 / not-loadable models.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench_models import tiny_models
from edgekit.bench.params import NOISY_CV
from edgekit.bench.runner import MARK, SCRIPT, fill_from_script, parse_script_output, score
from edgekit.measurement import Measurement


@pytest.fixture(scope="module")
def models():
    return tiny_models()


def run_script(*args, cwd=None):
    r = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(MARK)]
    assert len(lines) == 1, (r.stdout, r.stderr)
    assert r.stdout.strip() == lines[0]      # nothing else on stdout
    return r.returncode, json.loads(lines[0][len(MARK):])


def test_float_model_every_run_kept(models):
    rc, res = run_script("--model", models / "float.tflite", "--runs", 7, "--warmup", 3, "--threads", 1)
    assert rc == 0 and res["status"] == "ok" and res["reason"] is None
    assert len(res["latencies_ms"]) == 7 and len(res["warmup_ms"]) == 3
    assert all(x > 0 for x in res["latencies_ms"]) and res["init_ms"] > 0 and res["first_inference_ms"] > 0
    mem = res["memory"]
    assert mem["peak"]["vmhwm_mb"] >= mem["baseline"]["vmhwm_mb"] > 0
    assert res["io"]["inputs"][0]["shape"] == [1, 8, 8, 1] and res["io"]["inputs"][0]["dtype"] == "float32"
    m = Measurement("float", "x" * 64, "host", {}, "python", 1, {})
    fill_from_script(m, res, NOISY_CV)
    assert m.stats.n == 7 and m.latencies_ms == res["latencies_ms"] and m.peak_memory_mb == mem["peak"]["vmhwm_mb"]


def test_incompatible_model_reports_runtime_reason_verbatim(models):
    rc, res = run_script("--model", models / "dynamic.tflite", "--runs", 3, "--warmup", 1)
    assert rc == 0 and res["status"] == "incompatible"
    assert "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" in res["reason"]
    assert "latencies_ms" not in res


def test_int8_eval_predictions_match_the_host_runner(models, tmp_path):
    pred = tmp_path / "pred.npy"
    rc, res = run_script("--model", models / "int8.tflite", "--runs", 2, "--warmup", 0, "--no-xnnpack",
                         "--eval-x", models / "eval_x.npy", "--pred-out", pred)
    assert res["status"] == "ok" and res["eval"]["n"] == 12
    p = np.load(pred)
    assert p.dtype == np.int8 and p.shape == (12, 4)
    # the host evaluation path (edgekit.tflite.runner, batched, child process) gives the same top-1
    from edgekit.tflite.runner import predict

    host = predict(models / "int8.tflite", np.load(models / "eval_x.npy"), xnnpack=False)
    assert (host.argmax(-1) == p.argmax(-1)).all()
    y = np.load(models / "eval_y.npy")
    assert score(p, y) == score(host, y)


def test_missing_model_is_a_load_failure(tmp_path):
    rc, res = run_script("--model", tmp_path / "nope.tflite", "--runs", 1)
    assert res["status"] == "incompatible" and "nope.tflite" in res["reason"]


def test_parse_script_output_picks_the_marked_line():
    assert parse_script_output("noise\nEDGEKIT_RESULT {\"status\": \"ok\"}\n") == {"status": "ok"}
    assert parse_script_output("Segmentation fault\n") is None
    assert parse_script_output("EDGEKIT_RESULT {broken\n") is None


def test_batched_and_per_example_evaluation_agree_bit_for_bit(models, tmp_path):
    got = {}
    for batch in (1, 5, 64):
        pred = tmp_path / f"p{batch}.npy"
        _, res = run_script("--model", models / "int8.tflite", "--runs", 1, "--warmup", 0, "--eval-batch", batch,
                            "--eval-x", models / "eval_x.npy", "--pred-out", pred)
        assert res["eval"]["mode"] == ("per-example" if batch == 1 else "batched")
        got[batch] = np.load(pred)
    assert (got[1] == got[5]).all() and (got[1] == got[64]).all() and got[5].shape == (12, 4)
