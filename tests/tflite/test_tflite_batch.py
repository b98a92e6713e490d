"""edgekit/tflite/batch.py: the one batched-predict implementation (host child and device script).

Quantisation on synthetic tensors here; predictions with the real tflite-runtime Interpreter in a
child process (tflite_runtime must never share a process with tensorflow)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench_models import tiny_models
from edgekit.bench import device_script, runner
from edgekit.tflite import batch
from edgekit.tflite.batch import BatchError, dequantize, quantize

INT8 = {"dtype": np.int8, "quantization": (0.5, -3)}


def test_quantize_rounds_half_to_even_and_clips():
    x = np.array([0.0, 0.25, 0.75, 1.0, -70.0, 70.0], np.float32)
    assert quantize(x, INT8).tolist() == [-3, -2, -2, -1, -128, 127]   # -2.5 -> -2, -1.5 -> -2
    assert quantize(x, INT8).dtype == np.int8
    u8 = np.array([0, 2, 255], np.uint8)                      # integers of another type are real values too
    assert quantize(u8, INT8).tolist() == [-3, 1, 127]
    same = np.array([1, 2], np.int8)
    assert quantize(same, INT8) is same
    assert quantize(np.array([1.5]), {"dtype": np.float32}).dtype == np.float32


def test_quantize_without_parameters_is_an_input_error():
    with pytest.raises(BatchError) as exc:
        quantize(np.zeros(2, np.float32), {"dtype": np.int8, "quantization": (0.0, 0)})
    assert exc.value.stage == "input" and "without quantisation parameters" in exc.value.message


def test_dequantize():
    y = dequantize(np.array([-3, -1, 127], np.int8), INT8)
    assert y.dtype == np.float32 and y.tolist() == [0.0, 1.0, 65.0]
    assert dequantize(np.array([1, 2], np.int8), {"quantization": (0.0, 0)}).tolist() == [1.0, 2.0]
    assert dequantize(np.array([0.5], np.float64), {}).dtype == np.float32


def test_batch_module_is_stdlib_and_numpy_only():
    """It runs in edgekit's device runtime (Python + numpy, no edgekit installed)."""
    tree = ast.parse(Path(batch.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names == {"numpy"}


def test_the_device_script_and_the_host_child_share_it():
    assert runner.BATCH.resolve() == Path(batch.__file__).resolve()       # pushed as edgekit_batch.py
    assert device_script._batch_module().predict.__code__.co_code == batch.predict.__code__.co_code
    child = Path(runner.__file__).parents[1] / "tflite" / "_child.py"
    assert "from edgekit.tflite.batch import" in child.read_text()


CHILD = r"""
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter, OpResolverType
sys.path.insert(0, sys.argv[1])
import batch
model, x = sys.argv[2], np.load(sys.argv[3])
out = {}
for bs, deq in ((1, False), (5, False), (64, False), (5, True)):
    it = Interpreter(model_path=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    y, mode = batch.predict(it, x, bs, dequantize_output=deq)
    out[f"{bs}-{deq}"] = {"mode": mode, "dtype": str(y.dtype), "shape": list(y.shape), "y": y.astype(float).tolist()}
it = Interpreter(model_path=model)
it.allocate_tensors()
y, mode = batch.predict(it, x[:0], 8)
out["empty"] = {"mode": mode, "shape": list(y.shape)}
try:
    batch.predict(it, np.zeros((2, 3, 3, 1), np.float32))
except batch.BatchError as exc:
    out["bad"] = [exc.stage, exc.message]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def models():
    return tiny_models()


def _run(model: Path, x: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(Path(batch.__file__).parent), str(model), str(x)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", ["float", "int8"])
def test_batched_equals_per_example(models, name):
    """int8 bit for bit; float to float rounding (batched matrix kernels sum in another order)."""
    got = _run(models / f"{name}.tflite", models / "eval_x.npy")
    one, five, all_ = got["1-False"], got["5-False"], got["64-False"]
    assert (one["mode"], five["mode"], all_["mode"]) == ("per-example", "batched", "batched")
    assert one["shape"] == five["shape"] == all_["shape"] == [12, 4]          # 12 = 2 batches of 5 + a padded one
    if name == "int8":
        assert one["y"] == five["y"] == all_["y"]
    else:
        np.testing.assert_allclose(one["y"], five["y"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(one["y"], all_["y"], rtol=1e-5, atol=1e-6)
    assert one["dtype"] == ("int8" if name == "int8" else "float32")
    deq = got["5-True"]
    assert deq["dtype"] == "float32"
    if name == "int8":                      # dequantised outputs keep the top-1 of the raw ones
        assert np.argmax(deq["y"], -1).tolist() == np.argmax(five["y"], -1).tolist()
        assert deq["y"] != five["y"]
    else:
        assert deq["y"] == five["y"]
    assert got["empty"] == {"mode": "per-example", "shape": [0, 4]}
    assert got["bad"][0] == "input" and "does not fit the model input [8, 8, 1]" in got["bad"][1]
