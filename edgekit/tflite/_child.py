"""Child-process side of :mod:`edgekit.tflite.runner` — run as ``python -m edgekit.tflite._child REQ``.

Runs tflite_runtime's Interpreter, which can crash natively on a malformed model and which breaks
when TensorFlow was imported first (STACK.md: ``ValueError: vector::reserve``). So it lives in its
own process and imports only numpy and tflite_runtime (never tensorflow, never the rest of edgekit).

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


def _quantise(np, x, detail):
    """Float data -> the input tensor's dtype (int8/uint8 via its scale/zero_point)."""
    dtype = detail["dtype"]
    if x.dtype == dtype:
        return x
    if np.issubdtype(dtype, np.integer):
        scale, zero_point = detail["quantization"]
        if not scale:
            raise _Fail("input", f"the model input is {np.dtype(dtype).name} without quantisation parameters; cannot feed float data")
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float64) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantise(np, y, detail):
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        scale, zero_point = detail["quantization"]
        if scale:
            return ((y.astype(np.float64) - zero_point) * scale).astype(np.float32)
    return y.astype(np.float32)


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
    interp = _interpreter(req)
    x = np.load(req["x"], allow_pickle=False)
    detail = interp.get_input_details()[0]
    out_detail = interp.get_output_details()[0]
    in_index = detail["index"]
    shape = [int(d) for d in detail["shape"]]
    if list(x.shape[1:]) != shape[1:]:
        raise _Fail("input", f"data of shape {list(x.shape[1:])} does not fit the model input {shape[1:]}")
    xq = _quantise(np, x, detail)
    n = len(xq)
    batch = max(1, min(int(req.get("batch_size") or 1), n))
    outputs = []
    mode = "per-example"

    if batch > 1:
        try:
            interp.resize_tensor_input(in_index, [batch, *shape[1:]], strict=False)
            interp.allocate_tensors()
            batched = True
        except Exception:  # noqa: BLE001 - fall back to one example at a time
            batched = False
        if batched:
            for start in range(0, n, batch):
                chunk = xq[start:start + batch]
                if len(chunk) < batch:  # pad the last chunk: no re-allocation
                    chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)])
                interp.set_tensor(in_index, chunk)
                _invoke(interp, "invoke")
                y = interp.get_tensor(out_detail["index"])
                if y.ndim == 0 or y.shape[0] != batch:
                    # a graph that hard-codes batch 1 (e.g. reshape to [1, -1]) resizes "fine" but
                    # mixes examples: redo everything one example at a time
                    outputs = []
                    batched = False
                    break
                outputs.append(y[: min(batch, n - start)].copy())
            if batched:
                mode = "batched"
        if not batched:
            interp.resize_tensor_input(in_index, [1, *shape[1:]], strict=False)
            interp.allocate_tensors()
    if mode == "per-example":
        for i in range(n):
            interp.set_tensor(in_index, xq[i:i + 1])
            _invoke(interp, "invoke")
            outputs.append(interp.get_tensor(out_detail["index"]).copy())
    y = np.concatenate(outputs, axis=0) if outputs else np.zeros((0,), np.float32)
    y = _dequantise(np, y, out_detail)
    np.save(req["out"], y, allow_pickle=False)
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
