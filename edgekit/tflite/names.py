"""Names for TFLite schema enums, taken from the flatc-generated ``tflite`` package.

``builtin_op_name(3) == "CONV_2D"``; ``tensor_type(9) == ("int8", "i1")``. Codes newer than the pinned
schema get a placeholder name (``UNKNOWN_<n>`` ops, ``type<n>`` tensor types) instead of an error, so a
model from a newer converter is still described.
"""

from __future__ import annotations

from tflite.BuiltinOperator import BuiltinOperator
from tflite.TensorType import TensorType


def _enum(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if k.isupper() and isinstance(v, int)}


_OPS = _enum(BuiltinOperator)
_TYPES = {code: name.lower() for code, name in _enum(TensorType).items()}
# numpy dtype of each plain array type (little-endian as stored); the others (string, resource,
# variant, packed int4 ...) have no one-element-per-value numpy view
_NUMPY = {
    "float32": "<f4", "float16": "<f2", "int32": "<i4", "uint8": "u1", "int64": "<i8", "bool": "?",
    "int16": "<i2", "complex64": "<c8", "int8": "i1", "float64": "<f8", "complex128": "<c16",
    "uint64": "<u8", "uint32": "<u4", "uint16": "<u2",
}


def builtin_op_name(code: int) -> str:
    """Name of a BuiltinOperator enum value (``"UNKNOWN_<n>"`` for codes the schema does not know)."""
    return _OPS.get(code, f"UNKNOWN_{code}")


def tensor_type(code: int) -> tuple[str, str | None]:
    """(name, numpy dtype or None) of a TensorType enum value (``"type<n>"`` when unknown)."""
    name = _TYPES.get(code, f"type{code}")
    return name, _NUMPY.get(name)
