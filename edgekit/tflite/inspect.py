"""Parse a .tflite flatbuffer in pure Python: ops with versions, I/O tensors, weight statistics.

No TensorFlow, no tflite_runtime, no generated schema code: a small bounds-checked flatbuffer reader
and the handful of field ids of ``tensorflow/lite/schema/schema.fbs`` it needs (Model, OperatorCode,
SubGraph, Tensor, QuantizationParameters, Buffer, Operator). Every read is checked against the file
size, so a corrupt, truncated, empty or foreign file raises a one-line :class:`EdgekitError`
(never IndexError/struct.error, never a native crash).

Public API::

    read_model_info(path_or_bytes) -> dict      # see the docstring for the keys
    weight_stats(path_or_bytes) -> {"overall_sparsity": float, "weight_count": int,
                                    "layers": {tensor_name: {"sparsity", "unique", "size", "dtype"}}}

Op codes: ``OperatorCode.builtin_code`` (int32, field 3) was added when the op enum outgrew the
original int8 ``deprecated_builtin_code`` (field 0); converters write both (the deprecated one
saturates at 127 = PLACEHOLDER_FOR_GREATER_OP_CODES). As in TFLite's ``GetBuiltinCode`` the effective
code is ``max(builtin_code, deprecated_builtin_code)``, which is right for old files (field 3 absent
→ 0) and new ones.

Weight tensors: constant tensors (their buffer holds data) of type float32/float16/int8/uint8/int16
that have rank ≥ 2 or are the weight operand of a conv/fully-connected/embedding op (directly or
through a DEQUANTIZE, as in float16 and dynamic-range files). Biases (rank 1, int32 in int8 files)
and shape/index constants are not weights. Sparsity = fraction of stored values equal to "zero":
exactly 0.0 for float tensors; for quantised tensors the stored integer equal to the zero_point
(per channel along ``quantized_dimension`` when per-channel), i.e. the value that dequantises to
exactly 0.0. ``unique`` counts distinct stored values (clustering shows up here).
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError

FILE_IDENTIFIER = b"TFL3"

# BuiltinOperator enum of schema.fbs (TF 2.21), index = enum value.
_BUILTIN_OPS: tuple[str, ...] = tuple(
    """
    ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
    EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D
    LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1
    RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS
    SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER
    BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE
    UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT
    LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG
    PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE
    EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD
    REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV
    REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU
    SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE
    RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE
    NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM
    BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D
    IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL
    CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS
    RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE
    RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2
    UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD
    STABLEHLO_DIVIDE STABLEHLO_MULTIPLY STABLEHLO_MAXIMUM STABLEHLO_RESHAPE STABLEHLO_CLAMP
    STABLEHLO_CONCATENATE STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION STABLEHLO_SLICE
    STABLEHLO_CUSTOM_CALL STABLEHLO_REDUCE STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE
    STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR STABLEHLO_LOG STABLEHLO_MINIMUM STABLEHLO_NEGATE
    STABLEHLO_OR STABLEHLO_POWER STABLEHLO_REMAINDER STABLEHLO_RSQRT STABLEHLO_SELECT
    STABLEHLO_SUBTRACT STABLEHLO_TANH STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT
    STABLEHLO_DYNAMIC_SLICE STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA
    STABLEHLO_DOT_GENERAL STABLEHLO_REDUCE_WINDOW STABLEHLO_SORT STABLEHLO_WHILE
    STABLEHLO_GATHER STABLEHLO_TRANSPOSE DILATE STABLEHLO_RNG_BIT_GENERATOR REDUCE_WINDOW
    STABLEHLO_COMPOSITE STABLEHLO_SHIFT_LEFT STABLEHLO_CBRT STABLEHLO_CASE
    """
.split())

# TensorType enum -> (name, numpy dtype or None when not a plain array type)
_TENSOR_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("float32", "<f4"), 1: ("float16", "<f2"), 2: ("int32", "<i4"), 3: ("uint8", "u1"),
    4: ("int64", "<i8"), 5: ("string", None), 6: ("bool", "?"), 7: ("int16", "<i2"),
    8: ("complex64", "<c8"), 9: ("int8", "i1"), 10: ("float64", "<f8"), 11: ("complex128", "<c16"),
    12: ("uint64", "<u8"), 13: ("resource", None), 14: ("variant", None), 15: ("uint32", "<u4"),
    16: ("uint16", "<u2"), 17: ("int4", None), 18: ("bfloat16", None), 19: ("int2", None),
    20: ("uint4", None),
}
_WEIGHT_DTYPES = {"float32", "float16", "int8", "uint8", "int16"}
# builtin op -> index of its weight (filter) operand
_WEIGHT_OPERAND = {
    "CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "CONV_3D": 1,
    "CONV_3D_TRANSPOSE": 1, "EMBEDDING_LOOKUP": 1, "BATCH_MATMUL": 1,
}


def builtin_op_name(code: int) -> str:
    """Name of a BuiltinOperator enum value (``"UNKNOWN_<n>"`` for codes newer than this table)."""
    if 0 <= code < len(_BUILTIN_OPS):
        return _BUILTIN_OPS[code]
    return f"UNKNOWN_{code}"


class _Corrupt(Exception):
    def __init__(self, pos: int, why: str):
        super().__init__(why)
        self.pos = pos
        self.why = why


class _Truncated(_Corrupt):
    pass


class _FB:
    """Bounds-checked reads of flatbuffer tables, vectors and strings in ``buf``."""

    def __init__(self, buf: bytes | memoryview):
        self.buf = buf
        self.n = len(buf)

    def _need(self, pos: int, size: int) -> None:
        if pos < 0:
            raise _Corrupt(pos, "negative offset")
        if pos + size > self.n:
            raise _Truncated(pos, f"a {size}-byte read at byte {pos} runs past the end")

    def scalar(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        self._need(pos, size)
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def uoffset(self, pos: int) -> int:
        return pos + self.scalar("<I", pos)

    def table(self, pos: int) -> "_Table":
        vt = pos - self.scalar("<i", pos)
        vt_size = self.scalar("<H", vt)
        if vt_size < 4 or vt_size % 2:
            raise _Corrupt(vt, f"bad vtable size {vt_size}")
        self._need(vt, vt_size)
        return _Table(self, pos, vt, vt_size)

    def vector(self, pos: int, elem_size: int) -> tuple[int, int]:
        """(start, length) of the vector whose length word is at ``pos``."""
        length = self.scalar("<I", pos)
        self._need(pos + 4, length * elem_size)
        return pos + 4, length


class _Table:
    __slots__ = ("fb", "pos", "vt", "vt_size")

    def __init__(self, fb: _FB, pos: int, vt: int, vt_size: int):
        self.fb, self.pos, self.vt, self.vt_size = fb, pos, vt, vt_size

    def _field(self, fid: int) -> int:
        entry = 4 + 2 * fid
        if entry + 2 > self.vt_size:
            return 0
        return self.fb.scalar("<H", self.vt + entry)

    def scalar(self, fid: int, fmt: str, default):
        off = self._field(fid)
        return self.fb.scalar(fmt, self.pos + off) if off else default

    def _ref(self, fid: int) -> int | None:
        off = self._field(fid)
        return self.fb.uoffset(self.pos + off) if off else None

    def table(self, fid: int) -> _Table | None:
        ref = self._ref(fid)
        return None if ref is None else self.fb.table(ref)

    def string(self, fid: int) -> str | None:
        ref = self._ref(fid)
        if ref is None:
            return None
        start, length = self.fb.vector(ref, 1)
        return bytes(self.fb.buf[start:start + length]).decode("utf-8", errors="replace")

    def scalars(self, fid: int, fmt: str) -> list:
        ref = self._ref(fid)
        if ref is None:
            return []
        size = struct.calcsize(fmt)
        start, length = self.fb.vector(ref, size)
        return list(struct.unpack_from(f"<{length}{fmt.lstrip('<')}", self.fb.buf, start))

    def bytes_view(self, fid: int) -> memoryview | None:
        ref = self._ref(fid)
        if ref is None:
            return None
        start, length = self.fb.vector(ref, 1)
        return memoryview(self.fb.buf)[start:start + length]

    def tables(self, fid: int) -> list[_Table]:
        ref = self._ref(fid)
        if ref is None:
            return []
        start, length = self.fb.vector(ref, 4)
        return [self.fb.table(self.fb.uoffset(start + 4 * i)) for i in range(length)]


# ----------------------------------------------------------------------------------------------
# Parsing into plain Python structures


def _load(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), "the model bytes"
    path = Path(path_or_bytes)
    label = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EdgekitError(f"{label} does not exist", "check the path to the .tflite file") from None
    except IsADirectoryError:
        raise EdgekitError(f"{label} is a directory, not a .tflite file", "pass the model.tflite file inside it") from None
    except OSError as exc:
        raise EdgekitError(f"cannot read {label}: {exc.strerror or exc}", "check the file's permissions") from None
    return data, label


def _quant(t: _Table | None) -> dict[str, Any] | None:
    if t is None:
        return None
    scale = t.scalars(2, "f")
    zero_point = t.scalars(3, "q")
    if not scale:
        return None
    qdim = t.scalar(6, "<i", 0)
    if len(scale) == 1:
        return {"scale": float(scale[0]), "zero_point": int(zero_point[0]) if zero_point else 0}
    return {
        "scale": [float(s) for s in scale],
        "zero_point": [int(z) for z in zero_point] if zero_point else [0] * len(scale),
        "quantized_dimension": int(qdim),
    }


def _parse(data: bytes, label: str) -> dict[str, Any]:
    size = len(data)
    if size == 0:
        raise EdgekitError(f"{label} is empty (0 bytes), not a .tflite model", "re-export it")
    if size < 8:
        raise EdgekitError(f"{label} is not a valid .tflite (only {size} bytes; truncated?)", "re-export it")
    if data[4:8] != FILE_IDENTIFIER:
        head = data[:8]
        raise EdgekitError(
            f"{label} is not a .tflite file (no 'TFL3' identifier at byte 4; starts with {head!r})",
            "pass a TensorFlow Lite flatbuffer, e.g. one written by `edgekit optimize`",
        )
    fb = _FB(data)
    try:
        return _parse_model(fb, data)
    except _Truncated as exc:
        raise EdgekitError(
            f"{label} is not a valid .tflite (truncated at byte {size}? {exc.why})", "re-export it"
        ) from None
    except _Corrupt as exc:
        raise EdgekitError(f"{label} is not a valid .tflite (corrupt at byte {exc.pos}: {exc.why})", "re-export it") from None
    except (struct.error, ValueError, OverflowError, MemoryError) as exc:  # defensive: never a traceback
        raise EdgekitError(f"{label} is not a valid .tflite ({exc})", "re-export it") from None


def _parse_model(fb: _FB, data: bytes) -> dict[str, Any]:
    model = fb.table(fb.uoffset(0))
    version = model.scalar(0, "<I", 0)
    opcodes = []
    for oc in model.tables(1):
        deprecated = oc.scalar(0, "<b", 0)
        builtin = oc.scalar(3, "<i", 0)
        code = max(int(deprecated), int(builtin))
        custom = oc.string(1)
        name = builtin_op_name(code)
        if name == "CUSTOM" and custom:
            name = f"CUSTOM:{custom}"
        opcodes.append({"op": name, "code": code, "version": int(oc.scalar(2, "<i", 1)), "custom_code": custom})

    buffers = []
    for i, b in enumerate(model.tables(4)):
        view = b.bytes_view(0)
        offset = b.scalar(1, "<Q", 0)
        bsize = b.scalar(2, "<Q", 0)
        if (view is None or len(view) == 0) and offset > 1:
            # large models: data lives after the flatbuffer, at an absolute file offset
            fb._need(offset, bsize)
            view = memoryview(data)[offset:offset + bsize]
        buffers.append(view if view is not None and len(view) else None)

    subgraphs = []
    for sg_index, sg in enumerate(model.tables(2)):
        tensors = []
        for ti, t in enumerate(sg.tables(0)):
            type_code = t.scalar(1, "<b", 0)
            dtype, _ = _TENSOR_TYPES.get(type_code, (f"type{type_code}", None))
            buf_index = t.scalar(2, "<I", 0)
            if buf_index >= max(len(buffers), 1):
                raise _Corrupt(t.pos, f"tensor {ti} refers to buffer {buf_index} of {len(buffers)}")
            tensors.append({
                "index": ti,
                "name": t.string(3) or f"tensor_{ti}",
                "shape": [int(d) for d in t.scalars(0, "i")],
                "shape_signature": [int(d) for d in t.scalars(7, "i")] or None,
                "dtype": dtype,
                "type_code": int(type_code),
                "buffer": int(buf_index),
                "quantization": _quant(t.table(4)),
                "is_variable": bool(t.scalar(5, "<B", 0)),
                "sparse": t.table(6) is not None,
            })
        n_t = len(tensors)
        inputs = sg.scalars(1, "i")
        outputs = sg.scalars(2, "i")
        for idx in (*inputs, *outputs):
            if not 0 <= idx < n_t:
                raise _Corrupt(sg.pos, f"subgraph {sg_index} I/O refers to tensor {idx} of {n_t}")
        operators = []
        for oi, op in enumerate(sg.tables(3)):
            opcode_index = op.scalar(0, "<I", 0)
            if opcode_index >= len(opcodes):
                raise _Corrupt(op.pos, f"operator {oi} uses opcode {opcode_index} of {len(opcodes)}")
            op_in = op.scalars(1, "i")
            op_out = op.scalars(2, "i")
            for idx in (*op_in, *op_out):
                if not -1 <= idx < n_t:  # -1 marks an omitted optional operand
                    raise _Corrupt(op.pos, f"operator {oi} refers to tensor {idx} of {n_t}")
            operators.append({"opcode": int(opcode_index), "inputs": op_in, "outputs": op_out})
        subgraphs.append({"name": sg.string(4), "tensors": tensors, "inputs": inputs, "outputs": outputs, "operators": operators})

    if not subgraphs:
        raise _Corrupt(model.pos, "the model has no subgraphs")
    return {
        "version": int(version),
        "description": model.string(3),
        "opcodes": opcodes,
        "buffers": buffers,
        "subgraphs": subgraphs,
        "size": len(data),
    }


# ----------------------------------------------------------------------------------------------
# Public API


def _io(tensor: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": tensor["name"],
        "index": tensor["index"],
        "shape": tensor["shape"],
        "shape_signature": tensor["shape_signature"] or tensor["shape"],
        "dtype": tensor["dtype"],
        "quantization": tensor["quantization"],
    }


def read_model_info(path_or_bytes: str | os.PathLike | bytes) -> dict[str, Any]:
    """Describe a .tflite file without loading it into any runtime.

    Returns (all JSON-serialisable)::

        size_bytes      int
        schema_version  int                  flatbuffer schema version (3)
        description     str|None             e.g. "MLIR Converted."
        subgraphs       int
        ops             [{"op": "CONV_2D", "version": 3, "count": 2}, ...]  all subgraphs,
                        sorted by op name then version; custom ops appear as "CUSTOM:<name>"
        inputs/outputs  [{"name", "index", "shape": [1, 28, 28, 1], "shape_signature": [-1, 28, 28, 1],
                          "dtype": "int8", "quantization": {"scale": f, "zero_point": i} | None}]
                        (subgraph 0; per-channel quantisation gives lists + "quantized_dimension")
        tensors         [{"index", "name", "shape", "dtype", "buffer", "const": bool, "bytes": int,
                          "quantization"}]   subgraph 0
        const_params    int                  elements in constant tensors (weights + biases + ...)
        num_buffers     int

    Raises EdgekitError (one line) for an empty, truncated, corrupt or non-TFLite file.
    """
    data, label = _load(path_or_bytes)
    m = _parse(data, label)
    counts: Counter[tuple[str, int]] = Counter()
    for sg in m["subgraphs"]:
        for op in sg["operators"]:
            code = m["opcodes"][op["opcode"]]
            counts[(code["op"], code["version"])] += 1
    ops = [{"op": name, "version": ver, "count": n} for (name, ver), n in sorted(counts.items())]
    sg0 = m["subgraphs"][0]
    tensors = []
    const_params = 0
    for t in sg0["tensors"]:
        buf = m["buffers"][t["buffer"]] if t["buffer"] < len(m["buffers"]) else None
        const = buf is not None
        if const:
            const_params += max(0, int(np.prod(t["shape"], dtype=np.int64))) if t["shape"] else 1
        tensors.append({
            "index": t["index"], "name": t["name"], "shape": t["shape"], "dtype": t["dtype"],
            "buffer": t["buffer"], "const": const, "bytes": len(buf) if const else 0,
            "quantization": t["quantization"],
        })
    return {
        "size_bytes": m["size"],
        "schema_version": m["version"],
        "description": m["description"],
        "subgraphs": len(m["subgraphs"]),
        "ops": ops,
        "inputs": [_io(sg0["tensors"][i]) for i in sg0["inputs"]],
        "outputs": [_io(sg0["tensors"][i]) for i in sg0["outputs"]],
        "tensors": tensors,
        "const_params": const_params,
        "num_buffers": len(m["buffers"]),
    }


def _weight_tensor_ids(m: dict[str, Any], sg: dict[str, Any]) -> list[int]:
    tensors = sg["tensors"]
    buffers = m["buffers"]

    def is_const(i: int) -> bool:
        return 0 <= i < len(tensors) and buffers[tensors[i]["buffer"]] is not None

    producer: dict[int, dict[str, Any]] = {}
    for op in sg["operators"]:
        for o in op["outputs"]:
            producer[o] = op
    chosen: set[int] = set()
    for op in sg["operators"]:
        name = m["opcodes"][op["opcode"]]["op"]
        k = _WEIGHT_OPERAND.get(name)
        if k is None or k >= len(op["inputs"]):
            continue
        w = op["inputs"][k]
        if w >= 0 and not is_const(w) and w in producer:
            src = producer[w]
            if m["opcodes"][src["opcode"]]["op"] == "DEQUANTIZE" and src["inputs"]:
                w = src["inputs"][0]
        if w >= 0 and is_const(w):
            chosen.add(w)
    for i, t in enumerate(tensors):
        if is_const(i) and len(t["shape"]) >= 2:
            chosen.add(i)
    return sorted(i for i in chosen if tensors[i]["dtype"] in _WEIGHT_DTYPES)


def _tensor_array(t: dict[str, Any], buf: memoryview) -> np.ndarray | None:
    np_dtype = _TENSOR_TYPES.get(t["type_code"], ("", None))[1]
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


def _zero_mask(arr: np.ndarray, quant: dict[str, Any] | None) -> np.ndarray:
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


def weight_stats(path_or_bytes: str | os.PathLike | bytes) -> dict[str, Any]:
    """Sparsity and distinct values of the constant weight tensors (see the module docstring).

    Returns::

        {"overall_sparsity": float,          # zeros / elements over all weight tensors (0.0 if none)
         "weight_count": int,                # elements over all weight tensors
         "layers": {tensor_name: {"sparsity": float, "unique": int, "size": int, "dtype": str}}}

    Tensor names are the converter's (e.g. "sequential/conv2d/Conv2D"); a repeated name gets
    "#<tensor index>" appended; tensors of subgraphs after the first are prefixed "sg<k>/".
    """
    data, label = _load(path_or_bytes)
    m = _parse(data, label)
    try:
        return _weight_stats(m)
    except (ValueError, TypeError, OverflowError) as exc:  # a corrupt tensor that parsed: still one line
        raise EdgekitError(f"{label} is not a valid .tflite (corrupt weight tensor: {exc})", "re-export it") from None


def _weight_stats(m: dict[str, Any]) -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = {}
    zeros_total = 0
    size_total = 0
    for sgi, sg in enumerate(m["subgraphs"]):
        for ti in _weight_tensor_ids(m, sg):
            t = sg["tensors"][ti]
            arr = _tensor_array(t, m["buffers"][t["buffer"]])
            if arr is None or arr.size == 0:
                continue
            zeros = int(np.count_nonzero(_zero_mask(arr, t["quantization"])))
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
