"""edgekit.tflite.runner (tflite-runtime in a child process) and edgekit.optimize.evaluate, on real models."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _tiny_tflite import tiny_models

from edgekit.optimize.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.optimize.evaluate import evaluate, to_probabilities, write_eval
from edgekit.tflite.inspect import read_model_info
from edgekit.tflite.runner import InterpreterFailure, check_loadable, predict
from edgekit.variant import EVAL_FILE, EVAL_SCHEMA, MANIFEST_FILE, MANIFEST_SCHEMA, Evaluation, Variant

FC12 = "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_models(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random((37, 8, 8, 1), dtype=np.float32)


def _dataset(x, y, k=10):
    return Dataset(x, y, x, y, k, [f"c{i}" for i in range(k)], "tiny")


def _crashing_copy(src: Path, dst: Path) -> Path:
    """A copy whose signature_defs vector claims 1000 entries instead of 1.

    Our parser does not need signature_defs, so the file gets to the runtime, whose Python
    Interpreter does not verify that part of the flatbuffer and dereferences garbage: SIGSEGV.
    """
    data = bytearray(src.read_bytes())
    root = struct.unpack_from("<I", data, 0)[0]
    vtable = root - struct.unpack_from("<i", data, root)[0]
    field = struct.unpack_from("<H", data, vtable + 4 + 2 * 7)[0]  # Model.signature_defs
    assert field, "the converter wrote no signature_defs"
    vec = root + field + struct.unpack_from("<I", data, root + field)[0]
    assert struct.unpack_from("<I", data, vec)[0] == 1
    struct.pack_into("<I", data, vec, 1000)
    dst.write_bytes(data)
    return dst


# ---- predict ---------------------------------------------------------------------------------

def test_predict_float_batched_equals_per_example(tiny, x):
    y = predict(tiny / "float.tflite", x, batch_size=16)  # 37 = 2 full batches + a padded one
    assert y.shape == (37, 10) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)
    y1 = predict(tiny / "float.tflite", x, batch_size=1)
    np.testing.assert_allclose(y, y1, atol=1e-5)


def test_predict_int8_quantises_inputs_and_dequantises_outputs(tiny, x):
    yf = predict(tiny / "float.tflite", x)
    y8 = predict(tiny / "int8.tflite", x)
    assert y8.dtype == np.float32 and y8.shape == (37, 10)
    scale = read_model_info(tiny / "int8.tflite")["outputs"][0]["quantization"]["scale"]
    steps = y8 / scale  # dequantised int8: whole multiples of the output scale (zero_point -128 → 0.0)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert np.abs(yf - y8).mean() < 0.02
    assert (yf.argmax(1) == y8.argmax(1)).mean() >= 0.9


def test_predict_graph_with_fixed_batch_falls_back_to_one_at_a_time(tiny, x):
    batched = predict(tiny / "fixedbatch.tflite", x, batch_size=8)
    single = predict(tiny / "fixedbatch.tflite", x, batch_size=1)
    assert batched.shape == (37, 10)
    np.testing.assert_allclose(batched, single, atol=1e-6)


def test_predict_rejects_data_that_does_not_fit(tiny):
    with pytest.raises(EdgekitError, match=r"does not fit the input of float.tflite \(8, 8, 1\)"):
        predict(tiny / "float.tflite", np.zeros((2, 28, 28, 1), np.float32))


def test_predict_on_truncated_model_is_an_input_error_not_a_child_failure(tiny, tmp_path, x):
    bad = tmp_path / "model.tflite"
    bad.write_bytes((tiny / "float.tflite").read_bytes()[:3000])
    with pytest.raises(EdgekitError, match="truncated at byte 3000") as err:
        predict(bad, x)
    assert not isinstance(err.value, InterpreterFailure)


def test_runtime_error_is_reported_verbatim(tiny, x):
    with pytest.raises(InterpreterFailure) as err:
        predict(tiny / "dynamic.tflite", x)
    assert err.value.stage == "load" and err.value.incompatible
    assert err.value.message.startswith(FC12)


def test_native_crash_in_child_is_a_clear_failure(tiny, tmp_path, x):
    bad = _crashing_copy(tiny / "float.tflite", tmp_path / "crash.tflite")
    read_model_info(bad)  # structurally fine for what we read
    with pytest.raises(InterpreterFailure) as err:
        predict(bad, x)
    assert err.value.stage == "crash"
    assert err.value.message.startswith("interpreter crashed (SIG")
    assert not err.value.incompatible
    ok, reason = check_loadable(bad)
    assert not ok and reason.startswith("interpreter crashed (SIG")


def test_timeout(tiny, x):
    with pytest.raises(InterpreterFailure, match=r"interpreter timed out after 0.01 s") as err:
        predict(tiny / "float.tflite", x, timeout=0.01)
    assert err.value.stage == "timeout"


def test_runner_works_in_a_process_that_imported_tensorflow(tiny):
    # the import-order bug (STACK.md): tflite_runtime after tensorflow fails with vector::reserve
    code = (
        "import os, sys, numpy as np\n"
        "os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
        "import tensorflow\n"
        "from edgekit.tflite.runner import predict, check_loadable\n"
        f"y = predict({str(tiny / 'int8.tflite')!r}, np.zeros((3, 8, 8, 1), np.float32))\n"
        f"print(y.shape, check_loadable({str(tiny / 'float.tflite')!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("(3, 10) (True, None)")


# ---- check_loadable -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["float", "int8", "float16", "logits"])
def test_loadable_in_tflite_runtime_2_14(tiny, name):
    assert check_loadable(tiny / f"{name}.tflite") == (True, None)


def test_dynamic_range_from_new_converter_is_not_loadable(tiny):
    ok, reason = check_loadable(tiny / "dynamic.tflite")
    assert not ok and reason.startswith(FC12)


def test_check_loadable_on_corrupt_and_missing_files(tiny, tmp_path):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    ok, reason = check_loadable(empty)
    assert not ok and "is empty" in reason
    ok, reason = check_loadable(tmp_path / "missing.tflite")
    assert not ok and "does not exist" in reason


# ---- evaluate ---------------------------------------------------------------------------------

def test_evaluate_metrics(tiny, x, tmp_path):
    probs = predict(tiny / "float.tflite", x)
    pred = probs.argmax(1)
    y = pred.copy()
    y[:10] = (pred[:10] + 1) % 10  # exactly 10 wrong
    result, outputs = evaluate(tiny / "float.tflite", _dataset(x, y))
    assert isinstance(result, Evaluation)
    assert result.status == "ok" and result.error is None and result.schema == EVAL_SCHEMA
    assert result.n == 37 and result.accuracy == pytest.approx(27 / 37)
    cm = np.array(result.confusion_matrix)
    assert cm.shape == (10, 10) and cm.sum() == 37 and np.trace(cm) == 27
    assert cm.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()
    for c, acc in enumerate(result.per_class_accuracy):
        support = (y == c).sum()
        assert acc == (None if support == 0 else pytest.approx(((pred == y) & (y == c)).sum() / support))
    assert result.output_kind == "probabilities"
    assert result.agreement is None and result.mean_abs_diff is None
    np.testing.assert_allclose(outputs, probs, atol=1e-6)
    json.dumps(result.to_dict())
    assert result.seconds is not None and result.seconds >= 0 and "seconds" not in result.extra


def test_evaluate_against_baseline(tiny, x):
    ds = _dataset(x, np.zeros(len(x), np.int64))
    base, base_out = evaluate(tiny / "float.tflite", ds)
    same, _ = evaluate(tiny / "float.tflite", ds, baseline_outputs=base_out, baseline="float32")
    assert same.agreement == 1.0 and same.mean_abs_diff == pytest.approx(0.0, abs=1e-7)
    assert same.baseline == "float32"
    q, _ = evaluate(tiny / "int8.tflite", ds, baseline_outputs=base_out, baseline="float32")
    assert 0.9 <= q.agreement <= 1.0 and 0 < q.mean_abs_diff < 0.02


def test_evaluate_softmaxes_logits(tiny, x):
    ds = _dataset(x, np.zeros(len(x), np.int64))
    result, outputs = evaluate(tiny / "logits.tflite", ds)
    assert result.status == "ok" and result.output_kind == "logits"
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, atol=1e-5)
    raw = predict(tiny / "logits.tflite", x)
    assert (outputs.argmax(1) == raw.argmax(1)).all()


def test_to_probabilities():
    p = np.array([[0.2, 0.8], [0.5, 0.5]], np.float32)
    assert to_probabilities(p)[1] == "probabilities"
    logits, kind = to_probabilities(np.array([[2.0, -1.0], [0.0, 3.0]]))
    assert kind == "logits"
    np.testing.assert_allclose(logits.sum(1), 1.0, atol=1e-6)
    assert to_probabilities(to_probabilities(logits)[0])[1] == "probabilities"  # idempotent


def test_evaluate_statuses_for_bad_models(tiny, x, tmp_path):
    ds = _dataset(x, np.zeros(len(x), np.int64))
    r, out = evaluate(tiny / "dynamic.tflite", ds)
    assert r.status == "incompatible" and r.error.startswith(FC12) and out is None
    crash = _crashing_copy(tiny / "float.tflite", tmp_path / "crash.tflite")
    r, out = evaluate(crash, ds)
    assert r.status == "failed" and r.error.startswith("interpreter crashed (SIG") and out is None
    assert r.sha256 and r.accuracy is None
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes((tiny / "int8.tflite").read_bytes()[:100])
    r, out = evaluate(trunc, ds)
    assert r.status == "failed" and "truncated at byte 100" in r.error
    r, _ = evaluate(tiny / "float.tflite", _dataset(x, np.zeros(len(x), np.int64), k=5))
    assert r.status == "failed" and "expected (37, 5)" in r.error


def test_evaluate_rejects_mismatched_baseline(tiny, x):
    with pytest.raises(EdgekitError, match="baseline outputs have shape"):
        evaluate(tiny / "float.tflite", _dataset(x, np.zeros(len(x), np.int64)), baseline_outputs=np.zeros((3, 10)))


def test_write_eval_is_read_back_by_variant(tiny, x, tmp_path):
    vdir = tmp_path / "variants" / "float32"
    vdir.mkdir(parents=True)
    (vdir / MANIFEST_FILE).write_text(json.dumps({"schema": MANIFEST_SCHEMA, "name": "float32", "sha256": "x",
                                                  "size_bytes": 1, "gzip_size_bytes": 1}))
    result, _ = evaluate(tiny / "float.tflite", _dataset(x, np.zeros(len(x), np.int64)))
    written = write_eval(vdir, result)
    assert written.accuracy == result.accuracy and (vdir / EVAL_FILE).is_file()
    assert [p.name for p in vdir.iterdir() if p.name.startswith(".")] == []  # no temp files left
    v = Variant.load(vdir)
    assert v.evaluation.to_dict() == json.loads(json.dumps(result.to_dict())) and v.accuracy == result.accuracy
    with pytest.raises(EdgekitError, match="not one of"):
        write_eval(vdir, dataclasses.replace(result, status="great"))
    with pytest.raises(TypeError, match="takes an Evaluation"):
        write_eval(vdir, result.to_dict())
    assert Variant.load(vdir).evaluation.status == "ok"  # untouched by the failed write
