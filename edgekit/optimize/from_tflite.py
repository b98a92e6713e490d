"""A float ``.tflite`` as the model: float16, dynamic-range and full-int8 variants made from the flatbuffer.

    edgekit optimize model.tflite --data data.npz --recipe ptq-only.toml

The quantiser is **litert-quantizer** (Google's quantiser for already-converted models), always in a
child process (``python -m edgekit.optimize.from_tflite REQUEST``: it runs ai-edge-litert's
interpreter, which must not share a process with TensorFlow). Measured with 0.11.0 and loaded in
tflite-runtime 2.14.0 (the device runtime), which decided the recipes below:

- ``ptq-int8``: its ``static_wi8_ai8`` recipe (int8 weights per channel, int8 activations, int8 input
  and output), calibrated on ``calibration`` training images. Its calibrator's default merges the
  per-example ranges by a moving average, which clips the tails (a tiny CNN lost 4.6 pt against the
  TF converter's int8); edgekit calibrates with its ``min_max_update`` instead (the TF converter's
  rule: the same accuracy as the TF converter's int8 on that model).
- ``ptq-dynamic``: int8 weights, float activations; FULLY_CONNECTED weights per tensor. The
  quantiser's ``dynamic_wi8_afp32`` quantises them per channel but keeps op version 1, and
  tflite-runtime 2.14's hybrid FULLY_CONNECTED then reads only the first channel's scale: the file
  loads and gives wrong outputs (10% top-1 on a 66% model) with no error.
- ``ptq-float16``: float16 weights with DEQUANTIZE ops (``FLOAT_CASTING``), float compute.
- no export pass: the input file itself is the float32 baseline.

Training passes are refused before anything runs (:mod:`edgekit.optimize.plan`): a ``.tflite`` has
no training graph. The quantiser keeps the input's op versions (e.g. an int8 CONV_2D stays v1), so
every variant still gets the device-runtime load check like any other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError

QUANTIZER = "litert-quantizer"
MODES = {"ptq-float16": "float16", "ptq-dynamic": "dynamic", "ptq-int8": "int8"}


@dataclass
class LoadedTflite:
    """A user's float .tflite as the run's base (post-training passes only)."""

    source: Path
    sha256: str
    input_shape: list[int]
    param_count: int
    keras_model: Any = None
    saved_model_dir: Path | None = None
    kind: str = "tflite"
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def trainable(self) -> bool:
        return False


def quantizer_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(QUANTIZER)
    except PackageNotFoundError:
        return "not installed"


def load(path: Path) -> LoadedTflite:
    """Read and check a float .tflite (one-line EdgekitError: missing, corrupt, already quantised, >1 input)."""
    from edgekit.digest import sha256_file
    from edgekit.tflite.inspect import read_model_info

    path = Path(path)
    info = read_model_info(path)          # missing / truncated / corrupt: one line
    if len(info["inputs"]) != 1:
        raise EdgekitError(f"{path} has {len(info['inputs'])} inputs; edgekit handles single-input image models")
    inp = info["inputs"][0]
    quantised = [t["name"] for t in info["tensors"] if t["const"] and t["dtype"] in ("int8", "uint8", "int16")]
    if inp["dtype"] != "float32" or quantised:
        what = f"its input is {inp['dtype']}" if inp["dtype"] != "float32" else f"weight {quantised[0]!r} is already integer"
        raise EdgekitError(f"{path} is already quantised ({what})",
                           "give the float32 .tflite (quantising twice loses accuracy), or bench this file as it is")
    if quantizer_version() == "not installed":
        raise EdgekitError(f"a .tflite model needs {QUANTIZER}", "pip install 'edgekit[optimize]'")
    return LoadedTflite(path, sha256_file(path), list(inp["shape_signature"] or inp["shape"]),
                        int(info["const_params"]), info=info)


def export(base: LoadedTflite, v: Any, dataset: Any, seed: int, progress: Any) -> bytes:
    """The .tflite bytes of recipe variant ``v`` made from ``base`` (no export pass: the file itself)."""
    from edgekit.passes.quantization import representative_data

    exp = v.export
    if v.keras_steps:   # plan refuses these already; never reached through optimize()
        raise EdgekitError(f"variant {v.name!r}: training passes cannot run on a .tflite")
    if exp is None:
        return Path(base.source).read_bytes()
    progress.status(v.name, f"export {exp.label()} with {QUANTIZER}", None)
    rep = representative_data(dataset.x_train, exp.params["calibration"], seed) if exp.name == "ptq-int8" else None
    return quantize(Path(base.source), MODES[exp.name], rep)


def quantize(model: Path, mode: str, representative: np.ndarray | None = None, timeout: float = 900) -> bytes:
    """litert-quantizer on ``model`` in a child process -> the quantised .tflite bytes."""
    if mode not in MODES.values():
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "int8" and (representative is None or len(representative) == 0):
        raise EdgekitError("int8 from a .tflite needs calibration images", "pass --data")
    with tempfile.TemporaryDirectory(prefix="edgekit-lq-") as td:
        work = Path(td)
        req = {"model": str(Path(model).resolve()), "mode": mode, "out": str(work / "out.tflite"),
               "result": str(work / "result.json"), "calib": None}
        if representative is not None:
            np.save(work / "calib.npy", np.ascontiguousarray(representative, dtype=np.float32), allow_pickle=False)
            req["calib"] = str(work / "calib.npy")
        (work / "req.json").write_text(json.dumps(req))
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            proc = subprocess.run([sys.executable, "-m", "edgekit.optimize.from_tflite", str(work / "req.json")],
                                  capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{QUANTIZER} timed out after {timeout:g} s on {model.name}") from None
        result = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else {}
        if proc.returncode != 0 or not result.get("ok"):
            tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            why = result.get("error") or (tail[-1][:200] if tail else f"exit code {proc.returncode}")
            raise EdgekitError(f"{QUANTIZER} could not make the {mode} variant of {model.name}: {why}",
                               "bench the float .tflite as it is, or quantise the Keras model it came from")
        return (work / "out.tflite").read_bytes()


# --------------------------------------------------------------------------- child process side

def _recipe(mode: str):
    from litert_quantizer import algorithm_manager, qtyping, recipe, recipe_manager

    op = qtyping.TFLOperationName
    if mode == "int8":
        return recipe.static_wi8_ai8()
    rm = recipe_manager.RecipeManager()
    if mode == "dynamic":
        rm.add_dynamic_config(".*", op.ALL_SUPPORTED, 8)
        # per-channel hybrid FULLY_CONNECTED at op version 1 computes wrong outputs in tflite-runtime 2.14
        rm.add_dynamic_config(".*", op.FULLY_CONNECTED, 8, granularity=qtyping.QuantGranularity.TENSORWISE)
    else:
        cfg = qtyping.OpQuantizationConfig(
            weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
            compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True)
        rm.add_quantization_config(".*", op.ALL_SUPPORTED, cfg, algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    return rm.get_quantization_recipe()


def _child(req: dict) -> None:
    import contextlib
    import io

    from litert_quantizer import calibrator, quantizer
    from litert_quantizer.utils import qsv_utils

    data = Path(req["model"]).read_bytes()
    q = quantizer.Quantizer(data)
    q.load_quantization_recipe(_recipe(req["mode"]))
    calibration = None
    if q.need_calibration:
        from ai_edge_litert.interpreter import Interpreter

        sigs = Interpreter(model_content=data).get_signature_list()
        if not sigs:
            raise ValueError("the model has no signature (litert-quantizer calibrates through one); re-export it "
                             "with a serving signature")
        key = next(iter(sigs))
        name = sigs[key]["inputs"][0]
        x = np.load(req["calib"], allow_pickle=False)
        calib = calibrator.Calibrator(data, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
        with contextlib.redirect_stderr(io.StringIO()):   # its progress bar
            calib.calibrate({key: [{name: x[i:i + 1]} for i in range(len(x))]}, q._recipe_manager)  # noqa: SLF001
        calibration = calib.get_model_qsvs()
    q.quantize(calibration, enable_progress_report=False).export_model(req["out"], overwrite=True)


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text())
    try:
        _child(req)
        result = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"}
    Path(req["result"]).write_text(json.dumps(result))
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
