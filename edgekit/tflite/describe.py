"""``edgekit inspect``: everything about one .tflite file, read from the flatbuffer (plus one load check).

    report = describe(path)              # JSON-serialisable dict, schema ``edgekit.inspect/1``
    reason = problem(path)               # None, or why the file is no valid .tflite, in a few words

The report (validated in the tests against ``docs/inspect.schema.json``; field list in docs/inspect.md):
ops with versions and counts, input/output tensors (shape, dtype, quantisation), parameter count
(elements of constant tensors), multiply-accumulates per op and in total (CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED, TRANSPOSE_CONV, BATCH_MATMUL from the tensors' stored shapes; other ops count 0),
raw and gzip -9 size, weight sparsity, distinct stored values per output channel of each weight
tensor, the metadata entries and signatures present, and whether the device runtime (tflite-runtime
2.14.0, its host build, in a child process) loads it — with the runtime's reason when not.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.tflite import model as _model
from edgekit.tflite import weights
from edgekit.tflite.inspect import read_model_info, weight_stats

SCHEMA = "edgekit.inspect/1"
RUNTIME = "tflite-runtime 2.14.0"
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL")


def problem(path: str | Path) -> str | None:
    """None for a readable .tflite, else what is wrong (``truncated: 31,053 of at least 93,160 bytes``)."""
    from edgekit.errors import EdgekitError

    try:
        data, _ = _model.load(path)
    except EdgekitError as exc:
        return exc.message
    return _model.problem(data)


def _prod(shape: list[int]) -> int:
    return int(np.prod([max(int(d), 0) for d in shape], dtype=np.int64)) if shape else 1


def _op_macs(op_name: str, tensors: list[dict], inputs: list[int], outputs: list[int]) -> int:
    """Multiply-accumulates of one op from its tensors' stored shapes (0 when not one of MAC_OPS)."""
    def shape(i: int) -> list[int]:
        return tensors[i]["shape"] if 0 <= i < len(tensors) else []

    if op_name not in MAC_OPS or len(inputs) < 2 or not outputs:
        return 0
    out = shape(outputs[0])
    w = shape(inputs[1])
    if op_name == "CONV_2D" and len(w) == 4:                       # filter [Cout, kh, kw, Cin]
        return _prod(out) * w[1] * w[2] * w[3]
    if op_name == "DEPTHWISE_CONV_2D" and len(w) == 4:             # filter [1, kh, kw, C*m]
        return _prod(out) * w[1] * w[2]
    if op_name == "FULLY_CONNECTED" and len(w) == 2:               # filter [units, in]
        return _prod(out) * w[1]
    if op_name == "TRANSPOSE_CONV" and len(w) == 4 and len(inputs) > 2:   # per input pixel: kh*kw*Cout*Cin
        return _prod(shape(inputs[2])) * w[0] * w[1] * w[2]
    if op_name == "BATCH_MATMUL":
        a = shape(inputs[0])
        return _prod(out) * (a[-1] if a else 0)
    return 0


def _channel_axis(op_name: str | None, t: dict[str, Any], ndim: int) -> int:
    q = t.get("quantization") or {}
    if isinstance(q.get("scale"), list) and 0 <= q.get("quantized_dimension", 0) < ndim:
        return int(q["quantized_dimension"])
    return ndim - 1 if op_name == "DEPTHWISE_CONV_2D" else 0


