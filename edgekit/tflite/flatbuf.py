"""Bounds-checked reads for the flatc-generated TFLite schema classes (the ``tflite`` package).

The generated classes (``tflite.Model``, ``tflite.Tensor`` ...) read through a
``flatbuffers.table.Table``, which trusts the bytes: an offset past the end raises ``struct.error``
or ``ValueError`` from somewhere inside, a string running past the end is silently cut short, and a
corrupted vector length of 2**31 makes a loop over the vector run for ever. :class:`CheckedTable`
is the same Table with every read checked against the buffer size (and every vtable against the
flatbuffer rules), raising :class:`Truncated` or :class:`Corrupt` with the byte position instead.

:func:`checked` swaps a generated object's table for a checked one. Child objects the generated
accessors return (``model.Subgraphs(0)``, ``tensor.Quantization()``) carry a plain Table again, so
every object is passed through :func:`checked` before it is read (``edgekit.tflite.model`` does).
"""

from __future__ import annotations

import struct
from typing import TypeVar

from flatbuffers import encode
from flatbuffers import number_types as N
from flatbuffers.table import Table

T = TypeVar("T")


class Corrupt(Exception):
    """The bytes do not form the flatbuffer the schema describes (``pos``: where it went wrong)."""

    def __init__(self, pos: int, why: str):
        super().__init__(why)
        self.pos = pos
        self.why = why


class Truncated(Corrupt):
    """A read runs past the end of the buffer (``need``: the size that read needs, when known)."""

    def __init__(self, pos: int, why: str, need: int | None = None):
        super().__init__(pos, why)
        self.need = need


class CheckedTable(Table):
    """``flatbuffers.table.Table`` with every read bounds-checked (see the module docstring)."""

    __slots__ = ()

    def _need(self, pos: int, size: int) -> None:
        if pos < 0:
            raise Corrupt(pos, "negative offset")
        if pos + size > len(self.Bytes):
            raise Truncated(pos, f"a {size}-byte read at byte {pos} runs past the end", need=pos + size)

    def Get(self, flags, off):
        self._need(off, flags.bytewidth)
        return flags.py_type(encode.Get(flags.packer_type, self.Bytes, off))

    def Offset(self, vtableOffset):
        vtable = self.Pos - self.Get(N.SOffsetTFlags, self.Pos)
        vt_size = self.Get(N.VOffsetTFlags, vtable)
        if vt_size < 4 or vt_size % 2:
            raise Corrupt(vtable, f"bad vtable size {vt_size}")
        self._need(vtable, vt_size)
        if vtableOffset >= vt_size:
            return 0  # a field newer than the writer's schema: absent
        field = self.Get(N.VOffsetTFlags, vtable + vtableOffset)
        obj_size = self.Get(N.VOffsetTFlags, vtable + 2)
        if field and field >= obj_size:
            raise Corrupt(self.Pos, f"field at +{field} lies outside its {obj_size}-byte table")
        self._need(self.Pos, obj_size)
        return field

    def Indirect(self, off):
        return off + self.Get(N.UOffsetTFlags, off)

    def String(self, off):
        start, length = self._vector_at(self.Indirect(off), 1)
        return bytes(self.Bytes[start:start + length])

    def _vector_at(self, pos: int, elem_size: int) -> tuple[int, int]:
        """(first element, length) of the vector whose length word is at ``pos``."""
        length = self.Get(N.UOffsetTFlags, pos)
        self._need(pos + 4, length * elem_size)
        return pos + 4, length

    def VectorLen(self, off):
        # every element takes at least one byte: a length the buffer cannot hold is caught here,
        # before anyone loops over it
        return self._vector_at(self.Indirect(off + self.Pos), 1)[1]

    def Vector(self, off):
        return self._vector_at(self.Indirect(off + self.Pos), 1)[0]

    def GetVectorAsNumpy(self, flags, off):
        start, length = self._vector_at(self.Indirect(off + self.Pos), flags.bytewidth)
        return encode.GetVectorAsNumpy(N.to_numpy_type(flags), self.Bytes, length, start)

    def Union(self, t2, off):  # BuiltinOptions: not read by edgekit; refuse rather than read unchecked
        raise NotImplementedError("CheckedTable does not read unions")


def checked(obj: T) -> T:
    """``obj`` (a generated schema object, or None) reading through a :class:`CheckedTable`."""
    if obj is None:
        return obj
    tab = obj._tab  # type: ignore[attr-defined]
    obj._tab = CheckedTable(tab.Bytes, tab.Pos)  # type: ignore[attr-defined]
    return obj


def root(cls: type[T], data: bytes) -> T:
    """The root table of ``data`` as a checked ``cls`` (e.g. ``tflite.Model.Model``)."""
    if len(data) < 4:
        raise Truncated(0, "no room for the root offset")
    obj = cls()
    obj.Init(data, struct.unpack_from("<I", data, 0)[0])  # type: ignore[attr-defined]
    return checked(obj)
