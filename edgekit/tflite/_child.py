"""Child-process side of :mod:`edgekit.tflite.runner` — run as ``python -m edgekit.tflite._child REQ``.

Runs tflite_runtime's Interpreter, which can crash natively on a malformed model and which breaks
when TensorFlow was imported first (STACK.md: ``ValueError: vector::reserve``). So it lives in its
own process and imports only numpy, tflite_runtime and :mod:`edgekit.tflite.batch` (the batched
predict the device script uses too; stdlib + numpy) — never tensorflow, never the rest of edgekit.

Request (JSON file REQ)::

    {"cmd": "predict" | "check", "model": str, "x": str (.npy, predict only), "out": str (.npy),
     "result": str (.json), "batch_size": int, "num_threads": int, "xnnpack": bool}

The child writes ``result`` as JSON: {"ok": true, ...} or {"ok": false, "stage": str, "error": str}
and exits 0 (ok) or 3 (a reported failure). Any other exit (a signal, an uncaught error) is
interpreted by the parent.
"""

from __future__ import annotations

import faulthandler
import json
import sys

EXIT_REPORTED = 3


class _Fail(Exception):
    def __init__(self, stage: str, error: str):
        super().__init__(error)
        self.stage = stage
        self.error = error


def _text(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _interpreter(req: dict):
    if "tensorflow" in sys.modules:  # pragma: no cover - guard against a future import slip
        raise _Fail("import", "tensorflow was imported in the interpreter child (tflite_runtime breaks after it)")
    try:
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    except Exception as exc:  # noqa: BLE001
        raise _Fail("import", f"cannot import tflite_runtime: {_text(exc)}") from None
    resolver = OpResolverType.AUTO if req.get("xnnpack") else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interp = Interpreter(
            model_path=req["model"],
            num_threads=int(req.get("num_threads") or 1),
            experimental_op_resolver_type=resolver,
        )
    except Exception as exc:  # noqa: BLE001
        raise _Fail("load", _text(exc)) from None
    try:
        interp.allocate_tensors()
    except Exception as exc:  # noqa: BLE001
        raise _Fail("allocate", _text(exc)) from None
    inputs = interp.get_input_details()
    if len(inputs) != 1:
        raise _Fail("input", f"the model has {len(inputs)} inputs; edgekit runs single-input models")
    if not interp.get_output_details():
        raise _Fail("output", "the model has no outputs")
    return interp


def _invoke(interp, stage: str):
    try:
        interp.invoke()
    except Exception as exc:  # noqa: BLE001
        raise _Fail(stage, _text(exc)) from None


def _check(np, req: dict) -> dict:
    interp = _interpreter(req)
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    _invoke(interp, "invoke")
    out = interp.get_output_details()[0]
    return {"ok": True, "input_shape": [int(d) for d in detail["shape"]], "output_shape": [int(d) for d in interp.get_tensor(out["index"]).shape]}


def _predict(np, req: dict) -> dict:
    from edgekit.tflite.batch import BatchError, predict

    interp = _interpreter(req)
    x = np.load(req["x"], allow_pickle=False)
    try:
        y, mode = predict(interp, x, int(req.get("batch_size") or 1), dequantize_output=True)
    except BatchError as exc:
        raise _Fail(exc.stage, exc.message) from None
    np.save(req["out"], y, allow_pickle=False)
    batch = max(1, min(int(req.get("batch_size") or 1), len(x)))
    return {"ok": True, "mode": mode, "batch_size": batch if mode == "batched" else 1, "output_shape": list(y.shape)}


def main(argv: list[str]) -> int:
    faulthandler.enable()
    with open(argv[0]) as fh:
        req = json.load(fh)
    import numpy as np

    try:
        result = _predict(np, req) if req["cmd"] == "predict" else _check(np, req)
        code = 0
    except _Fail as exc:
        result = {"ok": False, "stage": exc.stage, "error": exc.error}
        code = EXIT_REPORTED
    except Exception as exc:  # noqa: BLE001 - e.g. unreadable .npy, MemoryError-free numpy errors
        result = {"ok": False, "stage": "process", "error": f"{type(exc).__name__}: {_text(exc)}"}
        code = EXIT_REPORTED
    with open(req["result"], "w") as fh:
        json.dump(result, fh)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
