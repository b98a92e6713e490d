"""Read a .tflite file into plain Python structures, with edgekit's one-line errors for bad files.

The flatbuffer is read by the flatc-generated classes of the ``tflite`` package (TFLite's schema.fbs)
through :mod:`edgekit.tflite.flatbuf`'s bounds-checked table. On top of that the structure is
validated (every tensor, buffer and opcode index in range), so a missing, empty, truncated, corrupt
or foreign file raises one :class:`EdgekitError` line, never an IndexError, struct.error or a
description made of garbage.

Op codes: ``OperatorCode.builtin_code`` (int32) was added when the op enum outgrew the original
int8 ``deprecated_builtin_code``; converters write both (the deprecated one saturates at 127 =
PLACEHOLDER_FOR_GREATER_OP_CODES). As in TFLite's ``GetBuiltinCode`` the effective code is
``max(builtin_code, deprecated_builtin_code)``, right for old files (no builtin_code: 0) and new ones.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flatbuffers import number_types as N
from tflite.Model import Model

from edgekit.errors import EdgekitError
from edgekit.tflite.flatbuf import Corrupt, Truncated, checked, root
from edgekit.tflite.names import builtin_op_name, tensor_type

FILE_IDENTIFIER = b"TFL3"
Source = str | os.PathLike | bytes | bytearray | memoryview


@dataclass
class Parsed:
    """The parts of a model edgekit reads. ``buffers[i]`` is None for an empty buffer."""

    version: int
    description: str | None
    opcodes: list[dict[str, Any]]      # {"op", "code", "version", "custom_code"}
    buffers: list[memoryview | None]
    subgraphs: list[dict[str, Any]]    # {"name", "tensors", "inputs", "outputs", "operators"}
    size: int


def load(source: Source) -> tuple[bytes, str]:
    """The bytes of ``source`` (a path or the bytes themselves) and how to name it in errors."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "the model bytes"
    path = Path(source)
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


