"""Batched predictions with a TFLite Interpreter — the one implementation for the host and the device.

Standard library + numpy only, no edgekit imports: this file runs in edgekit's interpreter child
process on the host (:mod:`edgekit.tflite._child`) and, pushed beside the device script as
``edgekit_batch.py``, in edgekit's device runtime (or any Python 3.9+ with numpy + tflite_runtime).

    y, mode = predict(interpreter, x, batch_size=64)           # the output tensor's own dtype
    y, mode = predict(interpreter, x, 256, dequantize=True)    # float32 (int8/uint8 outputs dequantised)

``x`` is (N, *input_shape[1:]); data of another dtype than an int8/uint8 input are quantised with
its scale and zero point (round half to even, clip). Batches go through ``resize_tensor_input`` (the last one
padded, so nothing is re-allocated); a graph that cannot be resized, fails at the batched size or
hard-codes batch 1 (its output batch does not follow the input's) is run one example at a time
instead — ``mode`` says which ("batched" | "per-example"). :class:`BatchError` carries the stage
("input", "invoke") and the runtime's own words.
"""

import numpy as np

BATCHED, PER_EXAMPLE = "batched", "per-example"


class BatchError(Exception):
    def __init__(self, stage, message):
        super().__init__(message)
        self.stage = stage
        self.message = message


def _text(exc):
    return str(exc).strip() or type(exc).__name__


def quantize(x, detail):
    """Data -> the input tensor's dtype; for an integer input, data of another dtype are real values
    quantised with its scale / zero point."""
    dtype = np.dtype(detail["dtype"])
    x = np.asarray(x)
    if x.dtype == dtype:
        return x
    if dtype.kind in "iu":   # data are real values (float, or integers of another type)
        scale, zero_point = detail.get("quantization") or (0.0, 0)
        if not scale:
            raise BatchError("input", "the model input is %s without quantisation parameters; cannot feed float data" % dtype.name)
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float64) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize(y, detail):
    """An output tensor -> float32 (int8/uint8 with scale / zero point; others just converted)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        scale, zero_point = detail.get("quantization") or (0.0, 0)
        if scale:
            return ((y.astype(np.float64) - zero_point) * scale).astype(np.float32)
    return y.astype(np.float32)


def _invoke(interp):
    try:
        interp.invoke()
    except Exception as exc:  # noqa: BLE001 - the runtime's own words
        raise BatchError("invoke", _text(exc)) from None


def _batched(interp, xq, index, out_index, shape, batch):
    """Outputs of every example at batch size ``batch``, or None when the graph does not batch."""
    n = len(xq)
    try:
        interp.resize_tensor_input(index, [batch] + shape[1:], strict=False)
        interp.allocate_tensors()
        chunks = []
        for start in range(0, n, batch):
            chunk = xq[start:start + batch]
            if len(chunk) < batch:  # pad the last chunk: no re-allocation
                pad = np.zeros((batch - len(chunk),) + chunk.shape[1:], dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            interp.set_tensor(index, chunk)
            interp.invoke()
            y = interp.get_tensor(out_index)
            if y.ndim == 0 or y.shape[0] != batch:
                # a graph that hard-codes batch 1 (e.g. a reshape to [1, -1]) resizes "fine" but
                # mixes examples: redo everything one example at a time
                return None
            chunks.append(y[: min(batch, n - start)].copy())
        return chunks
    except Exception:  # noqa: BLE001 - resize or invoke failed at this batch size
        return None


def predict(interp, x, batch_size=64, dequantize_output=False):
    """Outputs of the first output tensor for every example of ``x``; returns (y, mode)."""
    d_in = interp.get_input_details()[0]
    d_out = interp.get_output_details()[0]
    index, out_index = d_in["index"], d_out["index"]
    shape = [int(s) for s in d_in["shape"]]
    if list(x.shape[1:]) != shape[1:]:
        raise BatchError("input", "data of shape %s does not fit the model input %s" % (list(x.shape[1:]), shape[1:]))
    xq = quantize(x, d_in)
    n = len(xq)
    if n == 0:
        y = np.zeros((0,) + tuple(int(s) for s in d_out["shape"][1:]), dtype=np.dtype(d_out["dtype"]))
        return (dequantize(y, d_out) if dequantize_output else y), PER_EXAMPLE
    batch = max(1, min(int(batch_size or 1), n))
    outputs = _batched(interp, xq, index, out_index, shape, batch) if batch > 1 else None
    mode = BATCHED
    if outputs is None:
        mode = PER_EXAMPLE
        if batch > 1 or shape[0] != 1:  # one example per invoke
            try:
                interp.resize_tensor_input(index, [1] + shape[1:], strict=False)
                interp.allocate_tensors()
            except Exception as exc:  # noqa: BLE001
                raise BatchError("invoke", _text(exc)) from None
        outputs = []
        for i in range(n):
            try:
                interp.set_tensor(index, xq[i:i + 1])
            except Exception as exc:  # noqa: BLE001
                raise BatchError("input", _text(exc)) from None
            _invoke(interp)
            outputs.append(interp.get_tensor(out_index).copy())
    y = np.concatenate(outputs, axis=0)
    return (dequantize(y, d_out) if dequantize_output else y), mode