def _per_channel_unique(m: _model.Parsed) -> dict[str, dict[str, Any]]:
    """Distinct stored values per output channel of each weight tensor of subgraph 0."""
    sg = m.subgraphs[0]
    tensors = sg["tensors"]
    consumer: dict[int, str] = {}
    for op in sg["operators"]:
        name = m.opcodes[op["opcode"]]["op"]
        for i in op["inputs"]:
            consumer.setdefault(i, name)
        if name == "DEQUANTIZE" and op["inputs"] and op["outputs"]:   # float16 / dynamic files
            for op2 in sg["operators"]:
                if op["outputs"][0] in op2["inputs"]:
                    consumer[op["inputs"][0]] = m.opcodes[op2["opcode"]]["op"]
    out: dict[str, dict[str, Any]] = {}
    for ti in weights.weight_tensor_ids(m, sg):
        t = tensors[ti]
        arr = weights.tensor_array(t, m.buffers[t["buffer"]])
        if arr is None or arr.ndim < 2:
            continue
        axis = _channel_axis(consumer.get(ti), t, arr.ndim)
        moved = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
        counts = [int(np.unique(row).size) for row in moved]
        name = t["name"] if t["name"] not in out else f"{t['name']}#{ti}"
        out[name] = {"channels": len(counts), "axis": axis, "min": min(counts), "median": float(np.median(counts)),
                     "max": max(counts), "per_channel": counts}
    return out


def runtime_check(path: str | Path) -> dict[str, Any]:
    """Does tflite-runtime 2.14 load it (child process)? {"runtime", "status": ok|incompatible|failed|unknown, "reason"}."""
    from importlib.util import find_spec

    if find_spec("tflite_runtime") is None:
        return {"runtime": RUNTIME, "status": "unknown",
                "reason": "tflite-runtime is not installed here: pip install 'edgekit[bench]'"}
    from edgekit.tflite.runner import _INCOMPATIBLE_MARKERS, check_loadable

    ok, reason = check_loadable(path)
    if ok:
        return {"runtime": RUNTIME, "status": "ok", "reason": None}
    status = "incompatible" if any(mk in (reason or "") for mk in _INCOMPATIBLE_MARKERS) else "failed"
    return {"runtime": RUNTIME, "status": status, "reason": reason}


def describe(path: str | Path, *, check_runtime: bool = True) -> dict[str, Any]:
    """The inspect report of one .tflite (raises the reader's one-line EdgekitError for a bad file)."""
    from edgekit.errors import EdgekitError

    data, label = _model.load(path)
    m = _model.parse(data, label)
    why = _model.problem(data)
    if why is not None:
        raise EdgekitError(f"{label}: {why}", "re-export it")
    more = _model.extras(data)
    info = read_model_info(data)
    stats = weight_stats(data)
    sg = m.subgraphs[0]
    per_op: dict[tuple[str, int], dict[str, Any]] = {}
    for op in sg["operators"]:
        code = m.opcodes[op["opcode"]]
        row = per_op.setdefault((code["op"], code["version"]), {"op": code["op"], "version": code["version"],
                                                                "count": 0, "macs": 0})
        row["count"] += 1
        row["macs"] += _op_macs(code["op"], sg["tensors"], op["inputs"], op["outputs"])
    ops = []
    for o in info["ops"]:   # every subgraph's op counts; MACs from subgraph 0 (the model's main graph)
        macs = per_op.get((o["op"], o["version"]), {}).get("macs", 0)
        ops.append({**o, "macs": int(macs)})
    dtypes = sorted({t["dtype"] for t in info["tensors"] if t["const"] and t["dtype"] in weights.WEIGHT_DTYPES
                     and len(t["shape"]) >= 2})
    report = {
        "schema": SCHEMA,
        "path": str(path),
        "size_bytes": len(data),
        "gzip_size_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "schema_version": info["schema_version"],
        "description": info["description"],
        "subgraphs": info["subgraphs"],
        "ops": ops,
        "macs": int(sum(o["macs"] for o in ops)),
        "inputs": info["inputs"],
        "outputs": info["outputs"],
        "param_count": int(info["const_params"]),
        "weight_count": int(stats["weight_count"]),
        "weight_dtypes": dtypes,
        "sparsity": {"overall": float(stats["overall_sparsity"]),
                     "layers": {k: float(s["sparsity"]) for k, s in stats["layers"].items()}},
        "unique_weights": _per_channel_unique(m),
        "metadata": {"present": bool(more["metadata"]), "names": more["metadata"],
                     "tflite_metadata": "TFLITE_METADATA" in more["metadata"]},
        "signatures": more["signatures"],
        "runtime": runtime_check(path) if check_runtime and not isinstance(path, (bytes, bytearray)) else None,
    }
    return report