def problem(data: bytes) -> str | None:
    """What is wrong with ``data`` as a .tflite, in a few words (None: it parses and validates).

    ``"truncated: 31,053 of at least 93,160 bytes"``, ``"empty (0 bytes)"``, ``"not a .tflite (no 'TFL3'
    identifier ...)"``, ``"corrupt at byte 412: tensor 3 refers to buffer 90 of 12"`` ...
    """
    size = len(data)
    if size == 0:
        return "empty (0 bytes)"
    if size < 8:
        return f"truncated: {size:,} of at least 8 bytes"
    if data[4:8] != FILE_IDENTIFIER:
        return f"not a .tflite file (no 'TFL3' identifier at byte 4; starts with {data[:8]!r})"
    root_at = struct.unpack_from("<I", data, 0)[0]
    if not 8 <= root_at < size:
        return f"corrupt: the root table offset {root_at:,} lies outside the file ({size:,} bytes)"
    try:
        _parse_model(data)
        extras(data)
    except Truncated as exc:
        return f"truncated: {size:,} of at least {exc.need:,} bytes" if exc.need else f"truncated ({exc.why})"
    except Corrupt as exc:
        return f"corrupt at byte {exc.pos:,}: {exc.why}" if exc.pos >= 0 else f"corrupt: an offset points {-exc.pos:,} bytes before the file's start"
    except (struct.error, ValueError, TypeError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        if "bad number" in str(exc):   # flatbuffers' range check: an offset summed past 2**32
            return f"corrupt: an offset points outside the file ({size:,} bytes)"
        return f"corrupt ({type(exc).__name__}: {exc})"
    return None


def extras(data: bytes) -> dict[str, list[str]]:
    """``{"metadata": [names of Model.metadata], "signatures": [signature keys]}``, read through checked
    tables (raises Truncated/Corrupt). Not part of :func:`parse`: running a model needs neither, and the
    interpreter tests rely on a corrupt signature_defs vector getting through to the runtime."""
    model = root(Model, data)
    return {"metadata": [_text(md.Name()) or "" for md in _items(model, "Metadata")],
            "signatures": [_text(sd.SignatureKey()) or "" for sd in _items(model, "SignatureDefs")]}


def parse(data: bytes, label: str) -> Parsed:
    """Read and validate the model in ``data``; one-line EdgekitError when it is not a valid .tflite."""
    size = len(data)
    if size == 0:
        raise EdgekitError(f"{label} is empty (0 bytes), not a .tflite model", "re-export it")
    if size < 8:
        raise EdgekitError(f"{label} is not a valid .tflite (only {size} bytes; truncated?)", "re-export it")
    if data[4:8] != FILE_IDENTIFIER:
        raise EdgekitError(
            f"{label} is not a .tflite file (no 'TFL3' identifier at byte 4; starts with {data[:8]!r})",
            "pass a TensorFlow Lite flatbuffer, e.g. one written by `edgekit optimize`",
        )
    try:
        return _parse_model(data)
    except Truncated as exc:
        raise EdgekitError(f"{label} is not a valid .tflite (truncated at byte {size}? {exc.why})", "re-export it") from None
    except Corrupt as exc:
        raise EdgekitError(f"{label} is not a valid .tflite (corrupt at byte {exc.pos}: {exc.why})", "re-export it") from None
    except (struct.error, ValueError, TypeError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        # defensive: whatever the generated reader raises on bytes we did not foresee, never a traceback
        raise EdgekitError(f"{label} is not a valid .tflite ({type(exc).__name__}: {exc})", "re-export it") from None


def _ints(obj: Any, field: str) -> list[int]:
    """An int vector field of a generated object (``[]`` when absent)."""
    if getattr(obj, f"{field}IsNone")():
        return []
    return [int(v) for v in getattr(obj, f"{field}AsNumpy")()]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _items(obj: Any, field: str) -> list[Any]:
    """The tables of a vector-of-tables field, each reading through a checked table."""
    get = getattr(obj, field)
    return [checked(get(i)) for i in range(getattr(obj, f"{field}Length")())]


def _quant(q: Any) -> dict[str, Any] | None:
    if q is None or q.ScaleIsNone() or q.ScaleLength() == 0:
        return None
    scale = [float(s) for s in q.ScaleAsNumpy()]
    zero_point = _ints(q, "ZeroPoint")
    if len(scale) == 1:
        return {"scale": scale[0], "zero_point": zero_point[0] if zero_point else 0}
    return {
        "scale": scale,
        "zero_point": zero_point or [0] * len(scale),
        "quantized_dimension": int(q.QuantizedDimension()),
    }


def _raw_builtin_code(oc: Any) -> int:
    """``OperatorCode.builtin_code`` as stored (0 when absent). The ``tflite`` package's ``BuiltinCode()``
    returns ``DeprecatedBuiltinCode()`` instead whenever the stored code is below 127, which names every
    opcode of writers that omit the deprecated field (litert-quantizer's DEQUANTIZE) ADD."""
    o = oc._tab.Offset(10)
    return int(oc._tab.Get(N.Int32Flags, o + oc._tab.Pos)) if o else 0


def _opcode(oc: Any) -> dict[str, Any]:
    code = max(int(oc.DeprecatedBuiltinCode()), _raw_builtin_code(oc))
    custom = _text(oc.CustomCode())
    name = builtin_op_name(code)
    if name == "CUSTOM" and custom:
        name = f"CUSTOM:{custom}"
    return {"op": name, "code": code, "version": int(oc.Version()), "custom_code": custom}


def _buffer(b: Any, data: bytes) -> memoryview | None:
    view = None if b.DataIsNone() else memoryview(b.DataAsNumpy())
    offset, bsize = int(b.Offset()), int(b.Size())
    if (view is None or len(view) == 0) and offset > 1:
        # large models: the data lives after the flatbuffer, at an absolute file offset
        if offset + bsize > len(data):
            raise Truncated(offset, f"buffer data of {bsize} bytes at byte {offset} runs past the end", need=offset + bsize)
        view = memoryview(data)[offset:offset + bsize]
    return view if view is not None and len(view) else None


def _tensor(ti: int, t: Any, n_buffers: int) -> dict[str, Any]:
    type_code = int(t.Type())
    buf_index = int(t.Buffer())
    if buf_index >= max(n_buffers, 1):
        raise Corrupt(t._tab.Pos, f"tensor {ti} refers to buffer {buf_index} of {n_buffers}")
    return {
        "index": ti,
        "name": _text(t.Name()) or f"tensor_{ti}",
        "shape": _ints(t, "Shape"),
        "shape_signature": _ints(t, "ShapeSignature") or None,
        "dtype": tensor_type(type_code)[0],
        "type_code": type_code,
        "buffer": buf_index,
        "quantization": _quant(checked(t.Quantization())),
        "is_variable": bool(t.IsVariable()),
        "sparse": t.Sparsity() is not None,
    }


def _subgraph(k: int, sg: Any, n_buffers: int, n_opcodes: int) -> dict[str, Any]:
    tensors = [_tensor(ti, t, n_buffers) for ti, t in enumerate(_items(sg, "Tensors"))]
    n_t = len(tensors)
    inputs, outputs = _ints(sg, "Inputs"), _ints(sg, "Outputs")
    for idx in (*inputs, *outputs):
        if not 0 <= idx < n_t:
            raise Corrupt(sg._tab.Pos, f"subgraph {k} I/O refers to tensor {idx} of {n_t}")
    operators = []
    for oi, op in enumerate(_items(sg, "Operators")):
        opcode_index = int(op.OpcodeIndex())
        if opcode_index >= n_opcodes:
            raise Corrupt(op._tab.Pos, f"operator {oi} uses opcode {opcode_index} of {n_opcodes}")
        op_in, op_out = _ints(op, "Inputs"), _ints(op, "Outputs")
        for idx in (*op_in, *op_out):
            if not -1 <= idx < n_t:  # -1 marks an omitted optional operand
                raise Corrupt(op._tab.Pos, f"operator {oi} refers to tensor {idx} of {n_t}")
        operators.append({"opcode": opcode_index, "inputs": op_in, "outputs": op_out})
    return {"name": _text(sg.Name()), "tensors": tensors, "inputs": inputs, "outputs": outputs, "operators": operators}


def _parse_model(data: bytes) -> Parsed:
    model = root(Model, data)
    opcodes = [_opcode(oc) for oc in _items(model, "OperatorCodes")]
    buffers = [_buffer(b, data) for b in _items(model, "Buffers")]
    subgraphs = [_subgraph(k, sg, len(buffers), len(opcodes)) for k, sg in enumerate(_items(model, "Subgraphs"))]
    if not subgraphs:
        raise Corrupt(model._tab.Pos, "the model has no subgraphs")
    return Parsed(
        version=int(model.Version()),
        description=_text(model.Description()),
        opcodes=opcodes,
        buffers=buffers,
        subgraphs=subgraphs,
        size=len(data),
    )
