"""Describe a .tflite file without loading it into any runtime: ops with versions, I/O, weights.

No TensorFlow and no tflite_runtime: the flatbuffer is read by the flatc-generated classes of the
``tflite`` package (TFLite's schema.fbs) through a bounds-checked table (:mod:`edgekit.tflite.model`),
so a missing, empty, truncated, corrupt or foreign file raises a one-line :class:`EdgekitError`
(never IndexError/struct.error, never a native crash).

Public API::

    read_model_info(path_or_bytes) -> dict      # see the docstring for the keys
    weight_stats(path_or_bytes) -> {"overall_sparsity": float, "weight_count": int,
                                    "layers": {tensor_name: {"sparsity", "unique", "size", "dtype"}}}
    builtin_op_name(code) -> str                # "CONV_2D"; "UNKNOWN_<n>" for codes the schema lacks

What counts as a weight tensor and as "zero" is in :mod:`edgekit.tflite.weights`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.tflite import weights
from edgekit.tflite.model import FILE_IDENTIFIER, Source, load, parse
from edgekit.tflite.names import builtin_op_name

__all__ = ["FILE_IDENTIFIER", "builtin_op_name", "read_model_info", "weight_stats"]


def _io(tensor: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": tensor["name"],
        "index": tensor["index"],
        "shape": tensor["shape"],
        "shape_signature": tensor["shape_signature"] or tensor["shape"],
        "dtype": tensor["dtype"],
        "quantization": tensor["quantization"],
    }


def read_model_info(path_or_bytes: Source) -> dict[str, Any]:
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

    Raises EdgekitError (one line) for a missing, empty, truncated, corrupt or non-TFLite file.
    """
    m = parse(*load(path_or_bytes))
    counts: Counter[tuple[str, int]] = Counter()
    for sg in m.subgraphs:
        for op in sg["operators"]:
            code = m.opcodes[op["opcode"]]
            counts[(code["op"], code["version"])] += 1
    ops = [{"op": name, "version": ver, "count": n} for (name, ver), n in sorted(counts.items())]
    sg0 = m.subgraphs[0]
    tensors = []
    const_params = 0
    for t in sg0["tensors"]:
        buf = m.buffers[t["buffer"]] if t["buffer"] < len(m.buffers) else None
        const = buf is not None
        if const:
            const_params += max(0, int(np.prod(t["shape"], dtype=np.int64))) if t["shape"] else 1
        tensors.append({
            "index": t["index"], "name": t["name"], "shape": t["shape"], "dtype": t["dtype"],
            "buffer": t["buffer"], "const": const, "bytes": len(buf) if const else 0,
            "quantization": t["quantization"],
        })
    return {
        "size_bytes": m.size,
        "schema_version": m.version,
        "description": m.description,
        "subgraphs": len(m.subgraphs),
        "ops": ops,
        "inputs": [_io(sg0["tensors"][i]) for i in sg0["inputs"]],
        "outputs": [_io(sg0["tensors"][i]) for i in sg0["outputs"]],
        "tensors": tensors,
        "const_params": const_params,
        "num_buffers": len(m.buffers),
    }


def weight_stats(path_or_bytes: Source) -> dict[str, Any]:
    """Sparsity and distinct values of the constant weight tensors (see :mod:`edgekit.tflite.weights`).

    Returns::

        {"overall_sparsity": float,          # zeros / elements over all weight tensors (0.0 if none)
         "weight_count": int,                # elements over all weight tensors
         "layers": {tensor_name: {"sparsity": float, "unique": int, "size": int, "dtype": str}}}

    Tensor names are the converter's (e.g. "sequential/conv2d/Conv2D"); a repeated name gets
    "#<tensor index>" appended; tensors of subgraphs after the first are prefixed "sg<k>/".
    """
    data, label = load(path_or_bytes)
    m = parse(data, label)
    try:
        return weights.stats(m)
    except (ValueError, TypeError, OverflowError) as exc:  # a corrupt tensor that parsed: still one line
        raise EdgekitError(f"{label} is not a valid .tflite (corrupt weight tensor: {exc})", "re-export it") from None
