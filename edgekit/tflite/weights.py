"""Weight statistics of a parsed .tflite: sparsity and distinct values per weight tensor.

Weight tensors: constant tensors (their buffer holds data) of type float32/float16/int8/uint8/int16
that have rank >= 2 or are the weight operand of a conv/fully-connected/embedding op (directly or
through a DEQUANTIZE, as in float16 and dynamic-range files). Biases (rank 1, int32 in int8 files)
and shape/index constants are not weights. Sparsity = fraction of stored values equal to "zero":
exactly 0.0 for float tensors; for quantised tensors the stored integer equal to the zero_point
(per channel along ``quantized_dimension`` when per-channel), i.e. the value that dequantises to
exactly 0.0. ``unique`` counts distinct stored values (clustering shows up here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.tflite.model import Parsed
from edgekit.tflite.names import tensor_type

WEIGHT_DTYPES = {"float32", "float16", "int8", "uint8", "int16"}
# builtin op -> index of its weight (filter) operand
WEIGHT_OPERAND = {
    "CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "CONV_3D": 1,
    "CONV_3D_TRANSPOSE": 1, "EMBEDDING_LOOKUP": 1, "BATCH_MATMUL": 1,
}


def weight_tensor_ids(m: Parsed, sg: dict[str, Any]) -> list[int]:
    """Indices (in ``sg``) of the weight tensors, as defined in the module docstring."""
    tensors = sg["tensors"]

    def is_const(i: int) -> bool:
        return 0 <= i < len(tensors) and m.buffers[tensors[i]["buffer"]] is not None

    producer: dict[int, dict[str, Any]] = {}
    for op in sg["operators"]:
        for o in op["outputs"]:
            producer[o] = op
    chosen: set[int] = set()
    for op in sg["operators"]:
        k = WEIGHT_OPERAND.get(m.opcodes[op["opcode"]]["op"])
        if k is None or k >= len(op["inputs"]):
            continue
        w = op["inputs"][k]
        if w >= 0 and not is_const(w) and w in producer:
            src = producer[w]
            if m.opcodes[src["opcode"]]["op"] == "DEQUANTIZE" and src["inputs"]:
                w = src["inputs"][0]
        if w >= 0 and is_const(w):
            chosen.add(w)
    for i, t in enumerate(tensors):
        if is_const(i) and len(t["shape"]) >= 2:
            chosen.add(i)
    return sorted(i for i in chosen if tensors[i]["dtype"] in WEIGHT_DTYPES)


def tensor_array(t: dict[str, Any], buf: memoryview) -> np.ndarray | None:
    """The stored values of constant tensor ``t`` (shaped when the buffer matches its shape)."""
    np_dtype = tensor_type(t["type_code"])[1]
    if np_dtype is None:
        return None
    itemsize = np.dtype(np_dtype).itemsize
    shape = t["shape"]
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if t["sparse"] or any(d < 0 for d in shape) or len(buf) != n * itemsize:
        # sparse-encoded (EXPERIMENTAL_SPARSITY) or odd layouts: use the stored values as they are
        if len(buf) % itemsize:
            return None
        return np.frombuffer(buf, dtype=np_dtype)
    return np.frombuffer(buf, dtype=np_dtype).reshape(shape or ())


def zero_mask(arr: np.ndarray, quant: dict[str, Any] | None) -> np.ndarray:
    """Which stored values mean exactly 0.0 (the zero_point for quantised tensors)."""
    if arr.dtype.kind == "f" or not quant:
        return arr == 0
    zp = quant["zero_point"]
    if isinstance(zp, list):
        zps = np.asarray(zp, dtype=np.int64)
        qdim = quant.get("quantized_dimension", 0)
        if arr.ndim and 0 <= qdim < arr.ndim and arr.shape[qdim] == len(zps):
            shape = [1] * arr.ndim
            shape[qdim] = len(zps)
            return arr.astype(np.int64) == zps.reshape(shape)
        if np.all(zps == zps[0]):
            return arr == zps[0]
        return arr == 0
    return arr.astype(np.int64) == int(zp)


def stats(m: Parsed) -> dict[str, Any]:
    """``weight_stats`` of a parsed model (see :func:`edgekit.tflite.inspect.weight_stats`)."""
    layers: dict[str, dict[str, Any]] = {}
    zeros_total = 0
    size_total = 0
    for sgi, sg in enumerate(m.subgraphs):
        for ti in weight_tensor_ids(m, sg):
            t = sg["tensors"][ti]
            arr = tensor_array(t, m.buffers[t["buffer"]])
            if arr is None or arr.size == 0:
                continue
            zeros = int(np.count_nonzero(zero_mask(arr, t["quantization"])))
            name = t["name"] if sgi == 0 else f"sg{sgi}/{t['name']}"
            if name in layers:
                name = f"{name}#{ti}"
            layers[name] = {
                "sparsity": zeros / arr.size,
                "unique": int(np.unique(arr).size),
                "size": int(arr.size),
                "dtype": t["dtype"],
            }
            zeros_total += zeros
            size_total += int(arr.size)
    return {
        "overall_sparsity": zeros_total / size_total if size_total else 0.0,
        "weight_count": size_total,
        "layers": layers,
    }
